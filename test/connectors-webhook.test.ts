/** GAPMAP_WEBHOOK_URL: a POST when a connector run fails and when a run brings a new value gap. */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDb, testConfig, type TestDb } from './helpers/db.ts';
import { startFakeWebhook, type FakeWebhook } from './helpers/fake-webhook.ts';
import { generateZendesk, startFakeZendesk, virtualClock, type FakeZendesk } from './helpers/fake-zendesk.ts';
import { upsertCustomers } from '../db/queries.ts';
import { createConnector } from '../db/connectors.ts';
import { syncConnector, type SyncOptions } from '../ingest/connectors/sync.ts';
import { createInProcessRuntime } from '../workers/inprocess.ts';
import { enqueueClassification } from '../workers/processors.ts';
import { createLexicalClassifier } from '../classifiers/lexical.ts';
import { postWebhook } from '../app/webhooks.ts';
import type { ConnectorRuntime } from '../ingest/connectors/zendesk.ts';

const EMAIL = 'sync@team.example';
const TOKEN = 'zd-hook-secret-91ad2c';

let tdb: TestDb;
let hook: FakeWebhook;
let server: FakeZendesk;
const config = testConfig();

beforeAll(async () => {
  tdb = await createTestDb();
  await upsertCustomers(tdb.handle.db, [
    {
      key: 'acme',
      name: 'Acme Rotas',
      jobs: [
        {
          key: 'pay',
          statement: 'Pay staff correctly for every shift',
          desiredOutcome: 'Minimize payroll corrections',
          examples: [],
        },
      ],
    },
  ]);
});
afterAll(async () => {
  await tdb?.drop();
});

beforeEach(async () => {
  await tdb.handle.pool!.query(
    'truncate connectors, connector_unmapped, items, units, import_runs, map_entries, map_state restart identity cascade',
  );
  hook = await startFakeWebhook();
  // Nothing in these tickets reads as a value gap, so the first run brings none.
  const data = generateZendesk({ tickets: 40, organizations: 2, seed: 11 });
  for (const t of data.tickets) {
    t.subject = t.raw_subject = 'Rota page question';
    t.description = 'Hello, where do I find the rota page for next month?';
  }
  server = await startFakeZendesk({ email: EMAIL, token: TOKEN, data });
  await createConnector(tdb.handle.db, {
    name: 'desk',
    kind: 'zendesk',
    config: { baseUrl: server.url, email: EMAIL, perPage: 25 },
    secret: TOKEN,
    mapping: { organizations: { 'Org A': 'acme', 'Org B': 'acme' } },
  });
});
afterEach(async () => {
  await server.close();
  await hook.close();
});

function options(runtime?: ConnectorRuntime): SyncOptions {
  return {
    db: tdb.handle.db,
    pool: tdb.handle.pool,
    webhookUrl: hook.url,
    runtime,
    log: () => {},
    settle: async (result) => {
      const rt = createInProcessRuntime({
        db: tdb.handle.db,
        config,
        classifier: async () => createLexicalClassifier(),
      });
      await enqueueClassification(rt, result.touchedCustomers);
      await rt.drain();
    },
  };
}

describe('connector webhooks', () => {
  it('posts when a run brings a value gap that was not in the customer’s map before, and only then', async () => {
    const first = await syncConnector(options(), 'desk');
    expect(first.counts.itemsNew).toBe(40);
    expect(first.newValueGaps).toEqual([]);
    expect(hook.received).toEqual([]);

    for (const t of server.addTickets(3)) {
      server.updateTicket(t.id, {
        subject: 'Cannot export payroll',
        description: 'We cannot export payroll hours to our accountant, so we are looking at other tools.',
      });
    }
    const second = await syncConnector(options(), 'desk');
    expect(second.counts.itemsNew).toBe(3);
    expect(hook.received).toHaveLength(1);
    const [h] = hook.received;
    expect(h!.contentType).toBe('application/json');
    expect(h!.body).toMatchObject({
      event: 'new_value_gaps',
      connector: 'desk',
      run_id: second.runId,
      customer: { key: 'acme', name: 'Acme Rotas' },
    });
    const entries = h!.body.entries as Array<{ key: string; label: string; count: number; quote: string }>;
    expect(entries).toHaveLength(1);
    expect(entries[0]!.count).toBe(3);
    expect(entries[0]!.quote).toMatch(/cannot export payroll/i);
    expect(h!.body.text).toMatch(
      /^Gapmap: a new value gap in the map of Acme Rotas after connector "desk" ran/,
    );
    expect(second.newValueGaps).toEqual([
      { customer: 'acme', entries: [expect.objectContaining({ key: entries[0]!.key })] },
    ]);

    // The same gap growing is not new.
    const [more] = server.addTickets(1);
    server.updateTicket(more!.id, {
      subject: 'Cannot export payroll',
      description: 'We still cannot export payroll hours to our accountant.',
    });
    const third = await syncConnector(options(), 'desk');
    expect(third.counts.itemsNew).toBe(1);
    expect(hook.received).toHaveLength(1);
  });

  it('posts when a run fails, with the error and counts but never the token, retrying a refused delivery', async () => {
    let exports = 0;
    server.onRequest = (r) => {
      if (r.path.endsWith('/cursor.json') && ++exports === 1)
        server.fail({ path: '/api/v2/incremental', fault: { kind: 'status', status: 503 }, times: 1000 });
    };
    hook.failNext(500);
    const clock = virtualClock();
    const err = await syncConnector(options({ ...clock, retry: { maxTotalMs: 60_000 } }), 'desk').catch(
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(hook.received).toHaveLength(1);
    const [h] = hook.received;
    expect(h!.body).toMatchObject({
      event: 'connector_run_failed',
      connector: 'desk',
      run_id: 1,
      counts: { new: 25, updated: 0, unchanged: 0, failed: 0 },
    });
    expect(h!.body.error).toMatch(
      /^Zendesk GET \/api\/v2\/incremental\/tickets\/cursor\.json: gave up after \d+ attempts .*HTTP 503/,
    );
    expect(h!.body.text).toMatch(/^Gapmap: connector "desk" failed \(import run 1\): Zendesk GET/);
    expect(h!.raw).not.toContain(TOKEN);
    expect(h!.raw).not.toContain(Buffer.from(`${EMAIL}/token:${TOKEN}`).toString('base64'));
  });

  it('a run whose connector is already running is not reported as a failure', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let paused!: () => void;
    const isPaused = new Promise<void>((r) => (paused = r));
    const first = syncConnector(
      {
        ...options(),
        onStep: async (s, page) => {
          if (s === 'fetched' && page === 1) {
            paused();
            await held;
          }
        },
      },
      'desk',
    );
    await isPaused;
    await expect(syncConnector(options(), 'desk')).rejects.toThrow(/already running/);
    release();
    await first;
    expect(hook.received.filter((h) => h.body.event === 'connector_run_failed')).toEqual([]);
  });

  it('an undeliverable webhook is logged without its URL and does not throw', async () => {
    const logged: string[] = [];
    const ok = await postWebhook(
      'http://127.0.0.1:9/services/T1/B1/very-secret',
      { event: 'connector_run_failed', connector: 'desk', run_id: null, error: 'x', counts: null },
      { attempts: 1, log: (m) => logged.push(m) },
    );
    expect(ok).toBe(false);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(
      /^webhook to 127\.0\.0\.1:9 \(GAPMAP_WEBHOOK_URL\) for connector_run_failed not delivered/,
    );
    expect(logged[0]).not.toContain('very-secret');
  });
});
