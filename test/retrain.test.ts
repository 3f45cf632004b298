/**
 * People's corrections teach the customer's heads: the units they could change are classified
 * again with the corrected examples, the rest keep their tags, and a person's own decision stands.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq, inArray } from 'drizzle-orm';
import { createTestDb, testConfig, type TestDb } from './helpers/db.ts';
import { ROTA_REWORDED, ticket, writeBundle } from './helpers/bundle.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import { classifications, customers, reviews, units } from '../db/schema/index.ts';
import { getCustomerByKey, unitsWithTags } from '../db/queries.ts';
import { saveJob } from '../db/reviews.ts';
import { enqueueClassification } from '../workers/processors.ts';
import { enqueueRetrain, unitsToReclassify } from '../app/retrain.ts';
import { createInProcessRuntime } from '../workers/inprocess.ts';
import { createLexicalClassifier } from '../classifiers/lexical.ts';

let t: TestDb;
let customerId: number;
const config = testConfig();

const tickets = [
  ticket({
    id: 701,
    subject: 'Gift vouchers',
    description: 'Guests ask to buy gift vouchers for a dinner at the counter.',
  }),
  ticket({
    id: 702,
    subject: 'Vouchers again',
    description: 'A guest wanted gift vouchers for a dinner again today.',
  }),
  ticket({
    id: 703,
    subject: 'Rota on Sunday',
    description: 'The staff rota for Sunday is missing two shifts.',
  }),
];

beforeAll(async () => {
  t = await createTestDb();
  await importInProcessForTest(t.handle, config, {
    path: writeBundle({ tickets, surveyRows: [], transcripts: false }),
  });
  customerId = (await getCustomerByKey(t.handle.db, 'kiln-cafe'))!.id;
});
afterAll(async () => {
  await t?.drop();
});

const idOf = async (ref: string) => (await t.handle.db.select().from(units).where(eq(units.ref, ref)))[0]!.id;

/**
 * A runtime with the lexical classifier, after the retrain the decisions so far call for; then
 * every tag sure, so only what a new decision makes movable can pick a unit.
 */
const retrainedAndSure = async () => {
  const lexical = createLexicalClassifier();
  const rt = createInProcessRuntime({ db: t.handle.db, config, classifier: async () => lexical });
  await enqueueRetrain(rt, customerId);
  await rt.drain();
  await t.handle.db
    .update(classifications)
    .set({ jobConfidence: 0.95, kindConfidence: 0.95, sentimentConfidence: 0.95 });
  return rt;
};

describe('retraining on corrections', () => {
  it('picks the unsure units and those close to a corrected one, not the person-decided one', async () => {
    const [v1, v2, rota] = [await idOf('ticket:701'), await idOf('ticket:702'), await idOf('ticket:703')];
    // Every tag sure, except nothing: only closeness to the correction can pick a unit.
    await t.handle.db
      .update(classifications)
      .set({ jobConfidence: 0.95, kindConfidence: 0.95, sentimentConfidence: 0.95 });
    await t.handle.db
      .insert(reviews)
      .values({ customerId, unitId: v1, action: 'set_job', value: 'staff-rota', who: 'lead@test' });
    const picked = (await unitsToReclassify(t.handle.db, customerId)).ids;
    expect(picked).toContain(v2);
    expect(picked).not.toContain(v1);
    expect(picked).not.toContain(rota);

    // An unsure kind: the customer's kind head learns from no decision yet (OWN_HEADS_FROM), so
    // its kind cannot change; an unsure job can.
    await t.handle.db
      .update(classifications)
      .set({ kindConfidence: 0.3 })
      .where(eq(classifications.unitId, rota));
    expect((await unitsToReclassify(t.handle.db, customerId)).ids).not.toContain(rota);
    // With heads of its own from one kind decision, the unsure kind could move... but no kind was decided.
    expect((await unitsToReclassify(t.handle.db, customerId, { kind: 1, sentiment: 1 })).ids).not.toContain(
      rota,
    );
    await t.handle.db
      .update(classifications)
      .set({ kindConfidence: 0.95, jobConfidence: 0.3 })
      .where(eq(classifications.unitId, rota));
    expect((await unitsToReclassify(t.handle.db, customerId)).ids).toContain(rota);
  });

  it('classifies those units again with the corrected example, and leaves the others as they were', async () => {
    const [v1, v2] = [await idOf('ticket:701'), await idOf('ticket:702')];
    const before = new Map(
      (await t.handle.db.select().from(classifications)).map((c) => [c.unitId, c.classifiedAt.getTime()]),
    );
    const lexical = createLexicalClassifier();
    const rt = createInProcessRuntime({ db: t.handle.db, config, classifier: async () => lexical });
    const picked = new Set((await unitsToReclassify(t.handle.db, customerId)).ids);
    const n = await enqueueRetrain(rt, customerId);
    await rt.drain();
    expect(n).toBe(picked.size);
    expect(n).toBeGreaterThan(0);
    const after = await t.handle.db.select().from(classifications);
    const changed = after
      .filter((c) => c.classifiedAt.getTime() !== before.get(c.unitId))
      .map((c) => c.unitId);
    expect(changed).toContain(v2);
    // Units that were neither unsure nor close to the correction were not touched.
    const untouched = after.filter((c) => !changed.includes(c.unitId)).map((c) => c.unitId);
    expect(untouched.length).toBeGreaterThan(0);
    expect(untouched.every((id) => !picked.has(id) || id === v1)).toBe(true);

    const tagged = await unitsWithTags(t.handle.db, customerId);
    // The lexical heads learnt "gift vouchers for a dinner" as staff-rota from the correction.
    expect(tagged.find((u) => u.id === v2)!.job).toBe('staff-rota');
    // The person's decision stands over whatever the machine says.
    expect(tagged.find((u) => u.id === v1)!.job).toBe('staff-rota');
    expect(tagged.find((u) => u.id === v1)!.reviewedBy).toBe('lead@test');
    const versions = await t.handle.db
      .select({ v: classifications.version })
      .from(classifications)
      .where(inArray(classifications.unitId, [v2]));
    expect(versions[0]!.v).toMatch(/\+c[\w-]{8}$/);
  });

  it('compares the units only with the decisions made since the last retrain', async () => {
    const [v2, rota] = [await idOf('ticket:702'), await idOf('ticket:703')];
    await t.handle.db
      .update(classifications)
      .set({ jobConfidence: 0.95, kindConfidence: 0.95, sentimentConfidence: 0.95 });
    // The retrain above looked at the voucher decision: with no decision since, nothing to do.
    expect(await unitsToReclassify(t.handle.db, customerId)).toMatchObject({ ids: [] });
    const [review] = await t.handle.db
      .insert(reviews)
      .values({ customerId, unitId: rota, action: 'set_kind', value: 'friction', who: 'lead@test' })
      .returning();
    // A new decision about the rota: the voucher ticket, close only to the old decision, stays.
    const next = await unitsToReclassify(t.handle.db, customerId);
    expect(next.ids).not.toContain(v2);
    expect(next.through).toBe(review!.id);
    const lexical = createLexicalClassifier();
    const rt = createInProcessRuntime({ db: t.handle.db, config, classifier: async () => lexical });
    await enqueueRetrain(rt, customerId);
    await rt.drain();
    expect(await unitsToReclassify(t.handle.db, customerId)).toMatchObject({ ids: [], through: review!.id });
  });

  it('re-tags every unit when an import changes the jobs, and only then', async () => {
    const stamps = async () =>
      new Map(
        (await t.handle.db.select().from(classifications)).map((c) => [c.unitId, c.classifiedAt.getTime()]),
      );
    const dir = writeBundle({ tickets, surveyRows: [], transcripts: false });
    // The same customers.json again: nothing to re-tag.
    const before = await stamps();
    await importInProcessForTest(t.handle, config, { path: dir });
    expect(await stamps()).toEqual(before);

    const customers = JSON.parse(fs.readFileSync(path.join(dir, 'customers.json'), 'utf8')) as {
      key: string;
      jobs: { key: string; statement: string; desired_outcome: string }[];
    }[];
    customers
      .find((c) => c.key === 'kiln-cafe')!
      .jobs.push({
        key: 'gift-vouchers',
        statement: 'Sell gift vouchers for a dinner at the counter',
        desired_outcome: 'Minimize the time a voucher sale takes',
      });
    fs.writeFileSync(path.join(dir, 'customers.json'), JSON.stringify(customers));
    await importInProcessForTest(t.handle, config, { path: dir });
    const after = await stamps();
    expect([...before.keys()].filter((id) => after.get(id) === before.get(id))).toEqual([]);
    const tagged = await unitsWithTags(t.handle.db, customerId);
    // The lexical heads put the voucher ticket nobody decided on under the new job.
    expect(tagged.find((u) => u.ref === 'ticket:702')!.job).toBe('gift-vouchers');
  });

  it("sends every unit when a decision gives the customer's kind or sentiment heads of their own, and unsure ones after", async () => {
    // Two more tickets, which no one has decided on (the first three all were, above).
    const more = [
      ticket({
        id: 704,
        subject: 'Card machine',
        description: 'The card machine at the bar drops the connection.',
      }),
      ticket({ id: 705, subject: 'Menu', description: 'Printing the new menu takes the whole afternoon.' }),
    ];
    await importInProcessForTest(t.handle, config, {
      path: writeBundle({ tickets: [...tickets, ...more], surveyRows: [], transcripts: false }),
    });
    const [v1, v2, card] = [await idOf('ticket:701'), await idOf('ticket:702'), await idOf('ticket:704')];
    await retrainedAndSure();
    const from = { kind: 99, sentiment: 2 };
    const decide = (unitId: number, value: string) =>
      t.handle.db
        .insert(reviews)
        .values({ customerId, unitId, action: 'set_sentiment', value, who: 'lead@test' })
        .returning();
    // A first sentiment decision: under the count, nothing is sure to move but what reads like it.
    const [first] = await decide(v2, 'neutral');
    const one = await unitsToReclassify(t.handle.db, customerId, from);
    expect(one.ids).not.toContain(card);
    await t.handle.db
      .update(customers)
      .set({ retrainedThrough: first!.id })
      .where(eq(customers.id, customerId));
    // The second reaches it: the sentiment head is the customer's own now, every unit whose
    // sentiment no one decided may move, one with a decision on another field too (the rota ticket's
    // kind was decided above).
    const [second] = await decide(v1, 'positive');
    const decided = new Set(
      (
        await t.handle.db
          .select({ id: reviews.unitId })
          .from(reviews)
          .where(and(eq(reviews.customerId, customerId), eq(reviews.action, 'set_sentiment')))
      ).map((r) => r.id),
    );
    const live = (
      await t.handle.db.select({ id: units.id }).from(units).where(eq(units.customerId, customerId))
    )
      .map((u) => u.id)
      .filter((id) => !decided.has(id));
    expect(live).toContain(card);
    expect(live).toContain(await idOf('ticket:703'));
    expect((await unitsToReclassify(t.handle.db, customerId, from)).ids.sort()).toEqual(live.sort());
    await t.handle.db
      .update(customers)
      .set({ retrainedThrough: second!.id })
      .where(eq(customers.id, customerId));
    // A third: the head learns again, the units with an unsure sentiment may move, sure ones not.
    await decide(v1, 'neutral');
    expect((await unitsToReclassify(t.handle.db, customerId, from)).ids).not.toContain(card);
    await t.handle.db
      .update(classifications)
      .set({ sentimentConfidence: 0.3 })
      .where(eq(classifications.unitId, card));
    expect((await unitsToReclassify(t.handle.db, customerId, from)).ids).toContain(card);
  });

  it('sends a unit with the words of a new decision, though a person decided another of its fields', async () => {
    const twins = [706, 707].map((id) =>
      ticket({ id, subject: 'Till', description: 'The till prints every receipt twice.' }),
    );
    await importInProcessForTest(t.handle, config, {
      path: writeBundle({ tickets: [...tickets, ...twins], surveyRows: [], transcripts: false }),
    });
    const [a, b] = [await idOf('ticket:706'), await idOf('ticket:707')];
    const rt = await retrainedAndSure();
    await t.handle.db
      .insert(reviews)
      .values({ customerId, unitId: b, action: 'set_job', value: 'staff-rota', who: 'lead@test' });
    await enqueueRetrain(rt, customerId);
    await rt.drain();
    // A kind decision on one twin, below the count: the other takes it (same words), its job stays decided.
    await t.handle.db
      .insert(reviews)
      .values({ customerId, unitId: a, action: 'set_kind', value: 'friction', who: 'lead@test' });
    const picked = (await unitsToReclassify(t.handle.db, customerId)).ids;
    expect(picked).toContain(b);
    expect(picked).not.toContain(a);
  });

  it('a re-tag that fails to enqueue is done by the next run', async () => {
    await saveJob(t.handle.db, { customerId, ...ROTA_REWORDED });
    const failing = {
      db: t.handle.db,
      config,
      enqueue: async (name: string) => {
        if (name === 'classify') throw new Error('Redis went away');
      },
    };
    await expect(enqueueClassification(failing, [])).rejects.toThrow(/Redis went away/);
    // A runtime that records the units sent to be classified.
    const recording = (sink: number[]) => ({
      db: t.handle.db,
      config,
      enqueue: async (name: string, payload: unknown) => {
        if (name === 'classify') sink.push(...(payload as { unitIds: number[] }).unitIds);
      },
    });
    const sent: number[] = [];
    await enqueueClassification(recording(sent), []);
    const all = await t.handle.db
      .select({ id: units.id })
      .from(units)
      .where(eq(units.customerId, customerId));
    expect(sent.sort()).toEqual(all.map((u) => u.id).sort());
    // Once sent, not again.
    const again: number[] = [];
    await enqueueClassification(recording(again), []);
    expect(again).toEqual([]);
  });
});
