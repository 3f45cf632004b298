/**
 * npm run bench:classify [-- --units N] [-- --bundle <folder>]... [-- --embedder bundled|hf:<id>|openai:<model>]
 * Units per second of the classify stage (embed + job, kind and sentiment heads, in batches per
 * customer as the worker runs it) next to the bare embedder on the same texts, in the same run,
 * both starting with a cold embedding cache; plus start-up time and peak memory (max RSS).
 * Texts come from the labels.jsonl of the given bundle folders (by default the three sets in
 * ../shared/data), taken round-robin so short and long units mix as they do in a real import.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import { createEmbedder } from '../classifiers/embedders.ts';
import { createClassifier } from '../classifiers/index.ts';
import type { CustomerContext, UnitInput } from '../classifiers/types.ts';
import type { JobDef } from '../ingest/types.ts';
import pg from 'pg';
import { openDb } from '../db/client.ts';
import { customerKeyMap, emptyCounts, pendingUnitIds, upsertCustomers } from '../db/queries.ts';
import { storeItems } from '../app/store.ts';
import { loadConfig } from '../app/env.ts';
import { enqueueClassification, runJob } from '../workers/processors.ts';
import { CLASSIFY_CONCURRENCY } from '../workers/worker.ts';
import { mapLimit } from '../ingest/connectors/http.ts';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const limit = Number(arg('--units') ?? 0) || 2000;
const spec = arg('--embedder') ?? process.env.GAPMAP_EMBEDDER ?? 'bundled';
const bundles = args.flatMap((a, i) => (a === '--bundle' && args[i + 1] ? [args[i + 1]!] : []));
if (bundles.length === 0) {
  for (const set of ['dev-bundle', 'banking77-dev', 'airline-dev']) {
    const dir = path.resolve('..', 'shared', 'data', set);
    if (existsSync(dir)) bundles.push(dir);
  }
}
if (bundles.length === 0) {
  console.error(
    'bench:classify: no bundle folder found; pass --bundle <folder with customers.json and labels.jsonl>',
  );
  process.exit(2);
}

interface Row {
  customer: string;
  unit: UnitInput;
}
const contexts = new Map<string, CustomerContext>();
const perBundle: Row[][] = bundles.map((dir) => {
  const customers = JSON.parse(readFileSync(path.join(dir, 'customers.json'), 'utf8')) as {
    key: string;
    jobs: { key: string; statement: string; desired_outcome?: string; examples?: string[] }[];
  }[];
  for (const c of customers) {
    const jobs: JobDef[] = c.jobs.map((j) => ({
      key: j.key,
      statement: j.statement,
      desiredOutcome: j.desired_outcome ?? '',
      examples: j.examples ?? [],
    }));
    contexts.set(`${dir}#${c.key}`, { customerKey: c.key, jobs });
  }
  return readFileSync(path.join(dir, 'labels.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      const r = JSON.parse(l) as { ref: string; customer: string; text: string };
      return {
        customer: `${dir}#${r.customer}`,
        unit: { id: `${dir}:${i}`, text: r.text, sourceType: 'survey' as const },
      };
    });
});
const rows: Row[] = [];
const seen = new Set<string>();
for (let i = 0; rows.length < limit && perBundle.some((b) => i < b.length); i++) {
  for (const b of perBundle) {
    const r = b[i];
    if (r && !seen.has(r.unit.text) && rows.length < limit) {
      seen.add(r.unit.text);
      rows.push(r);
    }
  }
}
const texts = rows.map((r) => r.unit.text);
const chars = texts.reduce((s, t) => s + t.length, 0);

const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
const rate = (n: number, ms: number) => ((n * 1000) / ms).toFixed(1);

let t = performance.now();
// One model for both: the classifier wraps it in its own (cold) cache, the bare runs use it directly.
const bare = await createEmbedder({ embedder: spec, modelDir: process.env.GAPMAP_MODEL_DIR });
const classifier = await createClassifier({ embedder: spec, modelDir: process.env.GAPMAP_MODEL_DIR }, bare);
const startup = performance.now() - t;
await bare.embed(['warm up the model once']);
await classifier.classify([{ id: 0, text: 'warm up the heads once', sourceType: 'survey' }], {
  customerKey: 'warm',
  jobs: [],
});

const BATCH = 256;
const byCustomer = new Map<string, UnitInput[]>();
for (const r of rows) byCustomer.set(r.customer, [...(byCustomer.get(r.customer) ?? []), r.unit]);

// Once per customer and process: embed the job texts, fit the job head. Timed on its own, since it
// does not grow with the number of units.
t = performance.now();
for (const key of byCustomer.keys()) {
  await classifier.classify([{ id: 0, text: `set up ${key}`, sourceType: 'survey' }], contexts.get(key)!);
}
const setupMs = performance.now() - t;

// The classify stage as the worker runs it: per customer, batches of 256, two in hand at once.
let cpu = process.cpuUsage();
t = performance.now();
const jobs: [string, UnitInput[]][] = [];
for (const [key, units] of byCustomer)
  for (let i = 0; i < units.length; i += BATCH) jobs.push([key, units.slice(i, i + BATCH)]);
const classifiedPerJob = await mapLimit(
  jobs,
  CLASSIFY_CONCURRENCY,
  async ([key, batch]) => (await classifier.classify(batch, contexts.get(key)!)).length,
);
const classified = classifiedPerJob.reduce((a, b) => a + b, 0);
const classifyMs = performance.now() - t;
const classifyCpu = process.cpuUsage(cpu);

// Same batches, same order, as the classify stage saw them.
cpu = process.cpuUsage();
t = performance.now();
for (const units of byCustomer.values()) {
  for (let i = 0; i < units.length; i += BATCH)
    await bare.embed(units.slice(i, i + BATCH).map((u) => u.text));
}
const bareMs = performance.now() - t;
const bareCpu = process.cpuUsage(cpu);

// Re-classifying the same units (after a correction elsewhere): embeddings come from the cache.
const someKey = [...byCustomer.keys()][0]!;
t = performance.now();
await classifier.classify(byCustomer.get(someKey)!.slice(0, BATCH), contexts.get(someKey)!);
const again = performance.now() - t;
const againN = Math.min(BATCH, byCustomer.get(someKey)!.length);

console.log(`classify bench: ${classifier.name} ${classifier.version}`);
console.log(
  `  units: ${classified} (${(chars / texts.length).toFixed(0)} characters on average) from ${bundles.join(', ')}`,
);
console.log(`  start-up (load model, heads): ${(startup / 1000).toFixed(1)} s`);
console.log(
  `  per-customer set-up (job texts, job head), once per process: ${(setupMs / 1000).toFixed(1)} s for ${byCustomer.size} customers`,
);
console.log(`  bare embedder:   ${rate(texts.length, bareMs)} units/s`);
console.log(
  `  classify stage:  ${rate(classified, classifyMs)} units/s (${(bareMs / classifyMs).toFixed(2)}x the bare embedder)`,
);
// Wall-clock rates depend on what else runs on the machine; CPU time per unit (all threads of this
// process) does much less, and gives the rate on idle cores.
const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
const cores = availableParallelism();
console.log(
  `  CPU time per unit: bare ${(cpuMs(bareCpu) / texts.length).toFixed(1)} ms, classify ${(cpuMs(classifyCpu) / classified).toFixed(1)} ms` +
    ` -> on ${cores} idle cores about ${rate(classified * cores, cpuMs(classifyCpu))} units/s classify` +
    ` (load average now ${loadavg()[0]!.toFixed(1)})`,
);
console.log(`  re-classify (cached embeddings): ${rate(againN, again)} units/s`);

// The whole classify stage as the pipeline runs it: read the units from PostgreSQL, embed, heads,
// write the tags back (workers/processors.ts), with a second classifier whose cache is cold.
const admin = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `gapmap_bench_classify_${process.pid}`;
const adminClient = new pg.Client({ connectionString: admin });
await adminClient.connect();
await adminClient.query(`create database ${dbName}`);
await adminClient.end();
const dbUrl = new URL(admin);
dbUrl.pathname = `/${dbName}`;
const handle = await openDb({ databaseUrl: dbUrl.toString(), home: '/nonexistent' });
try {
  const keyOf = (k: string) => `c${[...contexts.keys()].indexOf(k)}`;
  await upsertCustomers(
    handle.db,
    [...contexts].map(([k, c]) => ({ key: keyOf(k), name: k, jobs: c.jobs })),
  );
  const customerIds = await customerKeyMap(handle.db);
  const counts = emptyCounts();
  await storeItems(handle.db, {
    runId: 0,
    customers: customerIds,
    counts,
    items: rows.map((r, i) => ({
      sourceType: 'survey' as const,
      externalId: `bench-${i}`,
      customerKey: keyOf(r.customer),
      occurredAt: null,
      origin: { file: 'bench', line: i + 1 },
      meta: {},
      units: [
        {
          ref: `survey:bench-${i}`,
          ordinal: 1,
          speaker: null,
          text: r.unit.text,
          occurredAt: null,
          offsetMs: null,
        },
      ],
    })),
  });
  const stage = await createClassifier({ embedder: spec, modelDir: process.env.GAPMAP_MODEL_DIR }, bare);
  // The shipped batch size (GAPMAP_CLASSIFY_BATCH, default 64) unless the environment says otherwise.
  const config = loadConfig({ ...process.env, DATABASE_URL: dbUrl.toString() });
  const rt = { db: handle.db, config, classifier: async () => stage, enqueue: async () => {} };
  // Per-customer set-up happens once per worker process; keep it out of the rate as above.
  for (const [key, c] of contexts) {
    const id = customerIds.get(keyOf(key))!;
    await stage.classify([{ id: 0, text: `set up ${key}`, sourceType: 'survey' }], {
      customerKey: String(id),
      jobs: c.jobs,
      examples: [],
    });
  }
  // The batches the pipeline makes: per customer, GAPMAP_CLASSIFY_BATCH units each.
  const batches: number[][] = [];
  await enqueueClassification(
    {
      ...rt,
      enqueue: async (name, payload) => {
        if (name === 'classify') batches.push((payload as { unitIds: number[] }).unitIds);
      },
    },
    [...customerIds.values()],
  );
  const pending = batches.flat();
  cpu = process.cpuUsage();
  t = performance.now();
  // As a worker process runs them: CLASSIFY_CONCURRENCY batches in hand at once.
  await mapLimit(batches, CLASSIFY_CONCURRENCY, (unitIds) => runJob('classify', { unitIds }, rt));
  const stageMs = performance.now() - t;
  const stageCpu = process.cpuUsage(cpu);
  const left = (await pendingUnitIds(handle.db)).length;
  console.log(
    `  classify stage with PostgreSQL (read, embed, heads, write): ${rate(pending.length, stageMs)} units/s` +
      ` (${(bareMs / (stageMs * (texts.length / pending.length))).toFixed(2)}x the bare embedder; CPU ${(cpuMs(stageCpu) / pending.length).toFixed(1)} ms/unit; ${left} left untagged)`,
  );
  await stage.close();
} finally {
  await handle.close();
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`drop database if exists ${dbName} with (force)`);
  await c.end();
}
console.log(`  peak memory (max RSS): ${mb(process.resourceUsage().maxRSS)}`);
await classifier.close();
