/**
 * Reads only the dashboard needs. They touch the rows a page shows, not the customer's every unit,
 * so a customer with 100,000 units still gets its pages quickly.
 */
import { and, asc, eq, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { customers, items, jobs, mapEntries, units } from '../db/schema/index.ts';
import { mapJson, type MapJson } from '../app/map.ts';
import { unitsWithTags } from '../db/queries.ts';

async function rowsOf<T>(db: Db, query: SQL): Promise<T[]> {
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

export interface CustomerSummary {
  id: number;
  key: string;
  name: string;
  jobs: { key: string; statement: string }[];
  units: number;
  valueGaps: number;
  friction: number;
  /** Entries whose every piece of evidence is from the last week of feedback. */
  newEntries: number;
  /** Older entries that gained evidence in the last week. */
  growingEntries: number;
  lastFeedbackAt: Date | null;
}

/**
 * "Last week" is the seven days up to the customer's newest feedback, not the clock: a customer
 * whose feedback arrives in monthly exports still shows what the latest export changed.
 */
export async function customerSummaries(db: Db): Promise<CustomerSummary[]> {
  const cs = await db.select().from(customers).orderBy(asc(customers.key));
  const allJobs = await db.select().from(jobs).orderBy(asc(jobs.id));
  const stats = await rowsOf<{
    customer_id: number;
    units: string;
    last_at: string | null;
  }>(
    db,
    sql`select customer_id, count(*) as units, max(occurred_at)::text as last_at
      from ${units} where deleted_at is null group by customer_id`,
  );
  const entryStats = await rowsOf<{
    customer_id: number;
    row: string;
    total: string;
    recent: string;
    new_entries: string;
  }>(
    db,
    sql`
    with last as (select customer_id, max(occurred_at) as at from ${units} where deleted_at is null group by customer_id)
    select e.customer_id, e.row, count(*)::int as total, coalesce(sum(case when r.recent = 0 then 0 when r.recent = r.n then 1 else 0 end), 0)::int as new_entries,
      coalesce(sum(case when r.recent > 0 and r.recent < r.n then 1 else 0 end), 0)::int as recent
    from ${mapEntries} e
    join last l on l.customer_id = e.customer_id
    cross join lateral (
      select count(*) as n, count(*) filter (where u.occurred_at > l.at - interval '7 days') as recent
      from jsonb_array_elements_text(e.refs) x(ref) join ${units} u on u.ref = x.ref
    ) r
    group by e.customer_id, e.row`,
  );
  return cs.map((c) => {
    const s = stats.find((x) => x.customer_id === c.id);
    const es = entryStats.filter((x) => x.customer_id === c.id);
    const sum = (f: (x: (typeof es)[number]) => number) => es.reduce((a, x) => a + f(x), 0);
    return {
      id: c.id,
      key: c.key,
      name: c.name,
      jobs: allJobs.filter((j) => j.customerId === c.id).map((j) => ({ key: j.key, statement: j.statement })),
      units: Number(s?.units ?? 0),
      valueGaps: sum((x) => (x.row === 'value_gaps' ? Number(x.total) : 0)),
      friction: sum((x) => (x.row === 'friction' ? Number(x.total) : 0)),
      newEntries: sum((x) => Number(x.new_entries)),
      growingEntries: sum((x) => Number(x.recent)),
      lastFeedbackAt: s?.last_at ? new Date(s.last_at) : null,
    };
  });
}

/** The units behind some refs, with a person's decisions applied over the machine's tags. */
export function unitsByRefs(db: Db, customerId: number, refs: string[]) {
  return unitsWithTags(db, customerId, { refs });
}

/** The units of one source item (a transcript's turns, a ticket), in their order. */
export function unitsOfItem(db: Db, customerId: number, itemId: number) {
  return unitsWithTags(db, customerId, { itemId });
}

export type EvidenceUnit = Awaited<ReturnType<typeof unitsByRefs>>[number];

export async function unitByRef(db: Db, customerId: number, ref: string) {
  const [u] = await db
    .select({ id: units.id, itemId: units.itemId })
    .from(units)
    .where(and(eq(units.customerId, customerId), eq(units.ref, ref)));
  return u;
}

export async function itemById(db: Db, itemId: number) {
  const [row] = await db.select().from(items).where(eq(items.id, itemId));
  return row;
}

export async function mapEntryCount(db: Db, customerId: number): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(mapEntries)
    .where(eq(mapEntries.customerId, customerId));
  return row!.n;
}

/**
 * The map as `mapJson` shapes it, without each entry's evidence refs: the page needs labels,
 * counts and mixes, and a big customer's refs are megabytes (evidence pages read them per entry).
 */
/** The map for the page: labels and counts, no refs (see mapJson). */
export function mapForPage(db: Db, customerId: number): Promise<MapJson> {
  return mapJson(db, customerId, { refs: false });
}
