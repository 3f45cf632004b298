/**
 * Migrations that move data: a database at an older migration, with rows in the old shape, is
 * migrated forward with the real migration files and keeps what it held.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from '../db/client.ts';
import { dbUrl } from './helpers/urls.ts';
import { admin } from './helpers/db.ts';

const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8')) as {
  entries: { idx: number; tag: string }[];
};
const name = `gapmap_t_mig_${randomBytes(6).toString('hex')}`;
let db: pg.Client;

/** Runs the migration files from `from` to `to` (journal indexes, both included), statement by statement. */
async function migrate(from: number, to: number, client: pg.Client = db) {
  for (const e of journal.entries.filter((e) => e.idx >= from && e.idx <= to)) {
    const file = readFileSync(path.join(MIGRATIONS_DIR, `${e.tag}.sql`), 'utf8');
    for (const statement of file.split('--> statement-breakpoint')) {
      if (statement.trim()) await client.query(statement);
    }
  }
}
const indexOf = (tag: string) => journal.entries.find((e) => e.tag === tag)!.idx;

beforeAll(async () => {
  await admin(`create database ${name}`);
  db = new pg.Client({ connectionString: dbUrl(name) });
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  await admin(`drop database if exists ${name} with (force)`);
});

describe('0011_job_anchors', () => {
  it("turns each customer's array of anchors into rows, one per live unit with the anchor's text", async () => {
    await migrate(0, indexOf('0011_job_anchors') - 1);
    const customer = async (key: string) =>
      (await db.query(`insert into customers (key, name) values ($1, $1) returning id`, [key])).rows[0].id;
    const a = await customer('a');
    const b = await customer('b');
    const item = async (c: number) =>
      (
        await db.query(
          `insert into items (customer_id, source_type, external_id, content_hash, origin)
           values ($1, 'ticket', $2, 'h', '{}') returning id`,
          [c, `t${c}`],
        )
      ).rows[0].id;
    let units = 0;
    const unit = async (c: number, itemId: number, text: string, deleted = false) =>
      (
        await db.query(
          `insert into units (item_id, customer_id, ref, ordinal, text, content_hash, deleted_at)
           values ($1, $2, $3, 0, $4, $5, $6) returning id`,
          [itemId, c, `ticket:${itemId}#${++units}`, text, `hash of ${text}`, deleted ? new Date() : null],
        )
      ).rows[0].id as number;
    const ia = await item(a);
    const ib = await item(b);
    const kept = await unit(a, ia, 'Kept');
    const twin1 = await unit(a, ia, 'Twice');
    const twin2 = await unit(a, ia, 'Twice');
    await unit(a, ia, 'Gone', true);
    // Customer b has a unit with the text too: a's anchor is not b's.
    await unit(b, ib, 'Kept');
    const anchors = (list: { text: string; job: string; confidence: number }[]) => JSON.stringify(list);
    await db.query(`insert into customer_anchors (customer_id, anchors) values ($1, $2), ($3, $4)`, [
      a,
      anchors([
        { text: 'Kept', job: 'pay', confidence: 0.30000000000000004 },
        { text: 'Twice', job: 'book', confidence: 0.8 },
        { text: 'Gone', job: 'pay', confidence: 0.9 },
        { text: 'Never a unit', job: 'pay', confidence: 0.9 },
      ]),
      b,
      anchors([]),
    ]);

    await migrate(indexOf('0011_job_anchors'), journal.entries.length - 1);
    const rows = (
      await db.query(
        'select customer_id, unit_id, content_hash, job, confidence from job_anchors order by unit_id',
      )
    ).rows;
    expect(rows).toEqual([
      {
        customer_id: a,
        unit_id: kept,
        content_hash: 'hash of Kept',
        job: 'pay',
        confidence: 0.30000000000000004,
      },
      { customer_id: a, unit_id: twin1, content_hash: 'hash of Twice', job: 'book', confidence: 0.8 },
      { customer_id: a, unit_id: twin2, content_hash: 'hash of Twice', job: 'book', confidence: 0.8 },
    ]);
    const old = await db.query(`select to_regclass('customer_anchors') as t`);
    expect(old.rows[0].t).toBeNull();
  });
});

describe('0015_map_lineage_backfill', () => {
  it("keeps a map built before lineage as its lineage: the machine entries of the clusters' rows", async () => {
    const other = `${name}_b`;
    await admin(`create database ${other}`);
    const c = new pg.Client({ connectionString: dbUrl(other) });
    await c.connect();
    try {
      await migrate(0, indexOf('0015_map_lineage_backfill') - 1, c);
      const id = (await c.query(`insert into customers (key, name) values ('acme', 'Acme') returning id`))
        .rows[0].id;
      const entry = (key: string, row: string, origin: string) =>
        c.query(
          `insert into map_entries (customer_id, entry_key, job, row, rank, label, count, sentiment, quote, refs, origin)
           values ($1, $2, 'pay', $3, 0, 'x', 1, '{}', 'q', $4, $5)`,
          [id, key, row, JSON.stringify([`ticket:${key}`]), origin],
        );
      await entry('k1', 'friction', 'machine');
      await entry('k2', 'internal_processes', 'machine');
      await entry('k3', 'friction', 'person');
      await migrate(indexOf('0015_map_lineage_backfill'), journal.entries.length - 1, c);
      const lineage = await c.query(`select customer_id, entry_key, job, row, refs from map_lineage`);
      expect(lineage.rows).toEqual([
        { customer_id: id, entry_key: 'k1', job: 'pay', row: 'friction', refs: ['ticket:k1'] },
      ]);
    } finally {
      await c.end();
      await admin(`drop database if exists ${other} with (force)`);
    }
  });
});
