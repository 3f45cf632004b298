/**
 * The one catalog of background jobs: name -> payload schema, retries and time limit. Producers
 * enqueue through `enqueue` (typed by this catalog), consumers parse the payload again before use,
 * and a job without a processor is a type error in workers/processors.ts.
 */
import { z } from 'zod';

const columns = z
  .object({
    response_id: z.string(),
    customer: z.string(),
    submitted_at: z.string(),
    question: z.string(),
    answer: z.string(),
    score: z.string(),
  })
  .partial();

export const catalog = {
  ingest: {
    payload: z.object({
      runId: z.number().int().positive(),
      path: z.string().min(1),
      customer: z.string().optional(),
      speakers: z.array(z.string()).optional(),
      author: z.string().optional(),
      columns: columns.optional(),
    }),
    // Parsing is deterministic: a second try only helps when the database was briefly away.
    attempts: 3,
    timeoutMs: 6 * 60 * 60_000,
  },
  classify: {
    payload: z.object({
      unitIds: z.array(z.number().int().positive()).min(1).max(4096),
      /**
       * 'stored': score the units with the anchors the customer's batches chose before (a
       * retrain's few units); otherwise the batch chooses its own and adds them to the customer's.
       */
      anchors: z.literal('stored').optional(),
    }),
    // Classification is an idempotent upsert per unit, so retrying a batch is always safe.
    attempts: 8,
    timeoutMs: 10 * 60_000,
  },
  llm: {
    payload: z.object({ unitIds: z.array(z.number().int().positive()).min(1).max(4096) }),
    // An outage does not use these up: the worker pauses the llm queue and puts the job back
    // (BullMQ's manual rate limit). Attempts count only other failures, such as the database being away.
    attempts: 8,
    timeoutMs: 30 * 60_000,
  },
  aggregate: {
    payload: z.object({ customerId: z.number().int().positive() }),
    attempts: 8,
    timeoutMs: 10 * 60_000,
  },
  connector: {
    // runId: the import run `gapmap connectors run --wait` created to follow; a scheduled job has none.
    payload: z.object({ name: z.string().min(1), runId: z.number().int().positive().optional() }),
    // The help-desk client already retries for a bounded time; a failed run is resumed by the next one.
    attempts: 1,
    // The first run of a large help desk, then waiting for its units to be classified.
    timeoutMs: 12 * 60 * 60_000,
  },
} as const;

export type JobName = keyof typeof catalog;
export type Payload<N extends JobName> = z.infer<(typeof catalog)[N]['payload']>;
export const JOB_NAMES = Object.keys(catalog) as JobName[];
