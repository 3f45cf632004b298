/**
 * The dashboard's embedded background work on real PostgreSQL: a decision's map rebuild does not
 * wait behind a long task (here a customer's every unit classified again after a job edit).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq, gt } from 'drizzle-orm';
import { createTestDb, testConfig, type TestDb } from './helpers/db.ts';
import { ticket, writeBundle } from './helpers/bundle.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import { createBackground } from '../dashboard/background.ts';
import { saveJob } from '../db/reviews.ts';
import { getCustomerByKey } from '../db/queries.ts';
import { classifications, mapEntries, reviews, units } from '../db/schema/index.ts';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t?.drop();
});

describe('embedded background', () => {
  it("shows a decision on the map while a long task is still classifying the customer's units", async () => {
    // Two units per classify job: the job edit below makes a long queue of them.
    const config = testConfig({ GAPMAP_CLASSIFY_BATCH: '2' });
    const topics = [
      'double booking of table',
      'deposit for large groups',
      'staff rota swap',
      'export to accounts',
    ];
    const tickets = Array.from({ length: 120 }, (_, i) =>
      ticket({
        id: 5000 + i,
        description: `Trouble with the ${topics[i % topics.length]} again, case ${i}.`,
      }),
    );
    await importInProcessForTest(t.handle, config, {
      path: writeBundle({ tickets, surveyRows: [], transcripts: false }),
    });
    const kiln = (await getCustomerByKey(t.handle.db, 'kiln-cafe'))!;
    const [entry] = await t.handle.db
      .select()
      .from(mapEntries)
      .where(and(eq(mapEntries.customerId, kiln.id), eq(mapEntries.origin, 'machine')));
    expect(entry).toBeDefined();
    const all = await t.handle.db.select({ id: units.id }).from(units).where(eq(units.customerId, kiln.id));

    const background = createBackground({ config, handle: t.handle });
    try {
      const since = new Date();
      await saveJob(t.handle.db, {
        customerId: kiln.id,
        key: 'staff-rota',
        statement: 'Publish the weekly rota by Wednesday',
        who: 'lead@test',
        create: false,
      });
      background.jobsChanged(kiln.id);
      await t.handle.db.insert(reviews).values({
        customerId: kiln.id,
        entryKey: entry!.entryKey,
        action: 'rename',
        value: 'Renamed',
        who: 'lead@test',
      });
      background.mapChanged(kiln.id);

      const label = async () =>
        (
          await t.handle.db
            .select({ label: mapEntries.label })
            .from(mapEntries)
            .where(and(eq(mapEntries.customerId, kiln.id), eq(mapEntries.entryKey, entry!.entryKey)))
        )[0]?.label;
      const deadline = Date.now() + 60_000;
      while ((await label()) !== 'Renamed' && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 5));
      expect(await label()).toBe('Renamed');
      const redone = await t.handle.db
        .select({ id: classifications.unitId })
        .from(classifications)
        .innerJoin(units, eq(units.id, classifications.unitId))
        .where(and(eq(units.customerId, kiln.id), gt(classifications.classifiedAt, since)));
      // The rename reached the map before the job edit's classification was through.
      expect(redone.length).toBeLessThan(all.length / 2);

      await background.idle();
      const after = await t.handle.db
        .select({ id: classifications.unitId })
        .from(classifications)
        .innerJoin(units, eq(units.id, classifications.unitId))
        .where(and(eq(units.customerId, kiln.id), gt(classifications.classifiedAt, since)));
      expect(after.length).toBe(all.length);
      expect(await label()).toBe('Renamed');
    } finally {
      await background.close();
    }
  });
});
