/**
 * The job head's anchors in the pipeline: the classify stage keeps the anchors a customer's batches
 * chose (customers.anchors), and a retrain scores the few units it sends with them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { createTestDb, testConfig, type TestDb } from './helpers/db.ts';
import { ticket, writeBundle } from './helpers/bundle.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import { classifications, customers, reviews, units } from '../db/schema/index.ts';
import { customerAnchors, getCustomerByKey, mergeAnchors } from '../db/queries.ts';
import { enqueueClassification } from '../workers/processors.ts';
import { enqueueRetrain } from '../app/retrain.ts';
import { createInProcessRuntime } from '../workers/inprocess.ts';
import { createLexicalClassifier } from '../classifiers/lexical.ts';
import { ANCHOR_CAP, type Classifier, type CustomerContext, type JobAnchor } from '../classifiers/types.ts';

let t: TestDb;
let customerId: number;
const config = testConfig();

beforeAll(async () => {
  t = await createTestDb();
  const tickets = [801, 802, 803, 804].map((id) =>
    ticket({ id, subject: `Booking ${id}`, description: `Guests book a table online, number ${id}.` }),
  );
  await importInProcessForTest(t.handle, config, {
    path: writeBundle({ tickets, surveyRows: [], transcripts: false }),
  });
  customerId = (await getCustomerByKey(t.handle.db, 'kiln-cafe'))!.id;
});
afterAll(async () => {
  await t?.drop();
});

/** The lexical classifier, reporting `report` as the anchors each batch chose, recording the contexts. */
function recording(report: (texts: string[]) => JobAnchor[]) {
  const lexical = createLexicalClassifier();
  const seen: CustomerContext[] = [];
  const classifier: Classifier = {
    name: lexical.name,
    version: lexical.version,
    classify: (batch, context) => {
      seen.push(context);
      context.onAnchors?.(report(batch.map((u) => u.text)));
      return lexical.classify(batch, context);
    },
  };
  return {
    seen,
    rt: createInProcessRuntime({ db: t.handle.db, config, classifier: async () => classifier }),
  };
}

const anchor = (text: string, confidence: number, job = 'table-bookings'): JobAnchor => ({
  text,
  job,
  confidence,
});

describe('anchors kept per customer', () => {
  it('keep the surest ANCHOR_CAP per job, one entry per text', async () => {
    const many = Array.from({ length: ANCHOR_CAP + 5 }, (_, i) => anchor(`booking text ${i}`, i / 100));
    await mergeAnchors(t.handle.db, customerId, many);
    await mergeAnchors(t.handle.db, customerId, [
      anchor('booking text 0', 0.99),
      anchor('rota text', 0.7, 'staff-rota'),
    ]);
    const kept = await customerAnchors(t.handle.db, customerId);
    const bookings = kept.filter((a) => a.job === 'table-bookings');
    expect(bookings).toHaveLength(ANCHOR_CAP);
    // The least sure fell out, except the one a later batch was surer of.
    expect(bookings.map((a) => a.text)).toContain('booking text 0');
    expect(bookings.find((a) => a.text === 'booking text 0')!.confidence).toBe(0.99);
    expect(bookings.map((a) => a.text)).not.toContain('booking text 1');
    expect(kept.filter((a) => a.job === 'staff-rota')).toEqual([anchor('rota text', 0.7, 'staff-rota')]);
  });

  it('an import batch adds the anchors it chose, and a retrain scores its units with them', async () => {
    await t.handle.db.update(customers).set({ anchors: [] }).where(eq(customers.id, customerId));
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
    const { seen, rt } = recording((texts) => texts.slice(-1).map((text) => anchor(`${text} (re-tag)`, 0.8)));
    await t.handle.db
      .update(customers)
      .set({ jobsVersion: sql`${customers.jobsVersion} + 1` })
      .where(eq(customers.id, customerId));
    await enqueueClassification(rt, []);
    await rt.drain();
    expect(seen.length).toBeGreaterThan(0);
    const after = await customerAnchors(t.handle.db, customerId);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((a) => a.text.endsWith('(re-tag)'))).toBe(true);
  });
});
