/**
 * Work the server starts and does not wait for: rebuilding a map after a decision, and importing
 * uploaded files. Embedded mode runs it in this process, one task at a time (PGlite has one
 * connection, and the map builder wants the whole customer); queue mode hands it to the workers.
 */
import type { Config } from '../app/env.ts';
import type { DbHandle } from '../db/client.ts';
import type { Classifier } from '../classifiers/types.ts';
import { queueMode } from '../app/context.ts';
import { errorMessage, quietRepeats } from '../app/errors.ts';
import { runImport } from '../app/importer.ts';
import { buildMap } from '../app/map.ts';
import { loadClassifier } from '../app/classifier.ts';
import { pendingUnitIds } from '../db/queries.ts';
import { refreshPersonEntries } from '../db/reviews.ts';
import { createInProcessRuntime } from '../workers/inprocess.ts';
import { enqueueClassification } from '../workers/processors.ts';
import { enqueueRetrain } from '../app/retrain.ts';
import { createQueueClient, type QueueClient } from '../workers/queues.ts';

export interface ImportJob {
  runId: number;
  path: string;
  customer?: string;
  speakers?: string[];
  author?: string;
}

export interface ImportProgress {
  runId: number;
  phase: 'queued' | 'reading' | 'classifying' | 'mapping' | 'done' | 'failed';
  itemsRead: number;
  classified: number;
  toClassify: number;
  error: string | null;
}

export interface Background {
  /** A decision changed a customer's tags or entries: rebuild its map soon (coalesced). */
  mapChanged(customerId: number): void;
  /** A person added or edited a job: every unit of the customer is classified again, then the map rebuilt. */
  jobsChanged(customerId: number): void;
  startImport(job: ImportJob): Promise<void>;
  /** Progress of imports this process runs (embedded mode); queue mode reports through import runs. */
  progress(runId: number): ImportProgress | undefined;
  /** Resolves when nothing is waiting or running (tests, shutdown). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export function createBackground(p: { config: Config; handle: DbHandle }): Background {
  return queueMode(p.config) ? queueBackground(p) : embeddedBackground(p);
}

function embeddedBackground({ config, handle }: { config: Config; handle: DbHandle }): Background {
  const db = handle.db;
  let chain: Promise<void> = Promise.resolve();
  const dirty = new Set<number>();
  let rebuildQueued = false;
  const progress = new Map<number, ImportProgress>();
  let classifier: Promise<Classifier> | null = null;

  // The pipeline's stages in this process, sharing one classifier across tasks. A decision's map
  // rebuild does not wait behind a long task (an import, a retrain of a big customer): the task's
  // queue lets it in before the next job (PGlite has one connection: once the running ones are done).
  const runtime = (onClassified?: (units: number) => void) =>
    createInProcessRuntime(
      { db, config, classifier: () => (classifier ??= loadClassifier(config)), onClassified },
      { priority: { waiting: () => dirty.size > 0, run: rebuildDirty } },
    );
  const run = (task: () => Promise<void>) => {
    chain = chain.then(task).catch((err) => console.error(`gapmap dashboard: ${errorMessage(err)}`));
  };

  async function rebuildDirty() {
    const customers = [...dirty];
    if (customers.length === 0) return;
    for (const customerId of customers) {
      dirty.delete(customerId);
      await buildMap(db, customerId);
      await refreshPersonEntries(db, customerId);
    }
    // The map shows the decision at once; then the heads learn from it, and the units it could
    // change are classified again (the map is rebuilt once more by that run).
    run(async () => {
      const rt = runtime();
      for (const customerId of customers) {
        if ((await enqueueRetrain(rt, customerId)) > 0) {
          await rt.drain();
          await refreshPersonEntries(db, customerId);
        }
      }
    });
  }
  const rebuild = async () => {
    rebuildQueued = false;
    await rebuildDirty();
  };

  return {
    mapChanged(customerId) {
      dirty.add(customerId);
      if (!rebuildQueued) {
        rebuildQueued = true;
        run(rebuild);
      }
    },
    jobsChanged(customerId) {
      run(async () => {
        const rt = runtime();
        await enqueueClassification(rt, [customerId]);
        await rt.drain();
        await refreshPersonEntries(db, customerId);
      });
    },
    async startImport(job) {
      const state: ImportProgress = {
        runId: job.runId,
        phase: 'queued',
        itemsRead: 0,
        classified: 0,
        toClassify: 0,
        error: null,
      };
      progress.set(job.runId, state);
      run(async () => {
        try {
          state.phase = 'reading';
          const result = await runImport(db, { ...job, onProgress: (n) => (state.itemsRead = n) });
          state.phase = 'classifying';
          state.toClassify = (await pendingUnitIds(db, { customerIds: result.touchedCustomers })).length;
          const rt = runtime((n) => (state.classified += n));
          await enqueueClassification(rt, result.touchedCustomers);
          state.phase = 'mapping';
          await rt.drain();
          for (const c of result.touchedCustomers) await refreshPersonEntries(db, c);
          state.phase = 'done';
        } catch (err) {
          state.phase = 'failed';
          state.error = errorMessage(err);
        }
      });
    },
    progress: (runId) => progress.get(runId),
    async idle() {
      let seen: Promise<void> | null = null;
      while (seen !== chain) {
        seen = chain;
        await chain;
      }
    },
    async close() {
      await this.idle();
      if (classifier) await (await classifier).close?.();
    },
  };
}

function queueBackground({ config, handle }: { config: Config; handle: DbHandle }): Background {
  let client: Promise<QueueClient> | null = null;
  // A Redis that went away: each attempt to reconnect is an error, said once a minute.
  const log = quietRepeats((m) => console.error(`gapmap dashboard: ${m}`));
  const queue = () => (client ??= createQueueClient(config, { log }));
  const pending = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    const t = p
      .catch((err) => console.error(`gapmap dashboard: ${errorMessage(err)}`))
      .finally(() => pending.delete(t));
    pending.add(t);
    return t;
  };
  return {
    mapChanged(customerId) {
      // Person entries do not wait for the worker: they are recounted here from the new tags.
      track(refreshPersonEntries(handle.db, customerId));
      // The map first, then the units the decision could change are classified again (and the map rebuilt).
      track(
        queue().then(async (q) => {
          await q.enqueue('aggregate', { customerId });
          await enqueueRetrain({ enqueue: q.enqueue, config, db: handle.db }, customerId);
        }),
      );
    },
    jobsChanged(customerId) {
      track(
        queue().then((q) =>
          enqueueClassification({ enqueue: q.enqueue, config, db: handle.db, queued: true }, [customerId]),
        ),
      );
    },
    async startImport(job) {
      const q = await queue();
      await q.enqueue('ingest', {
        runId: job.runId,
        path: job.path,
        customer: job.customer,
        speakers: job.speakers,
        author: job.author,
      });
    },
    progress: () => undefined,
    async idle() {
      while (pending.size) await Promise.all([...pending]);
    },
    async close() {
      await this.idle();
      if (client) await (await client).close();
    },
  };
}
