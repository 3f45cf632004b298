/**
 * `gapmap import --wait` with queues: the import is done once its run has finished, none of the
 * units of the customers it touched is waiting for tags (or for a re-tag under changed jobs), and
 * each of those customers' maps was built from the newest tags.
 */
import type { Db } from '../db/client.ts';
import {
  countWaitingUnits,
  countTaggedUnits,
  countUnits,
  getCustomerByKey,
  getImportRun,
  getMapState,
  latestClassificationAt,
  listImportRuns,
} from '../db/queries.ts';
import { GapmapError } from './errors.ts';
import { createProgress } from './progress.ts';

export async function isRunSettled(
  db: Db,
  runId: number,
): Promise<{ settled: boolean; pending: number; total: number }> {
  const run = await getImportRun(db, runId);
  if (!run) throw new GapmapError('not_found', `no import run ${runId}`);
  if (run.status === 'failed')
    throw new GapmapError('internal', `import run ${runId} failed: ${run.error ?? 'no reason recorded'}`);
  if (run.status !== 'done') return { settled: false, pending: 0, total: 0 };
  const ids: number[] = [];
  for (const key of run.customerKeys) {
    const c = await getCustomerByKey(db, key);
    if (c) ids.push(c.id);
  }
  if (ids.length === 0) return { settled: true, pending: 0, total: 0 };
  // Units without tags, and units whose tags are older than their customer's jobs (this run, or
  // a person, changed the jobs: the re-tag has not reached them yet).
  const waiting = await countWaitingUnits(db, ids);
  const pending = waiting.untagged + waiting.stale;
  const total = await countUnits(db, ids);
  if (pending > 0) return { settled: false, pending, total };
  for (const id of ids) {
    const state = await getMapState(db, id);
    const latest = await latestClassificationAt(db, id);
    if (!state || state.builtAt < run.finishedAt!) return { settled: false, pending, total };
    if (latest && (!state.classifiedThrough || state.classifiedThrough < latest))
      return { settled: false, pending, total };
    // A classification's time is its transaction's start: one that committed after the map read
    // the tags can be older than the newest tag the map saw. The map's unit count catches that.
    if (state.units !== (await countTaggedUnits(db, id))) return { settled: false, pending, total };
  }
  return { settled: true, pending, total };
}

export async function waitForRun(
  db: Db,
  runId: number,
  opts: { progress?: boolean; pollMs?: number; timeoutMs?: number } = {},
) {
  const bar = opts.progress ? createProgress('classifying units', 0) : null;
  const deadline = Date.now() + (opts.timeoutMs ?? 24 * 3600_000);
  for (;;) {
    const s = await isRunSettled(db, runId);
    bar?.set(s.total - s.pending, s.total);
    if (s.settled) break;
    if (Date.now() > deadline)
      throw new GapmapError(
        'service_unavailable',
        `import run ${runId} is not finished after ${opts.timeoutMs} ms: are workers running (gapmap worker)?`,
      );
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
  bar?.done();
  const [run] = (await listImportRuns(db, { limit: 1000 })).filter((r) => r.id === runId);
  return run!;
}
