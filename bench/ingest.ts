/**
 * npm run bench:ingest [-- --tickets N]
 * Imports a generated tickets.jsonl (100,000 tickets by default) into a fresh PostgreSQL database
 * through the real importer, then loads the same rows with a plain COPY into a bare table, in the
 * same run, and prints both rates and the importer's peak memory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { openDb } from '../db/client.ts';
import { runImport } from '../app/importer.ts';
import { upsertCustomers } from '../db/queries.ts';

const args = process.argv.slice(2);
const n = Number(args[args.indexOf('--tickets') + 1] ?? 0) || 100_000;
const admin = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `gapmap_bench_${process.pid}`;

const words =
  'booking table guest staff rota invoice payment refund export calendar reminder deposit class member shift report'.split(
    ' ',
  );
function sentence(i: number): string {
  const w = (k: number) => words[(i * 7 + k * 13) % words.length];
  return `The ${w(1)} ${w(2)} page does not show the ${w(3)} for ${w(4)} number ${i}, and we have to redo the ${w(5)} by hand.`;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gapmap-bench-'));
const file = path.join(dir, 'tickets.jsonl');
{
  const out = fs.createWriteStream(file);
  for (let i = 1; i <= n; i++) {
    const t = {
      id: 1_000_000 + i,
      customer: `customer-${i % 20}`,
      created_at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
      subject: `Question about ${words[i % words.length]} ${i}`,
      description: sentence(i),
      tags: [words[i % 5]!, words[(i + 3) % 7]!],
      group: ['Support', 'Billing', 'Onboarding'][i % 3],
      comments: [
        { author_role: 'agent', body: 'Thanks, looking into it.', created_at: '2026-01-02T00:00:00Z' },
      ],
    };
    if (!out.write(JSON.stringify(t) + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(r));
}
const mb = (fs.statSync(file).size / 1e6).toFixed(1);

const client = new pg.Client({ connectionString: admin });
await client.connect();
await client.query(`drop database if exists ${dbName} with (force)`);
await client.query(`create database ${dbName}`);
await client.end();
const url = new URL(admin);
url.pathname = `/${dbName}`;

try {
  const handle = await openDb({ databaseUrl: url.toString(), home: dir });
  await upsertCustomers(
    handle.db,
    Array.from({ length: 20 }, (_, i) => ({ key: `customer-${i}`, name: `Customer ${i}`, jobs: [] })),
  );
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const t0 = performance.now();
  const res = await runImport(handle.db, { path: file });
  const importSecs = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const units = res.counts.unitsNew;

  // The same rows with COPY: the floor of what PostgreSQL can take in, with no checks or upserts.
  await handle.pool!.query(
    'create table copy_units (ref text primary key, customer text, occurred_at timestamptz, text text, meta jsonb)',
  );
  const conn = await handle.pool!.connect();
  const t1 = performance.now();
  try {
    const copy = conn.query(copyFrom('copy copy_units from stdin (format csv)'));
    async function* rows() {
      const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
      for await (const line of lines) {
        if (!line) continue;
        const t = JSON.parse(line);
        const cells = [
          `ticket:${t.id}`,
          t.customer,
          t.created_at,
          `${t.subject}\n${t.description}`,
          JSON.stringify({ tags: t.tags, group: t.group }),
        ];
        yield cells.map((c) => `"${String(c).replace(/"/g, '""')}"`).join(',') + '\n';
      }
    }
    await pipeline(Readable.from(rows()), copy);
  } finally {
    conn.release();
  }
  const copySecs = (performance.now() - t1) / 1000;
  await handle.close();

  const rate = units / importSecs;
  const copyRate = n / copySecs;
  console.log(`tickets: ${n} (${mb} MB), units stored: ${units}, errors: ${res.counts.errors}`);
  console.log(
    `gapmap import: ${importSecs.toFixed(1)} s, ${rate.toFixed(0)} units/s, peak RSS ${(peak / 1e6).toFixed(0)} MB`,
  );
  console.log(`plain COPY:    ${copySecs.toFixed(1)} s, ${copyRate.toFixed(0)} rows/s`);
  console.log(
    `ratio import/COPY: ${(rate / copyRate).toFixed(2)} (aim: at least 0.33), peak RSS aim: under 500 MB`,
  );
} finally {
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`drop database if exists ${dbName} with (force)`);
  await c.end();
  fs.rmSync(dir, { recursive: true, force: true });
}
