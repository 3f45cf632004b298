/**
 * A connector run as the schedule and `gapmap connectors run` do it: the run (run.ts), then the
 * classification and map rebuilds of what it touched (`settle`: in-process in the embedded mode,
 * through the queues and their workers otherwise), then the webhooks: one when the run fails, one
 * per customer whose map gained a value-gap entry it did not have before the run.
 *
 * The "before" is taken from every customer's map, since which customers a run touches is known
 * only once it has run; a map is a few dozen entries, so this is cheap next to the run.
 */
import type pg from 'pg';
import type { Db } from '../../db/client.ts';
import { getImportRun, updateImportRun } from '../../db/queries.ts';
import { customers } from '../../db/schema/index.ts';
import { inArray } from 'drizzle-orm';
import { errorMessage, GapmapError } from '../../app/errors.ts';
import { newValueGaps, postWebhook, valueGapSnapshot, type NewValueGap } from '../../app/webhooks.ts';
import { isRunSettled } from '../../app/wait.ts';
import { runConnector, type ConnectorRunResult, type RunContext } from './run.ts';
import type { ConnectorRuntime } from './zendesk.ts';

export interface SyncOptions {
  db: Db;
  pool?: pg.Pool;
  webhookUrl?: string;
  runtime?: ConnectorRuntime;
  /** An import run created beforehand (queued by `gapmap connectors run --wait`). */
  runId?: number;
  /** Classifies what the run touched and rebuilds those maps; resolves once they are built. */
  settle(result: ConnectorRunResult): Promise<void>;
  onStep?: RunContext['onStep'];
  log?: (message: string) => void;
}

export interface SyncResult extends ConnectorRunResult {
  durationMs: number;
  newValueGaps: Array<{ customer: string; entries: NewValueGap[] }>;
}

export async function syncConnector(opts: SyncOptions, name: string): Promise<SyncResult> {
  const started = Date.now();
  const before = await valueGapSnapshot(opts.db);
  let startedRun: number | null = null;
  let result: ConnectorRunResult;
  try {
    result = await runConnector(
      {
        db: opts.db,
        pool: opts.pool,
        runtime: opts.runtime,
        onStep: opts.onStep,
        onRunStarted: (id) => (startedRun = id),
      },
      name,
      { runId: opts.runId },
    );
  } catch (err) {
    await reportFailure(opts, name, startedRun, err);
    throw err;
  }
  await opts.settle(result);
  const after = await valueGapSnapshot(opts.db, result.touchedCustomers);
  const fresh = newValueGaps(before, after);
  const named = fresh.size
    ? await opts.db
        .select({ id: customers.id, key: customers.key, name: customers.name })
        .from(customers)
        .where(inArray(customers.id, [...fresh.keys()]))
    : [];
  const out: SyncResult['newValueGaps'] = [];
  for (const c of named.sort((a, b) => (a.key < b.key ? -1 : 1))) {
    const entries = fresh.get(c.id) ?? [];
    out.push({ customer: c.key, entries });
    await postWebhook(
      opts.webhookUrl,
      {
        event: 'new_value_gaps',
        connector: name,
        run_id: result.runId,
        customer: { key: c.key, name: c.name },
        entries,
      },
      { log: opts.log },
    );
  }
  return { ...result, durationMs: Date.now() - started, newValueGaps: out };
}

async function reportFailure(opts: SyncOptions, name: string, startedRun: number | null, err: unknown) {
  // A run that never started is not a failed run: another one of this connector holds the lock,
  // or there is no such connector. A run queued for it is closed with the reason, though.
  if (startedRun === null) {
    if (opts.runId !== undefined) {
      const queued = await getImportRun(opts.db, opts.runId);
      if (queued?.status === 'queued')
        await updateImportRun(opts.db, opts.runId, {
          status: 'failed',
          error: errorMessage(err),
          finishedAt: new Date(),
        });
    }
    if (err instanceof GapmapError && (err.code === 'conflict' || err.code === 'not_found')) return;
  }
  const run =
    startedRun !== null ? await getImportRun(opts.db, startedRun).catch(() => undefined) : undefined;
  await postWebhook(
    opts.webhookUrl,
    {
      event: 'connector_run_failed',
      connector: name,
      run_id: startedRun,
      error: run?.error ?? errorMessage(err),
      counts: run
        ? {
            new: run.counts.itemsNew,
            updated: run.counts.itemsUpdated,
            unchanged: run.counts.itemsUnchanged,
            failed: run.counts.errors,
          }
        : null,
    },
    { log: opts.log },
  );
}

/**
 * With queues: resolves once the run's units are classified by the workers and its customers' maps
 * rebuilt; false when `signal` aborts first (the worker is stopping: it must not wait on stages it
 * no longer serves) or `timeoutMs` passes.
 */
export async function waitUntilSettled(
  db: Db,
  runId: number,
  opts: { signal?: AbortSignal; timeoutMs: number; pollMs?: number },
): Promise<boolean> {
  const deadline = Date.now() + opts.timeoutMs;
  while (!opts.signal?.aborted && Date.now() < deadline) {
    if ((await isRunSettled(db, runId)).settled) return true;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        opts.signal?.removeEventListener('abort', done);
        resolve();
      }, opts.pollMs ?? 500);
      opts.signal?.addEventListener('abort', done, { once: true });
    });
  }
  return false;
}
