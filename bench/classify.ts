/**
 * npm run bench:classify [-- --units N] [-- --rounds R] [-- --chunk C] [-- --bundle <folder>]... [-- --embedder bundled|hf:<id>|openai:<model>]
 * Units per second of the classify stage (embed + job, kind and sentiment heads, in batches per
 * customer as the worker runs it), in memory and as the pipeline runs it on PostgreSQL (read
 * units, classify, write tags), next to the bare embedder on the same texts; plus start-up time,
 * the stage's own work (the first round again with cached embeddings), a customer with
 * corrections' first batch in a process (its own heads trained, or loaded from PostgreSQL), CPU
 * time per unit split by thread (main, the model's, V8's helpers; and PostgreSQL's own processes)
 * and peak memory (max RSS).
 * The machine is shared, and its speed swings by a third within seconds: R rounds (default 3), each
 * on N texts of its own (so every cache starts cold), split into chunks of C batches (`--chunk`,
 * default 8); the measurements take turns chunk by chunk, in an order that rotates from chunk to
 * chunk, so each is timed next to the others under the same load. A round's ratios are of its
 * summed times; the figures are the medians of the rounds' ratios and the ratios of all rounds'
 * summed times. The bare embedder runs twice, one call at a time and with the stage's
 * CLASSIFY_CONCURRENCY calls in hand; the ratios are to the faster of the two. Texts come from
 * the labels.jsonl of the given bundle folders (by default the three sets in ../shared/data), taken
 * round-robin so short and long units mix as in a real import.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import { createEmbedder } from '../classifiers/embedders.ts';
import { createClassifier } from '../classifiers/index.ts';
import type { CustomerContext, RegressionChoice, UnitInput } from '../classifiers/types.ts';
import type { JobDef } from '../ingest/types.ts';
import pg from 'pg';
import { openDb } from '../db/client.ts';
import {
  customerHeadsStore,
  customerKeyMap,
  emptyCounts,
  pendingUnitIds,
  upsertCustomers,
} from '../db/queries.ts';
import { units } from '../db/schema/index.ts';
import { storeItems } from '../app/store.ts';
import { loadConfig } from '../app/env.ts';
import { CLASSIFY_CONCURRENCY, runJob } from '../workers/processors.ts';
import { mapLimit } from '../ingest/connectors/http.ts';
import { postgresCpuMs, threadsCpuMs } from './proc-cpu.ts';

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const limit = Number(arg('--units') ?? 0) || 2000;
/** Batches per chunk: the runs take turns at this grain (see the rounds below). */
const CHUNK = Math.max(1, Number(arg('--chunk') ?? 0) || 8);
const roundsWanted = Math.max(1, Number(arg('--rounds') ?? 0) || 3);
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
for (let i = 0; rows.length < limit * roundsWanted && perBundle.some((b) => i < b.length); i++) {
  for (const b of perBundle) {
    const r = b[i];
    if (r && !seen.has(r.unit.text) && rows.length < limit * roundsWanted) {
      seen.add(r.unit.text);
      rows.push(r);
    }
  }
}
// Rounds of `per` texts each; fewer rounds when the bundles hold fewer distinct texts.
const rounds = Math.max(1, Math.min(roundsWanted, Math.floor(rows.length / Math.min(limit, rows.length))));
const per = Math.floor(rows.length / rounds);
const slices = Array.from({ length: rounds }, (_, r) =>
  rows.filter((_, i) => i % rounds === r).slice(0, per),
);
const chars = rows.reduce((s, r) => s + r.unit.text.length, 0);

const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
const rate = (n: number, ms: number) => (n * 1000) / ms;
const fmt = (x: number) => x.toFixed(1);
const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const config = loadConfig({ ...process.env });
const BATCH = config.classifyBatch;

let t = performance.now();
/** This process's threads (Linux; empty elsewhere). */
function threadIds(): string[] {
  try {
    return readdirSync('/proc/self/task');
  } catch {
    return [];
  }
}
const threadsBefore = new Set(threadIds());
// One model for all: each classifier wraps it in its own (cold) cache, the bare runs use it directly.
const bare = await createEmbedder({ embedder: spec, modelDir: process.env.GAPMAP_MODEL_DIR });
/** The threads the embedder started (its sessions' worker threads): the model's. */
const modelThreads = threadIds().filter((id) => !threadsBefore.has(id));
const classifier = await createClassifier({ embedder: spec, modelDir: process.env.GAPMAP_MODEL_DIR }, bare);
const startup = performance.now() - t;
await bare.embed(['warm up the model once']);
/** One call through a classifier's heads, so the timings after it do not include their first use. */
const warmUp = (c: typeof classifier) =>
  c.classify([{ id: 0, text: 'warm up the heads once', sourceType: 'survey' }], {
    customerKey: 'warm',
    jobs: [],
  });
await warmUp(classifier);

// Once per customer and process: embed the job texts, fit the job head. Timed on its own, since it
// does not grow with the number of units.
const choices = new Map<string, RegressionChoice>();
t = performance.now();
for (const [key, c] of contexts) {
  await classifier.classify([{ id: 0, text: `set up ${key}`, sourceType: 'survey' }], {
    ...c,
    onRegressions: (choice) => choices.set(key, choice),
  });
}
const setupMs = performance.now() - t;
// The same in a restarted worker (a classifier of its own, cold caches), once as the first time and
// once handed the regression choices the pipeline keeps (customer_job_head) instead of
// cross-validating again; both after the first, so both have the warmed-up code.
async function restartedSetup(kept: boolean): Promise<number> {
  const fresh = await createClassifier({ embedder: spec, modelDir: process.env.GAPMAP_MODEL_DIR }, bare);
  await warmUp(fresh);
  const t0 = performance.now();
  for (const [key, c] of contexts) {
    await fresh.classify([{ id: 0, text: `set up ${key}`, sourceType: 'survey' }], {
      ...c,
      regressions: kept ? choices.get(key) : undefined,
    });
  }
  return performance.now() - t0;
}
const againSetupMs = await restartedSetup(false);
const keptSetupMs = await restartedSetup(true);

/** A slice's units per customer in batches of BATCH, as the pipeline makes them. */
function batchesOf(slice: Row[]): [string, Row[]][] {
  const byCustomer = new Map<string, Row[]>();
  for (const r of slice) {
    const list = byCustomer.get(r.customer);
    if (list) list.push(r);
    else byCustomer.set(r.customer, [r]);
  }
  const out: [string, Row[]][] = [];
  for (const [key, list] of byCustomer)
    for (let i = 0; i < list.length; i += BATCH) out.push([key, list.slice(i, i + BATCH)]);
  return out;
}

interface Timing {
  ms: number;
  /** CPU time of this process, all threads. */
  cpu: number;
  /** CPU time of the model's threads (0 where /proc cannot show them). */
  model: number;
  /** CPU time of this process's main thread (0 where /proc cannot show it). */
  main: number;
  /** CPU time of the machine's PostgreSQL processes (0 where /proc cannot show them). */
  pg: number;
}
/** The main thread's id is the process id. */
const mainThread = [String(process.pid)];
async function timed(run: () => Promise<unknown>): Promise<Timing> {
  // The scan of /proc for PostgreSQL's processes outside this process's measured CPU and time.
  const pg0 = postgresCpuMs();
  const main0 = threadsCpuMs(mainThread);
  const model0 = threadsCpuMs(modelThreads);
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const ms = performance.now() - t0;
  const used = cpuMs(process.cpuUsage(cpu));
  const main = threadsCpuMs(mainThread) - main0;
  return { ms, cpu: used, main, model: threadsCpuMs(modelThreads) - model0, pg: postgresCpuMs() - pg0 };
}

const admin = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `gapmap_bench_classify_${process.pid}`;
const adminClient = new pg.Client({ connectionString: admin });
await adminClient.connect();
await adminClient.query(`create database ${dbName}`);
await adminClient.end();
const dbUrl = new URL(admin);
dbUrl.pathname = `/${dbName}`;
const handle = await openDb({ databaseUrl: dbUrl.toString(), home: '/nonexistent' });
const results: {
  oneAtATime: Timing;
  inHand: Timing;
  /** The faster of the two bare runs. */
  bare: Timing;
  memory: Timing;
  db: Timing;
  left: number;
}[] = [];
/** The median pass of re-classifying the first round with cached embeddings. */
let again: Timing | undefined;
/** Max RSS when the rounds were done, before the classifiers the heads line builds. */
let roundsRss = 0;
let headsTrained = { ms: 0, trained: 0 };
let headsLoaded = { ms: 0, trained: 0 };
try {
  const keyOf = (k: string) => `c${[...contexts.keys()].indexOf(k)}`;
  await upsertCustomers(
    handle.db,
    [...contexts].map(([k, c]) => ({ key: keyOf(k), name: k, jobs: c.jobs })),
  );
  const customerIds = await customerKeyMap(handle.db);
  const counts = emptyCounts();
  const all = slices.flat();
  await storeItems(handle.db, {
    runId: 0,
    customers: customerIds,
    counts,
    items: all.map((r, i) => ({
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
  const unitIdOf = new Map(
    (await handle.db.select({ id: units.id, ref: units.ref }).from(units)).map((u) => [u.ref, u.id]),
  );
  const refOf = new Map(all.map((r, i) => [r, `survey:bench-${i}`]));
  // The pipeline's classifier: a second one, with a cache and job models of its own.
  const stage = await createClassifier({ embedder: spec, modelDir: process.env.GAPMAP_MODEL_DIR }, bare);
  const rt = {
    db: handle.db,
    config: loadConfig({ ...process.env, DATABASE_URL: dbUrl.toString() }),
    classifier: async () => stage,
    enqueue: async () => {},
  };
  // Per-customer set-up happens once per worker process; keep it out of the rates as above.
  for (const [key, c] of contexts) {
    await stage.classify([{ id: 0, text: `set up ${key}`, sourceType: 'survey' }], {
      customerKey: String(customerIds.get(keyOf(key))!),
      jobs: c.jobs,
      examples: [],
    });
  }

  const add = (a: Timing, b: Timing): Timing => ({
    ms: a.ms + b.ms,
    cpu: a.cpu + b.cpu,
    main: a.main + b.main,
    model: a.model + b.model,
    pg: a.pg + b.pg,
  });
  const zero = (): Timing => ({ ms: 0, cpu: 0, main: 0, model: 0, pg: 0 });
  for (let round = 0; round < rounds; round++) {
    const batches = batchesOf(slices[round]!);
    const runsOf = (part: [string, Row[]][]) => ({
      // The bare embedder on the same batches, one call at a time ...
      bare: () =>
        timed(async () => {
          for (const [, batch] of part) await bare.embed(batch.map((r) => r.unit.text));
        }),
      // ... and as the stage calls it, CLASSIFY_CONCURRENCY calls in hand (the next call's texts are
      // tokenized while the model threads run the last's): the faster of the two is the yardstick.
      bareInHand: () =>
        timed(() =>
          mapLimit(part, CLASSIFY_CONCURRENCY, ([, batch]) => bare.embed(batch.map((r) => r.unit.text))),
        ),
      // The classify stage in memory, as a worker runs it: CLASSIFY_CONCURRENCY batches in hand.
      memory: () =>
        timed(() =>
          mapLimit(part, CLASSIFY_CONCURRENCY, ([key, batch]) =>
            classifier.classify(
              batch.map((r) => r.unit),
              contexts.get(key)!,
            ),
          ),
        ),
      // The whole stage on PostgreSQL: read the units, classify, write the tags (workers/processors.ts).
      db: () =>
        timed(() =>
          mapLimit(part, CLASSIFY_CONCURRENCY, ([, batch]) =>
            runJob('classify', { unitIds: batch.map((r) => unitIdOf.get(refOf.get(r)!)!) }, rt),
          ),
        ),
    });
    // The four runs take turns chunk by chunk (CHUNK batches, a couple of seconds each), in an
    // order that rotates from chunk to chunk: this machine's speed swings by a third within
    // seconds, and runs a whole round apart compared those swings more than the stage.
    const names = ['bare', 'bareInHand', 'memory', 'db'] as const;
    const got: Record<(typeof names)[number], Timing> = {
      bare: zero(),
      bareInHand: zero(),
      memory: zero(),
      db: zero(),
    };
    for (let c = 0, turn = round; c < batches.length; c += CHUNK, turn++) {
      const runs = runsOf(batches.slice(c, c + CHUNK));
      for (let k = 0; k < names.length; k++) {
        const name = names[(k + turn) % names.length]!;
        got[name] = add(got[name], await runs[name]());
      }
    }
    const left = (await pendingUnitIds(handle.db)).length - (rounds - round - 1) * per;
    const best = got.bare.ms <= got.bareInHand.ms ? got.bare : got.bareInHand;
    results.push({
      oneAtATime: got.bare,
      inHand: got.bareInHand,
      bare: best,
      memory: got.memory,
      db: got.db,
      left,
    });
  }

  roundsRss = process.resourceUsage().maxRSS;
  // Re-classifying units (after a correction elsewhere): the first round's batches again, every
  // embedding from the cache, so only the stage's own work runs; the median of three passes.
  const firstRound = batchesOf(slices[0]!);
  const passes: Timing[] = [];
  for (let k = 0; k < 3; k++)
    passes.push(
      await timed(() =>
        mapLimit(firstRound, CLASSIFY_CONCURRENCY, ([key, batch]) =>
          classifier.classify(
            batch.map((r) => r.unit),
            contexts.get(key)!,
          ),
        ),
      ),
    );
  again = passes.sort((a, b) => a.ms - b.ms)[1]!;

  // A customer with corrections: a process's first batch of it trains the customer's own kind and
  // sentiment heads, or loads those an earlier process kept in PostgreSQL (customer_heads).
  const [firstKey, firstContext] = [...contexts][0]!;
  const firstId = customerIds.get(keyOf(firstKey))!;
  const reviewed = {
    ...firstContext,
    customerKey: String(firstId),
    examples: [
      {
        text: 'The monthly export takes ages and times out twice.',
        kind: 'friction' as const,
        sentiment: 'negative' as const,
      },
      {
        text: 'Paying online from the reminder email is so easy.',
        kind: 'high_point' as const,
        sentiment: 'positive' as const,
      },
    ],
    headsStore: customerHeadsStore(handle.db, firstId),
  };
  const firstBatch = async () => {
    // Heads of its own from these two decisions (a customer has them from OWN_HEADS_FROM).
    const fresh = await createClassifier(
      { embedder: spec, modelDir: process.env.GAPMAP_MODEL_DIR, ownHeadsFrom: { kind: 1, sentiment: 1 } },
      bare,
    );
    await warmUp(fresh);
    // Its job head first (the corrections do not change it), so the time below is the heads'.
    await fresh.classify([{ id: 0, text: 'set up', sourceType: 'survey' }], { ...reviewed, examples: [] });
    const t0 = performance.now();
    await fresh.classify([{ id: 0, text: 'one unit', sourceType: 'survey' }], reviewed);
    return { ms: performance.now() - t0, trained: fresh.customerHeadsTrained };
  };
  headsTrained = await firstBatch();
  headsLoaded = await firstBatch();
  await stage.close();
} finally {
  await handle.close();
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`drop database if exists ${dbName} with (force)`);
  await c.end();
}

console.log(`classify bench: ${classifier.name} ${classifier.version}`);
console.log(
  `  ${rounds} rounds of ${per} units (${(chars / rows.length).toFixed(0)} characters on average) from ${bundles.join(', ')}; batches of ${BATCH}, ${CLASSIFY_CONCURRENCY} in hand`,
);
console.log(`  start-up (load model, heads): ${(startup / 1000).toFixed(1)} s`);
console.log(
  `  per-customer set-up (job texts, job head), once per process: ${(setupMs / 1000).toFixed(1)} s for ${contexts.size} customers` +
    ` (${choices.size} cross-validated the regressions); in a restarted worker ${(againSetupMs / 1000).toFixed(1)} s, ` +
    `handed the regression choices the pipeline kept ${(keptSetupMs / 1000).toFixed(1)} s`,
);
results.forEach((r, i) => {
  console.log(
    `  round ${i + 1}: bare embedder ${fmt(rate(per, r.oneAtATime.ms))} units/s one call at a time, ${fmt(rate(per, r.inHand.ms))} with ${CLASSIFY_CONCURRENCY} in hand; classify in memory ${fmt(rate(per, r.memory.ms))} (${(r.bare.ms / r.memory.ms).toFixed(2)}x); ` +
      `with PostgreSQL (read, embed, heads, write) ${fmt(rate(per, r.db.ms))} (${(r.bare.ms / r.db.ms).toFixed(2)}x)` +
      (r.left > 0 ? `; ${r.left} left untagged` : ''),
  );
});
const m = (f: (r: (typeof results)[number]) => number) => median(results.map(f));
console.log(
  `  bare embedder:   ${fmt(m((r) => rate(per, r.bare.ms)))} units/s (median of the rounds, the faster way in each: ` +
    `one call at a time ${fmt(m((r) => rate(per, r.oneAtATime.ms)))}, ${CLASSIFY_CONCURRENCY} in hand ${fmt(m((r) => rate(per, r.inHand.ms)))})`,
);
console.log(
  `  classify stage in memory:        ${fmt(m((r) => rate(per, r.memory.ms)))} units/s, ${m((r) => r.bare.ms / r.memory.ms).toFixed(2)}x the bare embedder (median of the rounds' ratios)`,
);
console.log(
  `  classify stage with PostgreSQL:  ${fmt(m((r) => rate(per, r.db.ms)))} units/s, ${m((r) => r.bare.ms / r.db.ms).toFixed(2)}x the bare embedder (median of the rounds' ratios)`,
);
/** A figure summed over all rounds. */
const total = (f: (r: (typeof results)[number]) => number) => results.reduce((s, r) => s + f(r), 0);
console.log(
  `  all rounds' summed times: classify in memory ${(total((r) => r.bare.ms) / total((r) => r.memory.ms)).toFixed(2)}x, ` +
    `with PostgreSQL ${(total((r) => r.bare.ms) / total((r) => r.db.ms)).toFixed(2)}x the bare embedder`,
);
// Wall-clock rates depend on what else runs on the machine; CPU time per unit (all threads of this
// process, and apart from it PostgreSQL's own processes) does much less, and gives the rate on
// idle cores.
const cores = availableParallelism();
const memCpu = m((r) => r.memory.cpu / per);
console.log(
  `  CPU time per unit: bare ${m((r) => r.bare.cpu / per).toFixed(2)} ms, in memory ${memCpu.toFixed(2)} ms, with PostgreSQL ${m((r) => r.db.cpu / per).toFixed(2)} ms` +
    ` (and PostgreSQL's own processes ${m((r) => r.db.pg / per).toFixed(2)} ms)` +
    ` -> on ${cores} idle cores about ${fmt(cores * (1000 / memCpu))} units/s in memory (load average now ${loadavg()[0]!.toFixed(1)})`,
);
// The main thread tokenizes, runs the heads and talks to PostgreSQL while the model threads embed:
// on a machine whose cores the model threads fill, its work takes their time.
// The rest of the process's CPU: V8's helper threads (garbage collection, the compiler) and libuv's.
// Each part's median over the rounds; the rest's is the median of each round's rest (the rest of
// the medians mixed figures of different rounds).
const split = (f: (r: (typeof results)[number]) => Timing) =>
  `main thread ${m((r) => f(r).main / per).toFixed(2)}, model threads ${m((r) => f(r).model / per).toFixed(2)}, ` +
  `others ${m((r) => (f(r).cpu - f(r).main - f(r).model) / per).toFixed(2)}`;
console.log(
  `  of which (ms per unit): bare ${split((r) => r.bare)}; in memory ${split((r) => r.memory)}; with PostgreSQL ${split((r) => r.db)}` +
    ` (threads read from /proc in 10 ms ticks, chunk by chunk: about ±0.02 ms)`,
);
// When the model threads fill the cores, the ratios follow the CPU per unit: what the stage adds to
// the bare embedder's CPU is what a target ratio leaves it. PostgreSQL's processes count for the
// path that uses them (their background work can spill into the next path's turn).
const cpuOf = (f: (r: (typeof results)[number]) => number) => total(f) / (results.length * per);
const bareCpu = cpuOf((r) => r.bare.cpu);
console.log(
  `  CPU the stage adds to the bare embedder's ${bareCpu.toFixed(2)} ms per unit (all rounds):` +
    ` in memory ${(cpuOf((r) => r.memory.cpu) - bareCpu).toFixed(2)} ms,` +
    ` with PostgreSQL ${(cpuOf((r) => r.db.cpu + r.db.pg) - bareCpu).toFixed(2)} ms (its processes included);` +
    ` 0.9x leaves it ${(bareCpu / 0.9 - bareCpu).toFixed(2)} ms where the model threads fill the cores`,
);
if (again)
  console.log(
    `  re-classify the first round (cached embeddings: the stage's own work): ${fmt(rate(per, again.ms))} units/s,` +
      ` CPU ${(again.cpu / per).toFixed(3)} ms per unit (main thread ${(again.main / per).toFixed(3)})`,
  );
console.log(
  `  a customer with corrections, first batch in a process: its own kind and sentiment heads trained in ${(headsTrained.ms / 1000).toFixed(2)} s` +
    ` (${headsTrained.trained} trained), loaded from PostgreSQL in ${(headsLoaded.ms / 1000).toFixed(2)} s (${headsLoaded.trained} trained)`,
);
console.log(
  `  peak memory (max RSS): ${mb(roundsRss)} through the rounds, ${mb(process.resourceUsage().maxRSS)} at the end` +
    ` (with the two more classifiers of the heads line)`,
);
await classifier.close();
