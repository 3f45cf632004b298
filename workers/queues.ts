/**
 * BullMQ queues, one per stage, and the typed `enqueue` producers use. One options object per
 * queue; every number says why it is what it is.
 */
import { Queue, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from '../app/env.ts';
import { GapmapError, errorMessage } from '../app/errors.ts';
import { catalog, JOB_NAMES, type JobName, type Payload } from './catalog.ts';

export function jobOptions(name: JobName, config: Config): JobsOptions {
  const base: JobsOptions = {
    attempts: catalog[name].attempts,
    // Completed jobs are only useful for a while in a dashboard; failed ones are kept to look into.
    removeOnComplete: { age: 24 * 3600, count: 5000 },
    removeOnFail: { age: 14 * 24 * 3600 },
  };
  switch (name) {
    case 'ingest':
      // A database restart takes seconds to minutes: 10 s, 20 s, 40 s.
      return { ...base, backoff: { type: 'exponential', delay: 10_000 } };
    case 'classify':
      // Mostly the database or an embedding endpoint being briefly away: 2 s doubling to about 4 min.
      return { ...base, backoff: { type: 'exponential', delay: 2_000 } };
    case 'llm':
      // Outages do not come here (the worker pauses the queue instead); this is for the database: 5 s doubling.
      return { ...base, backoff: { type: 'exponential', delay: 5_000 } };
    case 'connector':
      // Not retried (attempts 1): the next scheduled run resumes from the saved cursor.
      return base;
    case 'aggregate':
      // Debounced: every classified batch asks for its customer's map; one build per window answers them all.
      return {
        ...base,
        backoff: { type: 'exponential', delay: 2_000 },
        delay: config.aggregateDelayMs,
      };
  }
}

export function redisConnection(url: string): Redis {
  // BullMQ's workers block on Redis: ioredis must not give up on a command while they wait.
  return new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true });
}

export async function connectRedis(url: string): Promise<Redis> {
  const conn = redisConnection(url);
  // Until the first connection stands, its errors are this function's to report (ioredis prints
  // an "Unhandled error event" for each failed attempt without a listener).
  let cause: unknown;
  const onError = (err: unknown) => (cause ??= err);
  conn.on('error', onError);
  try {
    await conn.connect();
    await conn.ping();
  } catch (err) {
    conn.disconnect();
    const message = errorMessage(cause ?? err).replace(/\.+$/, '');
    throw new GapmapError(
      'service_unavailable',
      `Cannot reach Redis at ${url} (REDIS_URL): ${message}. Is the server running?`,
    );
  }
  conn.off('error', onError);
  return conn;
}

export interface QueueClient {
  queues: Record<JobName, Queue>;
  enqueue<N extends JobName>(name: N, payload: Payload<N>): Promise<void>;
  close(): Promise<void>;
}

/**
 * The queues to add jobs to. `log` hears their connection's errors once it stands (Redis gone
 * away: each attempt to reconnect), a line each; without it BullMQ prints each one.
 */
export async function createQueueClient(
  config: Config,
  opts: { log?: (message: string) => void } = {},
): Promise<QueueClient> {
  if (!config.redisUrl) throw new GapmapError('config', 'REDIS_URL is not set: queues need Redis');
  const connection = await connectRedis(config.redisUrl);
  const queues = Object.fromEntries(
    JOB_NAMES.map((name) => [name, new Queue(name, { connection, prefix: config.queuePrefix })]),
  ) as Record<JobName, Queue>;
  const { log } = opts;
  if (log) {
    connection.on('error', (err) => log(`the queues’ connection: ${errorMessage(err)}`));
    for (const [name, queue] of Object.entries(queues))
      queue.on('error', (err) => log(`the ${name} queue: ${errorMessage(err)}`));
  }
  return {
    queues,
    async enqueue(name, payload) {
      const data = catalog[name].payload.parse(payload);
      const opts = jobOptions(name, config);
      if (name === 'aggregate') {
        const { customerId } = data as Payload<'aggregate'>;
        // One pending build per customer within the window; a request after the window starts the next one.
        opts.deduplication = { id: `aggregate:${customerId}`, ttl: Math.max(1, config.aggregateDelayMs) };
      }
      await queues[name].add(name, data, opts);
    },
    async close() {
      await Promise.all(Object.values(queues).map((q) => q.close()));
      connection.disconnect();
    },
  };
}
