/**
 * Stores parsed items idempotently. One call is one transaction: an item and all its units are
 * written together or not at all. An item whose content hash is unchanged costs one lookup; a
 * changed item rewrites only the units whose text changed, so only those are classified again.
 */
import { createHash } from 'node:crypto';
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { items, units } from '../db/schema/index.ts';
import type { ImportCounts } from '../db/schema/index.ts';
import type { ImportIssue, ParsedItem } from '../ingest/types.ts';

export function hashOf(value: unknown): string {
  return createHash('sha1')
    .update(typeof value === 'string' ? value : JSON.stringify(value))
    .digest('base64url');
}

function itemHash(item: ParsedItem): string {
  return hashOf({
    c: item.customerKey,
    t: item.occurredAt?.toISOString() ?? null,
    m: item.meta,
    u: item.units.map((u) => [
      u.ref,
      u.speaker,
      u.text,
      u.section ?? null,
      u.quotes ?? null,
      u.offsetMs,
      u.occurredAt?.toISOString() ?? null,
    ]),
  });
}

interface ExistingItem {
  id: number;
  customer_id: number;
  customer_key: string;
  source_type: string;
  external_id: string;
  content_hash: string;
  deleted: boolean;
  first_run_id: number | null;
  last_run_id: number | null;
}

/** Raw `execute` results: node-postgres and PGlite both answer with `{ rows }`. */
async function rowsOf<T>(result: Promise<unknown>): Promise<T[]> {
  return ((await result) as { rows: T[] }).rows;
}

export interface StoreResult {
  /** Customer ids whose units changed. */
  touchedCustomers: Set<number>;
  errors: ImportIssue[];
}

/**
 * A ticket id, survey response id or file name names one item, and the item one customer: the same
 * id from a help desk export and its connector is the same ticket. An item that arrives for another
 * customer than the one it is stored for is refused instead of moved: moving it took the first
 * customer's evidence and decisions away without a word (two customers' interviews both saved as
 * interview.vtt, or two survey tools both numbering from 1).
 */
const NOUN: Record<ParsedItem['sourceType'], string> = {
  ticket: 'ticket',
  survey: 'survey response',
  transcript: 'transcript',
  note: 'notes file',
};

function anotherCustomers(item: ParsedItem, owner: string): ImportIssue {
  const what = `${NOUN[item.sourceType]} ${item.externalId}`;
  const byName = item.sourceType === 'transcript' || item.sourceType === 'note';
  return {
    file: item.origin.file,
    line: item.origin.line,
    field: 'customer',
    message:
      `${what} is already customer "${owner}"'s, so it is not moved to "${item.customerKey}": ` +
      (byName
        ? `rename the file to import it for "${item.customerKey}"`
        : `an id names one item; if this is another item, it needs an id of its own`),
  };
}

export async function storeItems(
  db: Db,
  p: { runId: number; customers: Map<string, number>; items: ParsedItem[]; counts: ImportCounts },
): Promise<StoreResult> {
  const touched = new Set<number>();
  const errors: ImportIssue[] = [];
  const accepted: { item: ParsedItem; customerId: number; hash: string }[] = [];
  for (const item of p.items) {
    const customerId = p.customers.get(item.customerKey);
    if (customerId === undefined) {
      const known = [...p.customers.keys()].sort();
      errors.push({
        file: item.origin.file,
        line: item.origin.line,
        field: 'customer',
        message:
          `unknown customer "${item.customerKey}" for ${item.sourceType} ${item.externalId}: expected one of ` +
          (known.length
            ? known.map((k) => `"${k}"`).join(', ')
            : '(no customers yet: import customers.json first)'),
      });
      continue;
    }
    accepted.push({ item, customerId, hash: itemHash(item) });
  }
  // The last copy wins when a file repeats an item (a JSONL export with a ticket twice).
  const unique = new Map(accepted.map((a) => [`${a.item.sourceType}\u0000${a.item.externalId}`, a]));
  const batch = [...unique.values()];
  if (batch.length === 0) return { touchedCustomers: touched, errors };

  await db.transaction(async (tx) => {
    const key = (sourceType: string, externalId: string) => `${sourceType}\u0000${externalId}`;
    // Every statement takes its rows as one JSON parameter (json_to_recordset): one round trip per
    // batch whatever its size, no parameter limit, and the same SQL on PostgreSQL and PGlite.
    const found = await rowsOf<ExistingItem>(
      tx.execute(sql`
        select i.id, i.customer_id, c.key as customer_key, i.source_type, i.external_id, i.content_hash,
               i.deleted_at is not null as deleted, i.first_run_id, i.last_run_id
        from items i
        join customers c on c.id = i.customer_id
        join json_to_recordset(${JSON.stringify(batch.map((a) => ({ s: a.item.sourceType, e: a.item.externalId })))}::json)
          as x(s text, e text) on i.source_type = x.s and i.external_id = x.e`),
    );
    const existing = new Map(found.map((r) => [key(r.source_type, r.external_id), r]));

    const changed = batch.filter((a) => {
      const old = existing.get(key(a.item.sourceType, a.item.externalId));
      if (old && Number(old.customer_id) !== a.customerId) {
        errors.push(anotherCustomers(a.item, old.customer_key));
        return false;
      }
      if (old && old.content_hash === a.hash && !old.deleted) {
        if (old.last_run_id === p.runId) {
          // Stored by an earlier attempt of this same run (a retried ingest job): this run changed
          // it, so it counts as the first attempt counted it, and its customer is one it touched.
          touched.add(a.customerId);
          if (old.first_run_id === p.runId) {
            p.counts.itemsNew++;
            p.counts.unitsNew += a.item.units.length;
          } else {
            p.counts.itemsUpdated++;
            p.counts.unitsUpdated += a.item.units.length;
          }
        } else {
          p.counts.itemsUnchanged++;
          p.counts.unitsUnchanged += a.item.units.length;
        }
        return false;
      }
      if (old) p.counts.itemsUpdated++;
      else p.counts.itemsNew++;
      return true;
    });
    if (changed.length === 0) return;

    const itemRows = await rowsOf<{ id: number; source_type: string; external_id: string }>(
      tx.execute(sql`
        insert into items (customer_id, source_type, external_id, content_hash, occurred_at, origin, meta, first_run_id, last_run_id)
        select customer_id, source_type, external_id, content_hash, occurred_at, origin, meta, ${p.runId}::int, ${p.runId}::int
        from json_to_recordset(${JSON.stringify(
          changed.map((a) => ({
            customer_id: a.customerId,
            source_type: a.item.sourceType,
            external_id: a.item.externalId,
            content_hash: a.hash,
            occurred_at: a.item.occurredAt?.toISOString() ?? null,
            origin: a.item.origin,
            meta: a.item.meta,
          })),
        )}::json) as x(customer_id int, source_type text, external_id text, content_hash text,
                        occurred_at timestamptz, origin jsonb, meta jsonb)
        on conflict (source_type, external_id) do update set
          customer_id = excluded.customer_id, content_hash = excluded.content_hash,
          occurred_at = excluded.occurred_at, origin = excluded.origin, meta = excluded.meta,
          last_run_id = excluded.last_run_id, deleted_at = null, updated_at = now()
        returning id, source_type, external_id`),
    );
    const itemIds = new Map(itemRows.map((r) => [key(r.source_type, r.external_id), Number(r.id)]));

    const updatedItemIds = changed
      .filter((a) => existing.has(key(a.item.sourceType, a.item.externalId)))
      .map((a) => itemIds.get(key(a.item.sourceType, a.item.externalId))!);
    const oldUnits = new Map<string, { hash: string; deleted: boolean }>();
    if (updatedItemIds.length) {
      const rows = await tx
        .select({ ref: units.ref, hash: units.contentHash, deletedAt: units.deletedAt })
        .from(units)
        .where(inArray(units.itemId, updatedItemIds));
      for (const r of rows) oldUnits.set(r.ref, { hash: r.hash, deleted: r.deletedAt !== null });
    }

    const unitRows: Record<string, unknown>[] = [];
    const keptRefs = new Set<string>();
    for (const a of changed) {
      const itemId = itemIds.get(key(a.item.sourceType, a.item.externalId))!;
      for (const u of a.item.units) {
        keptRefs.add(u.ref);
        const contentHash = hashOf(u.text);
        const old = oldUnits.get(u.ref);
        if (!old) p.counts.unitsNew++;
        else if (old.hash !== contentHash || old.deleted) p.counts.unitsUpdated++;
        else p.counts.unitsUnchanged++;
        if (!old || old.hash !== contentHash || old.deleted) touched.add(a.customerId);
        unitRows.push({
          item_id: itemId,
          customer_id: a.customerId,
          ref: u.ref,
          ordinal: u.ordinal,
          speaker: u.speaker,
          text: u.text,
          section: u.section ?? null,
          quotes: u.quotes ?? null,
          occurred_at: u.occurredAt?.toISOString() ?? null,
          offset_ms: u.offsetMs,
          content_hash: contentHash,
        });
      }
    }
    if (unitRows.length) {
      await tx.execute(sql`
        insert into units (item_id, customer_id, ref, ordinal, speaker, text, section, quotes, occurred_at, offset_ms, content_hash)
        select item_id, customer_id, ref, ordinal, speaker, text, section, quotes, occurred_at, offset_ms, content_hash
        from json_to_recordset(${JSON.stringify(unitRows)}::json) as x(item_id int, customer_id int, ref text,
          ordinal int, speaker text, text text, section text, quotes jsonb, occurred_at timestamptz, offset_ms bigint,
          content_hash text)
        on conflict (ref) do update set
          item_id = excluded.item_id, customer_id = excluded.customer_id, ordinal = excluded.ordinal,
          speaker = excluded.speaker, text = excluded.text, section = excluded.section, quotes = excluded.quotes,
          occurred_at = excluded.occurred_at, offset_ms = excluded.offset_ms,
          deleted_at = null, updated_at = now(),
          -- An unchanged text keeps its hash, so its classification stays current.
          content_hash = excluded.content_hash`);
    }
    const gone = [...oldUnits].filter(([ref, u]) => !keptRefs.has(ref) && !u.deleted).map(([ref]) => ref);
    if (gone.length) {
      await tx.update(units).set({ deletedAt: new Date() }).where(inArray(units.ref, gone));
      p.counts.unitsRemoved += gone.length;
      for (const a of changed) touched.add(a.customerId);
    }
  });
  return { touchedCustomers: touched, errors };
}

/** Items deleted at their source: kept with their units, out of the map from now on. */
export async function markItemsDeleted(
  db: Db,
  p: { sourceType: string; externalIds: string[] },
): Promise<Set<number>> {
  if (p.externalIds.length === 0) return new Set();
  const rows = await db
    .update(items)
    .set({ deletedAt: new Date() })
    .where(
      and(
        eq(items.sourceType, p.sourceType),
        inArray(items.externalId, p.externalIds),
        isNull(items.deletedAt),
      ),
    )
    .returning({ customerId: items.customerId });
  return new Set(rows.map((r) => r.customerId));
}
