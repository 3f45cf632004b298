/**
 * Machine suggestions for a customer's Value Gap Map, made from its current map and stored as
 * pending until a person decides: a short label per entry, new jobs from entries that fit no job,
 * key opportunities per job from its friction and gaps, and a value promise per job.
 *
 * A new run replaces the customer's pending suggestions and never touches decided ones. Accepted
 * labels and opportunities reach the map at its next build (app/map.ts), which this module starts
 * right after a decision; a person's rename always wins over an accepted label. An accepted job
 * becomes one of the customer's jobs (origin 'person', so imports never overwrite it).
 */
import { and, desc, eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import type { Config } from './env.ts';
import { GapmapError } from './errors.ts';
import {
  customers,
  jobs as jobsTable,
  reviews,
  suggestions,
  type SuggestionKind,
  type SuggestionStatus,
} from '../db/schema/index.ts';
import { jobsOf, mapEntriesOf, unitsWithTags } from '../db/queries.ts';
import { createLlmClient, type LlmClient, type LlmUsage } from '../classifiers/llm.ts';
import {
  MAX_QUOTES,
  proposeJobs,
  suggestEntryLabels,
  suggestOpportunities,
  valuePromise,
  type Finding,
  type Suggestion,
} from '../classifiers/suggest.ts';
import { llmConfigOf, llmEnabled, recordUsage } from './llm.ts';
import { buildMap } from './map.ts';

export type SuggestionRow = typeof suggestions.$inferSelect;

/** Entries per label request: enough context per request, small enough to validate in one go. */
const LABELS_PER_REQUEST = 20;

export function suggestionClient(config: Config): LlmClient {
  const model = config.openai.suggestModel ?? config.openai.model;
  return createLlmClient(llmConfigOf(config, model));
}

export interface SuggestRun {
  created: SuggestionRow[];
  /** Requests whose answer did not validate twice: nothing stored for them. */
  flagged: string[];
  usage: LlmUsage;
}

export async function generateSuggestions(
  db: Db,
  client: LlmClient,
  customerId: number,
): Promise<SuggestRun> {
  const [customer] = await db.select().from(customers).where(eq(customers.id, customerId));
  if (!customer) throw new GapmapError('not_found', `no customer with id ${customerId}`);
  if (!(await llmEnabled(db, customerId))) {
    throw new GapmapError(
      'bad_input',
      `the LLM is off for customer "${customer.key}": nothing of it is sent (gapmap customers set ${customer.key} --llm on)`,
    );
  }
  const jobs = await jobsOf(db, customerId);
  const entries = (await mapEntriesOf(db, customerId)).filter(
    (e) => e.origin === 'machine' && e.row !== 'opportunities',
  );
  const tagged = await unitsWithTags(db, customerId);
  const textOf = new Map(tagged.map((u) => [u.ref, u.text]));
  const speakerNames = [...new Set(tagged.flatMap((u) => namesOf(u.speaker, u.meta)))];
  const opts = { speakerNames };
  const quotesOf = (refs: string[]) =>
    refs
      .map((r) => textOf.get(r))
      .filter((t): t is string => Boolean(t))
      .slice(0, MAX_QUOTES);

  const renamed = new Set(
    (
      await db
        .select({ entryKey: reviews.entryKey })
        .from(reviews)
        .where(and(eq(reviews.customerId, customerId), eq(reviews.action, 'rename')))
    ).map((r) => r.entryKey),
  );

  const rows: (typeof suggestions.$inferInsert)[] = [];
  const flagged: string[] = [];
  const total: LlmUsage = { requests: 0, promptTokens: 0, completionTokens: 0, estimatedCostUsd: 0 };
  const take = <T>(what: string, s: Suggestion<T>): T => {
    total.requests += s.usage.requests;
    total.promptTokens += s.usage.promptTokens;
    total.completionTokens += s.usage.completionTokens;
    total.estimatedCostUsd += s.usage.estimatedCostUsd;
    if (s.flagged) flagged.push(`${what}: ${s.flagged}`);
    return s.value;
  };
  const base = { customerId, status: 'pending' as const, model: client.model };

  // Labels for the entries people have not renamed; internal processes are named by the team.
  const labelled = entries.filter((e) => e.row !== 'internal_processes' && !renamed.has(e.entryKey));
  for (let i = 0; i < labelled.length; i += LABELS_PER_REQUEST) {
    const chunk = labelled.slice(i, i + LABELS_PER_REQUEST);
    const labels = take(
      'entry labels',
      await suggestEntryLabels(
        client,
        chunk.map((e) => ({ id: e.entryKey, quotes: quotesOf(e.refs) })),
        opts,
      ),
    );
    for (const l of labels) {
      const e = chunk.find((x) => x.entryKey === l.id)!;
      rows.push({
        ...base,
        kind: 'entry_label',
        job: e.job,
        entryKey: e.entryKey,
        payload: { label: l.label, was: e.label },
      });
    }
  }

  const finding = (e: (typeof entries)[number]): Finding => ({
    id: e.entryKey,
    label: e.label,
    quotes: quotesOf(e.refs),
  });
  for (const job of jobs) {
    const of = (row: string) => entries.filter((e) => e.job === job.key && e.row === row).map(finding);
    const frictions = of('friction');
    const gaps = of('value_gaps');
    const highPoints = of('high_points');
    if (frictions.length + gaps.length > 0) {
      const opportunities = take(
        `opportunities for ${job.key}`,
        await suggestOpportunities(client, job, frictions, gaps, opts),
      );
      for (const o of opportunities) {
        const addresses = o.addresses.map(String);
        const refs = entries.filter((e) => addresses.includes(e.entryKey)).flatMap((e) => e.refs);
        rows.push({
          ...base,
          kind: 'opportunity',
          job: job.key,
          payload: { title: o.title, description: o.description, addresses, refs: [...new Set(refs)].sort() },
        });
      }
    }
    if (highPoints.length + gaps.length > 0) {
      const promise = take(
        `value promise for ${job.key}`,
        await valuePromise(client, job, highPoints, gaps, opts),
      );
      if (promise) rows.push({ ...base, kind: 'value_promise', job: job.key, payload: { promise } });
    }
  }

  // Entries with no job may be jobs nobody has written down yet.
  const jobless = entries.filter((e) => e.job === null && e.row !== 'internal_processes');
  if (jobless.length > 0) {
    const proposed = take(
      'new jobs',
      await proposeJobs(
        client,
        jobless.map((e) => ({ id: e.entryKey, quotes: quotesOf(e.refs) })),
        jobs,
        opts,
      ),
    );
    for (const j of proposed) {
      const e = jobless.find((x) => x.entryKey === j.clusterId);
      rows.push({
        ...base,
        kind: 'job',
        entryKey: e?.entryKey ?? null,
        payload: {
          statement: j.statement.text,
          desired_outcome: j.desiredOutcome.text,
          parts: { statement: j.statement, desired_outcome: j.desiredOutcome },
          refs: e?.refs ?? [],
        },
      });
    }
  }

  total.estimatedCostUsd = Math.round(total.estimatedCostUsd * 1e6) / 1e6;
  await recordUsage(db, { runId: null, customerId, task: 'suggest', model: client.model, usage: total });
  const created = await db.transaction(async (tx) => {
    await tx
      .delete(suggestions)
      .where(and(eq(suggestions.customerId, customerId), eq(suggestions.status, 'pending')));
    return rows.length ? tx.insert(suggestions).values(rows).returning() : [];
  });
  return { created, flagged, usage: total };
}

function namesOf(speaker: string | null, meta: Record<string, unknown>): string[] {
  const names: string[] = speaker ? [speaker] : [];
  for (const field of ['customerSpeakers', 'speakers']) {
    const v = meta[field];
    if (Array.isArray(v)) for (const n of v) if (typeof n === 'string' && n.trim()) names.push(n);
  }
  return names;
}

export async function listSuggestions(
  db: Db,
  customerId: number,
  p: { status?: SuggestionStatus; kind?: SuggestionKind } = {},
): Promise<SuggestionRow[]> {
  return db
    .select()
    .from(suggestions)
    .where(
      and(
        eq(suggestions.customerId, customerId),
        p.status ? eq(suggestions.status, p.status) : undefined,
        p.kind ? eq(suggestions.kind, p.kind) : undefined,
      ),
    )
    .orderBy(desc(suggestions.status), suggestions.id);
}

/** A person's decision. Accepting a label or an opportunity rebuilds the customer's map. */
export async function decideSuggestion(
  db: Db,
  id: number,
  decision: 'accepted' | 'rejected',
  who: string,
): Promise<SuggestionRow> {
  const [row] = await db.select().from(suggestions).where(eq(suggestions.id, id));
  if (!row)
    throw new GapmapError('not_found', `no suggestion ${id} (gapmap suggestions --customer KEY lists them)`);
  if (row.status !== 'pending') {
    throw new GapmapError(
      'conflict',
      `suggestion ${id} was already ${row.status} by ${row.decidedBy ?? 'someone'}`,
    );
  }
  const [updated] = await db
    .update(suggestions)
    .set({ status: decision, decidedBy: who, decidedAt: new Date() })
    .where(and(eq(suggestions.id, id), eq(suggestions.status, 'pending')))
    .returning();
  if (!updated) throw new GapmapError('conflict', `suggestion ${id} was decided by someone else just now`);
  if (decision === 'accepted' && row.kind === 'job') await addJob(db, row);
  if (decision === 'accepted' && (row.kind === 'entry_label' || row.kind === 'opportunity'))
    await buildMap(db, row.customerId);
  return updated;
}

async function addJob(db: Db, row: SuggestionRow) {
  const statement = String(row.payload.statement ?? '');
  const existing = (await jobsOf(db, row.customerId)).map((j) => j.key);
  const slug =
    statement
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .split('-')
      .slice(0, 4)
      .join('-') || `job-${row.id}`;
  let key = slug;
  for (let n = 2; existing.includes(key); n++) key = `${slug}-${n}`;
  await db.insert(jobsTable).values({
    customerId: row.customerId,
    key,
    statement,
    desiredOutcome: String(row.payload.desired_outcome ?? ''),
    examples: [],
    origin: 'person',
  });
}

/** The stable JSON shape of `gapmap suggest --json` and `gapmap suggestions --json`. */
export function suggestionJson(s: SuggestionRow) {
  return {
    id: s.id,
    kind: s.kind,
    job: s.job,
    entry_key: s.entryKey,
    status: s.status,
    payload: s.payload,
    model: s.model,
    decided_by: s.decidedBy,
    decided_at: s.decidedAt?.toISOString() ?? null,
    created_at: s.createdAt.toISOString(),
  };
}
