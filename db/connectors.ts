/**
 * Queries on the connector tables, as plain functions of (db, params). The secret column is read
 * only by `getConnector` (for the run itself); every listing leaves it out.
 */
import { and, asc, count, desc, eq, inArray, max, sql } from 'drizzle-orm';
import type { Db } from './client.ts';
import { connectorUnmapped, connectors, importRuns, type ConnectorKind } from './schema/index.ts';
import type { CustomerMapping } from '../ingest/connectors/http.ts';
import type { ParsedItem } from '../ingest/types.ts';

export type ConnectorRow = typeof connectors.$inferSelect;
/** A connector as listed: no secret, only whether there is one. */
export type ConnectorSummary = Omit<ConnectorRow, 'secret'> & { hasSecret: boolean };

export async function getConnector(db: Db, name: string): Promise<ConnectorRow | undefined> {
  const [row] = await db.select().from(connectors).where(eq(connectors.name, name));
  return row;
}

export async function connectorNames(db: Db): Promise<string[]> {
  const rows = await db.select({ name: connectors.name }).from(connectors).orderBy(asc(connectors.name));
  return rows.map((r) => r.name);
}

export async function listConnectors(db: Db): Promise<ConnectorSummary[]> {
  return db
    .select({
      id: connectors.id,
      name: connectors.name,
      kind: connectors.kind,
      config: connectors.config,
      mapping: connectors.mapping,
      schedule: connectors.schedule,
      timezone: connectors.timezone,
      cursor: connectors.cursor,
      cursorSavedAt: connectors.cursorSavedAt,
      createdAt: connectors.createdAt,
      hasSecret: sql<boolean>`${connectors.secret} is not null`,
    })
    .from(connectors)
    .orderBy(asc(connectors.name));
}

export async function createConnector(
  db: Db,
  p: {
    name: string;
    kind: ConnectorKind;
    config: Record<string, unknown>;
    secret: string | null;
    mapping: CustomerMapping;
    schedule?: string;
    timezone?: string;
  },
): Promise<ConnectorRow> {
  const [row] = await db.insert(connectors).values(p).returning();
  return row!;
}

/** Removes the connector and the unmapped tickets kept for it; its imported items stay. */
export async function removeConnector(db: Db, name: string): Promise<boolean> {
  const rows = await db.delete(connectors).where(eq(connectors.name, name)).returning({ id: connectors.id });
  return rows.length > 0;
}

export async function setConnectorMapping(
  db: Db,
  connectorId: number,
  mapping: CustomerMapping,
): Promise<void> {
  await db.update(connectors).set({ mapping }).where(eq(connectors.id, connectorId));
}

export async function setConnectorConfig(
  db: Db,
  connectorId: number,
  config: Record<string, unknown>,
): Promise<void> {
  await db.update(connectors).set({ config }).where(eq(connectors.id, connectorId));
}

export async function saveCursor(db: Db, connectorId: number, cursor: string): Promise<void> {
  await db
    .update(connectors)
    .set({ cursor, cursorSavedAt: new Date() })
    .where(eq(connectors.id, connectorId));
}

/**
 * Keeps tickets whose organization maps to no customer, for a person to map; drops the ones that
 * are now stored under a customer or deleted at the source.
 */
export async function saveUnmapped(
  db: Db,
  connectorId: number,
  p: { unmapped: ParsedItem[]; resolved: string[] },
): Promise<void> {
  if (p.resolved.length) {
    await db
      .delete(connectorUnmapped)
      .where(
        and(
          eq(connectorUnmapped.connectorId, connectorId),
          inArray(connectorUnmapped.externalId, p.resolved),
        ),
      );
  }
  if (p.unmapped.length === 0) return;
  // The last copy wins when a page repeats a ticket; one statement per page.
  const latest = [...new Map(p.unmapped.map((item) => [item.externalId, item])).values()];
  await db
    .insert(connectorUnmapped)
    .values(
      latest.map((item) => ({
        connectorId,
        externalId: item.externalId,
        organization: String(item.meta.unmappedOrganization ?? ''),
        item: JSON.parse(JSON.stringify(item)) as Record<string, unknown>,
        updatedAt: new Date(),
      })),
    )
    .onConflictDoUpdate({
      target: [connectorUnmapped.connectorId, connectorUnmapped.externalId],
      set: {
        organization: sql`excluded.organization`,
        item: sql`excluded.item`,
        updatedAt: sql`excluded.updated_at`,
      },
    });
}

/** The organizations waiting to be mapped, with how many tickets each has, most first. */
export async function unmappedByOrganization(
  db: Db,
  connectorId: number,
): Promise<Array<{ organization: string; tickets: number; lastSeen: Date }>> {
  const rows = await db
    .select({
      organization: connectorUnmapped.organization,
      tickets: count(),
      lastSeen: max(connectorUnmapped.updatedAt),
    })
    .from(connectorUnmapped)
    .where(eq(connectorUnmapped.connectorId, connectorId))
    .groupBy(connectorUnmapped.organization)
    .orderBy(sql`count(*) desc`, asc(connectorUnmapped.organization));
  return rows.map((r) => ({
    organization: r.organization,
    tickets: Number(r.tickets),
    lastSeen: new Date(r.lastSeen ?? 0),
  }));
}

/** The kept tickets of one organization (matched case-insensitively, as the mapping is). */
export async function unmappedOf(
  db: Db,
  connectorId: number,
  organization: string,
): Promise<Array<{ externalId: string; item: Record<string, unknown> }>> {
  return db
    .select({ externalId: connectorUnmapped.externalId, item: connectorUnmapped.item })
    .from(connectorUnmapped)
    .where(
      and(
        eq(connectorUnmapped.connectorId, connectorId),
        sql`lower(trim(${connectorUnmapped.organization})) = lower(trim(${organization}))`,
      ),
    )
    .orderBy(asc(connectorUnmapped.externalId));
}

export async function deleteUnmapped(db: Db, connectorId: number, externalIds: string[]): Promise<void> {
  if (externalIds.length === 0) return;
  await db
    .delete(connectorUnmapped)
    .where(
      and(eq(connectorUnmapped.connectorId, connectorId), inArray(connectorUnmapped.externalId, externalIds)),
    );
}

/** The import run source of a connector's runs. */
export const connectorSource = (name: string) => `connector:${name}`;

/** Each connector's latest run (by import run id), keyed by connector name. */
export async function lastRuns(db: Db, names: string[]) {
  if (names.length === 0) return new Map<string, typeof importRuns.$inferSelect>();
  const rows = await db
    .selectDistinctOn([importRuns.source])
    .from(importRuns)
    .where(inArray(importRuns.source, names.map(connectorSource)))
    .orderBy(importRuns.source, desc(importRuns.id));
  return new Map(rows.map((r) => [r.source.slice('connector:'.length), r]));
}
