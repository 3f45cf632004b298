/** The Value Gap Map on real PostgreSQL: cells, clusters, internal processes, decisions that stick. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, testConfig, type TestDb } from './helpers/db.ts';
import { ticket, writeBundle } from './helpers/bundle.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import { buildMap, inheritKeys, mapJson, shortLabel, ENTRIES_PER_CELL } from '../app/map.ts';
import { getCustomerByKey } from '../db/queries.ts';
import pg from 'pg';
import { eq } from 'drizzle-orm';
import { classifications, reviews, units } from '../db/schema/index.ts';

let t: TestDb;
let customerId: number;
let bundleDir: string;
beforeAll(async () => {
  t = await createTestDb();
  const complaints = [
    'The booking page gave table 4 to two parties on Saturday, a double booking again.',
    'Double booking on Friday: table 7 went to two parties at once.',
    'Another double booking, two parties on table 2, we had to turn one away.',
    'Guests cannot pick their own table when booking online.',
    'No way to hold a table for regulars, so we cannot promise them anything.',
    'Cannot export bookings to our accounting tool.',
    'Cannot set a deposit for large groups.',
  ];
  const tickets = complaints.map((d, i) =>
    ticket({
      id: 900 + i,
      subject: `Bookings ${i}`,
      description: d,
      group: i < 3 ? 'Bookings' : 'Integrations',
      tags: ['bookings'],
    }),
  );
  bundleDir = writeBundle({ tickets, surveyRows: [], transcripts: false });
  await importInProcessForTest(t.handle, testConfig(), { path: bundleDir });
  customerId = (await getCustomerByKey(t.handle.db, 'kiln-cafe'))!.id;
});
afterAll(async () => {
  await t?.drop();
});

describe('the map', () => {
  it('has a column per job plus one for no job, six rows, at most three entries per cell, each with refs', async () => {
    const map = await mapJson(t.handle.db, customerId);
    expect(map.columns.map((c) => c.job)).toEqual(['table-bookings', 'staff-rota', null]);
    for (const col of map.columns) {
      expect(Object.keys(col.cells)).toEqual(map.rows);
      for (const entries of Object.values(col.cells)) {
        expect(entries.length).toBeLessThanOrEqual(ENTRIES_PER_CELL);
        for (const e of entries) {
          expect(e.refs.length).toBe(e.count);
          expect(e.refs).toContain(e.quote_ref);
          expect(e.sentiment.negative + e.sentiment.neutral + e.sentiment.positive).toBe(e.count);
        }
      }
      expect(col.cells.opportunities).toEqual([]);
    }
  });

  it('puts units saying the same thing into one entry, the biggest first', async () => {
    const map = await mapJson(t.handle.db, customerId);
    const all = map.columns.flatMap((c) =>
      Object.entries(c.cells)
        .filter(([row]) => row !== 'internal_processes')
        .flatMap(([, es]) => es),
    );
    const doubleBooking = all.find((e) => e.refs.includes('ticket:900'))!;
    expect(doubleBooking.refs).toEqual(expect.arrayContaining(['ticket:900', 'ticket:901']));
  });

  it('lists the help-desk groups and tags behind a job’s friction and gaps as internal processes', async () => {
    const map = await mapJson(t.handle.db, customerId);
    const processes = map.columns.flatMap((c) => c.cells.internal_processes!);
    expect(processes.map((p) => p.label)).toEqual(expect.arrayContaining(['Tag: bookings']));
    for (const p of processes) expect(p.refs.every((r) => r.startsWith('ticket:'))).toBe(true);
  });

  it('a build waiting for another reads the tags only once it holds the customer', async () => {
    const refsOf = async () =>
      (await mapJson(t.handle.db, customerId)).columns.flatMap((c) =>
        Object.values(c.cells).flatMap((es) => es.flatMap((e) => e.refs)),
      );
    expect(await refsOf()).toContain('ticket:906');
    // Another build holds the customer (the map's advisory lock) while this one starts.
    const other = new pg.Client({ connectionString: t.url });
    await other.connect();
    try {
      await other.query('begin');
      await other.query('select pg_advisory_xact_lock(727274002, $1)', [customerId]);
      const waiting = buildMap(t.handle.db, customerId);
      await new Promise((r) => setTimeout(r, 300));
      // Meanwhile a unit's tags go away (re-sent to be classified); then the other build ends.
      const [unit] = await t.handle.db.select().from(units).where(eq(units.ref, 'ticket:906'));
      await t.handle.db.delete(classifications).where(eq(classifications.unitId, unit!.id));
      await other.query('commit');
      await waiting;
    } finally {
      await other.end();
    }
    expect(await refsOf()).not.toContain('ticket:906');
    await importInProcessForTest(t.handle, testConfig(), { path: bundleDir });
    expect(await refsOf()).toContain('ticket:906');
  });

  it('keeps a person’s rename and rejection across rebuilds', async () => {
    const before = await mapJson(t.handle.db, customerId);
    const entries = before.columns.flatMap((c) => Object.values(c.cells).flat());
    const [a, b] = entries;
    await t.handle.db.insert(reviews).values([
      {
        customerId,
        entryKey: a!.key,
        action: 'rename',
        value: 'Double bookings on busy nights',
        who: 'lead@test',
      },
      { customerId, entryKey: b!.key, action: 'reject', value: null, who: 'lead@test' },
    ]);
    await buildMap(t.handle.db, customerId);
    await buildMap(t.handle.db, customerId);
    const after = (await mapJson(t.handle.db, customerId)).columns.flatMap((c) =>
      Object.values(c.cells).flat(),
    );
    expect(after.find((e) => e.key === a!.key)!.label).toBe('Double bookings on busy nights');
    expect(after.find((e) => e.key === b!.key)).toBeUndefined();
  });

  it('keeps a rename on an entry whose founding unit a person moved elsewhere', async () => {
    const entries = (await mapJson(t.handle.db, customerId)).columns.flatMap((c) =>
      Object.entries(c.cells).flatMap(([row, es]) => es.map((e) => ({ ...e, row }))),
    );
    const big = entries.filter(
      (e) => e.row !== 'internal_processes' && e.row !== 'opportunities' && e.count >= 3,
    )[0]!;
    expect(big).toBeDefined();
    await t.handle.db.insert(reviews).values({
      customerId,
      entryKey: big.key,
      action: 'rename',
      value: 'Tables given twice',
      who: 'lead@test',
    });
    // The unit the entry's key was made from (its lowest id) now belongs to another row.
    const members = await t.handle.db
      .select({ id: units.id, ref: units.ref })
      .from(units)
      .where(eq(units.customerId, customerId));
    const founder = members.filter((m) => big.refs.includes(m.ref)).sort((a, b) => a.id - b.id)[0]!;
    const other = big.row === 'high_points' ? 'touchpoint' : 'high_point';
    await t.handle.db
      .insert(reviews)
      .values({ customerId, unitId: founder.id, action: 'set_kind', value: other, who: 'lead@test' });
    await buildMap(t.handle.db, customerId);
    const after = (await mapJson(t.handle.db, customerId)).columns.flatMap((c) =>
      Object.values(c.cells).flat(),
    );
    const rest = big.refs.filter((r) => r !== founder.ref);
    const kept = after.find((e) => rest.every((r) => e.refs.includes(r)))!;
    expect(kept.refs).not.toContain(founder.ref);
    expect(kept.key).toBe(big.key);
    expect(kept.label).toBe('Tables given twice');
    await t.handle.db.delete(reviews).where(eq(reviews.customerId, customerId));
    await buildMap(t.handle.db, customerId);
  });

  it('gives a cluster the key its evidence came from; a rejected entry does not come back in pieces', () => {
    const entry = (key: string, refs: string[], row: 'friction' | 'value_gaps' = 'friction') => ({
      entryKey: key,
      job: 'j',
      row,
      label: key,
      count: refs.length,
      sentiment: { negative: refs.length, neutral: 0, positive: 0 },
      quote: '',
      quoteRef: refs[0]!,
      refs,
    });
    const previous = [
      entry('renamed', ['a', 'b', 'c', 'd']),
      entry('dropped', ['e', 'f', 'g']),
      entry('dropped', ['h']),
    ];
    const keys = inheritKeys(
      [
        entry('founder-b', ['b', 'c', 'd', 'x']), // most of 'renamed', which lost a and gained x
        entry('founder-a', ['a', 'y']), // half of it is not most
        entry('founder-e', ['e', 'f']), // pieces of a rejected entry stay rejected
        entry('founder-g', ['g', 'h']),
        entry('founder-x', ['i', 'j', 'k']), // new
        entry('renamed', ['a', 'b', 'c'], 'value_gaps'), // another cell: not the same entry
      ],
      previous,
      new Set(['dropped']),
    ).map((e) => e.entryKey);
    expect(keys.slice(0, 5)).toEqual(['renamed', 'founder-a', 'dropped', 'dropped', 'founder-x']);
    // A founding unit's own key is never one the last build gave another entry.
    expect(keys[5]).not.toBe('renamed');
    expect(new Set(keys.slice(4)).size).toBe(2);
  });

  it('labels an entry with its representative quote’s first sentence, cut at a word', () => {
    expect(shortLabel('Cannot pick a table. Everything else is fine.')).toBe('Cannot pick a table.');
    const long = shortLabel('word '.repeat(40));
    expect(long.length).toBeLessThanOrEqual(73);
    expect(long.endsWith('…')).toBe(true);
  });
});
