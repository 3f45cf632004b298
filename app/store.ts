/**
 * Stores parsed items idempotently. One call is one transaction: an item and all its units are
 * written together or not at all. An item whose content hash is unchanged costs one lookup; a
 * changed item rewrites only the units whose text changed, so only those are classified again.
 */
import { createHash } from 'node:crypto';
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { items, mapEntries, mapLineage, units } from '../db/schema/index.ts';
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

interface OldUnit {
  id: number;
  ref: string;
  hash: string;
  deleted: boolean;
}
interface Move {
  id: number;
  from: string;
  to: string;
}

/**
 * Which stored unit each of an item's new units is. A reference counts turns (`transcript:<file>#3`),
 * so a turn added above shifts the rest: a stored unit whose words now stand at another reference
 * moves there with its id, and so with its tags and a person's decisions about it, instead of those
 * staying with the position and landing on other words. A unit whose words are gone and whose place
 * another one takes is displaced (kept, deleted); one at a reference the item no longer has is gone.
 * Words changed in place (a typo fixed) stay the same unit, decisions included.
 */
export function followText(olds: OldUnit[], refs: string[], hashes: string[]) {
  const sorted = [...olds].sort((a, b) => a.id - b.id);
  const at = new Map(sorted.map((o) => [o.ref, o]));
  const index = new Map(refs.map((r, i) => [r, i]));
  const free = new Map<string, OldUnit[]>();
  for (const o of sorted) {
    const i = index.get(o.ref);
    if (i !== undefined && hashes[i] === o.hash) continue;
    const list = free.get(o.hash) ?? [];
    free.set(o.hash, list);
    list.push(o);
  }
  const before = new Map<string, OldUnit>();
  const moves: Move[] = [];
  const moved = new Set<number>();
  refs.forEach((ref, i) => {
    const o = at.get(ref);
    if (o && o.hash === hashes[i]) {
      before.set(ref, o);
      return;
    }
    const found = free.get(hashes[i]!)?.shift();
    if (!found) return;
    moves.push({ id: found.id, from: found.ref, to: ref });
    moved.add(found.id);
    before.set(ref, found);
  });
  for (const ref of refs) {
    const o = at.get(ref);
    if (!before.has(ref) && o && !moved.has(o.id)) before.set(ref, o);
  }
  const displaced = moves.map((m) => at.get(m.to)).filter((o): o is OldUnit => !!o && !moved.has(o.id));
  const kept = new Set([...before.values(), ...displaced].map((o) => o.id));
  const gone = sorted.filter((o) => !kept.has(o.id) && !o.deleted);
  return { before, moves, displaced, gone };
}

/** Person entries and the map's lineage name units by reference: they follow the units that moved. */
async function remapEntryRefs(db: Db, customerId: number, remap: Map<string, string | null>) {
  const follow = (refs: string[]) =>
    refs.map((r) => (remap.has(r) ? remap.get(r)! : r)).filter((r): r is string => r !== null);
  const changed = (a: string[], b: string[]) => a.length !== b.length || a.some((r, i) => r !== b[i]);
  const people = await db
    .select({ id: mapEntries.id, refs: mapEntries.refs, quoteRef: mapEntries.quoteRef })
    .from(mapEntries)
    .where(and(eq(mapEntries.customerId, customerId), eq(mapEntries.origin, 'person')));
  for (const e of people) {
    const refs = follow(e.refs);
    const quoteRef = e.quoteRef === null ? null : (follow([e.quoteRef])[0] ?? null);
    if (changed(refs, e.refs) || quoteRef !== e.quoteRef)
      await db.update(mapEntries).set({ refs, quoteRef }).where(eq(mapEntries.id, e.id));
  }
  const lineage = await db
    .select({ id: mapLineage.id, refs: mapLineage.refs })
    .from(mapLineage)
    .where(eq(mapLineage.customerId, customerId));
  for (const l of lineage) {
    const refs = follow(l.refs);
    if (changed(refs, l.refs)) await db.update(mapLineage).set({ refs }).where(eq(mapLineage.id, l.id));
  }
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
    const oldByItem = new Map<number, OldUnit[]>();
    if (updatedItemIds.length) {
      const rows = await tx
        .select({
          id: units.id,
          itemId: units.itemId,
          ref: units.ref,
          hash: units.contentHash,
          deletedAt: units.deletedAt,
        })
        .from(units)
        .where(inArray(units.itemId, updatedItemIds));
      for (const r of rows) {
        const list = oldByItem.get(r.itemId) ?? [];
        oldByItem.set(r.itemId, list);
        list.push({ id: r.id, ref: r.ref, hash: r.hash, deleted: r.deletedAt !== null });
      }
    }

    const unitRows: Record<string, unknown>[] = [];
    const moves: Move[] = [];
    const displaced: OldUnit[] = [];
    const goneIds: number[] = [];
    const remaps = new Map<number, Map<string, string | null>>();
    for (const a of changed) {
      const itemId = itemIds.get(key(a.item.sourceType, a.item.externalId))!;
      const hashes = a.item.units.map((u) => hashOf(u.text));
      const plan = followText(
        oldByItem.get(itemId) ?? [],
        a.item.units.map((u) => u.ref),
        hashes,
      );
      moves.push(...plan.moves);
      displaced.push(...plan.displaced);
      goneIds.push(...plan.gone.map((o) => o.id));
      if (plan.moves.length || plan.displaced.length) {
        const remap = remaps.get(a.customerId) ?? new Map<string, string | null>();
        remaps.set(a.customerId, remap);
        for (const m of plan.moves) remap.set(m.from, m.to);
        for (const d of plan.displaced) remap.set(d.ref, null);
      }
      if (plan.moves.length || plan.displaced.length || plan.gone.length) touched.add(a.customerId);
      a.item.units.forEach((u, i) => {
        const contentHash = hashes[i]!;
        const old = plan.before.get(u.ref);
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
      });
    }
    if (displaced.length) {
      // Its words are no longer in the item and its place is another unit's: kept, deleted, with
      // its decisions, under a reference no import makes.
      await tx
        .update(units)
        .set({
          ref: sql`${units.ref} || ' (replaced, unit ' || ${units.id} || ')'`,
          deletedAt: sql`coalesce(${units.deletedAt}, now())`,
        })
        .where(
          inArray(
            units.id,
            displaced.map((d) => d.id),
          ),
        );
      p.counts.unitsRemoved += displaced.filter((d) => !d.deleted).length;
    }
    if (moves.length) {
      // Two steps, as the moves can trade places: out of the way first, then to the new references.
      await tx
        .update(units)
        .set({ ref: sql`'moving:' || ${units.id}` })
        .where(
          inArray(
            units.id,
            moves.map((m) => m.id),
          ),
        );
      await tx.execute(sql`
        update units set ref = x.ref
        from json_to_recordset(${JSON.stringify(moves.map((m) => ({ id: m.id, ref: m.to })))}::json) as x(id int, ref text)
        where units.id = x.id`);
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
    if (goneIds.length) {
      await tx.update(units).set({ deletedAt: new Date() }).where(inArray(units.id, goneIds));
      p.counts.unitsRemoved += goneIds.length;
    }
    for (const [customerId, remap] of remaps) await remapEntryRefs(tx as unknown as Db, customerId, remap);
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
