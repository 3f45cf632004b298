/**
 * The dashboard with queues (real Redis and PostgreSQL): an upload becomes an ingest job the
 * workers run, and a decision asks the workers for a map rebuild, which then shows it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, testConfig, REDIS_URL, type TestDb } from './helpers/db.ts';
import { writeBundle, TRANSCRIPT_VTT } from './helpers/bundle.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import { createDashboard } from '../dashboard/server.ts';
import { createApiToken, createUser } from '../dashboard/auth.ts';
import { startWorkers, type RunningWorkers } from '../workers/worker.ts';
import { waitForRun } from '../app/wait.ts';
import type { Config } from '../app/env.ts';
import { eq } from 'drizzle-orm';
import { classifications, units } from '../db/schema/index.ts';
import { getCustomerByKey } from '../db/queries.ts';

let t: TestDb;
let config: Config;
let dash: ReturnType<typeof createDashboard>;
let workers: RunningWorkers | null = null;
let auth: Record<string, string>;

beforeAll(async () => {
  t = await createTestDb();
  config = testConfig({ DATABASE_URL: t.url, REDIS_URL, GAPMAP_AGGREGATE_DELAY_MS: '50' });
  await importInProcessForTest(t.handle, config, { path: writeBundle({ transcripts: false }) });
  const u = await createUser(t.handle.db, { email: 'lead@example.com', role: 'lead' });
  auth = {
    Authorization: `Bearer ${(await createApiToken(t.handle.db, { userId: u.id, name: 't' })).token}`,
  };
  dash = createDashboard({ config, handle: t.handle });
  workers = await startWorkers(config, t.handle, { port: 0, log: () => {} });
});

afterAll(async () => {
  await workers?.close();
  await dash?.background.close();
  await t?.drop();
});

const mapOf = async () =>
  (await (await dash.app.request('/api/customers/kiln-cafe/map', { headers: auth })).json()) as {
    built_at: string;
    columns: { job: string | null; cells: Record<string, { refs: string[] }[]> }[];
  };
const inMap = (m: Awaited<ReturnType<typeof mapOf>>, ref: string) =>
  m.columns.some((c) => Object.values(c.cells).some((es) => es.some((e) => e.refs.includes(ref))));

describe('dashboard with queues', () => {
  it('an uploaded transcript is imported and classified by the workers', async () => {
    const fd = new FormData();
    fd.append('files', new File([TRANSCRIPT_VTT], 'queued.vtt'));
    fd.append('customer', 'kiln-cafe');
    fd.append('speakers', JSON.stringify({ 'queued.vtt': ['Tom Baker'] }));
    const res = await dash.app.request('/api/imports', { method: 'POST', headers: auth, body: fd });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { files: { run_id: number; status: string }[] };
    const run = await waitForRun(t.handle.db, body.files[0]!.run_id, { timeoutMs: 60_000, pollMs: 100 });
    expect(run.status).toBe('done');
    await expect
      .poll(
        async () =>
          inMap(await mapOf(), 'transcript:queued.vtt#1') || inMap(await mapOf(), 'transcript:queued.vtt#2'),
        { timeout: 30_000, interval: 200 },
      )
      .toBe(true);
  });

  it('a decision makes the workers rebuild the map', async () => {
    const before = await mapOf();
    expect(inMap(before, 'ticket:103')).toBe(true);
    const res = await dash.app.request('/api/customers/kiln-cafe/units/decide', {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ ref: 'ticket:103', action: 'reject' }),
    });
    expect(res.status).toBe(200);
    // Rejecting a unit changes nothing in the stored map by itself: only a worker's rebuild takes it out.
    await expect
      .poll(async () => inMap(await mapOf(), 'ticket:103'), { timeout: 30_000, interval: 100 })
      .toBe(false);
    expect((await mapOf()).built_at).not.toBe(before.built_at);
  });

  it('a new job makes the workers tag every unit again and rebuild the map with its column', async () => {
    const before = new Date();
    const res = await dash.app.request('/api/customers/kiln-cafe/jobs', {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        key: 'gift-vouchers',
        statement: 'Sell gift vouchers at the counter',
        desired_outcome: 'Minimize the time a voucher sale takes',
      }),
    });
    expect(res.status).toBe(201);
    const customerId = (await getCustomerByKey(t.handle.db, 'kiln-cafe'))!.id;
    const stale = async () =>
      (
        await t.handle.db
          .select({ at: classifications.classifiedAt })
          .from(classifications)
          .innerJoin(units, eq(units.id, classifications.unitId))
          .where(eq(units.customerId, customerId))
      ).filter((c) => c.at < before).length;
    await expect.poll(stale, { timeout: 30_000, interval: 200 }).toBe(0);
    await expect
      .poll(async () => (await mapOf()).columns.map((c) => c.job), {
        timeout: 30_000,
        interval: 200,
      })
      .toContain('gift-vouchers');
  });
});
