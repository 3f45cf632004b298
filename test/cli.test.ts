/** The `gapmap` command as a user runs it: a real process, real PGlite files or PostgreSQL and Redis. */
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, tempDir, REDIS_URL, type TestDb } from './helpers/db.ts';
import { ticket, writeBundle } from './helpers/bundle.ts';

const run = promisify(execFile);

function gapmap(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, ['bin/gapmap.js', ...args], {
    env: { ...process.env, GAPMAP_EMBEDDER: 'lexical', DATABASE_URL: '', REDIS_URL: '', ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
}

describe('embedded mode (PGlite, no services)', () => {
  const home = tempDir();
  it('gapmap demo imports the demo bundle and prints every customer’s map', async () => {
    const { stdout } = await gapmap(['demo'], { GAPMAP_HOME: home });
    expect(stdout).toMatch(/Value Gap Map: Kiln & Co/);
    expect(stdout).toMatch(/Value Gap Map: Bramble & Bark/);
    expect(stdout).toMatch(/Points of friction/);
    expect(stdout).toMatch(/gapmap serve/);
  }, 120_000);

  it('map --json and units --json give the documented shapes, citing only existing refs', async () => {
    const { stdout: customers } = await gapmap(['customers', '--json'], { GAPMAP_HOME: home });
    const list = JSON.parse(customers) as { key: string; jobs: { key: string }[] }[];
    expect(list.map((c) => c.key).sort()).toEqual(['bramble-bark', 'kiln-and-co']);
    const key = list[0]!.key;
    const { stdout: unitsOut } = await gapmap(['units', '--customer', key, '--json'], { GAPMAP_HOME: home });
    const units = unitsOut
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(units[0]).toEqual({
      ref: expect.any(String),
      source_type: expect.any(String),
      speaker: expect.toBeOneOf([null, expect.any(String)]),
      occurred_at: expect.toBeOneOf([null, expect.any(String)]),
      offset_ms: expect.toBeOneOf([null, expect.any(Number)]),
      section: null,
      text: expect.any(String),
      tags: expect.objectContaining({
        job: expect.toBeOneOf([null, expect.any(String)]),
        kind: expect.any(String),
        sentiment: expect.any(String),
      }),
    });
    const { stdout: mapOut } = await gapmap(['map', '--customer', key, '--json'], { GAPMAP_HOME: home });
    const map = JSON.parse(mapOut);
    expect(map.rows).toEqual([
      'touchpoints',
      'high_points',
      'friction',
      'value_gaps',
      'internal_processes',
      'opportunities',
    ]);
    expect(map.columns.map((c: { job: string | null }) => c.job)).toEqual([
      ...list[0]!.jobs.map((j) => j.key),
      null,
    ]);
    const refs = new Set(units.map((u: { ref: string }) => u.ref));
    const cited = map.columns.flatMap((c: { cells: Record<string, { refs: string[] }[]> }) =>
      Object.values(c.cells).flatMap((es) => es.flatMap((e) => e.refs)),
    );
    expect(cited.length).toBeGreaterThan(0);
    expect(cited.filter((r: string) => !refs.has(r))).toEqual([]);
  }, 60_000);

  it('imports --json lists runs with counts and errors', async () => {
    const { stdout } = await gapmap(['imports', '--json'], { GAPMAP_HOME: home });
    const runs = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(runs[0]).toMatchObject({ status: 'done', counts: { errors: 0 }, errors: [] });
    expect(runs[0].counts.units_new).toBeGreaterThan(50);
  }, 60_000);

  it('users add, users list and tokens add give a server its first people', async () => {
    await gapmap(['users', 'add', '--email', 'Lead@Example.com', '--role', 'lead', '--name', 'Lea'], {
      GAPMAP_HOME: home,
    });
    const users = JSON.parse((await gapmap(['users', 'list', '--json'], { GAPMAP_HOME: home })).stdout);
    expect(users).toEqual([{ email: 'lead@example.com', name: 'Lea', role: 'lead' }]);
    const { stdout: token } = await gapmap(['tokens', 'add', '--email', 'lead@example.com', '--name', 'ci'], {
      GAPMAP_HOME: home,
    });
    expect(token.trim()).toMatch(/^\S{20,}$/);
    const bad = await gapmap(['users', 'add', '--email', 'x@example.com', '--role', 'admin'], {
      GAPMAP_HOME: home,
    }).catch((e) => e);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--role "admin": expected one of viewer, researcher, lead/);
  }, 60_000);

  it('a wrong environment value stops start-up with a message naming the variable', async () => {
    const err = await gapmap(['customers'], { GAPMAP_HOME: home, DATABASE_URL: 'mysql://localhost/x' }).catch(
      (e) => e,
    );
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/DATABASE_URL.*postgres:\/\//);
    const err2 = await gapmap(['customers'], { GAPMAP_HOME: home, GAPMAP_CLASSIFY_BATCH: 'lots' }).catch(
      (e) => e,
    );
    expect(err2.stderr).toMatch(/GAPMAP_CLASSIFY_BATCH/);
  });
});

describe('usage errors', () => {
  it('an unknown flag or command, a missing value and a bad number are bad input: exit code 2', async () => {
    const home = tempDir();
    const code = async (args: string[]) => {
      const err = await gapmap(args, { GAPMAP_HOME: home }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      return [err.code, err.stderr.split('\n')[0]];
    };
    expect(await code(['imports', '--bogus'])).toEqual([2, "error: unknown option '--bogus'"]);
    expect(await code(['nosuchcmd'])).toEqual([2, "error: unknown command 'nosuchcmd'"]);
    expect(await code(['units'])).toEqual([2, "error: required option '--customer <key>' not specified"]);
    expect(await code(['import'])).toEqual([2, "error: missing required argument 'path'"]);
    expect(await code(['serve', '--port', 'abc'])).toEqual([
      2,
      'gapmap: --port: expected a whole number from 0 to 65535, got "abc"',
    ]);
    expect(await code(['worker', '--port', '70000'])).toEqual([
      2,
      'gapmap: --port: expected a whole number from 0 to 65535, got "70000"',
    ]);
    expect(await code(['imports', '--limit', '0'])).toEqual([
      2,
      'gapmap: --limit: expected a whole number from 1 to 1000000, got "0"',
    ]);
    expect(await code(['eval', 'demo/bundle', '--confirm-fields', 'job'])).toEqual([
      2,
      'gapmap: --confirm-fields says which labels of the confirmed units are given: it needs --confirm <n>',
    ]);
    expect(await code(['eval', 'demo/bundle', '--confirm', '2', '--confirm-fields', '--json'])).toEqual([
      2,
      'gapmap: --confirm-fields needs a value (some of job, kind, sentiment separated by commas), not the flag --json',
    ]);
    expect(await code(['eval', 'demo/bundle', '--confirm', '2', '--confirm-fields', 'job,mood'])).toEqual([
      2,
      'gapmap: --confirm-fields: expected some of job, kind, sentiment separated by commas, got "job,mood"',
    ]);
    expect((await code(['import', '--help']))[0]).toBe(0);
  });
});

describe('output into a pipe', () => {
  it('a reader slower than the output gets every line, and one that stops early ends the command quietly', async () => {
    const env = { GAPMAP_HOME: tempDir() };
    // 150 tickets of about 700 characters: the units' JSON is well over a pipe's 64 KiB.
    const tickets = Array.from({ length: 150 }, (_, i) =>
      ticket({
        id: 5000 + i,
        description: `Ticket ${i}: the booking page shows the wrong table again. `.repeat(12),
      }),
    );
    await gapmap(['import', writeBundle({ tickets, transcripts: false })], env);
    const customers = JSON.parse((await gapmap(['customers', '--json'], env)).stdout) as {
      key: string;
      units: number;
    }[];
    const kiln = customers.find((c) => c.key === 'kiln-cafe')!;
    expect(kiln.units).toBeGreaterThan(150);

    const child = spawn(process.execPath, ['bin/gapmap.js', 'units', '--customer', 'kiln-cafe', '--json'], {
      env: { ...process.env, GAPMAP_EMBEDDER: 'lexical', DATABASE_URL: '', REDIS_URL: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const closed = new Promise((resolve) => child.stdout.on('close', resolve));
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    // Read nothing until the command has exited or three seconds have passed: the pipe fills, and
    // the command must not exit with lines still queued (it waits for the reader instead). A
    // 'readable' listener holds the data until read() (a paused stream without one is resumed by
    // Node when the child exits, and what it held is dropped: the test then lost lines the command
    // had written).
    let reading = false;
    const readAll = () => {
      for (let b: Buffer | null; (b = child.stdout.read() as Buffer | null) !== null;) out += b.toString();
    };
    child.stdout.on('readable', () => reading && readAll());
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
    reading = true;
    readAll();
    expect(await exited).toBe(0);
    await closed;
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(kiln.units);
    expect(lines.map((l) => JSON.parse(l).ref)).toContain('ticket:5149');
    expect(err).toBe('');

    // `| head -1`: the reader closes the pipe after the first line.
    const head = spawn(process.execPath, ['bin/gapmap.js', 'units', '--customer', 'kiln-cafe', '--json'], {
      env: { ...process.env, GAPMAP_EMBEDDER: 'lexical', DATABASE_URL: '', REDIS_URL: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let headErr = '';
    head.stderr.on('data', (b: Buffer) => (headErr += b.toString()));
    head.stdout.once('data', () => head.stdout.destroy());
    expect(await new Promise((resolve) => head.on('exit', resolve))).toBe(0);
    expect(headErr).toBe('');
  }, 120_000);
});

describe('queue mode (PostgreSQL + Redis)', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('an unreachable service or a port in use stops the command with what to do, exit code 2', async () => {
    const base = { DATABASE_URL: t.url, REDIS_URL, GAPMAP_HOME: tempDir() };
    const fails = (args: string[], env: Record<string, string>) =>
      gapmap(args, { ...base, ...env }).then(
        () => {
          throw new Error(`gapmap ${args.join(' ')} succeeded`);
        },
        (e: { code: number; stderr: string }) => e,
      );
    const missing = new URL(t.url);
    missing.pathname = '/gapmap_missing_db';
    const noDb = await fails(['customers'], { DATABASE_URL: missing.toString() });
    expect(noDb.code).toBe(2);
    expect(noDb.stderr).toMatch(
      /database "gapmap_missing_db" does not exist\. Create it first \(createdb gapmap_missing_db\)/,
    );

    // A port nothing listens on, and one a server holds.
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as AddressInfo).port;
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const free = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    try {
      const noRedis = await fails(['import', writeBundle()], { REDIS_URL: `redis://127.0.0.1:${free}` });
      expect(noRedis.code).toBe(2);
      expect(noRedis.stderr).toBe(
        `gapmap: Cannot reach Redis at redis://127.0.0.1:${free} (REDIS_URL): connect ECONNREFUSED 127.0.0.1:${free}. Is the server running?\n`,
      );
      for (const [command, who] of [
        ['serve', 'another gapmap serve?'],
        ['worker', 'another gapmap worker?'],
      ] as const) {
        const busy = await fails([command, '--port', String(taken)], { GAPMAP_EMBEDDER: 'lexical' });
        expect(busy.code).toBe(2);
        expect(busy.stderr).toContain(
          `gapmap: cannot listen on 127.0.0.1:${taken}: the port is in use (${who}); choose another with --port`,
        );
        expect(busy.stderr).not.toMatch(/Unhandled|\n\s+at /);
      }
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  }, 60_000);

  it('gapmap import only enqueues; with --wait it returns once a worker has classified everything', async () => {
    const env = {
      DATABASE_URL: t.url,
      REDIS_URL,
      GAPMAP_QUEUE_PREFIX: `cli-${Date.now()}`,
      GAPMAP_AGGREGATE_DELAY_MS: '100',
      GAPMAP_HOME: tempDir(),
    };
    // A path that is not there is said at once, not queued to fail later.
    const missing = await gapmap(['import', '/nonexistent/export.csv', '--json'], env).catch((e) => e);
    expect([missing.code, missing.stdout, missing.stderr.trim()]).toEqual([
      2,
      '',
      'gapmap: /nonexistent/export.csv: no such file or folder',
    ]);
    const dir = writeBundle();
    const enqueued = await gapmap(['import', dir, '--json'], env);
    const queued = JSON.parse(enqueued.stdout);
    expect(queued).toMatchObject({ status: 'queued' });
    // No worker runs yet: the command says the run waits for one.
    expect(enqueued.stderr).toContain(
      `gapmap: no worker is connected to this Redis (queue prefix "${env.GAPMAP_QUEUE_PREFIX}"): import run ${queued.run_id} waits in the queue until one runs (gapmap worker)`,
    );

    const port = 20000 + Math.floor(Math.random() * 20000);
    const worker = spawn(process.execPath, ['bin/gapmap.js', 'worker', '--port', String(port)], {
      env: { ...process.env, GAPMAP_EMBEDDER: 'lexical', ...env },
      stdio: 'ignore',
    });
    try {
      const { stdout } = await gapmap(['import', dir, '--wait', '--json'], env);
      const result = JSON.parse(stdout);
      expect(result.status).toBe('done');
      const { stdout: units } = await gapmap(['units', '--customer', 'kiln-cafe', '--json'], env);
      const tagged = units
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(tagged.length).toBeGreaterThan(3);
      expect(tagged.every((u: { tags: unknown }) => u.tags !== null)).toBe(true);
    } finally {
      worker.kill('SIGTERM');
    }
  }, 120_000);
});
