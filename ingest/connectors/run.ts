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
import { and, eq, ne, or, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { importRuns, items, type ImportCounts } from '../../db/schema/index.ts';
import {
  addImportErrors,
  createImportRun,
  customerKeyMap,
  emptyCounts,
  updateImportRun,
} from '../../db/queries.ts';
import { markItemsDeleted, storeItems } from '../../app/store.ts';
import { runImport } from '../../app/importer.ts';
import { GapmapError, errorMessage } from '../../app/errors.ts';
import type { ParsedItem } from '../types.ts';
import type { ConnectorPage } from './http.ts';
import { zendeskPages, type ConnectorRuntime, type ZendeskConfig } from './zendesk.ts';
import { intercomPages, type IntercomConfig } from './intercom.ts';
import { scanFolder, type FolderState } from './folder.ts';
import {
  connectorNames,
  getConnector,
  saveCursor,
  saveUnmapped,
  type ConnectorRow,
} from '../../db/connectors.ts';
import type { ConnectorKind } from '../../db/schema/index.ts';

export type { ConnectorKind, ConnectorRow };

export interface RunContext {
  db: Db;
  /** The node-postgres pool (DbHandle.pool), for the run's lock; absent with PGlite. */
  pool?: pg.Pool;
  runtime?: ConnectorRuntime;
  /** Called after each page is stored, with the customers whose units changed (to enqueue classification). */
  onStored?: (customerIds: Set<number>) => Promise<void> | void;
  /** Test seam: called at each step of a page, so a test can stop a run between any two of them. */
  onStep?: (step: 'fetched' | 'stored' | 'cursor-saved', page: number) => Promise<void> | void;
  /** Told the import run's id once the run holds its lock and has started (a failure after it is the run's). */
  onRunStarted?: (runId: number) => void;
}

export interface ConnectorRunResult {
  runId: number;
  counts: ImportCounts;
  pages: number;
  deleted: number;
  /** Tickets kept for a person to map (their organization or domain maps to no customer). */
  unmapped: number;
  /** Folder connectors: files modified too recently, maybe still being written; the next run reads them. */
  pending: string[];
  touchedCustomers: number[];
  customerKeys: string[];
}

export async function runConnector(
  ctx: RunContext,
  connectorName: string,
  opts: { runId?: number } = {},
): Promise<ConnectorRunResult> {
  const row = await getConnector(ctx.db, connectorName);
  if (!row) {
    const known = await connectorNames(ctx.db);
    throw new GapmapError(
      'not_found',
      `No connector named "${connectorName}": expected one of ${known.length ? known.map((n) => `"${n}"`).join(', ') : '(none yet: add one with gapmap connectors add)'}`,
    );
  }
  const lock = await acquireRunLock(ctx, row.name);
  if (!lock) {
    const err = new GapmapError(
      'conflict',
      `Connector "${row.name}" is already running; wait for that run to finish`,
    );
    // A run queued for this job (gapmap connectors run --wait) must not wait forever.
    if (opts.runId !== undefined)
      await updateImportRun(ctx.db, opts.runId, {
        status: 'failed',
        error: err.message,
        finishedAt: new Date(),
      });
    throw err;
  }
  const counts = emptyCounts();
  const touched = new Set<number>();
  const stats = { pages: 0, deleted: 0, unmapped: 0, pending: [] as string[] };
  let runId: number | undefined;
  try {
    const source = `connector:${row.name}`;
    // Holding the lock, any run of this connector still marked running belongs to a dead process.
    await closeDeadRuns(ctx.db, source, opts.runId);
    runId = opts.runId ?? (await createImportRun(ctx.db, { source, kind: 'connector' })).id;
    await updateImportRun(ctx.db, runId, { status: 'running' });
    ctx.onRunStarted?.(runId);
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

async function runRemote(
  ctx: RunContext,
  row: ConnectorRow,
  runId: number,
  counts: ImportCounts,
  touched: Set<number>,
  stats: { pages: number; deleted: number; unmapped: number },
) {
  let customers = await customerKeyMap(ctx.db);
  for await (const page of readAhead(pagesFor(row, ctx.runtime ?? {}))) {
    stats.pages++;
    await ctx.onStep?.('fetched', stats.pages);
    // A mapping may name a customer created since the run began.
    if (page.items.some((i) => i.customerKey !== '' && !customers.has(i.customerKey)))
      customers = await customerKeyMap(ctx.db);
    const mapped = page.items.filter((i) => customers.has(i.customerKey));
    const unmapped = page.items
      .filter((i) => !customers.has(i.customerKey))
      .map((i) => (i.customerKey === '' ? i : mappedToUnknown(i)));
    const unknown = unmapped.filter((i) => i.meta.mappedTo !== undefined);
    if (unknown.length) {
      await addImportErrors(
        ctx.db,
        runId,
        unknown.map((i) => ({
          file: i.origin.file,
          line: null,
          field: 'mapping',
          message: `the connector maps "${String(i.meta.unmappedOrganization)}" to customer "${String(i.meta.mappedTo)}", which does not exist: kept unmapped; add the customer or fix the mapping`,
        })),
      );
    }
    const res = await storeItems(ctx.db, { runId, customers, items: mapped, counts });
    await addImportErrors(ctx.db, runId, res.errors);
    counts.errors += res.errors.length;
    const pageTouched = new Set(res.touchedCustomers);
    if (page.deleted.length) {
      for (const c of await markItemsDeleted(ctx.db, { sourceType: 'ticket', externalIds: page.deleted }))
        pageTouched.add(c);
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
    if (!finished)
      void next.then(
        () => it.return?.(),
        () => {},
      );
  }
}

async function runFolder(
  ctx: RunContext,
  row: ConnectorRow,
  runId: number,
  counts: ImportCounts,
  touched: Set<number>,
  stats: { pages: number; pending: string[] },
) {
  const dir = String(row.config.path ?? '');
  const previous: FolderState = row.cursor ? (JSON.parse(row.cursor) as FolderState) : {};
  const scan = await scanFolder(dir, previous, {
    settleMs: typeof row.config.settleMs === 'number' ? row.config.settleMs : undefined,
  });
  // Unchanged files keep their state; each imported export adds its own as soon as it is stored.
  const state: FolderState = {};
  const changedFiles = new Set(scan.entries.flatMap((e) => e.files));
  for (const [p, s] of Object.entries(scan.state)) if (!changedFiles.has(p) && previous[p]) state[p] = s;
  for (const p of scan.pending) if (previous[p]) state[p] = previous[p];
  stats.pending.push(...scan.pending);
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

/**
 * Marks the runs a dead process left running as failed. Their item counts are taken from what they
 * stored (items.first_run_id / last_run_id): a process killed between storing a page and saving its
 * counts would otherwise leave that page uncounted, and the next run counts it as unchanged.
 */
async function closeDeadRuns(db: Db, source: string, except: number | undefined) {
  const dead = await db
    .select({ id: importRuns.id, counts: importRuns.counts })
    .from(importRuns)
    .where(
      and(
        eq(importRuns.source, source),
        eq(importRuns.status, 'running'),
        except !== undefined ? ne(importRuns.id, except) : undefined,
      ),
    );
  for (const run of dead) {
    const [stored] = await db
      .select({
        created: sql<number>`(count(*) filter (where ${items.firstRunId} = ${run.id}))::int`,
        changed: sql<number>`(count(*) filter (where ${items.lastRunId} = ${run.id} and ${items.firstRunId} is distinct from ${run.id}))::int`,
      })
      .from(items)
      .where(or(eq(items.firstRunId, run.id), eq(items.lastRunId, run.id)));
    await db
      .update(importRuns)
      .set({
        status: 'failed',
        error:
          'the process running it stopped (killed or crashed) before it finished; the next run resumed from its last stored page',
        counts: {
          ...run.counts,
          itemsNew: Number(stored?.created ?? 0),
          itemsUpdated: Number(stored?.changed ?? 0),
        },
        finishedAt: new Date(),
      })
      .where(eq(importRuns.id, run.id));
  }
}

/** An item whose mapping names no existing customer: kept with the unmapped ones, never dropped. */
function mappedToUnknown(item: ParsedItem): ParsedItem {
  const label = item.meta.organization ?? item.meta.unmappedOrganization ?? '(no organization)';
  return {
    ...item,
    customerKey: '',
    meta: { ...item.meta, unmappedOrganization: String(label), mappedTo: item.customerKey },
  };
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

/**
 * Runs `fn` holding the connector's run lock, so nothing else of it runs meanwhile (mapping its
 * waiting tickets must not race a run that is keeping more of them).
 */
export async function withConnectorLock<T>(
  ctx: Pick<RunContext, 'pool'>,
  name: string,
  fn: () => Promise<T>,
): Promise<T> {
  const lock = await acquireRunLock(ctx, name);
  if (!lock)
    throw new GapmapError(
      'conflict',
      `Connector "${name}" is running now; try again once that run has finished`,
    );
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

async function acquireRunLock(
  ctx: Pick<RunContext, 'pool'>,
  name: string,
): Promise<{ release(): Promise<void> } | null> {
  if (!ctx.pool) {
    if (localRuns.has(name)) return null;
    localRuns.add(name);
    return { release: async () => void localRuns.delete(name) };
  }
  const client = await ctx.pool.connect();
  try {
    const res = await client.query<{ ok: boolean }>(
      `select pg_try_advisory_lock(hashtext('gapmap.connector'), hashtext($1)) as ok`,
      [name],
    );
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
