/**
 * The review loop through the API: decisions stored with who and when, applied over machine tags,
 * kept through a later import and classification, and the map rebuilt after them. Jobs, merges,
 * splits and renames; exports.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { createTestDb, tempDir, testConfig, type TestDb } from './helpers/db.ts';
import { TICKETS, ticket, writeBundle } from './helpers/bundle.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import { createDashboard } from '../dashboard/server.ts';
import { createApiToken, createUser } from '../dashboard/auth.ts';
import { classifications, jobs, reviews, units } from '../db/schema/index.ts';
import { getCustomerByKey, unitsWithTags, reviewedExamples } from '../db/queries.ts';
import { headsLearning } from '../db/reviews.ts';
import { OWN_HEADS_FROM } from '../classifiers/types.ts';
import type { Config } from '../app/env.ts';

let t: TestDb;
let config: Config;
let dash: ReturnType<typeof createDashboard>;
let auth: Record<string, string>;
let customerId: number;

type MapShape = {
  columns: {
    job: string | null;
    cells: Record<string, { key: string; label: string; count: number; refs: string[]; origin: string }[]>;
  }[];
};

const api = async (method: string, path: string, body?: unknown) => {
  const res = await dash.app.request(path, {
    method,
    headers: { ...auth, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
};
const entries = async () => {
  const map = (await api('GET', '/api/customers/kiln-cafe/map')).json as MapShape;
  return map.columns.flatMap((c) =>
    Object.entries(c.cells).flatMap(([row, es]) => es.map((e) => ({ ...e, row, job: c.job }))),
  );
};

/** Imports a customers.json of these customers (no feedback) into the test database. */
const importCustomers = async (list: { key: string; name: string; jobs: object[] }[]) => {
  const dir = tempDir('gapmap-customers-');
  fs.writeFileSync(path.join(dir, 'customers.json'), JSON.stringify(list));
  await importInProcessForTest(t.handle, config, { path: dir });
};

beforeAll(async () => {
  t = await createTestDb();
  config = testConfig();
  await importInProcessForTest(t.handle, config, { path: writeBundle() });
  const u = await createUser(t.handle.db, { email: 'lena@example.com', name: 'Lena', role: 'lead' });
  auth = {
    Authorization: `Bearer ${(await createApiToken(t.handle.db, { userId: u.id, name: 't' })).token}`,
  };
  dash = createDashboard({ config, handle: t.handle });
  customerId = (await getCustomerByKey(t.handle.db, 'kiln-cafe'))!.id;
});

afterAll(async () => {
  await dash?.background.close();
  await t?.drop();
});

describe('review queue', () => {
  it('lists unchecked units least sure first, and a checked unit leaves it', async () => {
    const q = (await api('GET', '/api/customers/kiln-cafe/review-queue')).json;
    expect(q.total).toBeGreaterThan(2);
    const conf = q.units.map((u: { confidence: number }) => u.confidence);
    expect(conf).toEqual([...conf].sort((a, b) => a - b));
    const first = q.units[0].ref;
    const before = await headsLearning(t.handle.db, customerId);
    const decided = await api('POST', '/api/customers/kiln-cafe/units/decide', {
      ref: first,
      action: 'accept',
    });
    expect(decided.status).toBe(200);
    // The answer says how far the customer's decisions are from teaching its kind and sentiment heads.
    expect(decided.json.learning).toMatchObject({
      kind: { decided: before.kind.decided + 1, from: OWN_HEADS_FROM.kind },
      sentiment: { decided: before.sentiment.decided + 1, from: OWN_HEADS_FROM.sentiment },
    });
    expect(decided.json.learning.note).toContain(
      `Kind tags learn from this customer's decisions once there are ${OWN_HEADS_FROM.kind} (${before.kind.decided + 1} so far)`,
    );
    expect(decided.json.learning.note).toContain('Until then a decision fixes its own unit');
    const page = await dash.app.request('/customers/kiln-cafe/review', { headers: auth });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(
      new RegExp(
        `id="learning">Kind tags learn from this customer.{1,6}s decisions once there are ${OWN_HEADS_FROM.kind}`,
      ),
    );
    // Past the count the note says the tags learn, and drops the "until then".
    const past = await headsLearning(t.handle.db, customerId, { kind: 1, sentiment: 99 });
    expect(past.note).toContain(`Kind tags learn from this customer's ${past.kind.decided} kind decisions`);
    expect(past.note).toContain('sentiment tags learn from this customer');
    expect((await headsLearning(t.handle.db, customerId, { kind: 1, sentiment: 1 })).note).not.toContain(
      'Until then',
    );
    const q2 = (await api('GET', '/api/customers/kiln-cafe/review-queue')).json;
    expect(q2.total).toBe(q.total - 1);
    expect(q2.units.map((u: { ref: string }) => u.ref)).not.toContain(first);
  });

  it('refuses to merge entries of two cells, naming both, and changes nothing', async () => {
    const all = await entries();
    // As QA found it: one entry of each of two jobs, in two different rows.
    const a = all.find((e) => e.row !== 'internal_processes' && e.job !== null)!;
    const b = all.find((e) => e.row !== a.row && e.job !== a.job && e.job !== null)!;
    expect(b).toBeDefined();
    const decisionsBefore = (await api('GET', '/api/customers/kiln-cafe/decisions?limit=1000')).json.length;
    const res = await api('POST', '/api/customers/kiln-cafe/entries/merge', { entries: [a.key, b.key] });
    expect(res.status).toBe(400);
    const msg = res.json.error.message as string;
    expect(msg).toContain(`(${a.job ?? 'no job'}, ${a.row})`);
    expect(msg).toContain(`(${b.job ?? 'no job'}, ${b.row})`);
    const after = await entries();
    expect(after.find((e) => e.key === a.key)).toMatchObject({ refs: a.refs, count: a.count });
    expect(after.find((e) => e.key === b.key)).toMatchObject({ refs: b.refs, count: b.count });
    expect(after.some((e) => e.origin === 'person' && e.refs.some((r) => a.refs.includes(r)))).toBe(false);
    expect((await api('GET', '/api/customers/kiln-cafe/decisions?limit=1000')).json.length).toBe(
      decisionsBefore,
    );
  });

  it('refuses an accept from a stale page (409, the tags now, reload) and records nothing; without expected tags it accepts as before', async () => {
    const q = (await api('GET', '/api/customers/kiln-cafe/review-queue')).json;
    const u = q.units.find((x: { job: string | null }) => x.job !== null);
    const shown = { job: u.job, kind: u.kind, sentiment: u.sentiment };
    const other = u.job === 'staff-rota' ? 'table-bookings' : 'staff-rota';
    const decide = (body: object) =>
      api('POST', '/api/customers/kiln-cafe/units/decide', { ref: u.ref, ...body });
    // Tab A moves the unit; tab B still shows the old job and presses accept.
    expect((await decide({ action: 'set_job', value: other })).status).toBe(200);
    const rowsOf = async () =>
      (await api('GET', '/api/customers/kiln-cafe/decisions?limit=1000')).json.filter(
        (d: { ref: string | null }) => d.ref === u.ref,
      ).length;
    const before = await rowsOf();
    const stale = await decide({ action: 'accept', expected: shown });
    expect(stale.status).toBe(409);
    expect(stale.json.error.message).toContain(`job ${other}`);
    expect(stale.json.error.message).toContain(`job ${u.job}`);
    expect(stale.json.error.message).toMatch(/reload/);
    expect(await rowsOf()).toBe(before);
    // A page showing what is stored now, or a client sending no expected tags, accepts them.
    expect((await decide({ action: 'accept', expected: { ...shown, job: other } })).status).toBe(200);
    expect(await rowsOf()).toBe(before + 3);
    expect((await decide({ action: 'accept' })).status).toBe(200);
    expect(await rowsOf()).toBe(before + 6);
    const tags = (await unitsWithTags(t.handle.db, customerId)).find((x) => x.ref === u.ref)!;
    expect(tags).toMatchObject({ job: other, kind: u.kind, sentiment: u.sentiment });
  });

  it('stores who and when, and the decision outlives a later import and classification', async () => {
    const before = await api('POST', '/api/customers/kiln-cafe/units/decide', {
      ref: 'ticket:103',
      action: 'set_kind',
      value: 'value_gap',
    });
    expect(before.status).toBe(200);
    await api('POST', '/api/customers/kiln-cafe/units/decide', {
      ref: 'ticket:103',
      action: 'set_job',
      value: 'table-bookings',
    });
    const rows = await t.handle.db
      .select()
      .from(reviews)
      .where(and(eq(reviews.customerId, customerId), eq(reviews.action, 'set_kind')));
    const row = rows.find((r) => r.value === 'value_gap')!;
    expect(row.who).toBe('lena@example.com');
    expect(row.at.getTime()).toBeGreaterThan(Date.now() - 60_000);

    // The ticket changes at the source and everything is imported and classified again.
    const bundle = writeBundle({
      tickets: TICKETS.map((tk) =>
        tk.id === 103 ? ticket({ ...tk, description: tk.description + ' Every single week.' }) : tk,
      ),
    });
    await importInProcessForTest(t.handle, config, { path: bundle });
    const unit = (await unitsWithTags(t.handle.db, customerId)).find((u) => u.ref === 'ticket:103')!;
    expect(unit.kind).toBe('value_gap');
    expect(unit.job).toBe('table-bookings');
    expect(unit.reviewedBy).toBe('lena@example.com');
    // And it is a training example for the customer's heads.
    expect(
      (await reviewedExamples(t.handle.db, customerId)).some(
        (e) => e.kind === 'value_gap' && /rota/.test(e.text),
      ),
    ).toBe(true);
  });

  it('moving a unit rebuilds the map without anyone asking', async () => {
    await dash.background.idle();
    const where = async () => (await entries()).find((e) => e.refs.includes('survey:S-1'));
    const before = await where();
    await api('POST', '/api/customers/kiln-cafe/units/decide', {
      ref: 'survey:S-1',
      action: 'set_kind',
      value: 'friction',
    });
    await api('POST', '/api/customers/kiln-cafe/units/decide', {
      ref: 'survey:S-1',
      action: 'set_job',
      value: 'staff-rota',
    });
    await dash.background.idle();
    const after = await where();
    expect(after).toMatchObject({ row: 'friction', job: 'staff-rota' });
    expect(after).not.toEqual(before);
  });

  it('rejecting a unit takes it off the map; rejecting an entry removes it and a rebuild keeps it out', async () => {
    await api('POST', '/api/customers/kiln-cafe/units/decide', { ref: 'survey:S-1', action: 'reject' });
    await dash.background.idle();
    expect((await entries()).some((e) => e.refs.includes('survey:S-1'))).toBe(false);

    const victim = (await entries()).find((e) => e.row !== 'internal_processes')!;
    expect(
      (await api('POST', `/api/customers/kiln-cafe/entries/${victim.key}/decide`, { action: 'reject' }))
        .status,
    ).toBe(200);
    expect((await entries()).some((e) => e.key === victim.key)).toBe(false);
    await importInProcessForTest(t.handle, config, { path: writeBundle() });
    expect((await entries()).some((e) => e.key === victim.key)).toBe(false);
  });

  it('renames an entry, and the name survives a rebuild', async () => {
    const e = (await entries())[0]!;
    expect(
      (
        await api('POST', `/api/customers/kiln-cafe/entries/${e.key}/decide`, {
          action: 'rename',
          value: '<b>Double bookings</b>',
        })
      ).status,
    ).toBe(200);
    await importInProcessForTest(t.handle, config, { path: writeBundle() });
    expect((await entries()).find((x) => x.key === e.key)!.label).toBe('<b>Double bookings</b>');
  });

  it('merges two entries into one a person owns, and splits it again', async () => {
    const all = (await entries()).filter((e) => e.row === 'internal_processes');
    expect(all.length).toBeGreaterThanOrEqual(2);
    const [a, b] = all as [(typeof all)[0], (typeof all)[0]];
    const merged = await api('POST', '/api/customers/kiln-cafe/entries/merge', {
      entries: [a.key, b.key],
      label: 'Booking desk',
    });
    expect(merged.status).toBe(200);
    const m = (await entries()).find((e) => e.key === merged.json.entry)!;
    expect(m).toMatchObject({ label: 'Booking desk', origin: 'person' });
    expect(new Set(m.refs)).toEqual(new Set([...a.refs, ...b.refs]));
    expect((await entries()).some((e) => e.key === a.key || e.key === b.key)).toBe(false);
    await dash.background.idle();
    expect((await entries()).some((e) => e.key === a.key || e.key === b.key)).toBe(false);

    if (m.refs.length >= 2) {
      const split = await api('POST', `/api/customers/kiln-cafe/entries/${m.key}/split`, {
        refs: [m.refs[0]],
        label: 'Split off',
      });
      expect(split.status).toBe(200);
      const keys = (await entries()).map((e) => e.key);
      expect(keys).toEqual(expect.arrayContaining(split.json.entries));
      expect(keys).not.toContain(m.key);
    }
    const bad = await api('POST', '/api/customers/kiln-cafe/entries/merge', { entries: [a.key] });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/entries/);
  });

  it('refuses a move to a job the customer does not have, saying which', async () => {
    const res = await api('POST', '/api/customers/kiln-cafe/units/decide', {
      ref: 'ticket:101',
      action: 'set_job',
      value: 'class-signups',
    });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/class-signups/);
  });
});

describe('jobs', () => {
  it('adds and edits jobs as a person; an import does not overwrite them', async () => {
    const before = new Date();
    expect(
      (
        await api('POST', '/api/customers/kiln-cafe/jobs', {
          key: 'supplier-orders',
          statement: 'Order stock before the weekend rush',
          desired_outcome: 'Minimize dishes struck off the menu',
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await api('PUT', '/api/customers/kiln-cafe/jobs/staff-rota', {
          statement: 'Publish the rota by Wednesday',
          desired_outcome: 'Minimize hours spent on it',
        })
      ).status,
    ).toBe(200);
    expect(
      (await api('POST', '/api/customers/kiln-cafe/jobs', { key: 'Bad Key!', statement: 'x' })).status,
    ).toBe(400);
    // A new or reworded job can move any unit: every unit is tagged again and the map rebuilt.
    await dash.background.idle();
    const tagged = await t.handle.db
      .select({ at: classifications.classifiedAt })
      .from(classifications)
      .innerJoin(units, eq(units.id, classifications.unitId))
      .where(eq(units.customerId, customerId));
    expect(tagged.length).toBeGreaterThan(0);
    expect(tagged.filter((c) => c.at < before)).toEqual([]);
    const rebuilt = (await api('GET', '/api/customers/kiln-cafe/map')).json as MapShape;
    expect(rebuilt.columns.map((c) => c.job)).toContain('supplier-orders');
    await importInProcessForTest(t.handle, config, { path: writeBundle() });
    const rows = await t.handle.db.select().from(jobs).where(eq(jobs.customerId, customerId));
    expect(rows.find((j) => j.key === 'staff-rota')).toMatchObject({
      statement: 'Publish the rota by Wednesday',
      origin: 'person',
    });
    expect(rows.find((j) => j.key === 'supplier-orders')).toMatchObject({ origin: 'person' });
    const map = (await api('GET', '/api/customers/kiln-cafe/map')).json as MapShape;
    expect(map.columns.map((c) => c.job)).toContain('supplier-orders');
  });

  it('edits a job whose key customers.json gave in another form ("Book Rooms"); a new key is still checked', async () => {
    await importCustomers([
      {
        key: 'qa-rooms',
        name: 'QA Rooms',
        jobs: [{ key: 'Book Rooms', statement: 'Book meeting rooms for the team', desired_outcome: '' }],
      },
    ]);
    const res = await api('PUT', '/api/customers/qa-rooms/jobs/Book%20Rooms', {
      statement: 'Book meeting rooms for the whole team',
      desired_outcome: 'Minimize double-booked rooms',
    });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    const rooms = (await getCustomerByKey(t.handle.db, 'qa-rooms'))!;
    const rows = await t.handle.db.select().from(jobs).where(eq(jobs.customerId, rooms.id));
    expect(rows.map((j) => [j.key, j.statement, j.desiredOutcome, j.origin])).toEqual([
      ['Book Rooms', 'Book meeting rooms for the whole team', 'Minimize double-booked rooms', 'person'],
    ]);
    const added = await api('POST', '/api/customers/qa-rooms/jobs', {
      key: 'Order Food',
      statement: 'Order lunch',
    });
    expect(added.status).toBe(400);
    expect(added.json.error.message).toMatch(/job key "Order Food": expected lowercase/);
    expect((await api('PUT', '/api/customers/qa-rooms/jobs/No%20Such', { statement: 'x' })).status).toBe(404);
  });

  it('keeps a field an edit leaves out, answers the key it stored, and limits statements and outcomes to 500 characters', async () => {
    const rota = async () =>
      (
        await t.handle.db
          .select()
          .from(jobs)
          .where(and(eq(jobs.customerId, customerId), eq(jobs.key, 'staff-rota')))
      )[0]!;
    expect(
      (
        await api('PUT', '/api/customers/kiln-cafe/jobs/staff-rota', {
          desired_outcome: 'Minimize phone calls',
        })
      ).status,
    ).toBe(200);
    expect((await rota()).desiredOutcome).toBe('Minimize phone calls');
    const statement = (await rota()).statement;
    expect(
      (
        await api('PUT', '/api/customers/kiln-cafe/jobs/staff-rota', {
          statement: 'Publish the rota by Tuesday',
        })
      ).status,
    ).toBe(200);
    expect(await rota()).toMatchObject({
      statement: 'Publish the rota by Tuesday',
      desiredOutcome: 'Minimize phone calls',
    });
    expect(statement).not.toBe('Publish the rota by Tuesday');

    const added = await api('POST', '/api/customers/kiln-cafe/jobs', {
      key: ' gift-cards ',
      statement: 'Sell gift cards',
    });
    expect(added.status).toBe(201);
    expect(added.json.key).toBe('gift-cards');
    const keys = (await t.handle.db.select().from(jobs).where(eq(jobs.customerId, customerId))).map(
      (j) => j.key,
    );
    expect(keys).toContain('gift-cards');

    const long = 'Plan the rota '.repeat(40).slice(0, 501);
    for (const [method, path, body, field] of [
      ['POST', '/api/customers/kiln-cafe/jobs', { key: 'long-job', statement: long }, 'statement'],
      ['PUT', '/api/customers/kiln-cafe/jobs/staff-rota', { statement: long }, 'statement'],
      ['PUT', '/api/customers/kiln-cafe/jobs/staff-rota', { desired_outcome: long }, 'desired_outcome'],
    ] as const) {
      const res = await api(method, path, body);
      expect(res.status, `${method} ${field}`).toBe(400);
      expect(res.json.error.message).toMatch(new RegExp(`^${field}: .*501 characters.*500`));
    }
    expect(await rota()).toMatchObject({
      statement: 'Publish the rota by Tuesday',
      desiredOutcome: 'Minimize phone calls',
    });
    expect((await t.handle.db.select().from(jobs).where(eq(jobs.key, 'long-job'))).length).toBe(0);
    expect((await api('PUT', '/api/customers/kiln-cafe/jobs/staff-rota', {})).status).toBe(400);
  });
});

describe('exports', () => {
  it('Markdown, CSV (one row per unit, formulas defused) and JSON', async () => {
    const md = await dash.app.request('/api/customers/kiln-cafe/export.md', { headers: auth });
    expect(md.headers.get('content-type')).toMatch(/markdown/);
    const text = await md.text();
    expect(text).toMatch(/^# Kiln Café: Value Gap Map/);
    expect(text).toMatch(/### Value gaps/);
    expect(text).toContain('\\<b\\>Double bookings\\</b\\>');

    const csvRes = await dash.app.request('/api/customers/kiln-cafe/export.csv', { headers: auth });
    const csv = await csvRes.text();
    const lines = csv.trim().split('\r\n');
    expect(lines[0]).toBe(
      'ref,source_type,source_id,speaker,occurred_at,offset_ms,job,job_confidence,kind,kind_confidence,sentiment,sentiment_confidence,reviewed_by,entries,text',
    );
    const units = (await api('GET', '/api/customers/kiln-cafe/units')).json as unknown[];
    expect(lines.length - 1).toBe(units.length);
    expect(csv).toMatch(/\nticket:103,ticket,103,.*value_gap,1,.*lena@example\.com/);

    const json = await api('GET', '/api/customers/kiln-cafe/export.json');
    expect(json.json.customer).toEqual({ key: 'kiln-cafe', name: 'Kiln Café' });
  });

  it('pages through a customer’s units with limit and the Link header, and refuses a bad limit', async () => {
    const all = (await api('GET', '/api/customers/kiln-cafe/units')).json as { ref: string }[];
    expect(all.length).toBeGreaterThan(3);
    const seen: string[] = [];
    let next: string | null = '/api/customers/kiln-cafe/units?limit=3';
    let pages = 0;
    while (next) {
      const res: Response = await dash.app.request(next, { headers: auth });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { ref: string }[];
      expect(page.length).toBeLessThanOrEqual(3);
      seen.push(...page.map((u) => u.ref));
      next = res.headers.get('link')?.match(/^<([^>]+)>; rel="next"$/)?.[1] ?? null;
      pages++;
    }
    expect(seen).toEqual(all.map((u) => u.ref));
    expect(pages).toBe(Math.floor(all.length / 3) + 1);
    for (const bad of ['limit=0', 'limit=abc', 'limit=5001', 'limit=2&after=-1'])
      expect((await api('GET', `/api/customers/kiln-cafe/units?${bad}`)).status).toBe(400);
  });

  it('downloads under any customer key: an ASCII filename and the exact one as filename*', async () => {
    const keys = ['qa-émoji-😀', 'qa-"quoted"\\name;x'];
    await importCustomers(keys.map((key) => ({ key, name: `QA ${key}`, jobs: [] })));
    for (const key of keys)
      for (const [file, suffix] of [
        ['export.json', 'map.json'],
        ['export.md', 'map.md'],
        ['export.csv', 'units.csv'],
      ] as const) {
        const res = await dash.app.request(`/api/customers/${encodeURIComponent(key)}/${file}`, {
          headers: auth,
        });
        expect(res.status, `${key} ${file}: ${await res.clone().text()}`).toBe(200);
        const header = res.headers.get('content-disposition')!;
        const m =
          /^attachment; filename="([\x20-\x7e]*)"; filename\*=UTF-8''([A-Za-z0-9!#$&+.^_`|~%-]+)$/.exec(
            header,
          );
        expect(m, header).not.toBeNull();
        expect(m![1]).not.toMatch(/["\\%]/);
        expect(m![1]).toMatch(new RegExp(`^qa-.*-${suffix.replace('.', '\\.')}$`));
        expect(decodeURIComponent(m![2]!)).toBe(`${key}-${suffix}`);
      }
  });
});

describe('the source page of a transcript', () => {
  it('shows a customer turn among its neighbouring turns, the interviewer’s included, in order', async () => {
    const res = await dash.app.request('/customers/kiln-cafe/source?ref=transcript%3Akiln-owner.vtt%231', {
      headers: auth,
    });
    expect(res.status).toBe(200);
    const page = await res.text();
    const question = page.indexOf('Thanks for joining. How do weekends go?');
    const answer = page.indexOf('Busy. The booking page fills the room on Saturdays');
    const followUp = page.indexOf('What happens then?');
    const second = page.indexOf('I give one of them free drinks');
    expect(question).toBeGreaterThan(-1);
    expect([question < answer, answer < followUp, followUp < second]).toEqual([true, true, true]);
    expect(page).toContain('id="transcript:kiln-owner.vtt#1"');
  });
});
