/**
 * The map page and the map API for a customer with 100,000 units. Builds a fresh PostgreSQL
 * database (the real migrations), fills it with invented units and tags by SQL, builds the map once,
 * then times repeated requests to a real `gapmap serve` server. Target: under 200 ms.
 *   npx tsx bench/map-page.ts [units] [requests]
 * PostgreSQL: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres (a database
 * gapmap_bench_<random> is created there and dropped at the end).
 */
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { sql } from 'drizzle-orm';
import { openDb, runAsAdmin } from '../db/client.ts';
import { loadConfig } from '../app/env.ts';
import { buildMap } from '../app/map.ts';
import { startServer } from '../dashboard/server.ts';

const UNITS = Number(process.argv[2] ?? 100_000);
const REQUESTS = Number(process.argv[3] ?? 100);
const ADMIN = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

// Invented feedback: templates a customer's people say again and again, with small variations.
const TEMPLATES = [
  ['friction', 'negative', 'job-a', 'Moving a booking to another day takes five clicks and a phone call'],
  ['friction', 'neutral', 'job-a', 'The calendar does not show which van is free after lunch'],
  [
    'value_gap',
    'negative',
    'job-a',
    'We cannot take a deposit when a client books online so no-shows cost us',
  ],
  [
    'value_gap',
    'negative',
    'job-b',
    'Looking at other tools because recurring visits break when one is moved',
  ],
  ['touchpoint', 'neutral', 'job-b', 'Clients get the reminder text two days before the visit'],
  ['high_point', 'positive', 'job-b', 'The reminder brought back regulars we thought we had lost'],
  ['high_point', 'positive', 'job-c', 'Groomers love having the address and notes on their phone'],
  ['touchpoint', 'neutral', 'job-c', 'We export the week to a spreadsheet every Friday for payroll'],
  ['friction', 'negative', 'job-c', 'Payroll export misses the overtime column so we add it by hand'],
  ['other', 'positive', null, 'Thanks for the quick answer yesterday'],
  ['value_gap', 'negative', null, 'There is no way to see which clients have not rebooked in two months'],
  ['friction', 'negative', 'job-a', 'Travel time between addresses has to be blocked by hand every evening'],
] as const;

const admin = (statement: string) => runAsAdmin(ADMIN, statement);

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: at(0.5), p95: at(0.95), max: s[s.length - 1]! };
}

async function time(url: string, n: number) {
  for (let i = 0; i < 5; i++) await (await fetch(url)).arrayBuffer();
  const out: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(url);
    const body = await res.arrayBuffer();
    out.push(performance.now() - t0);
    if (!res.ok) throw new Error(`${url}: ${res.status}`);
    bytes = body.byteLength;
  }
  return { ...stats(out), bytes };
}

const name = `gapmap_bench_${randomBytes(4).toString('hex')}`;
await admin(`create database ${name}`);
const url = new URL(ADMIN);
url.pathname = `/${name}`;
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gapmap-bench-'));
const handle = await openDb({ databaseUrl: url.toString(), home });
try {
  const db = handle.db;
  const t0 = performance.now();
  await db.execute(sql`insert into customers (key, name) values ('big-co', 'Big Co')`);
  await db.execute(sql`insert into jobs (customer_id, key, statement, desired_outcome)
    select 1, k, s, o from (values
      ('job-a', 'Plan each van''s day of visits without driving back and forth', 'Minimize drive time between visits'),
      ('job-b', 'Keep regular clients on their rebooking cycle', 'Minimize regulars past their rebooking date'),
      ('job-c', 'Pay groomers right for the hours they worked', 'Minimize hours spent fixing payroll')) v(k, s, o)`);
  const tpl = JSON.stringify(TEMPLATES);
  await db.execute(sql`insert into items (customer_id, source_type, external_id, content_hash, occurred_at, origin, meta)
    select 1, 'ticket', g::text, md5(g::text), now() - (g % 90) * interval '1 day',
      jsonb_build_object('file', 'bench', 'line', g), jsonb_build_object('group', 'Group ' || (g % 4), 'tags', jsonb_build_array('tag' || (g % 7)))
    from generate_series(1, ${UNITS}) g`);
  await db.execute(sql`insert into units (item_id, customer_id, ref, ordinal, text, content_hash, occurred_at)
    select i.id, 1, 'ticket:' || i.external_id, 1,
      (${tpl}::jsonb -> (i.id % ${TEMPLATES.length}) ->> 3) || case when i.id % 3 = 0 then ', again this week.' when i.id % 3 = 1 then '.' else ' — please fix.' end,
      md5(i.id::text), i.occurred_at
    from items i`);
  await db.execute(sql`insert into classifications (unit_id, customer_id, content_hash, classifier, version, job, job_confidence, kind, kind_confidence, sentiment, sentiment_confidence)
    select u.id, 1, u.content_hash, 'bench', '1', ${tpl}::jsonb -> (u.item_id % ${TEMPLATES.length}) ->> 2, 0.5 + (u.id % 50) / 100.0,
      ${tpl}::jsonb -> (u.item_id % ${TEMPLATES.length}) ->> 0, 0.4 + (u.id % 60) / 100.0,
      ${tpl}::jsonb -> (u.item_id % ${TEMPLATES.length}) ->> 1, 0.5 + (u.id % 40) / 100.0
    from units u`);
  await db.execute(sql`analyze`);
  console.log(`filled ${UNITS} units in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // How long the build keeps this process from answering anything else (a server builds maps
  // after decisions in embedded mode): the longest the event loop waited.
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const t1 = performance.now();
  const built = await buildMap(db, 1);
  lag.disable();
  console.log(
    `built the map (${built.entries} entries from ${built.units} units) in ${((performance.now() - t1) / 1000).toFixed(1)} s; ` +
      `the event loop waited at most ${(lag.max / 1e6).toFixed(0)} ms (p99 ${(lag.percentile(99) / 1e6).toFixed(0)} ms)`,
  );

  const config = loadConfig({ DATABASE_URL: url.toString(), GAPMAP_HOME: home, REDIS_URL: '' });
  const server = await startServer({ config, handle, port: 0, host: '127.0.0.1' });
  try {
    const rows = [
      ['map page     GET /customers/big-co', await time(`${server.url}/customers/big-co`, REQUESTS)],
      [
        'map API      GET /api/customers/big-co/map',
        await time(`${server.url}/api/customers/big-co/map`, REQUESTS),
      ],
      [
        'map state    GET /api/customers/big-co/map/state',
        await time(`${server.url}/api/customers/big-co/map/state`, REQUESTS),
      ],
      [
        'map fragment GET /customers/big-co/map-fragment',
        await time(`${server.url}/customers/big-co/map-fragment`, REQUESTS),
      ],
    ] as const;
    console.log(
      `\n${UNITS} units, ${REQUESTS} sequential requests each after 5 warm-up, ${os.cpus().length} cores:`,
    );
    for (const [label, r] of rows)
      console.log(
        `${label.padEnd(52)} median ${r.median.toFixed(1).padStart(6)} ms  p95 ${r.p95.toFixed(1).padStart(6)} ms  max ${r.max.toFixed(1).padStart(6)} ms  ${(r.bytes / 1024).toFixed(0)} KB`,
      );
    const worst = Math.max(rows[0][1].p95, rows[1][1].p95);
    console.log(
      `\ntarget < 200 ms: ${worst < 200 ? 'met' : 'NOT met'} (worst p95 of page and API ${worst.toFixed(1)} ms)`,
    );
  } finally {
    await server.close();
  }
} finally {
  await handle.close();
  await admin(`drop database if exists ${name} with (force)`);
  fs.rmSync(home, { recursive: true, force: true });
}
