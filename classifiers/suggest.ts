/**
 * Written suggestions for the Value Gap Map, each a machine suggestion a person accepts or edits:
 * entry labels, new jobs from clusters that fit no job, key opportunities per job, and a value
 * promise per job. Plain functions over an LlmClient: the caller stores the result.
 *
 * Every function redacts the quotes it sends (one placeholder map per call, names from
 * `speakerNames`), validates the answer with zod plus the checks a schema cannot express,
 * retries once with the problems, and restores placeholders in what comes back. When the answer
 * fails twice the value is empty and `flagged` says why. Each returns the usage of its requests.
 * Quotes are capped (MAX_QUOTES of at most MAX_QUOTE_CHARS each) to keep a request cheap.
 */
import { z } from 'zod';
import type { JobDef } from '../ingest/types.ts';
import type { ChatMessage, LlmClient, LlmUsage } from './llm.ts';
import {
  entryLabelsSystemPrompt,
  opportunitiesSystemPrompt,
  proposeJobsSystemPrompt,
  valuePromiseSystemPrompt,
} from './llm-prompts.ts';
import { createRedactor, restore, type Redactor } from './redact.ts';

export const MAX_QUOTES = 8;
export const MAX_QUOTE_CHARS = 400;

export interface SuggestOptions {
  /** Names to redact from the quotes. */
  speakerNames?: string[];
}

export interface Suggestion<T> {
  value: T;
  /** Set when no valid answer came back twice; `value` is then empty. */
  flagged?: string;
  usage: LlmUsage;
}

export interface QuoteGroup {
  id: string | number;
  quotes: string[];
}

/** A friction, gap or high point of a job: a map entry with its label. */
export interface Finding {
  id: string | number;
  label: string;
  quotes?: string[];
}

function quotesOf(redactor: Redactor, quotes: string[] | undefined): string[] {
  return (quotes ?? []).slice(0, MAX_QUOTES).map((q) => {
    const text = q.length > MAX_QUOTE_CHARS ? `${q.slice(0, MAX_QUOTE_CHARS)}…` : q;
    return redactor.redact(text);
  });
}

function messages(system: string, data: unknown): ChatMessage[] {
  return [
    { role: 'system', content: system },
    { role: 'user', content: JSON.stringify(data) },
  ];
}

const words = (s: string) => s.trim().split(/\s+/).filter(Boolean).length;

/** Ids are sent as strings; answers are matched back to the caller's ids through this. */
function idMap<T extends { id: string | number }>(items: T[]): Map<string, T> {
  return new Map(items.map((i) => [String(i.id), i]));
}

// --- entry labels -------------------------------------------------------------------------------

export async function suggestEntryLabels(
  client: LlmClient,
  entries: QuoteGroup[],
  opts: SuggestOptions = {},
): Promise<Suggestion<{ id: string | number; label: string }[]>> {
  const redactor = createRedactor(opts);
  const byId = idMap(entries);
  const schema = z.object({ labels: z.array(z.object({ id: z.string(), label: z.string() })) });
  const result = await client.completeJson({
    name: 'entry_labels',
    schema,
    messages: messages(entryLabelsSystemPrompt(), {
      entries: entries.map((e) => ({ id: String(e.id), quotes: quotesOf(redactor, e.quotes) })),
    }),
    check: ({ labels }) => {
      const problems: string[] = [];
      const seen = new Set<string>();
      for (const { id, label } of labels) {
        if (!byId.has(id)) problems.push(`labels: unknown entry id ${JSON.stringify(id)}`);
        else if (seen.has(id)) problems.push(`labels: entry id ${id} labelled twice`);
        seen.add(id);
        const n = words(label);
        if (n < 2 || n > 8) problems.push(`labels: the label for ${id} has ${n} words, expected 2 to 8`);
      }
      const missing = [...byId.keys()].filter((id) => !seen.has(id));
      if (missing.length) problems.push(`labels: no label for entry ids ${missing.join(', ')}`);
      return problems;
    },
  });
  return {
    ...result,
    value: (result.value?.labels ?? []).map((l) => ({
      id: byId.get(l.id)!.id,
      label: restore(l.label.trim(), redactor.map),
    })),
  };
}

// --- new jobs -----------------------------------------------------------------------------------

export const DELTAS = ['Minimize', 'Maximize', 'Increase', 'Decrease', 'Reduce'] as const;

export interface ProposedJob {
  clusterId: string | number;
  /** verb + object + circumstances, and the three joined. */
  statement: { verb: string; object: string; circumstances: string; text: string };
  /** delta + measure + focus, and the three joined. */
  desiredOutcome: { delta: (typeof DELTAS)[number]; measure: string; focus: string; text: string };
}

const normalize = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();

export async function proposeJobs(
  client: LlmClient,
  clusters: QuoteGroup[],
  existingJobs: JobDef[],
  opts: SuggestOptions = {},
): Promise<Suggestion<ProposedJob[]>> {
  const redactor = createRedactor(opts);
  const byId = idMap(clusters);
  const existing = new Set(existingJobs.map((j) => normalize(j.statement)));
  const schema = z.object({
    jobs: z.array(
      z.object({
        cluster_id: z.string(),
        verb: z.string(),
        object: z.string(),
        circumstances: z.string(),
        delta: z.enum(DELTAS),
        measure: z.string(),
        focus: z.string(),
      }),
    ),
  });
  const result = await client.completeJson({
    name: 'proposed_jobs',
    schema,
    messages: messages(proposeJobsSystemPrompt(existingJobs), {
      clusters: clusters.map((c) => ({ id: String(c.id), quotes: quotesOf(redactor, c.quotes) })),
    }),
    check: ({ jobs }) => {
      const problems: string[] = [];
      const seen = new Set<string>();
      jobs.forEach((j, i) => {
        const at = `jobs.${i}`;
        if (!byId.has(j.cluster_id))
          problems.push(`${at}.cluster_id: unknown cluster ${JSON.stringify(j.cluster_id)}`);
        if (seen.has(j.cluster_id)) problems.push(`${at}.cluster_id: cluster ${j.cluster_id} used twice`);
        seen.add(j.cluster_id);
        if (!/^\p{L}+$/u.test(j.verb.trim()))
          problems.push(`${at}.verb: expected one word, got ${JSON.stringify(j.verb)}`);
        for (const field of ['object', 'circumstances', 'measure', 'focus'] as const) {
          if (!j[field].trim()) problems.push(`${at}.${field}: empty`);
        }
        if (existing.has(normalize(statementText(j)))) {
          problems.push(`${at}: "${statementText(j)}" is an existing job; propose only new ones`);
        }
      });
      return problems;
    },
  });
  return {
    ...result,
    value: (result.value?.jobs ?? []).map((j) => {
      const r = (s: string) => restore(s.trim(), redactor.map);
      const verb = capitalize(r(j.verb));
      return {
        clusterId: byId.get(j.cluster_id)!.id,
        statement: {
          verb,
          object: r(j.object),
          circumstances: r(j.circumstances),
          text: restore(statementText({ ...j, verb }), redactor.map),
        },
        desiredOutcome: {
          delta: j.delta,
          measure: r(j.measure),
          focus: r(j.focus),
          text: restore(`${j.delta} ${j.measure.trim()} ${j.focus.trim()}`, redactor.map),
        },
      };
    }),
  };
}

function statementText(j: { verb: string; object: string; circumstances: string }): string {
  return `${capitalize(j.verb.trim())} ${j.object.trim()} ${j.circumstances.trim()}`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// --- opportunities ------------------------------------------------------------------------------

export interface Opportunity {
  title: string;
  description: string;
  /** Ids of the frictions and gaps it would close. */
  addresses: (string | number)[];
}

function findingsData(redactor: Redactor, findings: Finding[]) {
  return findings.map((f) => ({
    id: String(f.id),
    label: redactor.redact(f.label),
    quotes: quotesOf(redactor, f.quotes),
  }));
}

export async function suggestOpportunities(
  client: LlmClient,
  job: JobDef,
  frictions: Finding[],
  gaps: Finding[],
  opts: SuggestOptions = {},
): Promise<Suggestion<Opportunity[]>> {
  const redactor = createRedactor(opts);
  const byId = idMap([...frictions, ...gaps]);
  const schema = z.object({
    opportunities: z.array(
      z.object({ title: z.string(), description: z.string(), addresses: z.array(z.string()) }),
    ),
  });
  const result = await client.completeJson({
    name: 'opportunities',
    schema,
    messages: messages(opportunitiesSystemPrompt(job), {
      frictions: findingsData(redactor, frictions),
      gaps: findingsData(redactor, gaps),
    }),
    check: ({ opportunities }) => {
      const problems: string[] = [];
      if (opportunities.length < 1 || opportunities.length > 5) {
        problems.push(`opportunities: expected 1 to 5, got ${opportunities.length}`);
      }
      opportunities.forEach((o, i) => {
        if (!o.title.trim() || words(o.title) > 10)
          problems.push(`opportunities.${i}.title: expected 1 to 10 words`);
        if (!o.description.trim()) problems.push(`opportunities.${i}.description: empty`);
        if (o.addresses.length === 0)
          problems.push(`opportunities.${i}.addresses: name at least one friction or gap id`);
        const unknown = o.addresses.filter((id) => !byId.has(id));
        if (unknown.length) problems.push(`opportunities.${i}.addresses: unknown ids ${unknown.join(', ')}`);
      });
      return problems;
    },
  });
  return {
    ...result,
    value: (result.value?.opportunities ?? []).map((o) => ({
      title: restore(o.title.trim(), redactor.map),
      description: restore(o.description.trim(), redactor.map),
      addresses: [...new Set(o.addresses)].map((id) => byId.get(id)!.id),
    })),
  };
}

// --- value promise ------------------------------------------------------------------------------

export async function valuePromise(
  client: LlmClient,
  job: JobDef,
  highPoints: Finding[],
  gaps: Finding[],
  opts: SuggestOptions = {},
): Promise<Suggestion<string | null>> {
  const redactor = createRedactor(opts);
  const schema = z.object({ promise: z.string() });
  const result = await client.completeJson({
    name: 'value_promise',
    schema,
    messages: messages(valuePromiseSystemPrompt(job), {
      high_points: findingsData(redactor, highPoints),
      gaps: findingsData(redactor, gaps),
    }),
    check: ({ promise }) => {
      const text = promise.trim();
      const problems: string[] = [];
      if (!text) problems.push('promise: empty');
      if (/[.!?]\s+\S/.test(text)) problems.push('promise: expected one sentence, got several');
      if (words(text) > 30) problems.push(`promise: ${words(text)} words, expected at most 30`);
      return problems;
    },
  });
  return { ...result, value: result.value ? restore(result.value.promise.trim(), redactor.map) : null };
}
