/** The nightly schedule: one BullMQ job scheduler per connector in Redis, run by real workers. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { createTestDb, testConfig, REDIS_URL, type TestDb } from './helpers/db.ts';
import { generateZendesk, startFakeZendesk, type FakeZendesk } from './helpers/fake-zendesk.ts';
import { startFakeWebhook, type FakeWebhook } from './helpers/fake-webhook.ts';
import { upsertCustomers } from '../db/queries.ts';
import { createConnector, removeConnector } from '../db/connectors.ts';
import { startWorkers, type RunningWorkers } from '../workers/worker.ts';
import { schedulerId, syncConnectorSchedules } from '../workers/scheduler.ts';
import { redisConnection } from '../workers/queues.ts';
import type { Config } from '../app/env.ts';
import type { Redis } from 'ioredis';

const EMAIL = 'sync@team.example';
const TOKEN = 'zd-schedule-secret-2b7d';

let t: TestDb;
let server: FakeZendesk;
let hook: FakeWebhook;
let config: Config;
let connection: Redis;
let queue: Queue;
let workers: RunningWorkers | undefined;

beforeAll(async () => {
  t = await createTestDb();
  hook = await startFakeWebhook();
  config = testConfig({ DATABASE_URL: t.url, REDIS_URL, GAPMAP_WEBHOOK_URL: hook.url });
  connection = redisConnection(REDIS_URL);
  queue = new Queue('connector', { connection, prefix: config.queuePrefix });
  await upsertCustomers(t.handle.db, [{ key: 'acme', name: 'Acme Rotas', jobs: [] }]);
  server = await startFakeZendesk({
    email: EMAIL,
    token: TOKEN,
    data: generateZendesk({ tickets: 60, organizations: 1, seed: 9 }),
  });
});
afterAll(async () => {
  await workers?.close();
  await queue?.obliterate({ force: true }).catch(() => {});
  await queue?.close();
  connection?.disconnect();
  await server?.close();
  await hook?.close();
  await t?.drop();
});

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const hourIn = (ms: number, timeZone: string) =>
  new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(
    new Date(ms),
  );

describe('connector schedules', () => {
  it('the worker registers one job scheduler per connector with its pattern and time zone, and removes a deleted one', async () => {
    await createConnector(t.handle.db, {
      name: 'nightly',
      kind: 'folder',
      config: { path: '/nonexistent' },
      secret: null,
      mapping: {},
      timezone: 'Europe/Oslo',
    });
    await createConnector(t.handle.db, {
      name: 'tokyo',
      kind: 'folder',
      config: { path: '/nonexistent' },
      secret: null,
      mapping: {},
      schedule: '15 6 * * 1-5',
      timezone: 'Asia/Tokyo',
    });
    workers = await startWorkers(config, t.handle, { port: 0, log: () => {} });

    const nightly = await until('the nightly scheduler', () => queue.getJobScheduler(schedulerId('nightly')));
    expect(nightly).toMatchObject({
      name: 'connector',
      pattern: '0 2 * * *',
      tz: 'Europe/Oslo',
      template: { data: { name: 'nightly' } },
    });
    // The next run is at 02:00 in Oslo, whatever the machine's own zone.
    expect(hourIn(nightly.next!, 'Europe/Oslo')).toBe('02:00');
    expect(nightly.next!).toBeGreaterThan(Date.now());
    // The worker registers the schedulers one after the other: the second may come a moment later.
    const tokyo = await until('the tokyo scheduler', () => queue.getJobScheduler(schedulerId('tokyo')));
    expect(tokyo).toMatchObject({ pattern: '15 6 * * 1-5', tz: 'Asia/Tokyo' });
    expect(hourIn(tokyo!.next!, 'Asia/Tokyo')).toBe('06:15');

    // Nothing changed: syncing again touches nothing.
    expect(await syncConnectorSchedules(t.handle.db, queue, config)).toEqual({ upserted: [], removed: [] });

    await removeConnector(t.handle.db, 'tokyo');
    expect(await syncConnectorSchedules(t.handle.db, queue, config)).toEqual({
      upserted: [],
      removed: [schedulerId('tokyo')],
    });
    expect(await queue.getJobScheduler(schedulerId('tokyo'))).toBeUndefined();
    expect((await queue.getJobSchedulers()).map((s) => s.key)).toEqual([schedulerId('nightly')]);
  });

  it('a scheduled run executes in a real worker, classifies what it brought and posts the new value gaps', async () => {
    // Every second (cron with seconds), so the test need not wait for the night.
    await createConnector(t.handle.db, {
      name: 'desk',
      kind: 'zendesk',
      config: { baseUrl: server.url, email: EMAIL, perPage: 20 },
      secret: TOKEN,
      mapping: { organizations: { 'Org A': 'acme' } },
      schedule: '* * * * * *',
      timezone: 'Europe/Oslo',
    });
    const sync = await syncConnectorSchedules(t.handle.db, queue, config);
    expect(sync.upserted).toEqual([schedulerId('desk')]);

    const run = await until('a scheduled run of desk to finish', async () => {
      const { rows } = await t.handle.pool!.query<{
        id: number;
        status: string;
        counts: { itemsNew: number };
      }>(
        `select id, status, counts from import_runs where source = 'connector:desk' and status = 'done' order by id limit 1`,
      );
      return rows[0];
    });
    expect(run.counts.itemsNew).toBe(60);
    // The job waited for classification and the map before comparing value gaps.
    const gaps = await hook.waitFor((h) => h.body.event === 'new_value_gaps');
    expect(gaps.body).toMatchObject({ connector: 'desk', run_id: run.id, customer: { key: 'acme' } });
    expect((gaps.body.entries as unknown[]).length).toBeGreaterThan(0);
    const { rows } = await t.handle.pool!.query<{ n: string }>(
      'select count(*) n from units u left join classifications c on c.unit_id = u.id where c.unit_id is null',
    );
    expect(rows[0]!.n).toBe('0');
    expect(gaps.raw).not.toContain(TOKEN);

    await removeConnector(t.handle.db, 'desk');
    await syncConnectorSchedules(t.handle.db, queue, config);
    expect(await queue.getJobScheduler(schedulerId('desk'))).toBeUndefined();
  });
});
