/**
 * The pipeline's stages as plain functions of (payload, runtime). BullMQ workers call them in
 * `gapmap worker`; the embedded mode calls the same functions in-process, in order.
 */
import { UnrecoverableError } from 'bullmq';
import { isEmbeddedDb, type Db } from '../db/client.ts';
import type { Config } from '../app/env.ts';
import type {
  Classifier,
  JobAnchor,
  LabelledExample,
  RegressionChoice,
  UnitInput,
} from '../classifiers/types.ts';
import type { JobDef } from '../ingest/types.ts';
import { catalog, type JobName, type Payload } from './catalog.ts';
import { runImport } from '../app/importer.ts';
import { buildMap } from '../app/map.ts';
import {
  classifyStateKept,
  clearAnchors,
  customerAnchors,
  customerHeadsStore,
  customersToRetag,
  customersWithPendingUnits,
  liveUnitIds,
  markRetagged,
  markTagsCurrent,
  mergeAnchors,
  pendingUnitIds,
  saveClassifications,
  saveRegressionChoice,
  unitsForClassification,
  type ClassifyState,
} from '../db/queries.ts';
import { GapmapError } from '../app/errors.ts';
import { hashOf } from '../app/store.ts';
import { classifierInput } from '../ingest/context.ts';
import { enqueuePendingLlm, pendingLlmOf, routeToLlm, runLlmJob, stagesOf } from '../app/llm.ts';
import type { DbHandle } from '../db/client.ts';
import { syncConnector, waitUntilSettled } from '../ingest/connectors/sync.ts';
import { describeHttpEvent } from '../ingest/connectors/http.ts';

export interface Runtime {
  db: Db;
  config: Config;
  classifier(): Promise<Classifier>;
  enqueue<N extends JobName>(name: N, payload: Payload<N>): Promise<void>;
  /** Told after each classified batch (progress bars). */
  onClassified?(units: number): void;
  /**
   * Set by `gapmap worker`: an LLM outage is thrown to the worker, which pauses the llm queue.
   * Unset (in-process), the run goes on with local tags and the units stay pending for the next run.
   */
  queued?: boolean;
  /** The node-postgres pool (DbHandle.pool), for a connector run's lock across processes; absent with PGlite. */
  pool?: DbHandle['pool'];
  /** Aborted when `gapmap worker` is stopping, so a job waiting on other stages stops waiting. */
  signal?: AbortSignal;
  /** Where a stage says what it is waiting for (a help desk's retries); the worker's log. */
  log?: (message: string) => void;
}

/**
 * Classify batches a process works on at once (a worker's BullMQ concurrency, the embedded mode's
 * queue): while one batch's reads, heads and database writes run and wait on PostgreSQL, the
 * others' texts keep the model threads busy. Two left model time idle on a fast machine; measured
 * by bench:classify.
 */
export const CLASSIFY_CONCURRENCY = 3;

type Processors = { [N in JobName]: (payload: Payload<N>, rt: Runtime) => Promise<void> };

export const processors: Processors = {
  async ingest(payload, rt) {
    let result;
    try {
      result = await runImport(rt.db, { ...payload, runId: payload.runId });
    } catch (err) {
      // A missing file or a file that needs flags will not get better by retrying.
      if (err instanceof GapmapError && err.status < 500) throw new UnrecoverableError(err.message);
      throw err;
    }
    await enqueueClassification(rt, result.touchedCustomers);
  },

  async classify(payload, rt) {
    // The units, with the tags they have: a retried batch skips the units it already did (their
    // tags match this classifier and text).
    const rows = await unitsForClassification(rt.db, payload.unitIds);
    if (rows.length === 0) return;
    // With the LLM on, this stage tags with the local model and routes the unsure units to the llm stage.
    const stages = stagesOf(await rt.classifier());
    const classifier = stages?.local ?? (await rt.classifier());
    const byCustomer = new Map<number, typeof rows>();
    for (const r of rows) {
      const list = byCustomer.get(r.customerId);
      if (list) list.push(r);
      else byCustomer.set(r.customerId, [r]);
    }
    for (const [customerId, all] of byCustomer) {
      // The jobs' version with the jobs, in one statement: the tags never claim newer jobs than they saw.
      const state = await classifyStateKept(rt.db, customerId);
      const { jobsVersion, regressions, jobs, examples } = state;
      // The heads a customer's units are tagged with depend on its jobs and on people's corrections:
      // tags made before a correction or a job edit are out of date.
      const version = keptVersion(classifier.version, state);
      const us = all.filter((r) => {
        const c = r.tagged;
        const by = (name: string, v: string) => c?.classifier === name && c.version === v;
        return (
          !c ||
          c.hash !== r.contentHash ||
          !(by(classifier.name, version) || (stages && by(stages.name, stages.version)))
        );
      });
      // Skipped units' tags are those these jobs give (jobs changed and changed back): current.
      const todo = new Set(us.map((u) => u.id));
      await markTagsCurrent(
        rt.db,
        all.filter((r) => !todo.has(r.id)).map((r) => r.id),
        jobsVersion,
      );
      if (us.length === 0) continue;
      const inputs: UnitInput[] = us.map(classifierInput);
      const stored = payload.anchors === 'stored' ? await customerAnchors(rt.db, customerId) : [];
      let chosen: JobAnchor[] = [];
      let decided: RegressionChoice | undefined;
      const tags = await classifier.classify(inputs, {
        customerKey: String(customerId),
        jobs,
        examples,
        ...(stored.length > 0 ? { anchors: stored } : { onAnchors: (a: JobAnchor[]) => (chosen = a) }),
        regressions,
        onRegressions: (c) => (decided = c),
        // Kept for other processes and restarts, not in the embedded mode: writing them to PGlite
        // (2.5 MB) held the server's event loop longer than training them again does.
        ...(isEmbeddedDb(rt.db) ? {} : { headsStore: customerHeadsStore(rt.db, customerId) }),
      });
      // Before the tags: a batch retried after a crash skips the units it wrote, and would not
      // choose these again. Merging twice is harmless (one row per unit). An anchor is a unit's text.
      if (chosen.length > 0) {
        const unitOf = new Map(us.map((u) => [u.text, u]));
        await mergeAnchors(
          rt.db,
          customerId,
          chosen.flatMap((a) => {
            const u = unitOf.get(a.text);
            return u ? [{ ...a, unitId: u.id, contentHash: u.contentHash }] : [];
          }),
        );
      }
      if (decided) await saveRegressionChoice(rt.db, customerId, decided);
      if (stages) await routeToLlm(rt.db, stages, customerId, us, tags);
      await saveClassifications(
        rt.db,
        { customerId, classifier: classifier.name, version, jobsVersion, classifiedAt: new Date() },
        us.map((u, i) => ({ unitId: u.id, contentHash: u.contentHash, ...tags[i]! })),
      );
      rt.onClassified?.(us.length);
    }
    if (stages) {
      const owed = await pendingLlmOf(
        rt.db,
        rows.map((r) => r.id),
      );
      if (owed.length > 0) await rt.enqueue('llm', { unitIds: owed });
    }
    for (const customerId of new Set(rows.map((r) => r.customerId)))
      await rt.enqueue('aggregate', { customerId });
  },

  llm: runLlmJob,

  async aggregate(payload, rt) {
    await buildMap(rt.db, payload.customerId);
  },

  async connector(payload, rt) {
    try {
      await syncConnector(
        {
          db: rt.db,
          pool: rt.pool,
          webhookUrl: rt.config.webhookUrl,
          runId: payload.runId,
          runtime: { log: (e) => rt.log?.(`connector ${payload.name}: ${describeHttpEvent(e)}`) },
          // The webhook on new value gaps compares the maps once this run's units are classified.
          settle: async (result) => {
            await enqueueClassification(rt, result.touchedCustomers);
            const settled = await waitUntilSettled(rt.db, result.runId, {
              signal: rt.signal,
              timeoutMs: catalog.connector.timeoutMs,
            });
            if (!settled)
              throw new Error(
                `connector ${payload.name}: import run ${result.runId} is stored; its value gaps were not compared (the worker stopped or classification took too long)`,
              );
          },
        },
        payload.name,
      );
    } catch (err) {
      // Another run of it holds the lock, or it was removed: nothing a retry would change.
      if (err instanceof GapmapError && (err.code === 'conflict' || err.code === 'not_found'))
        throw new UnrecoverableError(err.message);
      throw err;
    }
  },
};

/**
 * Splits unclassified units into classify jobs: those of the customers an import touched, and any
 * left behind by an earlier interrupted run. A touched customer with none gets its map rebuilt.
 */
export async function enqueueClassification(
  rt: Pick<Runtime, 'db' | 'config' | 'enqueue' | 'queued'>,
  customerIds: number[],
) {
  const retag = await customersToRetag(rt.db);
  const all = new Set([...customerIds, ...(await customersWithPendingUnits(rt.db)), ...retag.keys()]);
  for (const customerId of all) {
    // A customer whose jobs changed has every unit classified again, not only the new ones.
    const jobsVersion = retag.get(customerId);
    // Anchors chosen under the old jobs would teach the new ones; the re-tag chooses them again.
    if (jobsVersion !== undefined) await clearAnchors(rt.db, customerId);
    const pending =
      jobsVersion !== undefined
        ? await liveUnitIds(rt.db, customerId)
        : await pendingUnitIds(rt.db, { customerIds: [customerId] });
    if (pending.length === 0) await rt.enqueue('aggregate', { customerId });
    for (let i = 0; i < pending.length; i += rt.config.classifyBatch) {
      await rt.enqueue('classify', { unitIds: pending.slice(i, i + rt.config.classifyBatch) });
    }
    if (jobsVersion !== undefined) await markRetagged(rt.db, customerId, jobsVersion);
  }
  // In-process, units an earlier run's LLM outage left pending are sent again now. Queue workers
  // keep theirs queued through an outage, so they are not enqueued twice.
  if (!rt.queued && rt.config.llm.mode !== 'off') await enqueuePendingLlm(rt);
}

/** A classifier's version for one customer: its own, plus a digest of the jobs and corrections it learnt from. */
export function customerVersion(base: string, jobs: unknown, examples: unknown): string {
  return `${base}+c${hashOf({ jobs, examples }).slice(0, 8)}`;
}

/** customerVersion of a kept ClassifyState's jobs and examples, made once per state read. */
const keptVersions = new WeakMap<LabelledExample[], { jobs: JobDef[]; base: string; version: string }>();
function keptVersion(base: string, state: ClassifyState): string {
  const had = keptVersions.get(state.examples);
  if (had && had.jobs === state.jobs && had.base === base) return had.version;
  const version = customerVersion(base, state.jobs, state.examples);
  keptVersions.set(state.examples, { jobs: state.jobs, base, version });
  return version;
}

/** Parses the payload with the catalog's schema before the processor sees it. */
export async function runJob<N extends JobName>(name: N, data: unknown, rt: Runtime): Promise<void> {
  const parsed = catalog[name].payload.safeParse(data);
  if (!parsed.success) {
    throw new UnrecoverableError(
      `bad ${name} payload: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  await (processors[name] as (p: unknown, rt: Runtime) => Promise<void>)(parsed.data, rt);
}
