/**
 * npm run bench:classify-db [-- --units N] [-- --jobs J] [-- --calls C]
 *
 * What the classify stage's PostgreSQL reads and writes cost per batch for a large customer, with
 * no model running: J jobs (77 by default, ten examples each) and N units (20,000). Prints, per
 * call, the wall time, this process's CPU and PostgreSQL's processes' CPU (from /proc) of:
 * - a batch's units read (unitsForClassification) and its 256 tags written (saveClassifications);
 * - a batch's 15 anchors merged (mergeAnchors) once the customer holds ANCHOR_CAP per job;
 * - the customer's jobs and decisions read (classifyStateOf, and classifyStateKept as the stage
 *   reads them batch after batch) with 0, 1,000 and 3,000 decisions.
 * In a worker these run on the main thread next to the model's threads, where the same work takes
 * about twice the CPU (README).
 */
import { asc } from 'drizzle-orm';
import { openDb, runAsAdmin, type Db } from '../db/client.ts';
import {
  classifyStateKept,
  classifyStateOf,
  customerKeyMap,
  emptyCounts,
  mergeAnchors,
  saveClassifications,
  unitsForClassification,
  upsertCustomers,
  type UnitAnchor,
  type UnitTags,
} from '../db/queries.ts';
import { reviews, units } from '../db/schema/index.ts';
import { storeItems } from '../app/store.ts';
import { ANCHOR_CAP } from '../classifiers/types.ts';
import { postgresCpuMs } from './proc-cpu.ts';

const args = process.argv.slice(2);
const num = (name: string, def: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) || def : def;
};
const UNITS = num('--units', 20_000);
const JOBS = num('--jobs', 77);
const CALLS = num('--calls', 100);
const BATCH = 256;
const ANCHORS_PER_BATCH = 15;

const admin = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `gapmap_bench_classify_db_${process.pid}`;
const adminQuery = (statement: string) => runAsAdmin(admin, statement);

/** Per call of `f` (after a few unmeasured ones): wall ms, this process's CPU ms, PostgreSQL's CPU ms. */
async function perCall(calls: number, f: (i: number) => Promise<unknown>) {
  for (let i = 0; i < 3; i++) await f(i);
  const pg0 = postgresCpuMs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await f(i);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const pgMs = postgresCpuMs() - pg0;
  return { wall: wall / calls, node: (cpu.user + cpu.system) / 1000 / calls, pg: pgMs / calls };
}
const line = (label: string, r: { wall: number; node: number; pg: number }) =>
  console.log(
    `  ${label.padEnd(58)} wall ${r.wall.toFixed(2).padStart(6)} ms, this process ${r.node
      .toFixed(2)
      .padStart(5)} ms, PostgreSQL ${r.pg.toFixed(2).padStart(5)} ms`,
  );

await adminQuery(`create database ${dbName}`);
const url = new URL(admin);
url.pathname = `/${dbName}`;
const handle = await openDb({ databaseUrl: url.toString(), home: '/nonexistent' });
const db: Db = handle.db;
try {
  const jobKeys = Array.from({ length: JOBS }, (_, j) => `job-${j}`);
  await upsertCustomers(db, [
    {
      key: 'large',
      name: 'A large customer',
      jobs: jobKeys.map((key, j) => ({
        key,
        statement: `Send the monthly statement for account type ${j} without chasing anyone`,
        desiredOutcome: `Statements of type ${j} go out on the first working day`,
        examples: Array.from(
          { length: 10 },
          (_, e) => `Example ${e}: the type ${j} statements went out late again`,
        ),
      })),
    },
  ]);
  const customers = await customerKeyMap(db);
  const customerId = customers.get('large')!;
  const text = (i: number) =>
    `Ticket ${i}: the export for statement type ${i % JOBS} stopped halfway and the totals do not match the bank.`;
  for (let start = 0; start < UNITS; start += 5000) {
    await storeItems(db, {
      runId: 0,
      customers,
      counts: emptyCounts(),
      items: Array.from({ length: Math.min(5000, UNITS - start) }, (_, k) => {
        const i = start + k;
        return {
          sourceType: 'survey' as const,
          externalId: `s-${i}`,
          customerKey: 'large',
          occurredAt: null,
          origin: { file: 'bench', line: i + 1 },
          meta: { score: i % 11 },
          units: [
            {
              ref: `survey:s-${i}`,
              ordinal: 1,
              speaker: null,
              text: text(i),
              occurredAt: null,
              offsetMs: null,
            },
          ],
        };
      }),
    });
  }
  const all = await db
    .select({ id: units.id, contentHash: units.contentHash })
    .from(units)
    .orderBy(asc(units.id));
  const batches = Array.from({ length: Math.floor(all.length / BATCH) }, (_, b) =>
    all.slice(b * BATCH, (b + 1) * BATCH),
  );
  console.log(
    `classify-db bench: one customer with ${JOBS} jobs and ${all.length} units; batches of ${BATCH}; per call:`,
  );

  const tagsOf = (batch: typeof all): UnitTags[] =>
    batch.map((u, i) => ({
      unitId: u.id,
      contentHash: u.contentHash,
      job: i % 4 ? jobKeys[u.id % JOBS]! : null,
      jobConfidence: 0.5 + (i % 50) / 100,
      kind: 'friction',
      kindConfidence: 0.61,
      sentiment: 'negative',
      sentimentConfidence: 0.72,
    }));
  const tagsCall = Math.min(CALLS, batches.length);
  const readBatch = (i: number) =>
    unitsForClassification(
      db,
      batches[i]!.map((u) => u.id),
    );
  line(`a batch's units read, untagged`, await perCall(tagsCall - 3, readBatch));
  const at = new Date();
  line(
    `its ${BATCH} tags written`,
    await perCall(tagsCall - 3, (i) =>
      saveClassifications(
        db,
        { customerId, classifier: 'bench', version: '1', jobsVersion: 0, classifiedAt: at },
        tagsOf(batches[i]!),
      ),
    ),
  );
  line(`a batch's units read, tagged`, await perCall(tagsCall - 3, readBatch));

  // Anchors: every job filled to the cap, then batches of 15 of other units merged.
  let next = 0;
  const anchorOf = (confidence: number): UnitAnchor => {
    const u = all[next % all.length]!;
    next++;
    return { text: '', job: jobKeys[u.id % JOBS]!, confidence, unitId: u.id, contentHash: u.contentHash };
  };
  while (next < JOBS * ANCHOR_CAP * 1.5)
    await mergeAnchors(
      db,
      customerId,
      Array.from({ length: 100 }, (_, k) => anchorOf(0.5 + ((next + k) % 97) / 200)),
    );
  line(
    `${ANCHORS_PER_BATCH} anchors merged (${JOBS * ANCHOR_CAP} kept)`,
    await perCall(CALLS, () =>
      mergeAnchors(
        db,
        customerId,
        Array.from({ length: ANCHORS_PER_BATCH }, (_, k) => anchorOf(0.5 + ((next + k) % 97) / 200)),
      ),
    ),
  );

  // The customer's state with more and more decisions.
  let decided = 0;
  for (const target of [0, 1000, 3000]) {
    while (decided < Math.min(target, all.length)) {
      const rows = all.slice(decided, Math.min(target, decided + 500)).map((u, k) => ({
        customerId,
        unitId: u.id,
        action: (decided + k) % 2 ? 'set_job' : 'set_kind',
        value: (decided + k) % 2 ? jobKeys[(decided + k) % JOBS] : 'friction',
        who: 'bench@team.example',
      }));
      await db.insert(reviews).values(rows);
      decided += rows.length;
    }
    line(
      `jobs and ${decided} decisions read whole (classifyStateOf)`,
      await perCall(CALLS / 2, () => classifyStateOf(db, customerId)),
    );
    line(
      `the same kept, unchanged (classifyStateKept)`,
      await perCall(CALLS / 2, () => classifyStateKept(db, customerId)),
    );
  }
} finally {
  await handle.close();
  await adminQuery(`drop database if exists ${dbName} with (force)`);
}
