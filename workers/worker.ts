/**
 * `gapmap worker`: BullMQ workers for every stage, a small HTTP server with /health (the process
 * is alive) and /ready (it can reach Redis and the database), and a graceful stop on SIGTERM:
 * the jobs in hand finish, nothing new is taken.
 */
import http from 'node:http';
import { Worker, type WorkerOptions } from 'bullmq';
import { LlmUnavailableError } from '../classifiers/llm.ts';
import type { Config } from '../app/env.ts';
import type { DbHandle } from '../db/client.ts';
import { ping } from '../db/client.ts';
import { loadClassifier } from '../app/classifier.ts';
import type { Classifier } from '../classifiers/types.ts';
import { errorMessage, listenError, quietRepeats } from '../app/errors.ts';
import { JOB_NAMES, catalog, type JobName } from './catalog.ts';
import { connectRedis, createQueueClient } from './queues.ts';
import { CLASSIFY_CONCURRENCY, runJob, type Runtime } from './processors.ts';
import { startScheduler } from './scheduler.ts';

function workerOptions(name: JobName, config: Config): Omit<WorkerOptions, 'connection'> {
  const common = {
    prefix: config.queuePrefix,
    lockDuration: config.lockMs,
    // Checked twice per lock period: a killed worker's job goes back to the queue within about one lock period.
    stalledInterval: Math.max(500, Math.floor(config.lockMs / 2)),
    // A job can stall when its worker is killed; that is not the job's fault, so allow several.
    maxStalledCount: 5,
  };
  switch (name) {
    case 'ingest':
      // An import streams one file after another; parallel imports come from more workers.
      return { ...common, concurrency: 1 };
    case 'classify':
      // A few batches in hand (CLASSIFY_CONCURRENCY): the others' texts keep the model threads busy.
      return { ...common, concurrency: CLASSIFY_CONCURRENCY };
    case 'llm':
      return {
        ...common,
        // Waiting on the endpoint, not the CPU: a few requests in flight per process.
        concurrency: 2,
        // Jobs started per minute across all workers, to stay under the endpoint's rate limit.
        limiter: { max: config.llm.jobsPerMinute, duration: 60_000 },
      };
    case 'connector':
      // Mostly waiting on the help desk; runs of one connector are serialized by its advisory lock.
      return { ...common, concurrency: 2 };
    case 'aggregate':
      // Database-bound; per-customer builds are serialized by an advisory lock, so two can run.
      return { ...common, concurrency: 2 };
  }
}

/** How often a worker process looks for BullMQ workers that stopped (startWorkers). */
const REVIVE_MS = 2_000;

/** How long /ready waits for Redis and for the database before it answers 503. */
const READY_CHECK_MS = 2_000;

/** `work`, or the error `late` makes once `ms` have passed without it settling. */
function within<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

export interface RunningWorkers {
  port: number;
  close(): Promise<void>;
}

export async function startWorkers(
  config: Config,
  handle: DbHandle,
  opts: { port?: number; log?: (msg: string) => void; classifier?: Classifier } = {},
): Promise<RunningWorkers> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const logRepeats = quietRepeats(log);
  const producer = await createQueueClient(config, { log: logRepeats });
  const connection = await connectRedis(config.redisUrl!);
  connection.on('error', (err) => logRepeats(`the workers’ Redis connection: ${errorMessage(err)}`));
  let classifier: Promise<Classifier> | null = null;
  const stopping = new AbortController();
  const rt: Runtime = {
    db: handle.db,
    config,
    classifier: () =>
      (classifier ??= opts.classifier ? Promise.resolve(opts.classifier) : loadClassifier(config)),
    enqueue: (name, payload) => producer.enqueue(name, payload),
    queued: true,
    pool: handle.pool,
    signal: stopping.signal,
    log,
  };
  // LLM outages in a row: each pauses the llm queue twice as long as the last, up to ten minutes.
  let outages = 0;
  const makeWorker = (name: JobName) => {
    const w = new Worker(
      name,
      async (job) => {
        const started = Date.now();
        const { timeoutMs } = catalog[name];
        try {
          await within(
            runJob(name, job.data, rt),
            timeoutMs,
            () => new Error(`${name} job ${job.id} took longer than ${timeoutMs} ms`),
          );
          if (name === 'llm') outages = 0;
        } catch (err) {
          if (!(err instanceof LlmUnavailableError)) throw err;
          // The endpoint is away or refusing: pause the whole llm queue and put the job back
          // without using up an attempt (BullMQ's manual rate limit); local tags stay meanwhile.
          const pause = err.retryAfterMs ?? Math.min(config.llm.pauseMs * 2 ** outages, 600_000);
          outages++;
          log(`llm ${job.id}: ${err.message}; pausing the llm queue for ${Math.ceil(pause / 1000)} s`);
          await producer.queues.llm.rateLimit(Math.max(1, Math.round(pause)));
          throw Worker.RateLimitError();
        }
        log(`${name} ${job.id} done in ${Date.now() - started} ms`);
      },
      { connection, ...workerOptions(name, config) },
    );
    w.on('failed', (job, err) =>
      log(`${name} ${job?.id ?? '?'} failed (attempt ${job?.attemptsMade ?? '?'}): ${errorMessage(err)}`),
    );
    w.on('error', (err) => logRepeats(`${name} worker error: ${errorMessage(err)}`));
    return w;
  };
  const workers = JOB_NAMES.map(makeWorker);
  // Workers replaced (below) close in the background; close() waits for them too.
  const retired: Promise<void>[] = [];

  // BullMQ's main loop can end on an error while Redis is away ("Connection is closed."), and
  // nothing starts it again: after a 3 s outage the llm, aggregate and connector workers had
  // stopped for good (isRunning() false) while the others went on, and run() on them stopped again
  // at once. Once Redis answers again, a stopped worker is replaced by a new one (new connections),
  // as BullMQ's maintainers suggest; the old one closes in the background.
  const revive = setInterval(() => {
    if (stopping.signal.aborted || connection.status !== 'ready') return;
    workers.forEach((w, i) => {
      if (w.isRunning()) return;
      log(`${w.name} worker had stopped (Redis was away): starting a new one`);
      workers[i] = makeWorker(w.name as JobName);
      retired.push(w.close(true).catch((err) => logRepeats(`${w.name} worker error: ${errorMessage(err)}`)));
    });
  }, REVIVE_MS);

  const scheduler = startScheduler(handle.db, producer.queues.connector, config, { log });

  const server = http.createServer(async (req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
      return;
    }
    if (req.url === '/ready') {
      try {
        // While Redis is away ioredis holds commands until it is back (workers must not give up on
        // it): /ready answers from the connection's state instead, and gives each check a limit.
        if (connection.status !== 'ready') throw new Error(`Redis: the connection is ${connection.status}`);
        const late = (what: string) => () => new Error(`${what} did not answer within ${READY_CHECK_MS} ms`);
        await within(connection.ping(), READY_CHECK_MS, late('Redis'));
        await within(ping(handle.db), READY_CHECK_MS, late('the database'));
        const stopped = workers.filter((w) => !w.isRunning()).map((w) => w.name);
        res
          .writeHead(stopped.length ? 503 : 200, { 'content-type': 'application/json' })
          .end(
            JSON.stringify(
              stopped.length
                ? { ok: false, error: `workers not running: ${stopped.join(', ')}` }
                : { ok: true },
            ),
          );
      } catch (err) {
        res
          .writeHead(503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ok: false, error: errorMessage(err) }));
      }
      return;
    }
    res.writeHead(404).end();
  });
  const healthPort = opts.port ?? config.workerPort;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(listenError(err, '127.0.0.1', healthPort, 'another gapmap worker?')),
    );
    server.listen(healthPort, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      stopping.abort();
      clearInterval(revive);
      await scheduler.close();
      await Promise.all([...workers.map((w) => w.close()), ...retired]);
      await producer.close();
      connection.disconnect();
      await new Promise<void>((r) => server.close(() => r()));
      if (classifier) await (await classifier).close?.();
    })());
  return { port, close };
}
