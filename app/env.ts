/**
 * The environment, parsed once with zod. Everything else receives the typed `Config`.
 * Empty strings count as missing, so `DATABASE_URL=` in a .env file means "not set".
 */
import path from 'node:path';
import { z } from 'zod';
import { GapmapError } from './errors.ts';

const optionalString = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());
const optionalUrl = (protocols: string[]) =>
  z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .refine(
        (s) => {
          try {
            return protocols.includes(new URL(s).protocol);
          } catch {
            return false;
          }
        },
        `expected a URL starting with ${protocols.map((p) => p + '//').join(' or ')}`,
      )
      .optional(),
  );
const int = (def: number, min: number, max: number) =>
  z.preprocess(
    (v) => (v === '' || v === undefined ? def : Number(v)),
    z.number().int(`expected a whole number`).min(min).max(max),
  );

const EnvSchema = z.object({
  DATABASE_URL: optionalUrl(['postgres:', 'postgresql:']),
  REDIS_URL: optionalUrl(['redis:', 'rediss:']),
  GAPMAP_HOME: optionalString,
  GAPMAP_EMBEDDER: optionalString,
  GAPMAP_MODEL_DIR: optionalString,
  GAPMAP_QUEUE_PREFIX: optionalString,
  // 256: the bundled model's two threads need batches this big to stay busy (bench:classify: 54 units/s at 64, 97 at 256).
  GAPMAP_CLASSIFY_BATCH: int(256, 1, 4096),
  // Heap for customers' own heads and job models per process (classifiers/index.ts, DEFAULT_CACHE_BYTES).
  GAPMAP_MODEL_CACHE_MB: int(384, 16, 65_536),
  GAPMAP_PORT: int(3000, 0, 65535),
  GAPMAP_WORKER_PORT: int(3001, 0, 65535),
  GAPMAP_AGGREGATE_DELAY_MS: int(2000, 0, 600_000),
  GAPMAP_LOCK_MS: int(60_000, 1000, 3_600_000),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl(['http:', 'https:']),
  OPENAI_MODEL: optionalString,
  OPENAI_EMBEDDING_MODEL: optionalString,
  OPENAI_SUGGEST_MODEL: optionalString,
  GAPMAP_LLM: z.preprocess(
    (v) => (v === '' || v === undefined ? 'off' : v),
    z.enum(['off', 'cascade', 'all'], 'expected off, cascade (low-confidence units only) or all'),
  ),
  GAPMAP_LLM_THRESHOLD: z.preprocess(
    (v) => (v === '' || v === undefined ? 0.6 : Number(v)),
    z.number('expected a number from 0 to 1').min(0).max(1),
  ),
  GAPMAP_LLM_BATCH: int(20, 1, 200),
  GAPMAP_LLM_RETRIES: int(3, 0, 10),
  GAPMAP_LLM_TIMEOUT_MS: int(60_000, 1000, 600_000),
  GAPMAP_LLM_MAX_WAIT_MS: int(60_000, 0, 3_600_000),
  GAPMAP_LLM_PAUSE_MS: int(30_000, 10, 3_600_000),
  GAPMAP_LLM_JOBS_PER_MINUTE: int(60, 1, 100_000),
  GAPMAP_WEBHOOK_URL: optionalUrl(['http:', 'https:']),
});

export interface Config {
  /** PostgreSQL in production; undefined means the embedded PGlite database under `home`. */
  databaseUrl: string | undefined;
  /** Redis for BullMQ; undefined means processors run in-process. */
  redisUrl: string | undefined;
  home: string;
  embedder: string;
  modelDir: string | undefined;
  queuePrefix: string;
  classifyBatch: number;
  /** Heap for customers' own heads and job models in one process, in bytes. */
  modelCacheBytes: number;
  port: number;
  workerPort: number;
  aggregateDelayMs: number;
  /** How long a worker holds a job without renewing before another worker may take it over. */
  lockMs: number;
  openai: {
    apiKey?: string;
    baseURL?: string;
    model?: string;
    embeddingModel?: string;
    /** Model for written suggestions; OPENAI_MODEL when unset. */
    suggestModel?: string;
  };
  llm: LlmSettings;
  /** Receives a JSON POST when a connector run fails or a new value gap appears after one (Slack-compatible). */
  webhookUrl: string | undefined;
}

/** How the LLM takes part in classification (GAPMAP_LLM and friends). */
export interface LlmSettings {
  /** off: local tags only; cascade: units under `threshold` go to the LLM; all: every unit does. */
  mode: 'off' | 'cascade' | 'all';
  /** Lowest local confidence (job, kind or sentiment) under which a unit goes to the LLM. Default 0.6. */
  threshold: number;
  /** Units per request. */
  batchSize: number;
  /** Retries of one request by the openai client (429, 5xx, timeouts) before the stage pauses. */
  retries: number;
  timeoutMs: number;
  /** A Retry-After longer than this pauses the stage instead of being waited out inside a job. */
  maxWaitMs: number;
  /** First pause of the LLM queue after an outage; doubles per outage in a row, up to ten minutes. */
  pauseMs: number;
  /** BullMQ limiter of the llm queue: jobs started per minute, across all workers. */
  jobsPerMinute: number;
}

/** The model the LLM classifier uses when OPENAI_MODEL is not set. */
export const DEFAULT_LLM_MODEL = 'gpt-4.1-mini';

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (i) => `  ${i.path.join('.')}=${JSON.stringify(env[String(i.path[0])])}: ${i.message}`,
    );
    throw new GapmapError('config', `Invalid environment:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.GAPMAP_LLM !== 'off' && !e.OPENAI_API_KEY) {
    throw new GapmapError(
      'config',
      `Invalid environment:\n  GAPMAP_LLM=${JSON.stringify(e.GAPMAP_LLM)} needs OPENAI_API_KEY (any value for a server without keys, with OPENAI_BASE_URL), or set GAPMAP_LLM=off`,
    );
  }
  return {
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    home: path.resolve(e.GAPMAP_HOME ?? '.gapmap'),
    embedder: e.GAPMAP_EMBEDDER ?? 'bundled',
    modelDir: e.GAPMAP_MODEL_DIR,
    queuePrefix: e.GAPMAP_QUEUE_PREFIX ?? 'gapmap',
    classifyBatch: e.GAPMAP_CLASSIFY_BATCH,
    modelCacheBytes: e.GAPMAP_MODEL_CACHE_MB * 1024 * 1024,
    port: e.GAPMAP_PORT,
    workerPort: e.GAPMAP_WORKER_PORT,
    aggregateDelayMs: e.GAPMAP_AGGREGATE_DELAY_MS,
    lockMs: e.GAPMAP_LOCK_MS,
    openai: {
      apiKey: e.OPENAI_API_KEY,
      baseURL: e.OPENAI_BASE_URL,
      model: e.OPENAI_MODEL,
      embeddingModel: e.OPENAI_EMBEDDING_MODEL,
      suggestModel: e.OPENAI_SUGGEST_MODEL,
    },
    llm: {
      mode: e.GAPMAP_LLM,
      threshold: e.GAPMAP_LLM_THRESHOLD,
      batchSize: e.GAPMAP_LLM_BATCH,
      retries: e.GAPMAP_LLM_RETRIES,
      timeoutMs: e.GAPMAP_LLM_TIMEOUT_MS,
      maxWaitMs: e.GAPMAP_LLM_MAX_WAIT_MS,
      pauseMs: e.GAPMAP_LLM_PAUSE_MS,
      jobsPerMinute: e.GAPMAP_LLM_JOBS_PER_MINUTE,
    },
    webhookUrl: e.GAPMAP_WEBHOOK_URL,
  };
}
