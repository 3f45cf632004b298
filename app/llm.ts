/**
 * The LLM in the pipeline, as its own stage after local tagging:
 *
 *   classify (local model, every unit) -> saves local tags, routes the unsure units -> llm
 *   llm (OpenAI-compatible endpoint)   -> replaces their tags, or flags them and keeps the local ones
 *
 * Why a separate stage rather than the cascade inside `classify`: an outage of the endpoint must
 * not hold up local tagging. Every unit has tags (and the maps are built) as soon as the local
 * model is done; the LLM's answers refine them when they come. The routing rule is the cascade's
 * (classifiers/cascade.ts), and `gapmap eval` runs the cascade itself, so what it measures is what
 * the pipeline stores. The work owed to the endpoint lives in `unit_llm` ('pending'), so an outage
 * loses nothing: queue workers pause the llm queue and retry (workers/worker.ts); in-process runs
 * leave the units pending and the next run sends them.
 */
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import { UnrecoverableError } from 'bullmq';
import type { Config } from './env.ts';
import { DEFAULT_LLM_MODEL } from './env.ts';
import { GapmapError, errorMessage } from './errors.ts';
import type { Db } from '../db/client.ts';
import { classifications, customerSettings, items, llmUsage, unitLlm, units } from '../db/schema/index.ts';
import { classifyStateOf, saveClassifications, type UnitTags } from '../db/queries.ts';
import type { Classifier, Tags } from '../classifiers/types.ts';
import {
  LlmUnavailableError,
  createLlmClassifier,
  type LlmClassifier,
  type LlmConfig,
  type LlmUnitInput,
  type LlmUsage,
} from '../classifiers/llm.ts';
import { createCascade, lowestConfidence, type Cascade } from '../classifiers/cascade.ts';
import { classifierInput } from '../ingest/context.ts';
import type { Runtime } from '../workers/processors.ts';

export interface LlmStages {
  local: Classifier;
  llm: LlmClassifier;
  threshold: number;
  all: boolean;
  /** Written on tags the LLM made: the cascade's name and version. */
  name: string;
  version: string;
  /** Model name, as recorded with the token use. */
  model: string;
  /** In-process only: after an outage, jobs until this time (ms) leave their units pending at once. */
  outageUntil: number;
}

/** What `loadClassifier` returns with the LLM on: the cascade (for eval), with its parts for the pipeline. */
export interface LlmPipelineClassifier extends Cascade {
  readonly stages: LlmStages;
}

export function stagesOf(classifier: Classifier): LlmStages | null {
  const stages = (classifier as Partial<LlmPipelineClassifier>).stages;
  return stages ?? null;
}

/** The client settings for a task; a missing key is a config error that says what to set. */
export function llmConfigOf(config: Config, model?: string): LlmConfig {
  if (!config.openai.apiKey) {
    throw new GapmapError(
      'config',
      'the LLM needs OPENAI_API_KEY (any value for a server without keys, with OPENAI_BASE_URL): set it, or GAPMAP_LLM=off',
    );
  }
  return {
    apiKey: config.openai.apiKey,
    baseURL: config.openai.baseURL,
    model: model ?? config.openai.model ?? DEFAULT_LLM_MODEL,
    batchSize: config.llm.batchSize,
    timeoutMs: config.llm.timeoutMs,
    maxRetries: config.llm.retries,
    maxRetryAfterMs: config.llm.maxWaitMs,
  };
}

/** The local classifier alone with GAPMAP_LLM=off, else the cascade of it and the LLM classifier. */
export function withLlm(local: Classifier, config: Config): Classifier {
  if (config.llm.mode === 'off') return local;
  const llmConfig = llmConfigOf(config);
  const llm = createLlmClassifier(llmConfig);
  const all = config.llm.mode === 'all';
  const cascade = createCascade(local, llm, { threshold: config.llm.threshold, all });
  const stages: LlmStages = {
    local,
    llm,
    threshold: config.llm.threshold,
    all,
    name: cascade.name,
    version: cascade.version,
    model: llmConfig.model,
    outageUntil: 0,
  };
  return Object.assign(cascade, { stages }) satisfies LlmPipelineClassifier;
}

// --- per-customer switch ------------------------------------------------------------------------

export async function llmEnabled(db: Db, customerId: number): Promise<boolean> {
  const [row] = await db
    .select({ on: customerSettings.llmEnabled })
    .from(customerSettings)
    .where(eq(customerSettings.customerId, customerId));
  return row?.on ?? true;
}

/** Turning it off also drops the customer's pending LLM work: those units keep their local tags. */
export async function setLlmEnabled(db: Db, customerId: number, enabled: boolean): Promise<void> {
  await db
    .insert(customerSettings)
    .values({ customerId, llmEnabled: enabled })
    .onConflictDoUpdate({
      target: customerSettings.customerId,
      set: { llmEnabled: enabled, updatedAt: new Date() },
    });
  if (!enabled) {
    await db.delete(unitLlm).where(and(eq(unitLlm.customerId, customerId), eq(unitLlm.status, 'pending')));
  }
}

// --- routing, after local tags are saved ----------------------------------------------------------

export interface RoutedUnit {
  id: number;
  contentHash: string;
}

/**
 * Marks the units the cascade rule sends to the LLM as pending (before the local tags are saved,
 * so a crash in between leaves the work listed) and returns their ids. None for a customer with
 * the LLM switched off.
 */
export async function routeToLlm(
  db: Db,
  stages: LlmStages,
  customerId: number,
  us: RoutedUnit[],
  tags: Tags[],
): Promise<number[]> {
  const enabled = await llmEnabled(db, customerId);
  const picked = us.filter(
    (_, i) => enabled && (stages.all || lowestConfidence(tags[i]!) < stages.threshold),
  );
  // Units whose new text the local model is sure of owe the LLM nothing any more.
  const sure = us.filter((u) => !picked.includes(u)).map((u) => u.id);
  if (sure.length > 0) await db.delete(unitLlm).where(inArray(unitLlm.unitId, sure));
  if (picked.length === 0) return [];
  const runs = await db
    .select({ id: units.id, runId: items.lastRunId })
    .from(units)
    .innerJoin(items, eq(items.id, units.itemId))
    .where(
      inArray(
        units.id,
        picked.map((u) => u.id),
      ),
    );
  const runOf = new Map(runs.map((r) => [r.id, r.runId]));
  await db
    .insert(unitLlm)
    .values(
      picked.map((u) => ({
        unitId: u.id,
        customerId,
        contentHash: u.contentHash,
        status: 'pending' as const,
        runId: runOf.get(u.id) ?? null,
      })),
    )
    .onConflictDoUpdate({
      target: unitLlm.unitId,
      set: {
        contentHash: sql`excluded.content_hash`,
        status: 'pending',
        flag: null,
        span: null,
        runId: sql`excluded.run_id`,
        lastError: null,
        updatedAt: new Date(),
      },
    });
  return picked.map((u) => u.id);
}

/** Of these units, those still owed to the LLM (a retried classify batch sends them again). */
export async function pendingLlmOf(db: Db, unitIds: number[]): Promise<number[]> {
  if (unitIds.length === 0) return [];
  const rows = await db
    .select({ id: unitLlm.unitId })
    .from(unitLlm)
    .where(and(inArray(unitLlm.unitId, unitIds), eq(unitLlm.status, 'pending')));
  return rows.map((r) => r.id).sort((a, b) => a - b);
}

/** Enqueues the customers' units still owed to the LLM, e.g. left pending by an outage. */
export async function enqueuePendingLlm(
  rt: Pick<Runtime, 'db' | 'config' | 'enqueue'>,
  customerIds?: number[],
): Promise<number> {
  const rows = await rt.db
    .select({ id: unitLlm.unitId })
    .from(unitLlm)
    .leftJoin(customerSettings, eq(customerSettings.customerId, unitLlm.customerId))
    .where(
      and(
        eq(unitLlm.status, 'pending'),
        customerIds ? inArray(unitLlm.customerId, customerIds) : undefined,
        sql`coalesce(${customerSettings.llmEnabled}, true)`,
      ),
    )
    .orderBy(unitLlm.unitId);
  const ids = rows.map((r) => r.id);
  for (let i = 0; i < ids.length; i += rt.config.classifyBatch) {
    await rt.enqueue('llm', { unitIds: ids.slice(i, i + rt.config.classifyBatch) });
  }
  return ids.length;
}

// --- the llm stage ------------------------------------------------------------------------------

function speakerNamesOf(speaker: string | null, meta: Record<string, unknown>): string[] {
  const names = new Set<string>();
  if (speaker) names.add(speaker);
  for (const field of ['customerSpeakers', 'speakers', 'author']) {
    const v = meta[field];
    if (typeof v === 'string' && v.trim()) names.add(v);
    if (Array.isArray(v)) for (const n of v) if (typeof n === 'string' && n.trim()) names.add(n);
  }
  return [...names];
}

function usageDelta(after: LlmUsage, before: LlmUsage): LlmUsage {
  return {
    requests: after.requests - before.requests,
    promptTokens: after.promptTokens - before.promptTokens,
    completionTokens: after.completionTokens - before.completionTokens,
    estimatedCostUsd: Math.max(0, after.estimatedCostUsd - before.estimatedCostUsd),
  };
}

export async function recordUsage(
  db: Db,
  p: {
    runId: number | null;
    customerId: number | null;
    task: 'classify' | 'suggest';
    model: string;
    usage: LlmUsage;
  },
) {
  if (p.usage.requests === 0 && p.usage.promptTokens === 0) return;
  await db.insert(llmUsage).values({
    runId: p.runId,
    customerId: p.customerId,
    task: p.task,
    model: p.model,
    requests: p.usage.requests,
    promptTokens: p.usage.promptTokens,
    completionTokens: p.usage.completionTokens,
    estimatedCostUsd: p.usage.estimatedCostUsd,
  });
}

/**
 * Sends the job's pending units to the LLM, per customer and import run (so cost is counted per
 * run), and stores what comes back. On LlmUnavailableError the units stay pending with their
 * local tags: in queue mode the error goes to the worker, which pauses the queue and retries;
 * in-process the run goes on without the LLM and the next run sends them.
 */
export async function runLlmJob(payload: { unitIds: number[] }, rt: Runtime): Promise<void> {
  const stages = stagesOf(await rt.classifier());
  // GAPMAP_LLM switched off since the job was queued: the units keep their local tags and stay
  // pending, for `gapmap llm resume` once it is on again.
  if (!stages) return;
  if (!rt.queued && Date.now() < stages.outageUntil) return;
  const rows = await rt.db
    .select({
      id: units.id,
      customerId: units.customerId,
      text: units.text,
      ordinal: units.ordinal,
      section: units.section,
      contentHash: units.contentHash,
      speaker: units.speaker,
      sourceType: items.sourceType,
      meta: items.meta,
      runId: unitLlm.runId,
      llmHash: unitLlm.contentHash,
      localHash: classifications.contentHash,
    })
    .from(unitLlm)
    .innerJoin(units, eq(units.id, unitLlm.unitId))
    .innerJoin(items, eq(items.id, units.itemId))
    .leftJoin(classifications, eq(classifications.unitId, units.id))
    .where(
      and(inArray(unitLlm.unitId, payload.unitIds), eq(unitLlm.status, 'pending'), isNull(units.deletedAt)),
    )
    .orderBy(units.id);
  // A unit whose text changed since it was routed is classified again from scratch (classify stage).
  const todo = rows.filter((r) => r.llmHash === r.contentHash && r.localHash === r.contentHash);
  const groups = new Map<string, typeof todo>();
  for (const r of todo) {
    const key = `${r.customerId}:${r.runId ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const touched = new Set<number>();
  const enabled = new Map<number, boolean>();
  for (const group of groups.values()) {
    const customerId = group[0]!.customerId;
    const runId = group[0]!.runId;
    if (!enabled.has(customerId)) enabled.set(customerId, await llmEnabled(rt.db, customerId));
    if (!enabled.get(customerId)) {
      // Switched off while queued: nothing is sent, the local tags stay.
      await rt.db.delete(unitLlm).where(
        inArray(
          unitLlm.unitId,
          group.map((u) => u.id),
        ),
      );
      continue;
    }
    // The jobs with their version, in one statement, as the classify stage reads them.
    const { jobsVersion, jobs, examples } = await classifyStateOf(rt.db, customerId);
    const inputs: LlmUnitInput[] = group.map((u) => ({
      ...classifierInput(u),
      speakerNames: speakerNamesOf(u.speaker, u.meta),
    }));
    const before = stages.llm.usage();
    let tags;
    try {
      tags = await stages.llm.classify(inputs, { customerKey: String(customerId), jobs, examples });
    } catch (err) {
      await recordUsage(rt.db, {
        runId,
        customerId,
        task: 'classify',
        model: stages.model,
        usage: usageDelta(stages.llm.usage(), before),
      });
      await rt.db
        .update(unitLlm)
        .set({ lastError: errorMessage(err), updatedAt: new Date() })
        .where(
          inArray(
            unitLlm.unitId,
            group.map((u) => u.id),
          ),
        );
      if (err instanceof LlmUnavailableError) {
        if (rt.queued) throw err;
        stages.outageUntil = Date.now() + (err.retryAfterMs ?? rt.config.llm.pauseMs);
        break;
      }
      // A wrong key or model name will not fix itself: fail the job; the units stay pending.
      if (err instanceof GapmapError && err.code === 'config') throw new UnrecoverableError(err.message);
      throw err;
    }
    await recordUsage(rt.db, {
      runId,
      customerId,
      task: 'classify',
      model: stages.model,
      usage: usageDelta(stages.llm.usage(), before),
    });
    const now = new Date();
    const answered: UnitTags[] = [];
    await rt.db.transaction(async (tx) => {
      for (let i = 0; i < group.length; i++) {
        const u = group[i]!;
        const t = tags[i]!;
        if (t.flagged) {
          await tx
            .update(unitLlm)
            .set({ status: 'flagged', flag: t.flagged, lastError: null, updatedAt: now })
            .where(eq(unitLlm.unitId, u.id));
          continue;
        }
        answered.push({
          unitId: u.id,
          contentHash: u.contentHash,
          job: t.job,
          jobConfidence: t.jobConfidence,
          kind: t.kind,
          kindConfidence: t.kindConfidence,
          sentiment: t.sentiment,
          sentimentConfidence: t.sentimentConfidence,
        });
        await tx
          .update(unitLlm)
          .set({ status: 'done', span: t.span ?? null, flag: null, lastError: null, updatedAt: now })
          .where(eq(unitLlm.unitId, u.id));
      }
      await saveClassifications(
        tx as unknown as Db,
        { customerId, classifier: stages.name, version: stages.version, jobsVersion, classifiedAt: now },
        answered,
      );
    });
    touched.add(customerId);
  }
  for (const customerId of touched) await rt.enqueue('aggregate', { customerId });
}

// --- per-run figures ----------------------------------------------------------------------------

export interface RunLlm {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  estimatedCostUsd: number;
  /** Units still owed to the LLM (an outage), and units it could not answer (local tags kept). */
  pending: number;
  flagged: number;
}

export async function llmByRun(db: Db, runIds: number[]): Promise<Map<number, RunLlm>> {
  const out = new Map<number, RunLlm>();
  if (runIds.length === 0) return out;
  const spent = await db
    .select({
      runId: llmUsage.runId,
      requests: sql<number>`sum(${llmUsage.requests})::int`,
      promptTokens: sql<number>`sum(${llmUsage.promptTokens})::int`,
      completionTokens: sql<number>`sum(${llmUsage.completionTokens})::int`,
      cost: sql<number>`sum(${llmUsage.estimatedCostUsd})::float8`,
    })
    .from(llmUsage)
    .where(inArray(llmUsage.runId, runIds))
    .groupBy(llmUsage.runId);
  const states = await db
    .select({ runId: unitLlm.runId, status: unitLlm.status, n: sql<number>`count(*)::int` })
    .from(unitLlm)
    .where(and(inArray(unitLlm.runId, runIds), sql`${unitLlm.status} <> 'done'`))
    .groupBy(unitLlm.runId, unitLlm.status);
  const get = (runId: number) => {
    let r = out.get(runId);
    if (!r) {
      r = { requests: 0, promptTokens: 0, completionTokens: 0, estimatedCostUsd: 0, pending: 0, flagged: 0 };
      out.set(runId, r);
    }
    return r;
  };
  for (const s of spent) {
    const r = get(s.runId!);
    r.requests = Number(s.requests);
    r.promptTokens = Number(s.promptTokens);
    r.completionTokens = Number(s.completionTokens);
    r.estimatedCostUsd = Math.round(Number(s.cost) * 1e6) / 1e6;
  }
  for (const s of states) {
    const r = get(s.runId!);
    if (s.status === 'pending') r.pending = Number(s.n);
    if (s.status === 'flagged') r.flagged = Number(s.n);
  }
  return out;
}

/** One line for `gapmap imports`. */
export function formatRunLlm(l: RunLlm): string {
  const parts = [
    `LLM: ${l.requests} request${l.requests === 1 ? '' : 's'}, ${l.promptTokens} tokens in, ${l.completionTokens} out, est. $${l.estimatedCostUsd.toFixed(4)}`,
  ];
  if (l.pending) parts.push(`${l.pending} units waiting for the endpoint (local tags meanwhile)`);
  if (l.flagged) parts.push(`${l.flagged} units without a valid answer (local tags kept)`);
  return parts.join('; ');
}
