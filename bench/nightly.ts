/**
 * npm run bench:nightly [-- --tickets N] [--per-page N] [--no-comments] [--no-classify]
 *
 * A nightly Zendesk run over 100,000 tickets (by default) served by the test server
 * (test/helpers/fake-zendesk.ts) from a child process, so the figures are the connector's alone:
 * the export walked page by page with each ticket's comments fetched, every page stored through
 * the importer into a fresh PostgreSQL database. Prints tickets per second, the run's peak memory
 * (RSS and heap, sampled every 50 ms) and the time until every new unit is classified (the
 * embedded mode's in-process queue, with GAPMAP_EMBEDDER's classifier; lexical by default here).
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const num = (name: string, def: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) || def : def;
};
const EMAIL = 'bench@team.example';
const TOKEN = 'bench-token-0000';

if (flag('--serve')) {
  // Child: generate the help desk and serve it until the parent closes stdin.
  const { generateZendesk, startFakeZendesk } = await import('../test/helpers/fake-zendesk.ts');
  const data = generateZendesk({
    tickets: num('--serve', 100_000),
    organizations: 20,
    orphanShare: 0.02,
    replies: 2,
  });
  const server = await startFakeZendesk({ email: EMAIL, token: TOKEN, data });
  process.stdout.write(`READY ${server.url}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
} else {
  await main();
}

async function main() {
  const n = num('--tickets', 100_000);
  const perPage = num('--per-page', 1000);
  const comments = !flag('--no-comments');
  const classify = !flag('--no-classify');

  const child = spawn(process.execPath, ['bin/run-ts.js', 'bench/nightly.ts', '--serve', String(n)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the test server exited (${code}) before it was ready`)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('READY ')) resolve(line.slice(6));
    });
  });

  const { openDb, runAsAdmin } = await import('../db/client.ts');
  const admin = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const dbName = `gapmap_bench_nightly_${process.pid}`;
  const adminQuery = (statement: string) => runAsAdmin(admin, statement);
  await adminQuery(`drop database if exists ${dbName} with (force)`);
  await adminQuery(`create database ${dbName}`);
  const dbUrl = new URL(admin);
  dbUrl.pathname = `/${dbName}`;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gapmap-bench-nightly-'));

  const { upsertCustomers } = await import('../db/queries.ts');
  const { runConnector } = await import('../ingest/connectors/run.ts');
  const { createConnector } = await import('../db/connectors.ts');
  const handle = await openDb({ databaseUrl: dbUrl.toString(), home });
  try {
    const keys = Array.from({ length: 18 }, (_, i) => `customer-${i}`);
    await upsertCustomers(
      handle.db,
      keys.map((key) => ({ key, name: key, jobs: [] })),
    );
    // 18 of the 20 organizations mapped, by name; the other two and the orphans stay unmapped.
    const organizations = Object.fromEntries(keys.map((k, i) => [`Org ${String.fromCharCode(65 + i)}`, k]));
    await createConnector(handle.db, {
      name: 'bench',
      kind: 'zendesk',
      config: { baseUrl: url, email: EMAIL, perPage, comments, commentConcurrency: 16 },
      secret: TOKEN,
      mapping: { organizations },
    });

    let peakRss = 0;
    let peakHeap = 0;
    const sample = () => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    };
    sample();
    const baseRss = process.memoryUsage().rss;
    const timer = setInterval(sample, 50);
    const started = performance.now();
    let lastReport = started;
    // Where the time goes: waiting for the help desk (export page and comments) vs storing.
    let mark = started;
    let fetchMs = 0;
    let storeMs = 0;
    const res = await runConnector(
      {
        db: handle.db,
        pool: handle.pool,
        onStep: (step, page) => {
          const t = performance.now();
          if (step === 'fetched') fetchMs += t - mark;
          else storeMs += t - mark;
          mark = t;
          if (step === 'cursor-saved' && performance.now() - lastReport > 5000) {
            lastReport = performance.now();
            process.stderr.write(`  page ${page} stored (${((lastReport - started) / 1000).toFixed(0)} s)\n`);
          }
        },
      },
      'bench',
    );
    const importSecs = (performance.now() - started) / 1000;
    sample();
    const tickets =
      res.counts.itemsNew +
      res.counts.itemsUpdated +
      res.counts.itemsUnchanged +
      res.unmapped +
      res.counts.errors;
    const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
    console.log(
      `nightly run: ${tickets} tickets in ${res.pages} pages${comments ? ', comments fetched per ticket' : ''}`,
    );
    console.log(
      `  stored: ${res.counts.itemsNew} new, ${res.unmapped} kept unmapped, ${res.counts.errors} failed`,
    );
    console.log(
      `  time: ${importSecs.toFixed(1)} s, ${(tickets / importSecs).toFixed(0)} tickets/s (fetching ${(fetchMs / 1000).toFixed(1)} s, storing ${(storeMs / 1000).toFixed(1)} s)`,
    );
    console.log(`  peak memory: RSS ${mb(peakRss)} (started at ${mb(baseRss)}), heap ${mb(peakHeap)}`);

    if (classify) {
      const { loadConfig } = await import('../app/env.ts');
      const { loadClassifier } = await import('../app/classifier.ts');
      const { createInProcessRuntime } = await import('../workers/inprocess.ts');
      const { enqueueClassification } = await import('../workers/processors.ts');
      const config = loadConfig({
        ...process.env,
        DATABASE_URL: dbUrl.toString(),
        GAPMAP_HOME: home,
        GAPMAP_EMBEDDER: process.env.GAPMAP_EMBEDDER || 'lexical',
      });
      let classifier: Awaited<ReturnType<typeof loadClassifier>> | undefined;
      const rt = createInProcessRuntime({
        db: handle.db,
        config,
        classifier: async () => (classifier ??= await loadClassifier(config)),
      });
      await enqueueClassification(rt, res.touchedCustomers);
      await rt.drain();
      const all = (performance.now() - started) / 1000;
      sample();
      console.log(
        `  every new unit classified (embedder ${config.embedder}, in-process, maps built): ${all.toFixed(1)} s after the run started (${(all - importSecs).toFixed(1)} s after it ended)`,
      );
      console.log(`  peak memory including classification: RSS ${mb(peakRss)}, heap ${mb(peakHeap)}`);
    }
    clearInterval(timer);
  } finally {
    await handle.close();
    child.stdin!.end();
    await adminQuery(`drop database if exists ${dbName} with (force)`);
    fs.rmSync(home, { recursive: true, force: true });
  }
}
