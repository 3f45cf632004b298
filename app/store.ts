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

export interface StoreResult {
  /** Customer ids whose units changed. */
  touchedCustomers: Set<number>;
  errors: ImportIssue[];
}

// PostgreSQL takes at most 65,535 parameters in one statement; a unit row has 13.
const UNIT_ROWS_PER_INSERT = 2000;

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
    const bySource = new Map<string, string[]>();
    for (const a of batch)
      bySource.set(a.item.sourceType, [...(bySource.get(a.item.sourceType) ?? []), a.item.externalId]);
    const existing = new Map<
      string,
      { id: number; hash: string; deleted: boolean; firstRunId: number | null; lastRunId: number | null }
    >();
    for (const [sourceType, ids] of bySource) {
      const rows = await tx
        .select({
          id: items.id,
          externalId: items.externalId,
          hash: items.contentHash,
          deletedAt: items.deletedAt,
          firstRunId: items.firstRunId,
          lastRunId: items.lastRunId,
        })
        .from(items)
        .where(and(eq(items.sourceType, sourceType), inArray(items.externalId, ids)));
      for (const r of rows)
        existing.set(`${sourceType}\u0000${r.externalId}`, {
          id: r.id,
          hash: r.hash,
          deleted: r.deletedAt !== null,
          firstRunId: r.firstRunId,
          lastRunId: r.lastRunId,
        });
    }

    const changed = batch.filter((a) => {
      const old = existing.get(`${a.item.sourceType}\u0000${a.item.externalId}`);
      if (old && old.hash === a.hash && !old.deleted) {
        if (old.lastRunId === p.runId && old.firstRunId === p.runId) {
          // Stored by an earlier attempt of this same run (a retried ingest job): it is new to this run.
          p.counts.itemsNew++;
          p.counts.unitsNew += a.item.units.length;
        } else if (old.lastRunId === p.runId) {
          p.counts.itemsUpdated++;
          p.counts.unitsUpdated += a.item.units.length;
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

    const itemRows = await tx
      .insert(items)
      .values(
        changed.map((a) => ({
          customerId: a.customerId,
          sourceType: a.item.sourceType,
          externalId: a.item.externalId,
          contentHash: a.hash,
          occurredAt: a.item.occurredAt,
          origin: a.item.origin,
          meta: a.item.meta,
          firstRunId: p.runId,
          lastRunId: p.runId,
        })),
      )
      .onConflictDoUpdate({
        target: [items.sourceType, items.externalId],
        set: {
          customerId: sql`excluded.customer_id`,
          contentHash: sql`excluded.content_hash`,
          occurredAt: sql`excluded.occurred_at`,
          origin: sql`excluded.origin`,
          meta: sql`excluded.meta`,
          lastRunId: sql`excluded.last_run_id`,
          deletedAt: null,
          updatedAt: new Date(),
        },
      })
      .returning({ id: items.id, sourceType: items.sourceType, externalId: items.externalId });
    const itemIds = new Map(itemRows.map((r) => [`${r.sourceType}\u0000${r.externalId}`, r.id]));

    const updatedItemIds = changed
      .filter((a) => existing.has(`${a.item.sourceType}\u0000${a.item.externalId}`))
      .map((a) => itemIds.get(`${a.item.sourceType}\u0000${a.item.externalId}`)!);
    const oldUnits = new Map<string, { itemId: number; hash: string; deleted: boolean }>();
    if (updatedItemIds.length) {
      const rows = await tx
        .select({ ref: units.ref, itemId: units.itemId, hash: units.contentHash, deletedAt: units.deletedAt })
        .from(units)
        .where(inArray(units.itemId, updatedItemIds));
      for (const r of rows)
        oldUnits.set(r.ref, { itemId: r.itemId, hash: r.hash, deleted: r.deletedAt !== null });
    }

    const unitRows: (typeof units.$inferInsert)[] = [];
    const keptRefs = new Set<string>();
    for (const a of changed) {
      const itemId = itemIds.get(`${a.item.sourceType}\u0000${a.item.externalId}`)!;
      for (const u of a.item.units) {
        keptRefs.add(u.ref);
        const contentHash = hashOf(u.text);
        const old = oldUnits.get(u.ref);
        if (!old) p.counts.unitsNew++;
        else if (old.hash !== contentHash || old.deleted) p.counts.unitsUpdated++;
        else p.counts.unitsUnchanged++;
        if (!old || old.hash !== contentHash || old.deleted) touched.add(a.customerId);
        unitRows.push({
          itemId,
          customerId: a.customerId,
          ref: u.ref,
          ordinal: u.ordinal,
          speaker: u.speaker,
          text: u.text,
          section: u.section ?? null,
          quotes: u.quotes ?? null,
          occurredAt: u.occurredAt,
          offsetMs: u.offsetMs,
          contentHash,
        });
      }
    }
    for (let i = 0; i < unitRows.length; i += UNIT_ROWS_PER_INSERT) {
      await tx
        .insert(units)
        .values(unitRows.slice(i, i + UNIT_ROWS_PER_INSERT))
        .onConflictDoUpdate({
          target: units.ref,
          set: {
            itemId: sql`excluded.item_id`,
            customerId: sql`excluded.customer_id`,
            ordinal: sql`excluded.ordinal`,
            speaker: sql`excluded.speaker`,
            text: sql`excluded.text`,
            section: sql`excluded.section`,
            quotes: sql`excluded.quotes`,
            occurredAt: sql`excluded.occurred_at`,
            offsetMs: sql`excluded.offset_ms`,
            contentHash: sql`excluded.content_hash`,
            deletedAt: null,
            updatedAt: new Date(),
          },
        });
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
