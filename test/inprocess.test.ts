/**
 * The embedded mode's queue: classify batches run CLASSIFY_CONCURRENCY at a time, as a worker takes
 * them; the map rebuild waits for all of them; a failing batch fails the drain once the others are
 * done, and their tags are kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { createTestDb, testConfig, type TestDb } from './helpers/db.ts';
import { ticket, writeBundle } from './helpers/bundle.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import { classifications, mapState, units } from '../db/schema/index.ts';
import { getCustomerByKey } from '../db/queries.ts';
import { CLASSIFY_CONCURRENCY, enqueueClassification } from '../workers/processors.ts';
import { createInProcessRuntime } from '../workers/inprocess.ts';
import { createLexicalClassifier } from '../classifiers/lexical.ts';
import type { Classifier } from '../classifiers/types.ts';

let t: TestDb;
let customerId: number;
// Three units per batch: the customer's units make several batches.
const config = testConfig({ GAPMAP_CLASSIFY_BATCH: '3' });
const UNITS = 3 * (CLASSIFY_CONCURRENCY + 3);

beforeAll(async () => {
  t = await createTestDb();
  const tickets = Array.from({ length: UNITS }, (_, i) =>
    ticket({ id: 901 + i, subject: `Booking ${i}`, description: `Guests book table ${i} online.` }),
  );
  await importInProcessForTest(t.handle, config, {
    path: writeBundle({ tickets, surveyRows: [], transcripts: false }),
  });
  customerId = (await getCustomerByKey(t.handle.db, 'kiln-cafe'))!.id;
});
afterAll(async () => {
  await t?.drop();
});

/** The lexical classifier, counting the calls in flight; `fail` picks calls (by their number) that throw. */
function counting(fail: (call: number) => boolean = () => false) {
  const lexical = createLexicalClassifier();
  const state = { inFlight: 0, most: 0, calls: 0, finished: 0 };
  const classifier: Classifier = {
    name: lexical.name,
    version: lexical.version,
    async classify(batch, context) {
      const call = ++state.calls;
      state.inFlight++;
      state.most = Math.max(state.most, state.inFlight);
      try {
        // Until the queue has started as many batches as it will run at once, or a deadline (the
        // last batches of a run, or a queue that runs fewer): timing alone made this flaky on a
        // loaded machine, where the next batch's reads took longer than a fixed wait.
        const deadline = Date.now() + 2000;
        while (state.inFlight < CLASSIFY_CONCURRENCY && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 5));
        if (fail(call)) throw new Error(`batch ${call} failed`);
        return await lexical.classify(batch, context);
      } finally {
        state.inFlight--;
        state.finished++;
      }
    },
  };
  return {
    state,
    rt: createInProcessRuntime({ db: t.handle.db, config, classifier: async () => classifier }),
  };
}

async function untagAll() {
  const ids = (
    await t.handle.db.select({ id: units.id }).from(units).where(eq(units.customerId, customerId))
  ).map((u) => u.id);
  for (const id of ids) await t.handle.db.delete(classifications).where(eq(classifications.unitId, id));
  return ids.length;
}

const tagged = async () =>
  t.handle.db.select().from(classifications).where(eq(classifications.customerId, customerId));

describe('the in-process queue', () => {
  it('runs classify batches CLASSIFY_CONCURRENCY at a time, then rebuilds the map once they are done', async () => {
    const n = await untagAll();
    expect(n).toBeGreaterThanOrEqual(3 * (CLASSIFY_CONCURRENCY + 1));
    const { state, rt } = counting();
    await enqueueClassification(rt, [customerId]);
    await rt.drain();
    expect(state.calls).toBe(Math.ceil(n / 3));
    expect(state.most).toBe(CLASSIFY_CONCURRENCY);
    const rows = await tagged();
    expect(rows).toHaveLength(n);
    const [map] = await t.handle.db.select().from(mapState).where(eq(mapState.customerId, customerId));
    const lastTag = Math.max(...rows.map((r) => r.classifiedAt.getTime()));
    expect(map!.builtAt.getTime()).toBeGreaterThanOrEqual(lastTag);
  });

  it('a failing batch fails the drain after the batches beside it finish, and their tags are kept', async () => {
    const n = await untagAll();
    const { state, rt } = counting((call) => call === 2);
    await enqueueClassification(rt, [customerId]);
    await expect(rt.drain()).rejects.toThrow('batch 2 failed');
    // Nothing left running behind the error.
    expect(state.inFlight).toBe(0);
    expect(state.finished).toBe(state.calls);
    const rows = await tagged();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(n);
    // The failed batch's units are still owed tags: the next run classifies them.
    const again = counting();
    await enqueueClassification(again.rt, [customerId]);
    await again.rt.drain();
    expect(await tagged()).toHaveLength(n);
  });
});
