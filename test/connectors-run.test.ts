import { spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { createTestDb, tempDir, type TestDb } from './helpers/db.ts';
import { generateZendesk, startFakeZendesk, virtualClock, type FakeZendesk } from './helpers/fake-zendesk.ts';
import { runConnector, type RunContext } from '../ingest/connectors/run.ts';
import { upsertCustomers } from '../db/queries.ts';
import { createConnector } from '../db/connectors.ts';
import type { Db } from '../db/client.ts';

const EMAIL = 'sync@team.example';
const TOKEN = 'zd-run-secret-7c1e0b';
const MAPPING = { organizations: { 'Org A': 'acme', 'Org B': 'bolt' }, domains: { 'org2.example': 'cyan' } };

let tdb: TestDb;
let db: Db;
let server: FakeZendesk;

beforeAll(async () => {
  tdb = await createTestDb();
  db = tdb.handle.db;
  await upsertCustomers(
    db,
    ['acme', 'bolt', 'cyan'].map((key) => ({ key, name: key.toUpperCase(), jobs: [] })),
  );
});
afterAll(async () => {
  await tdb?.drop();
});

beforeEach(async () => {
  await tdb.handle.pool!.query(
    'truncate connectors, connector_unmapped, items, units, import_runs restart identity cascade',
  );
  // 4 organizations: A, B mapped by name, C by its requesters' domain, D not at all; some requesters have none.
  server = await startFakeZendesk({
    email: EMAIL,
    token: TOKEN,
    data: generateZendesk({ tickets: 230, organizations: 4, orphanShare: 0.1, seed: 3 }),
  });
  await createConnector(db, {
    name: 'desk',
    kind: 'zendesk',
    config: { baseUrl: server.url, email: EMAIL, perPage: 50 },
    secret: TOKEN,
    mapping: MAPPING,
  });
});
afterEach(async () => {
  await server.close();
});

const ctx = (over: Partial<RunContext> = {}): RunContext => ({ db, pool: tdb.handle.pool, ...over });
const mappedIds = () =>
  server.data.tickets
    .filter((t) => t.status !== 'deleted' && [500, 501, 502].includes(t.organization_id ?? -1))
    .map((t) => String(t.id));
const unmappedIds = () =>
  server.data.tickets
    .filter((t) => t.status !== 'deleted' && ![500, 501, 502].includes(t.organization_id ?? -1))
    .map((t) => String(t.id));

/**
 * PostgreSQL ends a killed client's session (and its advisory lock) once it notices the closed
 * socket, which on a loaded machine can take a moment after the process is gone.
 */
async function waitForDeadSessionsLocks() {
  for (let i = 0; i < 200; i++) {
    const [row] = await q<{ n: number }>(
      `select count(*)::int as n from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`,
    );
    if (row!.n === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the killed run still holds its advisory lock after 10 s');
}

async function q<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await tdb.handle.pool!.query(text, params)).rows as T[];
}

async function expectExactlyStored() {
  const items = await q<{ external_id: string; n: string }>(
    `select external_id, count(*) n from items where source_type = 'ticket' group by external_id`,
  );
  expect(items.map((r) => r.external_id).sort()).toEqual(mappedIds().sort());
  const units = await q<{ ref: string }>(`select ref from units`);
  expect(units.map((u) => u.ref).sort()).toEqual(
    mappedIds()
      .map((id) => `ticket:${id}`)
      .sort(),
  );
  const kept = await q<{ external_id: string }>(`select external_id from connector_unmapped`);
  expect(kept.map((r) => r.external_id).sort()).toEqual(unmappedIds().sort());
  const runs = await q<{ counts: { itemsNew: number } }>(`select counts from import_runs`);
  // Each ticket counted new once over all runs: none stored twice.
  expect(runs.reduce((n, r) => n + r.counts.itemsNew, 0)).toBe(mappedIds().length);
}

describe('runConnector', () => {
  it('stores every page, keeps unmapped tickets for a person, saves the cursor and records the run', async () => {
    const res = await runConnector(ctx(), 'desk');
    expect(res.pages).toBe(5);
    expect(res.counts).toMatchObject({
      itemsNew: mappedIds().length,
      itemsUpdated: 0,
      itemsUnchanged: 0,
      unitsNew: mappedIds().length,
      errors: 0,
    });
    expect(res.unmapped).toBe(unmappedIds().length);
    expect(unmappedIds().length).toBeGreaterThan(0);
    expect(res.customerKeys).toEqual(['acme', 'bolt', 'cyan']);
    await expectExactlyStored();

    const [run] = await q<{ status: string; kind: string; source: string; finished_at: Date | null }>(
      `select * from import_runs`,
    );
    expect(run).toMatchObject({ status: 'done', kind: 'connector', source: 'connector:desk' });
    expect(run!.finished_at).not.toBeNull();
    const orgs = await q<{ organization: string }>(
      `select distinct organization from connector_unmapped order by 1`,
    );
    expect(orgs.map((o) => o.organization)).toEqual(['@unknown.example', 'Org D']);

    // Nothing changed at the source: the next run fetches one empty page and stores nothing.
    const again = await runConnector(ctx(), 'desk');
    expect(again.counts).toMatchObject({ itemsNew: 0, itemsUpdated: 0, itemsUnchanged: 0 });
    expect(again.pages).toBe(1);
  });

  for (const step of ['fetched', 'stored', 'cursor-saved'] as const) {
    it(`resumes exactly after a run is killed once page 3 is ${step}`, async () => {
      const killed = await runConnector(
        ctx({
          onStep: (s, page) => {
            if (s === step && page === 3) throw new Error('killed');
          },
        }),
        'desk',
      ).catch((e: Error) => e);
      expect((killed as Error).message).toBe('killed');
      const [failed] = await q<{ status: string; error: string }>(`select status, error from import_runs`);
      expect(failed).toEqual({ status: 'failed', error: 'killed' });

      const resumed = await runConnector(ctx(), 'desk');
      // Page 3 comes again only when it was stored but its cursor not yet saved; then it is unchanged.
      const page3 = server.data.tickets
        .slice(100, 150)
        .filter((t) => mappedIds().includes(String(t.id))).length;
      expect(resumed.counts.itemsUnchanged).toBe(step === 'stored' ? page3 : 0);
      expect(resumed.pages).toBe(step === 'cursor-saved' ? 2 : 3);
      await expectExactlyStored();
    });
  }

  it('resumes exactly after the process running it is killed (SIGKILL) in the middle of a page', async () => {
    // Kill while page 3's comments are being fetched: its export page is in memory, not stored.
    let exports = 0;
    // eslint-disable-next-line prefer-const -- the onRequest closure below reads it before it is assigned
    let child: ReturnType<typeof spawn> | undefined;
    const killedAt = new Promise<void>((resolve) => {
      server.onRequest = (r) => {
        if (r.path.endsWith('/cursor.json')) exports++;
        if (exports === 3 && r.path.includes('/comments.json') && child?.pid) {
          child.kill('SIGKILL');
          server.onRequest = undefined;
          resolve();
        }
      };
    });
    const script = `
      import { openDb } from './db/client.ts';
      import { runConnector } from './ingest/connectors/run.ts';
      const h = await openDb({ databaseUrl: process.env.DB_URL, home: '/nonexistent', migrate: false });
      await runConnector({ db: h.db, pool: h.pool }, 'desk');
      await h.close();`;
    child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: process.cwd(),
      env: { ...process.env, DB_URL: tdb.url },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exit = new Promise<NodeJS.Signals | number | null>((resolve) =>
      child!.on('exit', (code, signal) => resolve(signal ?? code)),
    );
    await Promise.race([killedAt, exit]);
    expect(await exit, stderr).toBe('SIGKILL');

    const [dead] = await q<{ status: string }>(`select status from import_runs`);
    expect(dead!.status).toBe('running'); // killed: nothing could mark it
    const stored = await q<{ n: string }>(`select count(*) n from items`);
    expect(Number(stored[0]!.n)).toBeLessThan(mappedIds().length);
    expect(Number(stored[0]!.n)).toBeGreaterThan(0);

    // The dead process's lock went with its connection: the next run starts and finishes the job.
    await waitForDeadSessionsLocks();
    const resumed = await runConnector(ctx(), 'desk');
    // Page 2 was being stored while page 3 was fetched: it may or may not have made it.
    expect([3, 4]).toContain(resumed.pages);
    await expectExactlyStored();
    const runs = await q<{ status: string; error: string | null }>(
      `select status, error from import_runs order by id`,
    );
    expect(runs.map((r) => r.status)).toEqual(['failed', 'done']);
    expect(runs[0]!.error).toMatch(/stopped \(killed or crashed\) before it finished/);
  });

  for (const step of ['stored', 'cursor-saved'] as const) {
    it(`counts exactly when the process dies (SIGKILL) right after page 2 is ${step}, before its counts are saved`, async () => {
      const script = `
        import { openDb } from './db/client.ts';
        import { runConnector } from './ingest/connectors/run.ts';
        const h = await openDb({ databaseUrl: process.env.DB_URL, home: '/nonexistent', migrate: false });
        await runConnector({ db: h.db, pool: h.pool, onStep: (s, page) => { if (s === '${step}' && page === 2) process.kill(process.pid, 'SIGKILL'); } }, 'desk');`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: process.cwd(),
        env: { ...process.env, DB_URL: tdb.url },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      const exit = await new Promise<NodeJS.Signals | number | null>((resolve) =>
        child.on('exit', (code, signal) => resolve(signal ?? code)),
      );
      expect(exit, stderr).toBe('SIGKILL');
      const [dead] = await q<{ status: string; counts: { itemsNew: number } }>(
        `select status, counts from import_runs`,
      );
      expect(dead!.status).toBe('running');
      const page1 = server.data.tickets.slice(0, 50).filter((t) => mappedIds().includes(String(t.id))).length;
      // The page stored but not counted when it died.
      expect(dead!.counts.itemsNew).toBe(page1);

      await waitForDeadSessionsLocks();
      await runConnector(ctx(), 'desk');
      await expectExactlyStored();
    });
  }

  it('updates a changed ticket, re-stores only its unit, marks a deleted one and keeps it', async () => {
    await runConnector(ctx(), 'desk');
    const [changed, removed] = mappedIds();
    server.updateTicket(Number(changed), {
      description: 'Edited: the night team cannot swap a shift at all now.',
    });
    server.updateTicket(Number(mappedIds()[2]), { tags: ['rota', 'retagged'] });
    server.deleteTicket(Number(removed));
    const before = await q<{ ref: string; content_hash: string }>(
      `select ref, content_hash from units order by ref`,
    );

    const res = await runConnector(ctx(), 'desk');
    expect(res.counts).toMatchObject({ itemsNew: 0, itemsUpdated: 2, unitsUpdated: 1, unitsUnchanged: 1 });
    expect(res.deleted).toBe(1);
    // Classifications are kept per content hash: only the edited text is classified again.
    const after = await q<{ ref: string; content_hash: string; text: string }>(
      `select ref, content_hash, text from units order by ref`,
    );
    const moved = after.filter((u, i) => u.content_hash !== before[i]!.content_hash).map((u) => u.ref);
    expect(moved).toEqual([`ticket:${changed}`]);
    expect(after.find((u) => u.ref === `ticket:${changed}`)!.text).toContain('Edited: the night team');
    const [gone] = await q<{ deleted_at: Date | null }>(
      `select deleted_at from items where external_id = $1`,
      [removed],
    );
    expect(gone!.deleted_at).not.toBeNull();
  });

  it('runs one at a time per connector', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let paused!: () => void;
    const isPaused = new Promise<void>((r) => (paused = r));
    const first = runConnector(
      ctx({
        onStep: async (s, page) => {
          if (s === 'fetched' && page === 1) {
            paused();
            await held;
          }
        },
      }),
      'desk',
    );
    await isPaused;
    await expect(runConnector(ctx(), 'desk')).rejects.toThrow(/"desk" is already running/);
    release();
    await first;
    await expectExactlyStored();
  });

  it('marks the run failed with the remote error when the help desk stays down, and the next run resumes', async () => {
    server.onRequest = (r) => {
      if (
        r.path.endsWith('/cursor.json') &&
        server.requests.filter((x) => x.path.endsWith('/cursor.json')).length === 2
      ) {
        server.fail({ path: '/api/v2/incremental', fault: { kind: 'status', status: 503 }, times: 1000 });
      }
    };
    const clock = virtualClock();
    const err = await runConnector(
      ctx({ runtime: { ...clock, retry: { maxTotalMs: 120_000 } } }),
      'desk',
    ).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const [run] = await q<{ status: string; error: string }>(`select status, error from import_runs`);
    expect(run!.status).toBe('failed');
    expect(run!.error).toMatch(
      /^Zendesk GET \/api\/v2\/incremental\/tickets\/cursor\.json: gave up after \d+ attempts .*HTTP 503/,
    );
    expect(run!.error).not.toContain(TOKEN);

    server.onRequest = undefined;
    await server.close();
    server = await startFakeZendesk({ email: EMAIL, token: TOKEN, data: server.data });
    await q(`update connectors set config = jsonb_set(config, '{baseUrl}', to_jsonb($1::text))`, [
      server.url,
    ]);
    // Pages 1 and 2 were stored before the help desk went down.
    const resumed = await runConnector(ctx(), 'desk');
    expect(resumed.pages).toBe(3);
    await expectExactlyStored();
  });

  it('imports new and changed exports from a watched folder, once each', async () => {
    const dir = tempDir('gapmap-watch-');
    const bundle = path.join(dir, 'export-1');
    fs.mkdirSync(bundle);
    fs.writeFileSync(
      path.join(bundle, 'customers.json'),
      JSON.stringify([{ key: 'dune', name: 'Dune Farms', jobs: [] }]),
    );
    const line = (id: number, subject: string) =>
      JSON.stringify({
        id,
        customer: 'dune',
        created_at: '2026-11-01T10:00:00Z',
        subject,
        description: 'The rota export is empty.',
        tags: [],
        group: 'Tier 2',
        comments: [],
      });
    fs.writeFileSync(
      path.join(bundle, 'tickets.jsonl'),
      [line(1, 'Empty rota export'), line(2, 'Shift swap fails')].join('\n') + '\n',
    );
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(path.join(bundle, 'customers.json'), old, old);
    fs.utimesSync(path.join(bundle, 'tickets.jsonl'), old, old);
    await createConnector(db, {
      name: 'drop',
      kind: 'folder',
      config: { path: dir, settleMs: 1000 },
      secret: null,
      mapping: {},
    });

    const first = await runConnector(ctx(), 'drop');
    expect(first.counts).toMatchObject({ itemsNew: 2, errors: 0 });
    expect((await q(`select 1 from items where external_id in ('1', '2')`)).length).toBe(2);
    const again = await runConnector(ctx(), 'drop');
    expect(again.pages).toBe(0);

    fs.writeFileSync(
      path.join(bundle, 'tickets.jsonl'),
      [line(1, 'Empty rota export'), line(2, 'Shift swap fails on mobile')].join('\n') + '\n',
    );
    fs.utimesSync(path.join(bundle, 'tickets.jsonl'), old, new Date(Date.now() - 30_000));
    const changed = await runConnector(ctx(), 'drop');
    expect(changed.counts).toMatchObject({ itemsNew: 0, itemsUpdated: 1, itemsUnchanged: 1 });
    const runs = await q<{ status: string; kind: string }>(
      `select status, kind from import_runs order by id`,
    );
    expect(runs).toEqual([0, 1, 2].map(() => ({ status: 'done', kind: 'connector' })));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a ticket whose mapping names a customer that does not exist, and says so', async () => {
    await q(`update connectors set mapping = jsonb_set(mapping, '{organizations,Org D}', '"ghost"')`);
    const res = await runConnector(ctx(), 'desk');
    await expectExactlyStored();
    const orgD = server.data.tickets.filter((t) => t.organization_id === 503).map((t) => String(t.id));
    expect(orgD.length).toBeGreaterThan(0);
    const kept = await q<{ external_id: string; organization: string; mapped_to: string }>(
      `select external_id, organization, item->'meta'->>'mappedTo' mapped_to from connector_unmapped where item->'meta'->>'mappedTo' is not null`,
    );
    expect(kept.map((k) => k.external_id).sort()).toEqual(orgD.sort());
    expect(new Set(kept.map((k) => `${k.organization}->${k.mapped_to}`))).toEqual(new Set(['Org D->ghost']));
    const errors = await q<{ message: string; field: string }>(
      `select message, field from import_errors where run_id = $1`,
      [res.runId],
    );
    expect(errors).toHaveLength(orgD.length);
    expect(errors[0]).toEqual({
      field: 'mapping',
      message: expect.stringContaining('maps "Org D" to customer "ghost", which does not exist'),
    });
  });

  it('names the connectors there are when asked for one that is not', async () => {
    await expect(runConnector(ctx(), 'nope')).rejects.toThrow(
      /No connector named "nope": expected one of "desk"/,
    );
  });
});
