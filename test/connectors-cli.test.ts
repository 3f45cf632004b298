/** `gapmap connectors ...` as a person runs it: a real process on real PostgreSQL (and Redis for --wait). */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, tempDir, testConfig, REDIS_URL, type TestDb } from './helpers/db.ts';
import { generateZendesk, startFakeZendesk, type FakeZendesk } from './helpers/fake-zendesk.ts';
import { upsertCustomers } from '../db/queries.ts';
import { startWorkers, type RunningWorkers } from '../workers/worker.ts';

const run = promisify(execFile);
const EMAIL = 'sync@team.example';
const TOKEN = 'zd-cli-secret-5f3e19';

let t: TestDb;
let server: FakeZendesk;
const home = tempDir();

function gapmap(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, ['bin/gapmap.js', ...args], {
    env: {
      ...process.env,
      GAPMAP_EMBEDDER: 'lexical',
      DATABASE_URL: t.url,
      REDIS_URL: '',
      GAPMAP_HOME: home,
      GAPMAP_WEBHOOK_URL: '',
      ZD_TOKEN: TOKEN,
      ...env,
    },
    maxBuffer: 64 * 1024 * 1024,
  });
}
const fails = (args: string[], env: Record<string, string> = {}) =>
  gapmap(args, env).then(
    (r) => {
      throw new Error(`expected gapmap ${args.join(' ')} to fail; it printed ${r.stdout}`);
    },
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

async function q<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await t.handle.pool!.query(text, params)).rows as T[];
}

beforeAll(async () => {
  t = await createTestDb();
  await upsertCustomers(
    t.handle.db,
    ['acme', 'bolt', 'cyan'].map((key) => ({ key, name: key.toUpperCase(), jobs: [] })),
  );
  server = await startFakeZendesk({
    email: EMAIL,
    token: TOKEN,
    data: generateZendesk({ tickets: 120, organizations: 4, orphanShare: 0.1, seed: 5 }),
  });
});
afterAll(async () => {
  await server?.close();
  await t?.drop();
});

const live = () => server.data.tickets.filter((x) => x.status !== 'deleted');
const ofOrg = (id: number | null) =>
  live()
    .filter((x) => x.organization_id === id)
    .map((x) => String(x.id));
// Org A (500) by name, Org C (502) by its requesters' e-mail domain; Org B, Org D and the orphans wait.
const mapped = () => [...ofOrg(500), ...ofOrg(502)];

describe('gapmap connectors (embedded mode on PostgreSQL)', () => {
  it('add validates the mapping’s customers, stores the token, and list never shows it', async () => {
    const bad = await fails([
      'connectors',
      'add',
      'desk',
      '--kind',
      'zendesk',
      '--url',
      server.url,
      '--email',
      EMAIL,
      '--token-env',
      'ZD_TOKEN',
      '--map',
      'Org A=ghost',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /--map names "ghost", which is not a customer: expected one of "acme", "bolt", "cyan"/,
    );
    // A folder connector imports its files as gapmap import does: rules and --since are refused.
    const dir = tempDir('gapmap-drop-');
    const addFolder = (...extra: string[]) =>
      fails(['connectors', 'add', 'drop', '--kind', 'folder', '--path', dir, ...extra]);
    const folderMap = await addFolder('--map', 'Org A=acme');
    expect([folderMap.code, folderMap.stderr]).toEqual([
      2,
      expect.stringMatching(/--map applies to --kind zendesk and intercom/),
    ]);
    const folderSince = await addFolder('--since', 'yesterday');
    expect([folderSince.code, folderSince.stderr]).toEqual([
      2,
      expect.stringMatching(/--since applies to --kind zendesk and intercom/),
    ]);
    const folderCustomer = await addFolder('--customer', 'ghost');
    expect(folderCustomer.stderr).toMatch(/--customer names "ghost", which is not a customer/);
    const noToken = await fails([
      'connectors',
      'add',
      'desk',
      '--kind',
      'zendesk',
      '--url',
      server.url,
      '--email',
      EMAIL,
      '--token-env',
      'NOT_SET_ANYWHERE',
    ]);
    expect(noToken.stderr).toMatch(/--token-env NOT_SET_ANYWHERE: that environment variable is not set/);
    const badCron = await fails([
      'connectors',
      'add',
      'desk',
      '--kind',
      'zendesk',
      '--url',
      server.url,
      '--email',
      EMAIL,
      '--token-env',
      'ZD_TOKEN',
      '--schedule',
      'nightly',
    ]);
    expect(badCron.stderr).toMatch(/--schedule "nightly": expected a cron pattern/);
    const badTz = await fails([
      'connectors',
      'add',
      'desk',
      '--kind',
      'zendesk',
      '--url',
      server.url,
      '--email',
      EMAIL,
      '--token-env',
      'ZD_TOKEN',
      '--timezone',
      'Mars/Olympus',
    ]);
    expect(badTz.stderr).toMatch(/--timezone "Mars\/Olympus": expected an IANA time zone/);
    expect(await q('select * from connectors')).toEqual([]);

    const added = await gapmap([
      'connectors',
      'add',
      'desk',
      '--kind',
      'zendesk',
      '--url',
      server.url,
      '--email',
      EMAIL,
      '--token-env',
      'ZD_TOKEN',
      '--map',
      'Org A=acme',
      '--map',
      '@org2.example=cyan',
      '--schedule',
      '30 1 * * *',
      '--timezone',
      'Europe/Oslo',
    ]);
    expect(added.stdout).toMatch(/connector desk added \(zendesk\); runs "30 1 \* \* \*" in Europe\/Oslo/);
    expect(added.stdout + added.stderr).not.toContain(TOKEN);
    const dup = await fails(['connectors', 'add', 'desk', '--kind', 'folder', '--path', home]);
    expect(dup.stderr).toMatch(/a connector named "desk" exists already/);

    const [row] = await q<{ secret: string; config: Record<string, unknown> }>(
      'select secret, config from connectors',
    );
    expect(row!.secret).toBe(TOKEN);
    expect(JSON.stringify(row!.config)).not.toContain(TOKEN);

    const listed = await gapmap(['connectors', 'list', '--json']);
    expect(listed.stdout).not.toContain(TOKEN);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({
        name: 'desk',
        kind: 'zendesk',
        secret: '***',
        config: { baseUrl: server.url, email: EMAIL, startTime: 0 },
        mapping: { organizations: { 'Org A': 'acme' }, domains: { 'org2.example': 'cyan' } },
        schedule: '30 1 * * *',
        timezone: 'Europe/Oslo',
        last_run: null,
      }),
    ]);
    const text = await gapmap(['connectors', 'list']);
    expect(text.stdout).toMatch(
      /^desk {2}zendesk {2}http:\/\/127\.0\.0\.1:\d+ {2}schedule "30 1 \* \* \*" Europe\/Oslo {2}token \*\*\*$/m,
    );
    expect(text.stdout).not.toContain(TOKEN);
  });

  it('run imports the mapped tickets, classifies them and keeps the others; the token never reaches the output', async () => {
    // The help desk fails once: the run says so on stderr as it retries, and goes on.
    server.fail({ fault: { kind: 'status', status: 503 }, path: '/api/v2/incremental' });
    const out = await gapmap(['connectors', 'run', 'desk', '--json']);
    expect(out.stdout + out.stderr).not.toContain(TOKEN);
    expect(out.stderr).toMatch(
      /^gapmap: connector desk: Zendesk GET \/api\/v2\/incremental\/tickets\/cursor\.json: attempt 1 failed \(HTTP 503[^)]*\); trying again in \d+\.\d s$/m,
    );
    const r = JSON.parse(out.stdout);
    expect(r).toMatchObject({
      status: 'done',
      counts: { new: mapped().length, updated: 0, unchanged: 0, failed: 0 },
      unmapped: live().length - mapped().length,
      customers: ['acme', 'cyan'],
    });
    expect(r.duration_ms).toEqual(expect.any(Number));
    const pending = await q<{ n: string }>(
      'select count(*) n from units u left join classifications c on c.unit_id = u.id where c.unit_id is null',
    );
    expect(Number(pending[0]!.n)).toBe(0);
    const built = await q<{ key: string }>(
      'select c.key from map_state m join customers c on c.id = m.customer_id order by 1',
    );
    expect(built.map((b) => b.key)).toEqual(['acme', 'cyan']);

    const imports = (await gapmap(['imports', '--json'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(imports[0]).toMatchObject({
      source: 'connector:desk',
      kind: 'connector',
      status: 'done',
      counts: { items_new: mapped().length, errors: 0 },
    });
    expect(imports[0].duration_ms).toEqual(expect.any(Number));
    const importsText = (await gapmap(['imports'])).stdout;
    expect(importsText).toMatch(
      new RegExp(
        `^import run ${imports[0].id} done \\(connector:desk, \\d+\\.\\d s\\): items ${mapped().length} new, 0 updated, 0 unchanged;.* 0 errors$`,
        'm',
      ),
    );
  });

  it('unmapped lists the waiting tickets by organization; map imports one organization’s tickets once', async () => {
    const listed = JSON.parse((await gapmap(['connectors', 'unmapped', 'desk', '--json'])).stdout) as Array<{
      organization: string;
      tickets: number;
      items: { external_id: string }[];
    }>;
    const expected = [
      { organization: 'Org B', ids: ofOrg(501) },
      { organization: 'Org D', ids: ofOrg(503) },
      { organization: '@unknown.example', ids: ofOrg(null) },
    ].sort((a, b) => b.ids.length - a.ids.length || (a.organization < b.organization ? -1 : 1));
    expect(
      listed.map((g) => ({ organization: g.organization, ids: g.items.map((i) => i.external_id).sort() })),
    ).toEqual(expected.map((e) => ({ organization: e.organization, ids: [...e.ids].sort() })));
    expect(listed.map((g) => g.tickets)).toEqual(expected.map((e) => e.ids.length));
    const text = (await gapmap(['connectors', 'unmapped', 'desk'])).stdout;
    expect(text).toContain(`Org B  ${ofOrg(501).length} tickets`);
    expect(text).toMatch(/map one with: gapmap connectors map desk "/);

    const bad = await fails(['connectors', 'map', 'desk', 'Org B=nobody']);
    expect(bad.stderr).toMatch(/"nobody", which is not a customer/);
    const mappedOut = await gapmap(['connectors', 'map', 'desk', 'org b=bolt']);
    expect(mappedOut.stdout).toContain(
      `connector desk: "org b" now maps to bolt; ${ofOrg(501).length} waiting tickets imported`,
    );
    const bolt = await q<{ external_id: string; classified: boolean }>(
      `select i.external_id, bool_and(c.unit_id is not null) classified from items i join customers k on k.id = i.customer_id
         join units u on u.item_id = i.id left join classifications c on c.unit_id = u.id where k.key = 'bolt' group by 1`,
    );
    expect(bolt.map((b) => b.external_id).sort()).toEqual([...ofOrg(501)].sort());
    expect(bolt.every((b) => b.classified)).toBe(true);
    const after = JSON.parse((await gapmap(['connectors', 'unmapped', 'desk', '--json'])).stdout) as Array<{
      organization: string;
    }>;
    expect(after.map((g) => g.organization).sort()).toEqual(['@unknown.example', 'Org D']);
    const conn = JSON.parse((await gapmap(['connectors', 'list', '--json'])).stdout);
    expect(conn[0].mapping.organizations).toEqual({ 'Org A': 'acme', 'org b': 'bolt' });

    // A ticket of Org B changed at the source now comes through the mapping, as an update of the one stored by `map`.
    const changed = ofOrg(501)[0]!;
    server.updateTicket(Number(changed), { tags: ['rota', 'moved'] });
    const again = JSON.parse((await gapmap(['connectors', 'run', 'desk', '--json'])).stdout);
    expect(again.counts).toEqual({ new: 0, updated: 1, unchanged: 0, failed: 0 });
    const count = await q<{ n: string }>(`select count(*) n from items where external_id = $1`, [changed]);
    expect(count[0]!.n).toBe('1');
  });

  it('run --wait with queues enqueues the run for a worker and returns once it is classified', async () => {
    const config = testConfig({ DATABASE_URL: t.url, REDIS_URL });
    const workers: RunningWorkers = await startWorkers(config, t.handle, { port: 0, log: () => {} });
    try {
      server.addTickets(5);
      const env = { REDIS_URL, GAPMAP_QUEUE_PREFIX: config.queuePrefix };
      const out = JSON.parse((await gapmap(['connectors', 'run', 'desk', '--wait', '--json'], env)).stdout);
      const added = server.data.tickets
        .slice(-5)
        .filter((x) => [500, 501, 502].includes(x.organization_id ?? -1)).length;
      expect(out).toMatchObject({
        source: 'connector:desk',
        kind: 'connector',
        status: 'done',
        counts: { items_new: added },
      });
      expect(out.duration_ms).toEqual(expect.any(Number));
      const pending = await q<{ n: string }>(
        'select count(*) n from units u left join classifications c on c.unit_id = u.id where c.unit_id is null',
      );
      expect(Number(pending[0]!.n)).toBe(0);
    } finally {
      await workers.close();
    }
  });

  it('a folder run says which files it left for the next run, as they may still be being written', async () => {
    const dir = tempDir('gapmap-fresh-');
    fs.writeFileSync(
      path.join(dir, 'export.jsonl'),
      JSON.stringify({ id: 99001, customer: 'acme', subject: 'Hi', description: 'Hello' }) + '\n',
    );
    await gapmap(['connectors', 'add', 'fresh', '--kind', 'folder', '--path', dir]);
    const first = await gapmap(['connectors', 'run', 'fresh']);
    expect(first.stdout).toMatch(/0 new, 0 updated, 0 unchanged, 0 failed/);
    expect(first.stdout).toContain(
      '1 file changed in the last seconds, maybe still being written, left for the next run: export.jsonl',
    );
    const json = JSON.parse((await gapmap(['connectors', 'run', 'fresh', '--json'])).stdout);
    expect(json.pending).toEqual(['export.jsonl']);
    await gapmap(['connectors', 'remove', 'fresh']);
  });

  it('remove drops the connector; running it then names the ones there are', async () => {
    await gapmap(['connectors', 'add', 'drop', '--kind', 'folder', '--path', home]);
    const removed = await gapmap(['connectors', 'remove', 'desk']);
    expect(removed.stdout).toMatch(/connector desk removed/);
    const err = await fails(['connectors', 'run', 'desk']);
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/no connector named "desk": expected one of "drop"/);
    expect((await q('select 1 from connector_unmapped')).length).toBe(0);
    // What it imported stays.
    expect((await q('select 1 from items')).length).toBeGreaterThan(0);
  });
});
