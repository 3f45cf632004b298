/**
 * One run of a configured connector: pages from the remote side (or exports found in a folder) go
 * through the importer's `storeItems`, and the connector's cursor is saved only after the page it
 * covers is stored. A run killed at any point therefore resumes from the last stored page: the
 * page in flight is fetched again and stored again, and storing is an upsert by (source type,
 * external id) that counts an identical ticket as unchanged, so nothing is lost and nothing is
 * counted or stored twice.
 *
 * Only one run of a connector at a time: a PostgreSQL session advisory lock held on its own
 * connection for the whole run. A process that dies drops its connection and with it the lock, so
 * the next run never waits on a dead one. (PGlite is one process: an in-process set does the same.)
 *
 * Each run is an import run (kind 'connector'), with its counts, error and duration, so
 * `gapmap imports` and the dashboard list it like any import.
 */
import type pg from 'pg';
import { and, eq, ne, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { importRuns, type ImportCounts } from '../../db/schema/index.ts';
import { addImportErrors, createImportRun, customerKeyMap, emptyCounts, updateImportRun } from '../../db/queries.ts';
import { markItemsDeleted, storeItems } from '../../app/store.ts';
import { runImport } from '../../app/importer.ts';
import { GapmapError, errorMessage } from '../../app/errors.ts';
import type { ParsedItem } from '../types.ts';
import type { ConnectorPage, CustomerMapping } from './http.ts';
import { zendeskPages, type ConnectorRuntime, type ZendeskConfig } from './zendesk.ts';
import { intercomPages, type IntercomConfig } from './intercom.ts';
import { scanFolder, type FolderState } from './folder.ts';

export type ConnectorKind = 'zendesk' | 'intercom' | 'folder';

/** A row of the `connectors` table (see the report for its drizzle definition). */
export interface ConnectorRow {
  id: number;
  name: string;
  kind: ConnectorKind;
  /** Everything but the secret: base URL, e-mail, start time, folder path, page sizes. */
  config: Record<string, unknown>;
  /** The API token; only ever put in a request header. */
  secret: string | null;
  mapping: CustomerMapping;
  cursor: string | null;
}

export interface RunContext {
  db: Db;
  /** The node-postgres pool (DbHandle.pool), for the run's lock; absent with PGlite. */
  pool?: pg.Pool;
  runtime?: ConnectorRuntime;
  /** Called after each page is stored, with the customers whose units changed (to enqueue classification). */
  onStored?: (customerIds: Set<number>) => Promise<void> | void;
  /** Test seam: called at each step of a page, so a test can stop a run between any two of them. */
  onStep?: (step: 'fetched' | 'stored' | 'cursor-saved', page: number) => Promise<void> | void;
}

export interface ConnectorRunResult {
  runId: number;
  counts: ImportCounts;
  pages: number;
  deleted: number;
  /** Tickets kept for a person to map (their organization or domain maps to no customer). */
  unmapped: number;
  touchedCustomers: number[];
  customerKeys: string[];
}

export async function runConnector(ctx: RunContext, connectorName: string, opts: { runId?: number } = {}): Promise<ConnectorRunResult> {
  const row = await getConnector(ctx.db, connectorName);
  if (!row) {
    const known = await connectorNames(ctx.db);
    throw new GapmapError('not_found', `No connector named "${connectorName}": expected one of ${known.length ? known.map((n) => `"${n}"`).join(', ') : '(none yet: add one with gapmap connectors add)'}`);
  }
  const lock = await acquireRunLock(ctx, row.name);
  if (!lock) throw new GapmapError('conflict', `Connector "${row.name}" is already running; wait for that run to finish`);
  const counts = emptyCounts();
  const touched = new Set<number>();
  const stats = { pages: 0, deleted: 0, unmapped: 0 };
  let runId: number | undefined;
  try {
    const source = `connector:${row.name}`;
    // Holding the lock, any run of this connector still marked running belongs to a dead process.
    await ctx.db
      .update(importRuns)
      .set({ status: 'failed', error: 'the process running it stopped (killed or crashed) before it finished; the next run resumed from its last stored page', finishedAt: new Date() })
      .where(and(eq(importRuns.source, source), eq(importRuns.status, 'running'), opts.runId !== undefined ? ne(importRuns.id, opts.runId) : undefined));
    runId = opts.runId ?? (await createImportRun(ctx.db, { source, kind: 'connector' })).id;
    await updateImportRun(ctx.db, runId, { status: 'running' });
    if (row.kind === 'folder') await runFolder(ctx, row, runId, counts, touched, stats);
    else await runRemote(ctx, row, runId, counts, touched, stats);
    const customerKeys = await keysOf(ctx.db, touched);
    await updateImportRun(ctx.db, runId, { status: 'done', counts, customerKeys, finishedAt: new Date() });
    return { runId, counts, ...stats, touchedCustomers: [...touched], customerKeys };
  } catch (err) {
    if (runId !== undefined) {
      await updateImportRun(ctx.db, runId, {
        status: 'failed',
        counts,
        error: errorMessage(err),
        customerKeys: await keysOf(ctx.db, touched).catch(() => []),
        finishedAt: new Date(),
      }).catch(() => {});
    }
    throw err;
  } finally {
    await lock.release();
  }
}

function pagesFor(row: ConnectorRow, rt: ConnectorRuntime): AsyncIterable<ConnectorPage> {
  const secret = row.secret ?? '';
  if (row.kind === 'zendesk') {
    const c = row.config as Omit<ZendeskConfig, 'apiToken' | 'mapping'>;
    return zendeskPages({ ...c, apiToken: secret, mapping: row.mapping }, row.cursor, rt);
  }
  const c = row.config as Omit<IntercomConfig, 'accessToken' | 'mapping'>;
  return intercomPages({ ...c, accessToken: secret, mapping: row.mapping }, row.cursor, rt);
}

async function runRemote(ctx: RunContext, row: ConnectorRow, runId: number, counts: ImportCounts, touched: Set<number>, stats: { pages: number; deleted: number; unmapped: number }) {
  let customers = await customerKeyMap(ctx.db);
  for await (const page of readAhead(pagesFor(row, ctx.runtime ?? {}))) {
    stats.pages++;
    await ctx.onStep?.('fetched', stats.pages);
    // A mapping may name a customer created since the run began.
    if (page.items.some((i) => i.customerKey !== '' && !customers.has(i.customerKey))) customers = await customerKeyMap(ctx.db);
    const mapped = page.items.filter((i) => customers.has(i.customerKey));
    const unmapped = page.items.filter((i) => !customers.has(i.customerKey)).map((i) => (i.customerKey === '' ? i : mappedToUnknown(i)));
    const unknown = unmapped.filter((i) => i.meta.mappedTo !== undefined);
    if (unknown.length) {
      await addImportErrors(ctx.db, runId, unknown.map((i) => ({
        file: i.origin.file,
        line: null,
        field: 'mapping',
        message: `the connector maps "${String(i.meta.unmappedOrganization)}" to customer "${String(i.meta.mappedTo)}", which does not exist: kept unmapped; add the customer or fix the mapping`,
      })));
    }
    const res = await storeItems(ctx.db, { runId, customers, items: mapped, counts });
    await addImportErrors(ctx.db, runId, res.errors);
    counts.errors += res.errors.length;
    const pageTouched = new Set(res.touchedCustomers);
    if (page.deleted.length) {
      for (const c of await markItemsDeleted(ctx.db, { sourceType: 'ticket', externalIds: page.deleted })) pageTouched.add(c);
      stats.deleted += page.deleted.length;
    }
    await saveUnmapped(ctx.db, row.id, {
      unmapped,
      resolved: [...mapped.map((i) => i.externalId), ...page.deleted],
    });
    stats.unmapped += unmapped.length;
    for (const c of pageTouched) touched.add(c);
    await ctx.onStep?.('stored', stats.pages);
    await saveCursor(ctx.db, row.id, page.cursor);
    await ctx.onStep?.('cursor-saved', stats.pages);
    await updateImportRun(ctx.db, runId, { counts });
    if (pageTouched.size) await ctx.onStored?.(pageTouched);
  }
}

/**
 * Fetches the next page while the current one is being stored. The cursor is still saved in page
 * order after each store, so a run stopped with a page fetched but not stored simply fetches it again.
 */
async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  let finished = false;
  try {
    for (;;) {
      const r = await next;
      if (r.done) {
        finished = true;
        return;
      }
      next = it.next();
      // Its failure is reported when the loop reaches it, not as an unhandled rejection meanwhile.
      next.catch(() => {});
      yield r.value;
    }
  } finally {
    // Stopped early (a store failed): close the source once its fetch in flight has settled.
    if (!finished) void next.then(() => it.return?.(), () => {});
  }
}

async function runFolder(ctx: RunContext, row: ConnectorRow, runId: number, counts: ImportCounts, touched: Set<number>, stats: { pages: number }) {
  const dir = String(row.config.path ?? '');
  const previous: FolderState = row.cursor ? (JSON.parse(row.cursor) as FolderState) : {};
  const scan = await scanFolder(dir, previous, { settleMs: typeof row.config.settleMs === 'number' ? row.config.settleMs : undefined });
  // Unchanged files keep their state; each imported export adds its own as soon as it is stored.
  const state: FolderState = {};
  const changedFiles = new Set(scan.entries.flatMap((e) => e.files));
  for (const [p, s] of Object.entries(scan.state)) if (!changedFiles.has(p) && previous[p]) state[p] = s;
  for (const p of scan.pending) if (previous[p]) state[p] = previous[p];
  await saveCursor(ctx.db, row.id, JSON.stringify(state));
  for (const entry of scan.entries) {
    stats.pages++;
    await ctx.onStep?.('fetched', stats.pages);
    // Same import run: the files' errors are listed under the connector's run. runImport marks the
    // run done when it finishes; the update below puts it back to running until the last export.
    const res = await runImport(ctx.db, {
      path: entry.absolutePath,
      runId,
      customer: typeof row.config.customer === 'string' ? row.config.customer : undefined,
    });
    for (const k of Object.keys(counts) as Array<keyof ImportCounts>) counts[k] += res.counts[k];
    for (const c of res.touchedCustomers) touched.add(c);
    await ctx.onStep?.('stored', stats.pages);
    for (const f of entry.files) if (scan.state[f]) state[f] = scan.state[f];
    await saveCursor(ctx.db, row.id, JSON.stringify(state));
    await ctx.onStep?.('cursor-saved', stats.pages);
    await updateImportRun(ctx.db, runId, { status: 'running', counts });
    if (res.touchedCustomers.length) await ctx.onStored?.(new Set(res.touchedCustomers));
  }
}

/** An item whose mapping names no existing customer: kept with the unmapped ones, never dropped. */
function mappedToUnknown(item: ParsedItem): ParsedItem {
  const label = item.meta.organization ?? item.meta.unmappedOrganization ?? '(no organization)';
  return { ...item, customerKey: '', meta: { ...item.meta, unmappedOrganization: String(label), mappedTo: item.customerKey } };
}

async function keysOf(db: Db, ids: Set<number>): Promise<string[]> {
  if (ids.size === 0) return [];
  return [...(await customerKeyMap(db))]
    .filter(([, id]) => ids.has(id))
    .map(([k]) => k)
    .sort();
}

// ---------------------------------------------------------------------------------------------
// The run's lock.

const localRuns = new Set<string>();

async function acquireRunLock(ctx: RunContext, name: string): Promise<{ release(): Promise<void> } | null> {
  if (!ctx.pool) {
    if (localRuns.has(name)) return null;
    localRuns.add(name);
    return { release: async () => void localRuns.delete(name) };
  }
  const client = await ctx.pool.connect();
  try {
    const res = await client.query<{ ok: boolean }>(`select pg_try_advisory_lock(hashtext('gapmap.connector'), hashtext($1)) as ok`, [name]);
    if (!res.rows[0]?.ok) {
      client.release();
      return null;
    }
  } catch (err) {
    client.release();
    throw err;
  }
  return {
    release: async () => {
      try {
        await client.query(`select pg_advisory_unlock(hashtext('gapmap.connector'), hashtext($1))`, [name]);
        client.release();
      } catch {
        // The connection is gone, and the lock with it; don't hand a broken client back.
        client.release(true);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Queries on the connector tables. They belong in db/queries.ts once db/schema/connectors.ts
// declares `connectors` and `connector_unmapped` (definitions in the report); until then they are
// plain SQL on the same columns.

type Row = Record<string, unknown>;
function rowsOf(res: unknown): Row[] {
  return ((res as { rows?: Row[] }).rows ?? (res as Row[])) as Row[];
}

export async function getConnector(db: Db, name: string): Promise<ConnectorRow | undefined> {
  const res = await db.execute(sql`select id, name, kind, config, secret, mapping, cursor from connectors where name = ${name}`);
  const r = rowsOf(res)[0];
  if (!r) return undefined;
  return {
    id: Number(r.id),
    name: String(r.name),
    kind: r.kind as ConnectorKind,
    config: (r.config ?? {}) as Record<string, unknown>,
    secret: (r.secret as string | null) ?? null,
    mapping: (r.mapping ?? {}) as CustomerMapping,
    cursor: (r.cursor as string | null) ?? null,
  };
}

async function connectorNames(db: Db): Promise<string[]> {
  return rowsOf(await db.execute(sql`select name from connectors order by name`)).map((r) => String(r.name));
}

export async function saveCursor(db: Db, connectorId: number, cursor: string): Promise<void> {
  await db.execute(sql`update connectors set cursor = ${cursor}, cursor_saved_at = now() where id = ${connectorId}`);
}

/**
 * Keeps tickets whose organization maps to no customer, for a person to map; drops the ones that
 * are now stored under a customer or deleted at the source.
 */
export async function saveUnmapped(db: Db, connectorId: number, p: { unmapped: ParsedItem[]; resolved: string[] }): Promise<void> {
  if (p.resolved.length) {
    await db.execute(
      sql`delete from connector_unmapped where connector_id = ${connectorId} and external_id in (${sql.join(
        p.resolved.map((id) => sql`${id}`),
        sql`, `,
      )})`,
    );
  }
  if (p.unmapped.length === 0) return;
  // The last copy wins when a page repeats a ticket; one statement per page.
  const latest = [...new Map(p.unmapped.map((item) => [item.externalId, item])).values()];
  const rows = latest.map(
    (item) => sql`(${connectorId}, ${item.externalId}, ${String(item.meta.unmappedOrganization ?? '')}, ${JSON.stringify(item)}::jsonb, now())`,
  );
  await db.execute(sql`insert into connector_unmapped (connector_id, external_id, organization, item, updated_at)
    values ${sql.join(rows, sql`, `)}
    on conflict (connector_id, external_id) do update set organization = excluded.organization, item = excluded.item, updated_at = now()`);
}
