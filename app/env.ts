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
  GAPMAP_CLASSIFY_BATCH: int(64, 1, 4096),
  GAPMAP_PORT: int(3000, 0, 65535),
  GAPMAP_WORKER_PORT: int(3001, 0, 65535),
  GAPMAP_AGGREGATE_DELAY_MS: int(2000, 0, 600_000),
  GAPMAP_LOCK_MS: int(60_000, 1000, 3_600_000),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl(['http:', 'https:']),
  OPENAI_MODEL: optionalString,
  OPENAI_EMBEDDING_MODEL: optionalString,
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
  port: number;
  workerPort: number;
  aggregateDelayMs: number;
  /** How long a worker holds a job without renewing before another worker may take it over. */
  lockMs: number;
  openai: { apiKey?: string; baseURL?: string; model?: string; embeddingModel?: string };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (i) => `  ${i.path.join('.')}=${JSON.stringify(env[String(i.path[0])])}: ${i.message}`,
    );
    throw new GapmapError('config', `Invalid environment:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    home: path.resolve(e.GAPMAP_HOME ?? '.gapmap'),
    embedder: e.GAPMAP_EMBEDDER ?? 'bundled',
    modelDir: e.GAPMAP_MODEL_DIR,
    queuePrefix: e.GAPMAP_QUEUE_PREFIX ?? 'gapmap',
    classifyBatch: e.GAPMAP_CLASSIFY_BATCH,
    port: e.GAPMAP_PORT,
    workerPort: e.GAPMAP_WORKER_PORT,
    aggregateDelayMs: e.GAPMAP_AGGREGATE_DELAY_MS,
    lockMs: e.GAPMAP_LOCK_MS,
    openai: {
      apiKey: e.OPENAI_API_KEY,
      baseURL: e.OPENAI_BASE_URL,
      model: e.OPENAI_MODEL,
      embeddingModel: e.OPENAI_EMBEDDING_MODEL,
    },
  };
}
