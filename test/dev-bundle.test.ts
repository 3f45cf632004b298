/**
 * Against the labelled dev bundle in ../shared/data (measurement data, not copied here): the
 * import yields every labelled unit with the same reference and text, and every map cites only
 * references that exist. Skipped where the shared data is absent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, testConfig, type TestDb } from './helpers/db.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import { listCustomers, unitsWithTags } from '../db/queries.ts';
import { mapJson } from '../app/map.ts';

const candidates = [path.resolve('../shared/data/dev-bundle'), '/work/shared/data/dev-bundle'];
const bundle = candidates.find((p) => fs.existsSync(path.join(p, 'labels.jsonl')));

describe.skipIf(!bundle)('the dev bundle', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('imports every labelled unit with the same ref and text, and maps cite only existing refs', async () => {
    const res = await importInProcessForTest(t.handle, testConfig(), { path: bundle! });
    expect(res.errors).toEqual([]);
    const labels = fs
      .readFileSync(path.join(bundle!, 'labels.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { ref: string; text: string; customer: string });
    const stored = new Map<string, string>();
    for (const c of await listCustomers(t.handle.db)) {
      for (const u of await unitsWithTags(t.handle.db, c.id)) stored.set(u.ref, u.text);
    }
    const missing = labels.filter((l) => stored.get(l.ref) !== l.text).map((l) => l.ref);
    expect(missing).toEqual([]);
    console.log(
      `dev bundle: ${labels.length - missing.length}/${labels.length} labelled units imported with the same ref and text`,
    );

    for (const c of await listCustomers(t.handle.db)) {
      const map = await mapJson(t.handle.db, c.id);
      const cited = map.columns.flatMap((col) =>
        Object.values(col.cells).flatMap((entries) => entries.flatMap((e) => [...e.refs, e.quote_ref])),
      );
      expect(cited.length).toBeGreaterThan(0);
      expect(cited.filter((r) => r !== null && !stored.has(r))).toEqual([]);
    }
  });
});
