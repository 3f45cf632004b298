/**
 * The pipeline's stages as plain functions of (payload, runtime). BullMQ workers call them in
 * `gapmap worker`; the embedded mode calls the same functions in-process, in order.
 */
import { UnrecoverableError } from 'bullmq';
import type { Db } from '../db/client.ts';
import type { Config } from '../app/env.ts';
import type { Classifier, UnitInput } from '../classifiers/types.ts';
import { catalog, type JobName, type Payload } from './catalog.ts';
import { runImport } from '../app/importer.ts';
import { buildMap } from '../app/map.ts';
import {
  customersWithPendingUnits,
  jobsOf,
  pendingUnitIds,
  reviewedExamples,
  saveClassifications,
  unitsForClassification,
  type ClassificationRow,
} from '../db/queries.ts';
import { GapmapError } from '../app/errors.ts';
import { classifications } from '../db/schema/index.ts';
import { inArray } from 'drizzle-orm';
import type { SourceType } from '../ingest/types.ts';

export interface Runtime {
  db: Db;
  config: Config;
  classifier(): Promise<Classifier>;
  enqueue<N extends JobName>(name: N, payload: Payload<N>): Promise<void>;
  /** Told after each classified batch (progress bars). */
  onClassified?(units: number): void;
}

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
    const rows = await unitsForClassification(rt.db, payload.unitIds);
    if (rows.length === 0) return;
    const classifier = await rt.classifier();
    // A retried batch skips the units it already did: their tags match this classifier and text.
    const done = await rt.db
      .select({
        unitId: classifications.unitId,
        hash: classifications.contentHash,
        version: classifications.version,
        classifier: classifications.classifier,
      })
      .from(classifications)
      .where(
        inArray(
          classifications.unitId,
          rows.map((r) => r.id),
        ),
      );
    const current = new Map(done.map((d) => [d.unitId, d]));
    const todo = rows.filter((r) => {
      const c = current.get(r.id);
      return (
        !c || c.hash !== r.contentHash || c.classifier !== classifier.name || c.version !== classifier.version
      );
    });
    const byCustomer = new Map<number, typeof todo>();
    for (const r of todo) byCustomer.set(r.customerId, [...(byCustomer.get(r.customerId) ?? []), r]);
    for (const [customerId, us] of byCustomer) {
      const jobs = await jobsOf(rt.db, customerId);
      const examples = await reviewedExamples(rt.db, customerId);
      const inputs: UnitInput[] = us.map((u) => ({
        id: u.id,
        text: u.text,
        sourceType: u.sourceType as SourceType,
        score: typeof u.meta.score === 'number' ? u.meta.score : null,
      }));
      const tags = await classifier.classify(inputs, { customerKey: String(customerId), jobs, examples });
      const now = new Date();
      const out: ClassificationRow[] = us.map((u, i) => ({
        unitId: u.id,
        customerId,
        contentHash: u.contentHash,
        classifier: classifier.name,
        version: classifier.version,
        ...tags[i]!,
        classifiedAt: now,
      }));
      await saveClassifications(rt.db, out);
      rt.onClassified?.(us.length);
    }
    for (const customerId of new Set(rows.map((r) => r.customerId)))
      await rt.enqueue('aggregate', { customerId });
  },

  async aggregate(payload, rt) {
    await buildMap(rt.db, payload.customerId);
  },
};

/**
 * Splits unclassified units into classify jobs: those of the customers an import touched, and any
 * left behind by an earlier interrupted run. A touched customer with none gets its map rebuilt.
 */
export async function enqueueClassification(rt: Runtime, customerIds: number[]) {
  const all = new Set([...customerIds, ...(await customersWithPendingUnits(rt.db))]);
  for (const customerId of all) {
    const pending = await pendingUnitIds(rt.db, { customerIds: [customerId] });
    if (pending.length === 0) {
      await rt.enqueue('aggregate', { customerId });
      continue;
    }
    for (let i = 0; i < pending.length; i += rt.config.classifyBatch) {
      await rt.enqueue('classify', { unitIds: pending.slice(i, i + rt.config.classifyBatch) });
    }
  }
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
