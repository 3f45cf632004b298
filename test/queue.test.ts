/**
 * The queue path on real Redis and PostgreSQL: `gapmap import` only enqueues, workers do the rest,
 * a worker killed mid-batch loses nothing and counts nothing twice, and the result is the same map
 * as the embedded mode's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { customers } from '../db/schema/index.ts';
import { createTestDb, testConfig, REDIS_URL, type TestDb } from './helpers/db.ts';
import { writeBundle, ROTA_REWORDED, TICKETS, ticket } from './helpers/bundle.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import fs from 'node:fs';
import path from 'node:path';
import {
  countWaitingUnits,
  countTaggedUnits,
  createImportRun,
  getCustomerByKey,
  getMapState,
  listImportRuns,
} from '../db/queries.ts';
import { createLexicalClassifier } from '../classifiers/lexical.ts';
import type { Classifier } from '../classifiers/types.ts';
import { createQueueClient } from '../workers/queues.ts';
import { startWorkers, type RunningWorkers } from '../workers/worker.ts';
import { quietRepeats } from '../app/errors.ts';
import net from 'node:net';
import { isRunSettled, waitForRun } from '../app/wait.ts';
import { mapJson } from '../app/map.ts';
import type { Config } from '../app/env.ts';

let queueDb: TestDb;
let embeddedDb: TestDb;
const children: ChildProcess[] = [];
const running: RunningWorkers[] = [];

beforeAll(async () => {
  [queueDb, embeddedDb] = await Promise.all([createTestDb(), createTestDb()]);
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const w of running.splice(0)) await w.close();
});
afterAll(async () => {
  await queueDb?.drop();
  await embeddedDb?.drop();
});

function queueConfig(db: TestDb, over: Record<string, string> = {}): Config {
  return testConfig({
    DATABASE_URL: db.url,
    REDIS_URL,
    GAPMAP_CLASSIFY_BATCH: '3',
    GAPMAP_LOCK_MS: '2000',
    GAPMAP_AGGREGATE_DELAY_MS: '100',
    ...over,
  });
}

function spawnChild(config: Config, script: string, args: string[] = [], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['bin/run-ts.js', script, ...args], {
    env: {
      ...process.env,
      DATABASE_URL: config.databaseUrl,
      REDIS_URL: config.redisUrl,
      GAPMAP_QUEUE_PREFIX: config.queuePrefix,
      GAPMAP_LOCK_MS: String(config.lockMs),
      GAPMAP_CLASSIFY_BATCH: String(config.classifyBatch),
      GAPMAP_AGGREGATE_DELAY_MS: String(config.aggregateDelayMs),
      GAPMAP_EMBEDDER: 'lexical',
      GAPMAP_HOME: config.home,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines = readline.createInterface({ input: child.stdout! });
  const waitFor = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const onLine = (line: string) => {
        if (pattern.test(line)) {
          lines.off('line', onLine);
          resolve(line);
        }
      };
      lines.on('line', onLine);
      child.once('exit', (code) => reject(new Error(`child exited with ${code} before printing ${pattern}`)));
    });
  return { child, waitFor };
}

async function enqueueImport(config: Config, db: TestDb, path: string) {
  const queue = await createQueueClient(config);
  try {
    const run = await createImportRun(db.handle.db, { source: path, kind: 'bundle', status: 'queued' });
    await queue.enqueue('ingest', { runId: run.id, path });
    return run.id;
  } finally {
    await queue.close();
  }
}

/** The map without build times: what two pipelines that saw the same input must agree on. */
async function comparableMap(db: TestDb, key: string) {
  const c = await getCustomerByKey(db.handle.db, key);
  const m = await mapJson(db.handle.db, c!.id);
  return { ...m, built_at: null };
}

describe('queues', () => {
  it('a worker killed with SIGKILL mid-batch loses nothing, counts nothing twice, and the map equals the embedded one', async () => {
    const tickets = [
      ...TICKETS,
      ...Array.from({ length: 8 }, (_, i) =>
        ticket({
          id: 500 + i,
          subject: `Booking question ${i}`,
          description: `Can a guest change the time of booking ${i} online?`,
        }),
      ),
    ];
    const dir = writeBundle({ tickets });
    const config = queueConfig(queueDb);

    const doomed = spawnChild(config, 'test/helpers/worker-child.ts', [], { HANG_AT_BATCH: '2' });
    await doomed.waitFor(/^READY/);
    const runId = await enqueueImport(config, queueDb, dir);
    const hang = await doomed.waitFor(/^HANG /);
    expect(hang).toMatch(/^HANG \d+/);
    doomed.child.kill('SIGKILL');
    await new Promise((r) => doomed.child.once('exit', r));

    // A second worker takes the killed worker's batch over once its lock runs out.
    running.push(await startWorkers(config, queueDb.handle, { port: 0, log: () => {} }));
    const run = await waitForRun(queueDb.handle.db, runId, { timeoutMs: 90_000, pollMs: 100 });
    expect(run.status).toBe('done');
    expect(run.counts).toMatchObject({ itemsNew: tickets.length + 4, unitsNew: tickets.length + 5 });

    const result = (await queueDb.handle.db.execute(
      sql`select (select count(*)::int from units) as units, (select count(*)::int from classifications) as tagged`,
    )) as unknown as { rows: { units: number; tagged: number }[] };
    const { units, tagged } = result.rows[0]!;
    expect(tagged).toBe(units);

    await importInProcessForTest(embeddedDb.handle, testConfig(), { path: dir });
    for (const key of ['kiln-cafe', 'north-gym']) {
      const fromQueue = await comparableMap(queueDb, key);
      expect(fromQueue).toEqual(await comparableMap(embeddedDb, key));
      // Each unit is evidence of at most one entry in its column's kind rows: nothing counted twice.
      const kindRows = ['touchpoints', 'high_points', 'friction', 'value_gaps'] as const;
      for (const col of fromQueue.columns) {
        const refs = kindRows.flatMap((r) => col.cells[r]!.flatMap((e) => e.refs));
        expect(new Set(refs).size).toBe(refs.length);
        for (const r of kindRows) for (const e of col.cells[r]!) expect(e.count).toBe(e.refs.length);
      }
    }
    const runs = await listImportRuns(queueDb.handle.db);
    expect(runs.find((r) => r.id === runId)!.errors).toEqual([]);
  }, 180_000);

  it('after a job change, an import is settled only once every unit of the customer is tagged again', async () => {
    const db = await createTestDb();
    let release: (() => void) | undefined;
    try {
      const dir = writeBundle();
      const config = queueConfig(db);
      const kiln = async () => (await getCustomerByKey(db.handle.db, 'kiln-cafe'))!;
      // Batches pass while `open`; once it is shut, the first batch passes and the rest wait.
      let open = true;
      let passed = 0;
      const gate = new Promise<void>((r) => (release = r));
      const lexical = createLexicalClassifier();
      const classifier: Classifier = {
        name: lexical.name,
        version: lexical.version,
        async classify(units, context) {
          if (!open && passed++ > 0) await gate;
          return lexical.classify(units, context);
        },
      };
      running.push(await startWorkers(config, db.handle, { port: 0, classifier, log: () => {} }));
      await waitForRun(db.handle.db, await enqueueImport(config, db, dir), { timeoutMs: 60_000, pollMs: 50 });
      const before = await kiln();

      // The same files with kiln-cafe's rota job reworded: no unit is new, every one needs a re-tag.
      const file = path.join(dir, 'customers.json');
      const defs = JSON.parse(fs.readFileSync(file, 'utf8')) as {
        key: string;
        jobs: { key: string; statement: string }[];
      }[];
      defs.find((c) => c.key === 'kiln-cafe')!.jobs.find((j) => j.key === 'staff-rota')!.statement =
        ROTA_REWORDED.statement;
      fs.writeFileSync(file, JSON.stringify(defs));
      open = false;
      const second = await enqueueImport(config, db, dir);
      // The first re-tag batch lands and its map build follows: tags and map agree, the rest waits.
      for (let i = 0; i < 600; i++) {
        const run = (await listImportRuns(db.handle.db)).find((r) => r.id === second)!;
        const state = await getMapState(db.handle.db, before.id);
        if (run.finishedAt && state && state.builtAt > run.finishedAt && passed > 1) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const stale = (await countWaitingUnits(db.handle.db, [before.id])).stale;
      expect(stale).toBeGreaterThan(0);
      const waiting = await isRunSettled(db.handle.db, second);
      expect(waiting).toMatchObject({ settled: false, pending: stale });

      release!();
      await waitForRun(db.handle.db, second, { timeoutMs: 60_000, pollMs: 50 });
      const after = await kiln();
      expect(after.jobsVersion).toBe(before.jobsVersion + 1);
      expect((await countWaitingUnits(db.handle.db, [before.id])).stale).toBe(0);
      const tags = (await db.handle.db.execute(
        sql`select count(*)::int as n from classifications where customer_id = ${before.id} and jobs_version = ${after.jobsVersion}`,
      )) as unknown as { rows: { n: number }[] };
      expect(tags.rows[0]!.n).toBe(await countTaggedUnits(db.handle.db, before.id));
    } finally {
      release?.();
      for (const w of running.splice(0)) await w.close();
      await db.drop();
    }
  }, 120_000);

  it('gapmap worker answers /health and /ready, and stops cleanly on SIGTERM', async () => {
    const config = queueConfig(queueDb);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const worker = spawnChild(config, 'bin/gapmap.js', ['worker', '--port', String(port)], {
      GAPMAP_EMBEDDER: 'lexical',
    });
    let ready: Response | null = null;
    for (let i = 0; i < 300 && !ready?.ok; i++) {
      ready = await fetch(`http://127.0.0.1:${port}/ready`).catch(() => null);
      if (!ready?.ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ready?.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    const exited = new Promise<number | null>((r) => worker.child.once('exit', (code) => r(code)));
    worker.child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);

  it('while Redis is away /ready answers 503 and each worker says so once; when it is back, ready again', async () => {
    // A TCP proxy in front of the real Redis that the test cuts and restores: a network outage.
    const redis = new URL(REDIS_URL);
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(redis.port || 6379), redis.hostname);
      for (const sock of [client, upstream]) {
        sockets.add(sock);
        sock.on('error', () => {});
        sock.on('close', () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(sock);
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const port = (proxy.address() as net.AddressInfo).port;
    const via = new URL(REDIS_URL);
    via.host = `127.0.0.1:${port}`;
    const lines: string[] = [];
    const config = queueConfig(queueDb);
    const w = await startWorkers({ ...config, redisUrl: via.toString() }, queueDb.handle, {
      port: 0,
      log: (m) => lines.push(m),
    });
    running.push(w);
    // An answer, not a hang: the signal only ends a request that never answers.
    const ready = () => fetch(`http://127.0.0.1:${w.port}/ready`, { signal: AbortSignal.timeout(15_000) });
    expect((await ready()).status).toBe(200);

    await new Promise((resolve) => {
      proxy.close(resolve);
      for (const sock of sockets) sock.destroy();
    });
    // ioredis tries again every 50 ms at first, then more slowly: several attempts per connection.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const down = await ready();
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ ok: false, error: expect.stringMatching(/^Redis/) });
    const errors = lines.filter((l) => / worker error: /.test(l));
    expect(errors.length).toBeGreaterThan(0);
    expect(new Set(errors).size).toBe(errors.length);

    await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
    let back: Response | null = null;
    for (let i = 0; i < 200 && back?.status !== 200; i++) {
      back = await ready();
      if (back.status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(back?.status).toBe(200);
    // And jobs flow again, on a queue whose worker the outage had stopped (aggregate: a map build).
    const [customer] = await queueDb.handle.db
      .insert(customers)
      .values({ key: `outage-${Date.now()}`, name: 'Outage' })
      .returning();
    const queue = await createQueueClient(config);
    try {
      const job = await queue.queues.aggregate.add('aggregate', { customerId: customer!.id });
      let state = await job.getState();
      for (let i = 0; i < 300 && state !== 'completed' && state !== 'failed'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        state = await job.getState();
      }
      expect(state).toBe('completed');
      expect(await getMapState(queueDb.handle.db, customer!.id)).toBeTruthy();
    } finally {
      await queue.close();
      proxy.close();
    }
  }, 60_000);

  it('quietRepeats says a repeated message once per window, then how often it came', () => {
    const said: string[] = [];
    let t = Date.parse('2026-12-07T10:00:00Z');
    const log = quietRepeats(
      (m) => said.push(m),
      60_000,
      () => t,
    );
    log('a');
    log('a');
    log('b');
    t += 30_000;
    log('a');
    t += 31_000;
    log('a');
    log('a');
    expect(said).toEqual(['a', 'b', 'a (2 more since 2026-12-07T10:00:00.000Z)']);
  });

  it('a bad payload is a permanent failure, not retried', async () => {
    const config = queueConfig(queueDb);
    const queue = await createQueueClient(config);
    try {
      // Straight onto the queue, past the typed producer: what a stale or foreign producer might send.
      const job = await queue.queues.classify.add('classify', { unitIds: 'all of them' });
      running.push(await startWorkers(config, queueDb.handle, { port: 0, log: () => {} }));
      let state = await job.getState();
      for (let i = 0; i < 200 && state !== 'failed'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        state = await job.getState();
      }
      expect(state).toBe('failed');
      const failed = await queue.queues.classify.getJob(job.id!);
      expect(failed!.attemptsMade).toBe(1);
      expect(failed!.failedReason).toMatch(/bad classify payload: unitIds/);
    } finally {
      await queue.close();
    }
  });
});
