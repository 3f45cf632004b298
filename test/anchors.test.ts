/**
 * The job head's anchors in the pipeline: the classify stage keeps the anchors a customer's batches
 * chose (table job_anchors), and a retrain scores the few units it sends with them. Also kept
 * per customer: the job head's regression choice (table customer_job_head) and the customer's own
 * kind and sentiment heads (table customer_heads).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { createTestDb, tempDir, testConfig, type TestDb } from './helpers/db.ts';
import { openDb, RANDOM_PAGE_COST, type Db } from '../db/client.ts';
import { ROTA_REWORDED, ticket, writeBundle } from './helpers/bundle.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import {
  classifications,
  customerHeads,
  customers,
  items,
  jobAnchors,
  jobHeadChoices,
  jobs,
  reviews,
  units,
} from '../db/schema/index.ts';
import {
  batchQueries,
  classifyStateKept,
  classifyStateOf,
  customerKeyMap,
  emptyCounts,
  upsertCustomers,
  clearAnchors,
  customerAnchors,
  getCustomerByKey,
  jobsOf,
  mergeAnchors,
  reviewedExamples,
  rowsOf,
  unitsForClassification,
  saveClassifications,
  type UnitAnchor,
  type UnitTags,
} from '../db/queries.ts';
import { enqueueClassification } from '../workers/processors.ts';
import { enqueueRetrain } from '../app/retrain.ts';
import { saveJob } from '../db/reviews.ts';
import { storeItems } from '../app/store.ts';
import { createInProcessRuntime } from '../workers/inprocess.ts';
import { createLexicalClassifier } from '../classifiers/lexical.ts';
import {
  ANCHOR_CAP,
  type Classifier,
  type CustomerContext,
  type JobAnchor,
  type RegressionChoice,
} from '../classifiers/types.ts';

let t: TestDb;
let customerId: number;
const config = testConfig();

let texts: string[];
/** The kiln-cafe units by text. */
let unitByText: Map<string, { id: number; contentHash: string }>;

beforeAll(async () => {
  t = await createTestDb();
  const tickets = Array.from({ length: ANCHOR_CAP + 8 }, (_, i) =>
    ticket({ id: 801 + i, subject: `Booking ${i}`, description: `Guests book a table online, number ${i}.` }),
  );
  await importInProcessForTest(t.handle, config, {
    path: writeBundle({ tickets, surveyRows: [], transcripts: false }),
  });
  customerId = (await getCustomerByKey(t.handle.db, 'kiln-cafe'))!.id;
  const rows = await t.handle.db.select().from(units).where(eq(units.customerId, customerId));
  texts = rows.filter((u) => u.ref.startsWith('ticket:8')).map((u) => u.text);
  unitByText = new Map(rows.map((u) => [u.text, u]));
});
afterAll(async () => {
  await t?.drop();
});

/**
 * The lexical classifier, reporting `report` as the anchors each batch chose, recording the
 * contexts (and handing each to `also`).
 */
function recording(
  report: (texts: string[]) => JobAnchor[],
  also?: (context: CustomerContext) => void,
  db: Db = t.handle.db,
) {
  const lexical = createLexicalClassifier();
  const seen: CustomerContext[] = [];
  const classifier: Classifier = {
    name: lexical.name,
    version: lexical.version,
    classify: (batch, context) => {
      seen.push(context);
      context.onAnchors?.(report(batch.map((u) => u.text)));
      also?.(context);
      return lexical.classify(batch, context);
    },
  };
  return {
    seen,
    rt: createInProcessRuntime({ db, config, classifier: async () => classifier }),
  };
}

const anchor = (text: string, confidence: number, job = 'table-bookings'): JobAnchor => ({
  text,
  job,
  confidence,
});
/** An anchor as a batch's merge gives it: with the unit whose text it is. */
const unitAnchor = (text: string, confidence: number, job = 'table-bookings'): UnitAnchor => {
  const u = unitByText.get(text)!;
  return { ...anchor(text, confidence, job), unitId: u.id, contentHash: u.contentHash };
};

describe('anchors kept per customer', () => {
  it('keep the surest ANCHOR_CAP per job, one entry per text, of live units only', async () => {
    const many = texts.slice(0, ANCHOR_CAP + 5).map((text, i) => unitAnchor(text, i / 100));
    await mergeAnchors(t.handle.db, customerId, many);
    await mergeAnchors(t.handle.db, customerId, [
      unitAnchor(texts[0]!, 0.99),
      unitAnchor(texts[1]!, 0.7, 'staff-rota'),
    ]);
    const kept = await customerAnchors(t.handle.db, customerId);
    const bookings = kept.filter((a) => a.job === 'table-bookings');
    expect(bookings).toHaveLength(ANCHOR_CAP);
    // The least sure fell out, except the one a later batch was surer of.
    expect(bookings.find((a) => a.text === texts[0])!.confidence).toBe(0.99);
    expect(bookings.map((a) => a.text)).not.toContain(texts[2]);
    expect(kept.filter((a) => a.job === 'staff-rota')).toEqual([anchor(texts[1]!, 0.7, 'staff-rota')]);

    // A unit removed since teaches nothing, and the next merge drops its text from the customer.
    const removed = texts[ANCHOR_CAP + 4]!;
    expect(kept.map((a) => a.text)).toContain(removed);
    await t.handle.db.update(units).set({ deletedAt: new Date() }).where(eq(units.text, removed));
    expect((await customerAnchors(t.handle.db, customerId)).map((a) => a.text)).not.toContain(removed);
    await mergeAnchors(t.handle.db, customerId, [unitAnchor(texts[0]!, 0.99)]);
    const rowsLeft = await t.handle.db.select().from(jobAnchors).where(eq(jobAnchors.customerId, customerId));
    expect(rowsLeft.map((a) => a.unitId)).not.toContain(unitByText.get(removed)!.id);
    // The removed unit's place is not taken: the batches' other bookings anchors fell out before.
    expect(rowsLeft.filter((a) => a.job === 'table-bookings')).toHaveLength(ANCHOR_CAP - 1);
    expect(rowsLeft.filter((a) => a.job === 'staff-rota')).toHaveLength(1);
    await t.handle.db.update(units).set({ deletedAt: null }).where(eq(units.text, removed));
  });

  it('an import batch adds the anchors it chose, and a retrain scores its units with them', async () => {
    await clearAnchors(t.handle.db, customerId);
    const { seen, rt } = recording((texts) => texts.slice(0, 1).map((text) => anchor(text, 0.9)));
    // Two units to tag: the stage classifies them as one batch, which chooses its first as anchor.
    const two = (await t.handle.db.select().from(units).where(eq(units.customerId, customerId))).slice(0, 2);
    for (const u of two) await t.handle.db.delete(classifications).where(eq(classifications.unitId, u.id));
    await enqueueClassification(rt, [customerId]);
    await rt.drain();
    const stored = await customerAnchors(t.handle.db, customerId);
    expect(stored).toHaveLength(1);
    expect(two.map((u) => u.text)).toContain(stored[0]!.text);
    expect(seen.at(-1)!.anchors).toBeUndefined();

    // A correction: the retrain's units come with the stored anchors and choose none of their own.
    await t.handle.db
      .update(classifications)
      .set({ jobConfidence: 0.3 })
      .where(eq(classifications.customerId, customerId));
    await t.handle.db
      .insert(reviews)
      .values({ customerId, unitId: two[0]!.id, action: 'set_job', value: 'staff-rota', who: 'lead@test' });
    seen.length = 0;
    expect(await enqueueRetrain(rt, customerId)).toBeGreaterThan(0);
    await rt.drain();
    expect(seen.length).toBeGreaterThan(0);
    for (const context of seen) {
      expect(context.anchors).toEqual(stored);
      expect(context.onAnchors).toBeUndefined();
    }
    expect(await customerAnchors(t.handle.db, customerId)).toEqual(stored);
  });

  it('a job change forgets them: the re-tag chooses them again', async () => {
    const before = await customerAnchors(t.handle.db, customerId);
    expect(before.length).toBeGreaterThan(0);
    const { seen, rt } = recording((batch) =>
      batch
        .filter((text) => !before.some((a) => a.text === text))
        .slice(0, 1)
        .map((text) => anchor(text, 0.42)),
    );
    // A lead rewords a job: every unit is tagged again.
    await saveJob(t.handle.db, { customerId, ...ROTA_REWORDED });
    await enqueueClassification(rt, []);
    await rt.drain();
    expect(seen.length).toBeGreaterThan(0);
    const after = await customerAnchors(t.handle.db, customerId);
    expect(after.length).toBeGreaterThan(0);
    // Only what the re-tag's batches chose (sure to 0.42 here), none of the 0.9 ones from before.
    expect(after.every((a) => a.confidence === 0.42)).toBe(true);
  });
});

describe("the job head's regression choice kept per customer", () => {
  /**
   * A worker process whose classifier reports `choice` as made anew (none: it makes none), run on
   * `n` of the customer's units with their tags taken off; returns the contexts it was given.
   */
  async function tagAgain(n: number, choice?: RegressionChoice) {
    const some = (await t.handle.db.select().from(units).where(eq(units.customerId, customerId))).slice(0, n);
    for (const u of some) await t.handle.db.delete(classifications).where(eq(classifications.unitId, u.id));
    const { seen, rt } = recording(
      () => [],
      (context) => choice && context.onRegressions?.(choice),
    );
    await enqueueClassification(rt, [customerId]);
    await rt.drain();
    expect(seen.length).toBeGreaterThan(0);
    return seen;
  }
  const kept = async () =>
    (await t.handle.db.select().from(jobHeadChoices).where(eq(jobHeadChoices.customerId, customerId)))[0]
      ?.choice;

  it('a batch that makes the choice stores it, and the next process is handed it', async () => {
    expect(await kept()).toBeUndefined();
    const choice = { key: 'classifier-v1:jobs-a', texts: 24, help: true };
    const first = await tagAgain(2, choice);
    expect(first[0]!.regressions).toBeUndefined();
    expect(await kept()).toEqual(choice);

    // Another worker process: its classifier gets the kept choice and makes none of its own.
    for (const context of await tagAgain(1)) expect(context.regressions).toEqual(choice);
    expect(await kept()).toEqual(choice);

    // A choice made anew (more job texts, other jobs) replaces it.
    const anew = { key: 'classifier-v1:jobs-b', texts: 31, help: false };
    expect((await tagAgain(1, anew))[0]!.regressions).toEqual(choice);
    expect(await kept()).toEqual(anew);
  });
});

describe("the customer's own kind and sentiment heads kept per customer", () => {
  it('the classify stage hands the classifier a store in customer_heads: the latest key per customer', async () => {
    const some = (await t.handle.db.select().from(units).where(eq(units.customerId, customerId))).slice(0, 1);
    await t.handle.db.delete(classifications).where(eq(classifications.unitId, some[0]!.id));
    const bytes = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) % 256);
    const done: Promise<unknown>[] = [];
    const { seen, rt } = recording(
      () => [],
      (context) => done.push(context.headsStore!.save('v1:corrections-a', bytes)),
    );
    await enqueueClassification(rt, [customerId]);
    await rt.drain();
    await Promise.all(done);
    expect(seen.length).toBeGreaterThan(0);
    const store = seen[0]!.headsStore!;
    expect(await store.load('v1:corrections-a')).toEqual(bytes);
    expect(await store.load('v1:corrections-b')).toBeNull();
    // Other corrections: their heads replace the customer's row.
    await store.save('v1:corrections-b', bytes.subarray(0, 10));
    expect(await store.load('v1:corrections-a')).toBeNull();
    expect(await store.load('v1:corrections-b')).toEqual(bytes.subarray(0, 10));
    const rows = await t.handle.db
      .select()
      .from(customerHeads)
      .where(eq(customerHeads.customerId, customerId));
    expect(rows.map((r) => r.key)).toEqual(['v1:corrections-b']);
  });
});

describe("the customer's own heads in the embedded mode", () => {
  it('are not kept in PGlite: the classify stage hands the classifier no store there', async () => {
    const lite = await openDb({ home: tempDir() });
    try {
      await importInProcessForTest(lite, config, {
        path: writeBundle({ surveyRows: [], transcripts: false }),
      });
      const [c] = await lite.db.select().from(units).limit(1);
      await lite.db.delete(classifications);
      const { seen, rt } = recording(() => [], undefined, lite.db);
      await enqueueClassification(rt, [c!.customerId]);
      await rt.drain();
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((context) => context.headsStore === undefined)).toBe(true);
      expect(await lite.db.select().from(customerHeads)).toEqual([]);
    } finally {
      await lite.close();
    }
  });
});

/** Runs a check on the test database (PostgreSQL, the workers') or on a fresh PGlite (the embedded mode's). */
async function onDatabase(which: 'postgres' | 'pglite', check: (db: Db) => Promise<void>) {
  const lite = which === 'pglite' ? await openDb({ home: tempDir() }) : null;
  try {
    await check(lite?.db ?? t.handle.db);
  } finally {
    await lite?.close();
  }
}

describe('what the classify stage reads of a customer', () => {
  // PostgreSQL for workers, PGlite for the embedded mode: json_agg must give the same text on both.
  it.each(['postgres', 'pglite'] as const)(
    'classifyStateOf gives the jobs and decisions jobsOf and reviewedExamples give, keys in the same order (%s)',
    (which) => onDatabase(which, checkState),
  );
});

describe('anchors as rows', () => {
  it.each(['postgres', 'pglite'] as const)(
    'a merge keeps the surest per job, one row per unit, and only units with the text they were chosen for count (%s)',
    (which) => onDatabase(which, checkMerge),
  );

  it('two merges of one customer at once keep ANCHOR_CAP per job: the surest of both', async () => {
    const [c] = await t.handle.db.insert(customers).values({ key: 'merge-race', name: 'Race' }).returning();
    const made = await ticketUnits(
      t.handle.db,
      c!.id,
      'merge-race-1',
      Array.from({ length: 2 * ANCHOR_CAP }, (_, i) => `Race unit ${i}`),
    );
    // Interleaved confidences: each merge holds half of the surest ANCHOR_CAP.
    const as = made.map((u, i) => ({
      text: u.text,
      job: 'j',
      confidence: (i + 1) / (2 * ANCHOR_CAP + 1),
      unitId: u.id,
      contentHash: u.contentHash,
    }));
    await Promise.all([
      mergeAnchors(
        t.handle.db,
        c!.id,
        as.filter((_, i) => i % 2 === 0),
      ),
      mergeAnchors(
        t.handle.db,
        c!.id,
        as.filter((_, i) => i % 2 === 1),
      ),
    ]);
    const kept = await customerAnchors(t.handle.db, c!.id);
    expect(kept.map((a) => a.text).sort()).toEqual(
      as
        .slice(ANCHOR_CAP)
        .map((a) => a.text)
        .sort(),
    );
  });
});

/** Anchors merged and read back: the cap, replacing, edited and removed units, shared texts. */
async function checkMerge(db: Db) {
  const [c] = await db.insert(customers).values({ key: 'merge-check', name: 'Merge check' }).returning();
  const made = await ticketUnits(db, c!.id, 'merge-check-1', ['M0', 'M1', 'M2', 'M3', 'Same words']);
  const twin = (await ticketUnits(db, c!.id, 'merge-check-2', ['Same words']))[0]!;
  const of = (u: { id: number; text: string; contentHash: string }, job: string, confidence: number) => ({
    text: u.text,
    job,
    confidence,
    unitId: u.id,
    contentHash: u.contentHash,
  });
  const read = async () =>
    (await customerAnchors(db, c!.id)).map((a) => `${a.text} ${a.job} ${a.confidence}`);
  await mergeAnchors(db, c!.id, [
    of(made[0]!, 'a', 0.5),
    of(made[1]!, 'a', 0.1 + 0.2),
    of(made[2]!, 'b', 0.7),
  ]);
  // By job, the surest first; a confidence as the classifier gave it (a double).
  expect(await read()).toEqual(['M0 a 0.5', 'M1 a 0.30000000000000004', 'M2 b 0.7']);

  // The same unit again (a batch done twice, or chosen for another job): its row is replaced.
  await mergeAnchors(db, c!.id, [of(made[0]!, 'b', 0.9)]);
  expect(await read()).toEqual(['M1 a 0.30000000000000004', 'M0 b 0.9', 'M2 b 0.7']);

  // A unit edited since it was chosen is no anchor, and a merge into its job deletes its row.
  await db.update(units).set({ contentHash: 'edited' }).where(eq(units.id, made[1]!.id));
  expect(await read()).toEqual(['M0 b 0.9', 'M2 b 0.7']);
  await mergeAnchors(db, c!.id, [of(made[3]!, 'a', 0.2)]);
  const rows = await db.select().from(jobAnchors).where(eq(jobAnchors.customerId, c!.id));
  expect(rows.map((r) => r.unitId).sort()).toEqual([made[0]!.id, made[2]!.id, made[3]!.id].sort());

  // Two units with the same text, both chosen: one anchor, the surer.
  await mergeAnchors(db, c!.id, [of(made[4]!, 'a', 0.4), of(twin, 'a', 0.6)]);
  expect(await read()).toEqual(['Same words a 0.6', 'M3 a 0.2', 'M0 b 0.9', 'M2 b 0.7']);
  // Removed: the other one's row is the anchor now.
  await db.update(units).set({ deletedAt: new Date() }).where(eq(units.id, twin.id));
  expect(await read()).toEqual(['Same words a 0.4', 'M3 a 0.2', 'M0 b 0.9', 'M2 b 0.7']);
}

describe('what the classify stage keeps of a customer between batches', () => {
  it.each(['postgres', 'pglite'] as const)(
    'classifyStateKept gives the same arrays until the jobs, the decisions or their units change, and then what classifyStateOf gives (%s)',
    (which) => onDatabase(which, checkKeptState),
  );
});

/** classifyStateKept through the changes that must show, each against a fresh classifyStateOf. */
async function checkKeptState(db: Db) {
  await upsertCustomers(db, [
    {
      key: 'kept-state',
      name: 'Kept state',
      jobs: [{ key: 'pay', statement: 'Get paid on time', desiredOutcome: '', examples: ['Invoice sent'] }],
    },
  ]);
  const ids = await customerKeyMap(db);
  const id = ids.get('kept-state')!;
  const store = (text: string, externalId = 'kept-1') =>
    storeItems(db, {
      runId: 0,
      customers: ids,
      counts: emptyCounts(),
      items: [
        {
          sourceType: 'survey',
          externalId,
          customerKey: 'kept-state',
          occurredAt: null,
          origin: { file: 'f', line: 1 },
          meta: {},
          units: [
            {
              ref: `survey:${externalId}`,
              ordinal: 1,
              speaker: null,
              text,
              occurredAt: null,
              offsetMs: null,
            },
          ],
        },
      ],
    });
  await store('The invoice went out late');
  const [unit] = await db.select().from(units).where(eq(units.customerId, id));
  const fresh = () => classifyStateOf(db, id);

  const first = await classifyStateKept(db, id);
  expect(first).toEqual(await fresh());
  const again = await classifyStateKept(db, id);
  expect(again.jobs).toBe(first.jobs);
  expect(again.examples).toBe(first.examples);

  // A decision: new examples.
  await db
    .insert(reviews)
    .values({ customerId: id, unitId: unit!.id, action: 'set_job', value: 'pay', who: 'x' });
  const decided = await classifyStateKept(db, id);
  expect(decided.examples).not.toBe(first.examples);
  expect(decided.examples).toHaveLength(1);
  expect(decided).toEqual(await fresh());
  // A second decision on the same unit.
  await db
    .insert(reviews)
    .values({ customerId: id, unitId: unit!.id, action: 'set_kind', value: 'friction', who: 'x' });
  const twice = await classifyStateKept(db, id);
  expect(twice.examples[0]!.kind).toBe('friction');
  expect(twice).toEqual(await fresh());

  // What decides nothing about units keeps the arrays: another unit stored and its text edited, a
  // decision about a map entry.
  await store('Nobody decided on this one', 'kept-2');
  await store('Nobody decided on this one either', 'kept-2');
  await db.insert(reviews).values({ customerId: id, entryKey: 'pay/friction/x', action: 'accept', who: 'x' });
  const undecided = await classifyStateKept(db, id);
  expect(undecided.examples).toBe(twice.examples);
  expect(undecided).toEqual(await fresh());

  // The decided unit's text edited by a re-import: the example carries the new text.
  await store('The invoice went out a week late');
  const edited = await classifyStateKept(db, id);
  expect(edited.examples[0]!.text).toBe('The invoice went out a week late');
  expect(edited).toEqual(await fresh());

  // A job edited by a person.
  await saveJob(db, {
    customerId: id,
    key: 'pay',
    statement: 'Get paid within a week',
    desiredOutcome: '',
    who: 'x',
    create: false,
  });
  const reworded = await classifyStateKept(db, id);
  expect(reworded.jobs[0]!.statement).toBe('Get paid within a week');
  expect(reworded).toEqual(await fresh());

  // The regression choice is read every time, the arrays kept.
  const choice = { key: 'k', texts: 3, help: true };
  await db.insert(jobHeadChoices).values({ customerId: id, choice });
  const chosen = await classifyStateKept(db, id);
  expect(chosen.regressions).toEqual(choice);
  expect(chosen.jobs).toBe(reworded.jobs);
  expect(chosen).toEqual(await fresh());

  // The unit removed for good: its decisions go with it.
  await db.delete(units).where(eq(units.id, unit!.id));
  const gone = await classifyStateKept(db, id);
  expect(gone.examples).toEqual([]);
  expect(gone).toEqual(await fresh());

  // A decision again, then the customer deleted: its reviews go by cascade (the triggers that count
  // them find no customer to bump), and nothing is kept for it.
  const [other] = await db.select().from(units).where(eq(units.customerId, id));
  await db
    .insert(reviews)
    .values({ customerId: id, unitId: other!.id, action: 'set_job', value: 'pay', who: 'x' });
  expect((await classifyStateKept(db, id)).examples).toHaveLength(1);
  await db.delete(customers).where(eq(customers.id, id));
  expect(await db.select().from(reviews).where(eq(reviews.customerId, id))).toEqual([]);
  expect(await classifyStateKept(db, id)).toEqual({
    jobsVersion: 0,
    regressions: undefined,
    jobs: [],
    examples: [],
  });
}

describe("the classify stage's reads of a batch", () => {
  it.each(['postgres', 'pglite'] as const)(
    "find a batch's units and items by their primary keys in a database of thousands (%s)",
    (which) => onDatabase(which, checkBatchPlans),
  );

  it("a DATABASE_URL's own options replace Gapmap's planner setting", async () => {
    expect(await pageCost(t.handle.db)).toBe(String(RANDOM_PAGE_COST));
    const url = new URL(t.url);
    url.searchParams.set('options', '-c random_page_cost=3');
    const other = await openDb({ databaseUrl: url.toString(), home: '/nonexistent', migrate: false });
    try {
      expect(await pageCost(other.db)).toBe('3');
    } finally {
      await other.close();
    }
  });
});

const pageCost = async (db: Db) =>
  (await rowsOf<{ random_page_cost: string }>(db, sql`show random_page_cost`))[0]!.random_page_cost;

/**
 * 20,000 units of one customer, just imported (PostgreSQL has no statistics on them yet): with the
 * default planner costs, every batch of 256 scanned all of them; with Gapmap's, the batch's
 * statements use the units' primary key.
 */
async function checkBatchPlans(db: Db) {
  expect(await pageCost(db)).toBe(String(RANDOM_PAGE_COST));
  const [c] = await db.insert(customers).values({ key: 'plans', name: 'Plans' }).returning();
  await db.execute(sql`insert into ${items} (customer_id, source_type, external_id, content_hash, origin)
    select ${c!.id}, 'survey', 'plan-' || g, 'h', '{}' from generate_series(1, 20000) g`);
  await db.execute(sql`insert into ${units} (item_id, customer_id, ref, ordinal, text, content_hash)
    select i.id, i.customer_id, 'survey:' || i.external_id, 1, 'Unit of ' || i.external_id, 'h' || i.id
    from ${items} i where i.customer_id = ${c!.id}`);
  const ids = (
    await db.select({ id: units.id }).from(units).where(eq(units.customerId, c!.id)).limit(256)
  ).map((u) => u.id);
  for (const query of [batchQueries.units(ids), batchQueries.items(ids)]) {
    const plan = (await rowsOf<Record<string, string>>(db, sql`explain ${query}`))
      .map((r) => Object.values(r)[0])
      .join('\n');
    expect(plan).not.toMatch(/Seq Scan on units/);
    expect(plan).toMatch(/Index (Only )?Scan (using|on) units_pkey/);
  }
  expect(await unitsForClassification(db, ids)).toHaveLength(256);
}

describe("the classify stage's writes", () => {
  it.each(['postgres', 'pglite'] as const)(
    "saveClassifications stores every tag as given and replaces a unit's row (%s)",
    (which) => onDatabase(which, checkSave),
  );
});

/** A ticket of a customer's with one unit per text (content hashes h0, h1, ...): the units' rows. */
async function ticketUnits(db: Db, customerId: number, externalId: string, texts: string[]) {
  const [item] = await db
    .insert(items)
    .values({
      customerId,
      sourceType: 'ticket',
      externalId,
      contentHash: 'h',
      origin: { file: 'x', line: 1 },
      meta: {},
    })
    .returning();
  return db
    .insert(units)
    .values(
      texts.map((text, i) => ({
        itemId: item!.id,
        customerId,
        ref: `ticket:${externalId}#${i}`,
        ordinal: i,
        text,
        contentHash: `h${i}`,
      })),
    )
    .returning();
}

/** Tags with awkward text and numbers through saveClassifications, read back. */
async function checkSave(db: Db) {
  const [c] = await db.insert(customers).values({ key: 'save-check', name: 'Save check' }).returning();
  const made = await ticketUnits(db, c!.id, 'save-check-1', ['Unit 0', 'Unit 1', 'Unit 2']);
  const at = new Date('2026-12-07T10:11:12.345Z');
  const batch = {
    customerId: c!.id,
    classifier: 'c "one"',
    version: 'v1+ü',
    jobsVersion: 3,
    classifiedAt: at,
  };
  const tags = [
    { job: 'pay "suppliers" — ü\\n\t🍕', confidence: 1e-7 },
    { job: null, confidence: 0.1 + 0.2 },
    { job: 'plain', confidence: 1 },
  ].map(({ job, confidence }, i): UnitTags => ({
    unitId: made[i]!.id,
    contentHash: `hash-${i}`,
    job,
    jobConfidence: confidence,
    kind: 'friction',
    kindConfidence: 0.7071067811865476,
    sentiment: i === 2 ? 'positive' : 'negative',
    sentimentConfidence: 1 / 3,
  }));
  await saveClassifications(db, batch, tags);
  // The unit 2's row again, from another classifier: replaced, the others kept.
  const later = {
    ...batch,
    classifier: 'c2',
    version: 'v2',
    jobsVersion: 4,
    classifiedAt: new Date(at.getTime() + 1000),
  };
  await saveClassifications(db, later, [{ ...tags[2]!, job: 'other', kindConfidence: 0.25 }]);
  const rows = await db
    .select()
    .from(classifications)
    .where(eq(classifications.customerId, c!.id))
    .orderBy(classifications.unitId);
  expect(
    rows.map((r) => ({
      unitId: r.unitId,
      contentHash: r.contentHash,
      classifier: r.classifier,
      version: r.version,
      jobsVersion: r.jobsVersion,
      classifiedAt: r.classifiedAt,
      job: r.job,
      jobConfidence: Math.fround(r.jobConfidence),
      kind: r.kind,
      kindConfidence: Math.fround(r.kindConfidence),
      sentiment: r.sentiment,
      sentimentConfidence: Math.fround(r.sentimentConfidence),
    })),
  ).toEqual(
    tags.map((tag, i) => {
      const b = i === 2 ? later : batch;
      const saved = i === 2 ? { ...tag, job: 'other', kindConfidence: 0.25 } : tag;
      return {
        ...saved,
        classifier: b.classifier,
        version: b.version,
        jobsVersion: b.jobsVersion,
        classifiedAt: b.classifiedAt,
        // real columns: the float32 nearest to what was given (PostgreSQL prints its shortest digits).
        jobConfidence: Math.fround(saved.jobConfidence),
        kindConfidence: Math.fround(saved.kindConfidence),
        sentimentConfidence: Math.fround(saved.sentimentConfidence),
      };
    }),
  );
  await saveClassifications(db, batch, []);
}

/** A customer with awkward jobs and decisions: classifyStateOf against jobsOf and reviewedExamples. */
async function checkState(db: Db) {
  const [other] = await db
    .insert(customers)
    .values({ key: 'state-check', name: 'State check', jobsVersion: 4 })
    .returning();
  await db.insert(jobs).values([
    {
      customerId: other!.id,
      key: 'z-last-key',
      statement: 'Pay "suppliers" on time — ünïcode, tabs\tand\nnewlines',
      desiredOutcome: '',
      examples: [],
    },
    {
      customerId: other!.id,
      key: 'a-first-key',
      statement: 'Plan the week',
      desiredOutcome: 'Minimize the time to a full rota',
      examples: ['The rota is out on Friday', 'Emoji 🍕 and \\ backslash'],
    },
  ]);
  const made = await ticketUnits(db, other!.id, 'state-check-1', ['First unit', 'Second unit, "quoted"']);
  const review = (unit: number, action: string, value: unknown) => ({
    customerId: other!.id,
    unitId: made[unit]!.id,
    action,
    value,
    who: 'lead@example.com',
  });
  await db.insert(reviews).values([
    review(1, 'set_kind', 'friction'),
    review(0, 'set_job', 'a-first-key'),
    review(0, 'set_job', null),
    review(1, 'set_sentiment', 'negative'),
    review(1, 'set_kind', 'value_gap'),
    {
      customerId: other!.id,
      entryKey: 'friction:a-first-key:x',
      action: 'rename',
      value: 'New',
      who: 'lead',
    },
  ]);
  await db
    .insert(jobHeadChoices)
    .values({ customerId: other!.id, choice: { key: 'k', texts: 3, help: true } });

  const state = await classifyStateOf(db, other!.id);
  expect(state.jobsVersion).toBe(4);
  expect(state.regressions).toEqual({ key: 'k', texts: 3, help: true });
  // The tags' version digests JSON.stringify of these: the same text, not only equal objects.
  expect(JSON.stringify(state.jobs)).toBe(JSON.stringify(await jobsOf(db, other!.id)));
  expect(JSON.stringify(state.examples)).toBe(JSON.stringify(await reviewedExamples(db, other!.id)));
  expect(state.jobs.map((j) => j.key)).toEqual(['z-last-key', 'a-first-key']);
  expect(state.examples).toEqual([
    { text: 'Second unit, "quoted"', kind: 'value_gap', sentiment: 'negative' },
    { text: 'First unit', job: null },
  ]);

  const [bare] = await db.insert(customers).values({ key: 'state-bare', name: 'Bare' }).returning();
  expect(await classifyStateOf(db, bare!.id)).toEqual({
    jobsVersion: 0,
    regressions: undefined,
    jobs: [],
    examples: [],
  });
}
