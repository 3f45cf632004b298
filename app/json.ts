/** The stable JSON shapes of the CLI's --json output and the API (documented in README.md). */
import type { listImportRuns, unitsWithTags } from '../db/queries.ts';
import type { RunLlm } from './llm.ts';

export type RunRow = Awaited<ReturnType<typeof listImportRuns>>[number];

/** `llm`: the run's LLM token use and estimated cost (app/llm.ts `llmByRun`); null when it used none. */
export function runJson(r: RunRow, llm?: RunLlm) {
  return {
    id: r.id,
    source: r.source,
    kind: r.kind,
    status: r.status,
    started_at: r.startedAt.toISOString(),
    finished_at: r.finishedAt?.toISOString() ?? null,
    duration_ms: r.finishedAt ? r.finishedAt.getTime() - r.startedAt.getTime() : null,
    customers: r.customerKeys,
    counts: {
      items_new: r.counts.itemsNew,
      items_updated: r.counts.itemsUpdated,
      items_unchanged: r.counts.itemsUnchanged,
      units_new: r.counts.unitsNew,
      units_updated: r.counts.unitsUpdated,
      units_unchanged: r.counts.unitsUnchanged,
      units_removed: r.counts.unitsRemoved,
      errors: r.counts.errors,
    },
    llm: llm
      ? {
          requests: llm.requests,
          prompt_tokens: llm.promptTokens,
          completion_tokens: llm.completionTokens,
          estimated_cost_usd: llm.estimatedCostUsd,
          units_pending: llm.pending,
          units_flagged: llm.flagged,
        }
      : null,
    error: r.error,
    errors: r.errors.map((e) => ({ file: e.file, line: e.line, field: e.field, message: e.message })),
  };
}

export function unitJson(u: Awaited<ReturnType<typeof unitsWithTags>>[number]) {
  return {
    ref: u.ref,
    source_type: u.sourceType,
    speaker: u.speaker,
    occurred_at: u.occurredAt?.toISOString() ?? null,
    offset_ms: u.offsetMs,
    section: u.section,
    text: u.text,
    tags:
      u.kind === null
        ? null
        : {
            job: u.job,
            job_confidence: round(u.jobConfidence),
            kind: u.kind,
            kind_confidence: round(u.kindConfidence),
            sentiment: u.sentiment,
            sentiment_confidence: round(u.sentimentConfidence),
            classifier: u.classifier ? `${u.classifier}@${u.version}` : null,
            reviewed_by: u.reviewedBy,
          },
  };
}

const round = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
