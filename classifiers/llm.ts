/**
 * The LLM classifier and the client it shares with the suggestion functions, for any
 * OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, ...).
 *
 * - Structured output: the response format is a JSON schema built from zod per customer (the job
 *   field is an enum of that customer's job keys), and every answer is validated again with the
 *   same zod schema plus the checks a schema cannot express (the span is a substring of the text,
 *   every unit is answered). An answer that fails is retried once with the problems in a
 *   follow-up message; units still wrong come back `flagged`, so the caller keeps local tags.
 * - Privacy: unit texts and examples are redacted (classifiers/redact.ts) before they are sent;
 *   spans come back restored.
 * - Retries: the openai client retries 408/409/429/5xx, connection errors and timeouts itself,
 *   honouring Retry-After and otherwise backing off exponentially (0.5 s doubling to 8 s); we set
 *   `maxRetries` and `timeout` and stop it waiting in-process for a Retry-After longer than
 *   `maxRetryAfterMs`. When it gives up we throw `LlmUnavailableError`, for the queue to pause the
 *   stage and retry the job later; nothing is dropped.
 */
import OpenAI, { APIConnectionError, APIError } from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { GapmapError, errorMessage } from '../app/errors.ts';
import type { JobDef } from '../ingest/types.ts';
import {
  KINDS,
  SENTIMENTS,
  type Classifier,
  type CustomerContext,
  type Tags,
  type UnitInput,
} from './types.ts';
import { redact, restore } from './redact.ts';
import {
  PROMPT_VERSION,
  classifySystemPrompt,
  classifyUserMessage,
  retryMessage,
  type PromptExample,
} from './llm-prompts.ts';

export interface LlmConfig {
  apiKey: string;
  /** Defaults to OpenAI's; for vLLM or Ollama something like http://localhost:11434/v1. */
  baseURL?: string;
  model: string;
  /** Units per request for classification. */
  batchSize?: number;
  /** Per attempt. */
  timeoutMs?: number;
  /** Retries of one request by the openai client (429, 5xx, timeouts) before LlmUnavailableError. */
  maxRetries?: number;
  /** A Retry-After longer than this is not waited out in-process: LlmUnavailableError carries it instead. */
  maxRetryAfterMs?: number;
  /** Overrides the built-in price list (USD per million tokens); self-hosted models cost 0 unless set. */
  pricing?: Pricing;
  /** Sent only when set: some models (gpt-5, o-series) accept only their default. */
  temperature?: number;
}

/** Token use as the server reports it; `requests` counts answered requests (refused attempts are not billed). */
export interface LlmUsage {
  promptTokens: number;
  completionTokens: number;
  requests: number;
  estimatedCostUsd: number;
}

export interface Pricing {
  inputUsdPerMTok: number;
  outputUsdPerMTok: number;
}

/** OpenAI list prices, standard tier, USD per million tokens (checked 2025); matched by longest prefix. */
export const PRICES: Record<string, Pricing> = {
  'gpt-4o-mini': { inputUsdPerMTok: 0.15, outputUsdPerMTok: 0.6 },
  'gpt-4o': { inputUsdPerMTok: 2.5, outputUsdPerMTok: 10 },
  'gpt-4.1-nano': { inputUsdPerMTok: 0.1, outputUsdPerMTok: 0.4 },
  'gpt-4.1-mini': { inputUsdPerMTok: 0.4, outputUsdPerMTok: 1.6 },
  'gpt-4.1': { inputUsdPerMTok: 2, outputUsdPerMTok: 8 },
  'gpt-5-nano': { inputUsdPerMTok: 0.05, outputUsdPerMTok: 0.4 },
  'gpt-5-mini': { inputUsdPerMTok: 0.25, outputUsdPerMTok: 2 },
  'gpt-5': { inputUsdPerMTok: 1.25, outputUsdPerMTok: 10 },
  'o4-mini': { inputUsdPerMTok: 1.1, outputUsdPerMTok: 4.4 },
};

export function pricingFor(model: string): Pricing | null {
  const key = Object.keys(PRICES)
    .filter((p) => model === p || model.startsWith(`${p}-`))
    .sort((a, b) => b.length - a.length)[0];
  return key ? PRICES[key]! : null;
}

/** The LLM endpoint could not be reached or kept refusing (429, 5xx, timeouts) after all retries. */
export class LlmUnavailableError extends GapmapError {
  constructor(
    message: string,
    /** Last HTTP status, null for timeouts and connection errors. */
    readonly httpStatus: number | null,
    /** What the server asked for in Retry-After, when it did. */
    readonly retryAfterMs: number | null,
  ) {
    super('service_unavailable', message, { httpStatus, retryAfterMs });
    this.name = 'LlmUnavailableError';
  }
}

export type ChatMessage = ChatCompletionMessageParam;

interface Tokens {
  promptTokens: number;
  completionTokens: number;
  requests: number;
}

export interface JsonTask<T> {
  /** Names the response format; letters, digits, _ and -. */
  name: string;
  /** Validates the answer. */
  schema: z.ZodType<T>;
  /** Sent as response_format when `schema` has constraints some servers reject (lengths, ranges). */
  wire?: z.ZodType;
  messages: ChatMessage[];
  /** Checks the schema cannot express; returns the problems, empty when the value is good. */
  check?: (value: T) => string[];
}

export interface JsonResult<T> {
  /** Null when the answer did not validate twice; then `flagged` says why. */
  value: T | null;
  flagged?: string;
  usage: LlmUsage;
}

export interface LlmClient {
  readonly model: string;
  readonly baseURL: string;
  /** One structured-output request; the raw message content and its token use. */
  chatJson(name: string, schema: z.ZodType, messages: ChatMessage[]): Promise<{ content: string } & Tokens>;
  /** A request validated with zod and `check`, retried once with the problems when it fails. */
  completeJson<T>(task: JsonTask<T>): Promise<JsonResult<T>>;
  /** Totals since the client was made. */
  usage(): LlmUsage;
}

const DEFAULTS = { batchSize: 20, timeoutMs: 60_000, maxRetries: 3, maxRetryAfterMs: 60_000 };

export function createLlmClient(config: LlmConfig): LlmClient {
  if (!config.apiKey.trim()) {
    throw new GapmapError(
      'config',
      'OPENAI_API_KEY is empty: set it (any value for a server without keys) or leave the LLM off',
    );
  }
  if (!config.model.trim()) throw new GapmapError('config', 'No LLM model name: set the model for this task');
  const maxRetries = config.maxRetries ?? DEFAULTS.maxRetries;
  const maxRetryAfterMs = config.maxRetryAfterMs ?? DEFAULTS.maxRetryAfterMs;
  const pricing = config.pricing ?? pricingFor(config.model);
  const openai = new OpenAI({
    apiKey: config.apiKey,
    baseURL: config.baseURL,
    timeout: config.timeoutMs ?? DEFAULTS.timeoutMs,
    maxRetries,
    fetch: capRetryAfter(maxRetryAfterMs),
  });
  const baseURL = openai.baseURL;
  const total: Tokens = { promptTokens: 0, completionTokens: 0, requests: 0 };
  const usageOf = (t: Tokens): LlmUsage => ({ ...t, estimatedCostUsd: costOf(t, pricing) });

  async function chatJson(name: string, schema: z.ZodType, messages: ChatMessage[]) {
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    try {
      completion = await openai.chat.completions.create({
        model: config.model,
        messages,
        response_format: zodResponseFormat(schema, name),
        ...(config.temperature === undefined ? {} : { temperature: config.temperature }),
      });
    } catch (err) {
      throw toGapmapError(err, baseURL, config.model, maxRetries);
    }
    const message = completion.choices[0]?.message;
    const content = message?.content ?? (message?.refusal ? `(refused: ${message.refusal})` : '');
    // Servers that report no usage (some self-hosted ones) are estimated at four characters a token.
    const promptTokens = completion.usage?.prompt_tokens ?? Math.ceil(JSON.stringify(messages).length / 4);
    const completionTokens = completion.usage?.completion_tokens ?? Math.ceil(content.length / 4);
    total.promptTokens += promptTokens;
    total.completionTokens += completionTokens;
    total.requests += 1;
    return { content, promptTokens, completionTokens, requests: 1 };
  }

  async function completeJson<T>(task: JsonTask<T>): Promise<JsonResult<T>> {
    const spent: Tokens = { promptTokens: 0, completionTokens: 0, requests: 0 };
    let messages = task.messages;
    let problems: string[] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      const answer = await chatJson(task.name, task.wire ?? task.schema, messages);
      addTokens(spent, answer);
      problems = validateJson(answer.content, task.schema, task.check);
      if (problems.length === 0) {
        return { value: task.schema.parse(JSON.parse(answer.content)), usage: usageOf(spent) };
      }
      messages = [
        ...messages,
        { role: 'assistant', content: answer.content },
        { role: 'user', content: retryMessage(problems) },
      ];
    }
    return {
      value: null,
      flagged: `answer did not validate twice: ${problems.join('; ')}`,
      usage: usageOf(spent),
    };
  }

  return { model: config.model, baseURL, chatJson, completeJson, usage: () => usageOf(total) };
}

function addTokens(into: Tokens, t: Tokens) {
  into.promptTokens += t.promptTokens;
  into.completionTokens += t.completionTokens;
  into.requests += t.requests;
}

function costOf(t: Tokens, pricing: Pricing | null): number {
  if (!pricing) return 0;
  const usd =
    (t.promptTokens * pricing.inputUsdPerMTok + t.completionTokens * pricing.outputUsdPerMTok) / 1e6;
  return Math.round(usd * 1e6) / 1e6;
}

function validateJson<T>(content: string, schema: z.ZodType<T>, check?: (value: T) => string[]): string[] {
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch (err) {
    return [`the answer is not valid JSON (${errorMessage(err)})`];
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return [issuesText(parsed.error)];
  return check ? check(parsed.data) : [];
}

export function issuesText(error: z.ZodError): string {
  return error.issues
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

function retryAfterMsOf(headers: Headers | undefined): number | null {
  if (!headers) return null;
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms)) return ms;
  const value = headers.get('retry-after');
  if (!value) return null;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : null;
}

/**
 * The openai client waits out any Retry-After, however long, inside the request. A worker should
 * not sleep an hour holding a job lock: past the cap we set the client's own `x-should-retry: false`
 * so it gives up at once and the caller gets LlmUnavailableError with the wait the server asked for.
 */
function capRetryAfter(maxRetryAfterMs: number): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (res.status !== 429 && res.status < 500) return res;
    const wait = retryAfterMsOf(res.headers);
    if (wait === null || wait <= maxRetryAfterMs) return res;
    const headers = new Headers(res.headers);
    headers.set('x-should-retry', 'false');
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  };
}

function toGapmapError(err: unknown, baseURL: string, model: string, maxRetries: number): Error {
  const attempts = `${maxRetries + 1} attempt${maxRetries === 0 ? '' : 's'}`;
  if (err instanceof APIConnectionError) {
    return new LlmUnavailableError(
      `LLM endpoint ${baseURL} did not answer after ${attempts} (${err.message}); the LLM stage should pause and resume later`,
      null,
      null,
    );
  }
  if (err instanceof APIError && typeof err.status === 'number') {
    const status = err.status;
    if (status === 408 || status === 409 || status === 429 || status >= 500) {
      const retryAfterMs = retryAfterMsOf(err.headers);
      const wait = retryAfterMs === null ? '' : `, asked to wait ${Math.ceil(retryAfterMs / 1000)} s`;
      return new LlmUnavailableError(
        `LLM endpoint ${baseURL} answered ${status} (${err.message})${wait}; gave up after ${attempts}, the LLM stage should pause and resume later`,
        status,
        retryAfterMs,
      );
    }
    if (status === 401 || status === 403) {
      return new GapmapError(
        'config',
        `LLM endpoint ${baseURL} refused the key (${status}): check OPENAI_API_KEY`,
      );
    }
    if (status === 404) {
      return new GapmapError(
        'config',
        `LLM endpoint ${baseURL} has no model "${model}" or no chat completions (404): check OPENAI_BASE_URL and the model name`,
      );
    }
    return new GapmapError(
      'config',
      `LLM endpoint ${baseURL} rejected the request for model "${model}" (${status}: ${err.message}); it must support chat completions with response_format json_schema`,
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}

// ---------------------------------------------------------------------------------------------
// Classifier

export interface LlmUnitInput extends UnitInput {
  /** Names to redact from this unit (the transcript's speakers, the ticket's requester). */
  speakerNames?: string[];
}

export interface LlmTags extends Tags {
  /** The part of the unit's text that carries the evidence (restored, an exact substring of the text). */
  span?: string;
  /** Why no valid answer came back; the tags are then placeholders and the caller keeps its own. */
  flagged?: string;
}

export interface LlmClassifier extends Classifier {
  classify(units: LlmUnitInput[], context: CustomerContext): Promise<LlmTags[]>;
  usage(): LlmUsage;
}

const MAX_EXAMPLES = 12;

/**
 * `wire` is what the endpoint gets as response_format: no numeric or length constraints, the subset
 * every OpenAI-compatible server enforces. `item` validates each answer with the full rules.
 */
function answerSchemas(jobs: JobDef[]) {
  const keys = jobs.map((j) => j.key);
  const job = keys.length > 0 ? z.enum(keys as [string, ...string[]]).nullable() : z.null();
  const wireItem = z.object({
    id: z.string(),
    job,
    job_confidence: z.number(),
    kind: z.enum(KINDS),
    kind_confidence: z.number(),
    sentiment: z.enum(SENTIMENTS),
    sentiment_confidence: z.number(),
    span: z.string(),
  });
  const confidence = z.number().min(0).max(1);
  const item = wireItem.extend({
    job_confidence: confidence,
    kind_confidence: confidence,
    sentiment_confidence: confidence,
    span: z.string().min(1),
  });
  return { item, wire: z.object({ results: z.array(wireItem) }) };
}

type AnswerItem = z.infer<ReturnType<typeof answerSchemas>['item']>;

interface Prepared {
  index: number;
  id: string;
  original: string;
  sent: string;
  map: Record<string, string>;
  /** The unit's context as sent (redacted), when it has one. */
  context: string | null;
  unit: LlmUnitInput;
}

interface BatchSetup extends ReturnType<typeof answerSchemas> {
  system: string;
  examples: PromptExample[];
}

function flaggedTags(reason: string): LlmTags {
  return {
    job: null,
    jobConfidence: 0,
    kind: 'other',
    kindConfidence: 0,
    sentiment: 'neutral',
    sentimentConfidence: 0,
    flagged: reason,
  };
}

export function createLlmClassifier(config: LlmConfig): LlmClassifier {
  const client = createLlmClient(config);
  const batchSize = Math.max(1, config.batchSize ?? DEFAULTS.batchSize);

  async function classifyBatch(batch: Prepared[], setup: BatchSetup, out: LlmTags[]) {
    const { item, wire, system, examples } = setup;
    const byId = new Map(batch.map((p) => [p.id, p]));
    const units = batch.map((p) => {
      const unit = p.unit;
      return {
        id: p.id,
        source: unit.sourceType,
        ...(typeof unit.score === 'number' ? { score: unit.score } : {}),
        ...(p.context ? { context: p.context } : {}),
        text: p.sent,
      };
    });
    let messages: ChatMessage[] = [
      { role: 'system', content: system },
      { role: 'user', content: classifyUserMessage(units, examples) },
    ];

    let pending = new Set(byId.keys());
    let problems = new Map<string, string>();
    for (let attempt = 0; attempt < 2 && pending.size > 0; attempt++) {
      const { content } = await client.chatJson('unit_tags', wire, messages);
      const checked = checkAnswer(content, pending, byId, item);
      for (const [id, a] of checked.good) {
        const p = byId.get(id)!;
        out[p.index] = {
          job: a.job,
          jobConfidence: a.job_confidence,
          kind: a.kind,
          kindConfidence: a.kind_confidence,
          sentiment: a.sentiment,
          sentimentConfidence: a.sentiment_confidence,
          span: restore(a.span, p.map),
        };
      }
      problems = checked.problems;
      pending = new Set(problems.keys());
      if (pending.size === 0) break;
      messages = [
        ...messages,
        { role: 'assistant', content },
        {
          role: 'user',
          content: retryMessage(
            [...new Set(problems.values())],
            checked.wholeAnswerBad ? undefined : [...pending],
          ),
        },
      ];
    }
    for (const id of pending) {
      out[byId.get(id)!.index] = flaggedTags(
        `LLM answer did not validate twice: ${problems.get(id) ?? 'unknown'}`,
      );
    }
  }

  return {
    name: 'llm',
    version: `${config.model}+${PROMPT_VERSION}`,
    usage: () => client.usage(),
    async classify(units, context) {
      const out: LlmTags[] = new Array(units.length);
      const toSend: Prepared[] = [];
      units.forEach((unit, index) => {
        if (!unit.text.trim()) {
          out[index] = flaggedTags('empty text: not sent to the LLM');
          return;
        }
        const r = redact(unit.text, { speakerNames: unit.speakerNames });
        toSend.push({
          index,
          id: '', // numbered per request below
          original: unit.text,
          sent: r.text,
          map: r.map,
          context: unit.context?.trim()
            ? redact(unit.context, { speakerNames: unit.speakerNames }).text
            : null,
          unit,
        });
      });
      const jobKeys = new Set(context.jobs.map((j) => j.key));
      const setup: BatchSetup = {
        ...answerSchemas(context.jobs),
        system: classifySystemPrompt(context.jobs),
        examples: (context.examples ?? []).slice(0, MAX_EXAMPLES).map((e) => ({
          text: redact(e.text).text,
          ...(e.job !== undefined ? { job: e.job !== null && jobKeys.has(e.job) ? e.job : null } : {}),
          ...(e.kind ? { kind: e.kind } : {}),
          ...(e.sentiment ? { sentiment: e.sentiment } : {}),
        })),
      };
      for (let i = 0; i < toSend.length; i += batchSize) {
        // Ids restart at 1 in each request: short, and they say nothing about the caller's ids.
        const batch = toSend.slice(i, i + batchSize).map((p, j) => ({ ...p, id: String(j + 1) }));
        await classifyBatch(batch, setup, out);
      }
      return out;
    },
  };
}

function checkAnswer(
  content: string,
  expected: Set<string>,
  byId: Map<string, Prepared>,
  item: ReturnType<typeof answerSchemas>['item'],
): { good: Map<string, AnswerItem>; problems: Map<string, string>; wholeAnswerBad: boolean } {
  const good = new Map<string, AnswerItem>();
  const problems = new Map<string, string>();
  const failAll = (why: string) => {
    for (const id of expected) problems.set(id, why);
    return { good, problems, wholeAnswerBad: true };
  };
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch (err) {
    return failAll(`the answer is not valid JSON (${errorMessage(err)})`);
  }
  const envelope = z.object({ results: z.array(z.unknown()) }).safeParse(json);
  if (!envelope.success)
    return failAll(`the answer does not follow the schema: ${issuesText(envelope.error)}`);
  for (const raw of envelope.data.results) {
    const id = typeof raw === 'object' && raw !== null && 'id' in raw ? String(raw.id) : null;
    if (id === null || !expected.has(id) || good.has(id)) continue;
    const parsed = item.safeParse(raw);
    const p = byId.get(id)!;
    if (!parsed.success) {
      problems.set(id, `id ${id}: ${issuesText(parsed.error)}`);
    } else if (!p.sent.includes(parsed.data.span)) {
      problems.set(
        id,
        `id ${id}: span ${JSON.stringify(parsed.data.span)} is not an exact substring of the unit's text`,
      );
    } else if (!p.original.includes(restore(parsed.data.span, p.map))) {
      problems.set(id, `id ${id}: span cuts through a placeholder such as [NAME_1]; include it whole`);
    } else {
      good.set(id, parsed.data);
      problems.delete(id);
    }
  }
  // In the order of the request, so the follow-up reads like the request.
  const ordered = new Map<string, string>();
  for (const id of expected) {
    if (!good.has(id)) ordered.set(id, problems.get(id) ?? `id ${id}: missing from the answer`);
  }
  return { good, problems: ordered, wholeAnswerBad: false };
}
