import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { createTestDb, tempDir, testConfig, type TestDb } from './helpers/db.ts';
import { ROTA_REWORDED, TICKETS, TRANSCRIPT_VTT, ticket, writeBundle } from './helpers/bundle.ts';
import { runImport } from '../app/importer.ts';
import { importInProcessForTest } from './helpers/pipeline.ts';
import { classifications, importErrors, items, reviews, units } from '../db/schema/index.ts';
import { countWaitingUnits, getCustomerByKey, listImportRuns, pendingUnitIds } from '../db/queries.ts';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t?.drop();
});

describe('import of a bundle folder', () => {
  it('stores every unit with its reference, and a second import changes nothing', async () => {
    const dir = writeBundle();
    const first = await runImport(t.handle.db, { path: dir });
    expect(first.errors).toEqual([]);
    // 4 tickets + 3 survey answers + 2 customer turns of the transcript.
    expect(first.counts).toMatchObject({ itemsNew: 8, unitsNew: 9, errors: 0 });
    const refs = (await t.handle.db.select({ ref: units.ref }).from(units)).map((r) => r.ref).sort();
    expect(refs).toEqual(
      [
        'survey:S-1',
        'survey:S-2',
        'survey:S-3',
        'ticket:101',
        'ticket:102',
        'ticket:103',
        'ticket:104',
        'transcript:kiln-owner.vtt#1',
        'transcript:kiln-owner.vtt#2',
      ].sort(),
    );
    const [turn] = await t.handle.db.select().from(units).where(eq(units.ref, 'transcript:kiln-owner.vtt#1'));
    expect(turn!.text).toBe(
      'Busy. The booking page fills the room on Saturdays, but twice this month two parties got the same table.',
    );
    expect(turn!.speaker).toBe('Tom Baker');
    expect(turn!.offsetMs).toBe(5000);

    const before = await t.handle.db.select().from(units);
    const second = await runImport(t.handle.db, { path: dir });
    expect(second.counts).toMatchObject({
      itemsNew: 0,
      itemsUpdated: 0,
      itemsUnchanged: 8,
      unitsNew: 0,
      unitsUpdated: 0,
      unitsUnchanged: 9,
    });
    expect(second.touchedCustomers).toEqual([]);
    const after = await t.handle.db.select().from(units);
    expect(after).toEqual(before);
  });

  it('updates a changed ticket and classifies only its changed unit again', async () => {
    const config = testConfig();
    const dir = writeBundle();
    await importInProcessForTest(t.handle, config, { path: dir });
    expect(await pendingUnitIds(t.handle.db)).toEqual([]);
    const stamps = new Map(
      (
        await t.handle.db
          .select({ id: classifications.unitId, at: classifications.classifiedAt })
          .from(classifications)
      ).map((r) => [r.id, r.at.getTime()]),
    );

    const edited = TICKETS.map((tk) =>
      tk.id === 103 ? { ...tk, description: tk.description + ' Please add shift swaps.' } : tk,
    );
    writeBundle({ tickets: edited }, dir);
    const res = await importInProcessForTest(t.handle, config, { path: dir });
    expect(res.counts).toMatchObject({ itemsUpdated: 1, unitsUpdated: 1, itemsUnchanged: 7 });

    const rows = await t.handle.db
      .select({ id: classifications.unitId, at: classifications.classifiedAt, ref: units.ref })
      .from(classifications)
      .innerJoin(units, eq(units.id, classifications.unitId));
    const reclassified = rows.filter((r) => r.at.getTime() !== stamps.get(r.id)).map((r) => r.ref);
    expect(reclassified).toEqual(['ticket:103']);
  });

  it('reports bad rows with file, line and what was expected, and keeps every good row', async () => {
    const dir = writeBundle({
      ticketLines: [
        JSON.stringify(ticket({ id: 201, subject: 'Good one', description: 'Booking page works.' })),
        '{"id": 202, "customer": "kiln-cafe", "subject": broken json',
        JSON.stringify(ticket({ id: 203, customer: 'no-such-customer' })),
        JSON.stringify(ticket({ id: 204, created_at: 'last tuesday' })),
        JSON.stringify(ticket({ id: 205, subject: 'Also good', description: 'Rota is fine.' })),
      ],
      surveyRows: [
        ['S-10', 'kiln-cafe', '2026-03-05T10:00:00Z', 'Q', 'Fine answer', '8'],
        ['S-11', 'kiln-cafe', 'not a date', 'Q', 'Bad date', '8'],
        ['S-12', 'kiln-cafe', '2026-03-05T10:00:00Z', 'Q', 'Bad score', '11'],
      ],
      transcripts: false,
    });
    const res = await runImport(t.handle.db, { path: dir });
    const byLine = (file: string) => res.errors.filter((e) => e.file.endsWith(file)).map((e) => e.line);
    expect(byLine('tickets.jsonl').sort()).toEqual([2, 3, 4]);
    const unknown = res.errors.find((e) => e.field === 'customer')!;
    expect(unknown.message).toContain('no-such-customer');
    expect(unknown.message).toContain('"kiln-cafe"');
    expect(byLine('surveys.csv').sort()).toEqual([3, 4]);
    const stored = (await t.handle.db.select({ ref: units.ref }).from(units)).map((r) => r.ref);
    expect(stored).toEqual(expect.arrayContaining(['ticket:201', 'ticket:205', 'survey:S-10']));
    expect(stored).not.toContain('ticket:203');
    expect(stored).not.toContain('survey:S-11');

    const [run] = (await listImportRuns(t.handle.db)).filter((r) => r.id === res.runId);
    expect(run!.status).toBe('done');
    expect(run!.counts.errors).toBe(res.errors.length);
    const recorded = await t.handle.db.select().from(importErrors).where(eq(importErrors.runId, res.runId));
    expect(recorded).toHaveLength(res.errors.length);
  });

  it('refuses a transcript with no customer speaker, and files not in the index, without losing the rest', async () => {
    const dir = writeBundle({ tickets: [ticket({ id: 301 })] });
    fs.writeFileSync(path.join(dir, 'transcripts', 'stray.vtt'), 'WEBVTT\n');
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'transcripts', 'index.json'), 'utf8'));
    index[0].customer_speakers = ['Nobody Here'];
    fs.writeFileSync(path.join(dir, 'transcripts', 'index.json'), JSON.stringify(index));
    const res = await runImport(t.handle.db, { path: dir });
    expect(res.errors.some((e) => e.file.endsWith('kiln-owner.vtt') && /Nobody Here/.test(e.message))).toBe(
      true,
    );
    expect(res.errors.some((e) => e.file.endsWith('stray.vtt') && /not listed/.test(e.message))).toBe(true);
    const [stored] = await t.handle.db.select().from(items).where(eq(items.externalId, '301'));
    expect(stored).toBeDefined();
  });

  it('reports what a bundle folder holds that it does not read, and still imports the rest', async () => {
    const dir = writeBundle({ tickets: [ticket({ id: 302 })] });
    // Transcripts without their index, a spreadsheet, a stray folder; notes/ is not written.
    fs.rmSync(path.join(dir, 'transcripts', 'index.json'));
    fs.writeFileSync(path.join(dir, 'answers.xlsx'), 'not read');
    fs.mkdirSync(path.join(dir, 'archive'));
    fs.mkdirSync(path.join(dir, 'notes'));
    fs.writeFileSync(path.join(dir, 'notes', 'visit.md'), '- Paid on the spot\n');
    fs.writeFileSync(path.join(dir, '.DS_Store'), '');
    const res = await runImport(t.handle.db, { path: dir });
    const byFile = new Map(res.errors.map((e) => [path.relative(dir, e.file), e.message]));
    expect([...byFile.keys()].sort()).toEqual(['answers.xlsx', 'archive', 'notes', 'transcripts']);
    expect(byFile.get('transcripts')).toMatch(
      /^no index\.json, so none of its files were read: expected transcripts\/index\.json, \[\{"file", "customer", "interviewed_at", "customer_speakers"/,
    );
    expect(byFile.get('transcripts')).toContain('--speakers');
    expect(byFile.get('notes')).toMatch(/^no index\.json.*notes\/index\.json/);
    expect(byFile.get('answers.xlsx')).toMatch(/^not read: a bundle folder holds customers\.json/);
    expect(byFile.get('archive')).toMatch(/^not read: /);
    const [stored] = await t.handle.db.select().from(items).where(eq(items.externalId, '302'));
    expect(stored).toBeDefined();

    const empty = fs.mkdtempSync(path.join(path.dirname(dir), 'gapmap-empty-'));
    const none = await runImport(t.handle.db, { path: empty });
    expect(none.errors).toEqual([
      {
        file: empty,
        line: null,
        message: expect.stringMatching(/^nothing to import: a bundle folder holds/),
      },
    ]);
  });

  it('stores batches side by side, and a ticket repeated later in a big file still wins', async () => {
    // More tickets than one batch holds, so two batches are in flight at once; ticket 6005 comes twice.
    const many = Array.from({ length: 4500 }, (_, i) =>
      ticket({ id: 6000 + i, description: `First text ${i}.` }),
    );
    // The repeat falls in the second batch, which is stored while the first is still in flight.
    const repeat = ticket({ id: 6005, description: 'The last word on 6005.' });
    const lines = [...many.slice(0, 2500), repeat, ...many.slice(2500)].map((tk) => JSON.stringify(tk));
    const dir = writeBundle({ ticketLines: lines, surveyRows: [], transcripts: false });
    const res = await runImport(t.handle.db, { path: dir });
    // The repeat is named on the run (the later copy, line 2501, is the one kept); nothing else is wrong.
    expect(res.errors).toEqual([
      {
        file: path.join(dir, 'tickets.jsonl'),
        line: 6,
        field: 'id',
        message:
          'ticket 6005 appears again on line 2501 (first on line 6): the later copy, line 2501, is the one kept',
      },
    ]);
    expect(res.counts).toMatchObject({ itemsNew: 4500 });
    const [last] = await t.handle.db.select().from(units).where(eq(units.ref, 'ticket:6005'));
    expect(last!.text).toBe('Question 6005\nThe last word on 6005.');
    const stored = await t.handle.db.select({ ref: units.ref }).from(units);
    const ids = stored
      .map((u) => Number(u.ref.replace('ticket:', '')))
      .filter((id) => id >= 6000 && id < 10500);
    expect(new Set(ids).size).toBe(4500);
  });

  it('counts a retried import run once, and it still names the customers it touched', async () => {
    const dir = writeBundle({
      tickets: [ticket({ id: 401 }), ticket({ id: 402, customer: 'north-gym' })],
      surveyRows: [],
      transcripts: false,
    });
    const first = await runImport(t.handle.db, { path: dir });
    expect(first.customerKeys).toEqual(['kiln-cafe', 'north-gym']);
    // A worker killed after storing the items retries the ingest job with the same run: what the
    // run stored is still its news, or `import --wait` would wait for no customer at all.
    const again = await runImport(t.handle.db, { path: dir, runId: first.runId });
    expect(again.counts.itemsNew).toBe(first.counts.itemsNew);
    expect(again.counts.unitsNew).toBe(first.counts.unitsNew);
    expect(again.customerKeys).toEqual(first.customerKeys);
    expect(again.touchedCustomers.sort()).toEqual(first.touchedCustomers.sort());
    const [run] = (await listImportRuns(t.handle.db)).filter((r) => r.id === first.runId);
    expect(run!.customerKeys).toEqual(['kiln-cafe', 'north-gym']);
    // A later run of the same file is not this run: nothing in it is news.
    const later = await runImport(t.handle.db, { path: dir });
    expect(later.customerKeys).toEqual([]);
  });

  it('a job change touches its customer; jobs changed and changed back leave the tags current', async () => {
    const db = await createTestDb();
    try {
      const config = testConfig();
      const dir = writeBundle();
      await importInProcessForTest(db.handle, config, { path: dir });
      const kiln = async () => (await getCustomerByKey(db.handle.db, 'kiln-cafe'))!;
      const { id } = await kiln();
      const taggedAt = async () =>
        (await db.handle.db.select().from(classifications).where(eq(classifications.customerId, id)))
          .map((c) => `${c.unitId}:${c.classifiedAt.toISOString()}`)
          .sort();
      const before = await taggedAt();
      expect((await countWaitingUnits(db.handle.db, [id])).stale).toBe(0);

      const file = path.join(dir, 'customers.json');
      const original = fs.readFileSync(file, 'utf8');
      const defs = JSON.parse(original) as { key: string; jobs: { key: string; statement: string }[] }[];
      defs.find((c) => c.key === 'kiln-cafe')!.jobs.find((j) => j.key === 'staff-rota')!.statement =
        ROTA_REWORDED.statement;
      fs.writeFileSync(file, JSON.stringify(defs));
      // No unit changed, but every unit of kiln-cafe is owed a re-tag: the run names the customer.
      const changed = await runImport(db.handle.db, { path: dir });
      expect(changed.customerKeys).toEqual(['kiln-cafe']);
      expect((await countWaitingUnits(db.handle.db, [id])).stale).toBe(before.length);

      fs.writeFileSync(file, original);
      await runImport(db.handle.db, { path: dir });
      expect((await kiln()).jobsVersion).toBe(2);
      // The re-tag finds every tag is what these (the first) jobs give: none is made again, all are current.
      await importInProcessForTest(db.handle, config, { path: dir });
      expect(await taggedAt()).toEqual(before);
      expect((await countWaitingUnits(db.handle.db, [id])).stale).toBe(0);
    } finally {
      await db.drop();
    }
  });

  it('names the file when a single file needs --customer', async () => {
    const dir = writeBundle();
    await expect(
      runImport(t.handle.db, { path: path.join(dir, 'transcripts', 'kiln-owner.vtt') }),
    ).rejects.toThrow(/kiln-owner\.vtt.*--customer/);
  });

  it("refuses an item that is already another customer's instead of moving it, and imports the rest", async () => {
    const first = writeBundle({
      tickets: [ticket({ id: 77301, description: 'The booking page double-booked table six.' })],
      surveyRows: [],
    });
    expect((await runImport(t.handle.db, { path: first })).errors).toEqual([]);
    const kiln = (await getCustomerByKey(t.handle.db, 'kiln-cafe'))!;
    const gym = (await getCustomerByKey(t.handle.db, 'north-gym'))!;
    const ownerOf = async (ref: string) =>
      (await t.handle.db.select().from(units).where(eq(units.ref, ref)))[0];

    // Another help desk numbering from the same place, and another interview saved under the same name.
    const second = writeBundle({
      tickets: [
        ticket({ id: 77301, customer: 'north-gym', description: 'Spin class sign-up failed again.' }),
        ticket({ id: 77302, customer: 'north-gym', description: 'The class list loads slowly.' }),
      ],
      surveyRows: [],
    });
    fs.writeFileSync(
      path.join(second, 'transcripts', 'index.json'),
      JSON.stringify([
        {
          file: 'kiln-owner.vtt',
          customer: 'north-gym',
          interviewed_at: '2026-04-01',
          customer_speakers: ['Tom Baker'],
        },
      ]),
    );
    const res = await runImport(t.handle.db, { path: second });
    const refused = res.errors.filter((e) => e.field === 'customer');
    expect(refused).toHaveLength(2);
    const onTicket = refused.find((e) => e.file.endsWith('tickets.jsonl'))!;
    expect(onTicket.line).toBe(1);
    expect(onTicket.message).toContain('ticket 77301 is already customer "kiln-cafe"\'s');
    expect(onTicket.message).toContain('"north-gym"');
    const onTranscript = refused.find((e) => e.file.endsWith('kiln-owner.vtt'))!;
    expect(onTranscript.message).toContain('rename the file');
    expect(res.counts).toMatchObject({ itemsNew: 1, errors: 2 });

    // The first customer's evidence stays where it was, as it was; the new ticket went through.
    const kept = (await ownerOf('ticket:77301'))!;
    expect(kept.customerId).toBe(kiln.id);
    expect(kept.text).toContain('double-booked table six');
    expect((await ownerOf('transcript:kiln-owner.vtt#1'))!.customerId).toBe(kiln.id);
    expect((await ownerOf('ticket:77302'))!.customerId).toBe(gym.id);
  });

  it('reads a tickets file whose first line is no ticket, and reports that line', async () => {
    const dir = writeBundle({
      ticketLines: [
        JSON.stringify({ customer: 'kiln-cafe', created_at: '2026-03-02', description: 'No id here.' }),
        JSON.stringify(ticket({ id: 90001 })),
        JSON.stringify(ticket({ id: 90002 })),
      ],
      surveyRows: [],
      transcripts: false,
    });
    const res = await runImport(t.handle.db, { path: dir });
    expect(res.errors).toMatchObject([
      {
        file: path.join(dir, 'tickets.jsonl'),
        line: 1,
        field: 'id',
        message: expect.stringMatching(/ticket id/),
      },
    ]);
    expect(res.counts).toMatchObject({ itemsNew: 2, errors: 1 });
  });

  it('a decision stays with the words it was made on when a transcript gains or loses a turn', async () => {
    const turns = (answers: string[]) =>
      'WEBVTT\n\n' +
      answers
        .map(
          (a, i) =>
            `00:0${i}:00.000 --> 00:0${i}:05.000\n<v Ivan>Question ${i}?\n\n` +
            `00:0${i}:06.000 --> 00:0${i}:09.000\n<v Ann>${a}\n`,
        )
        .join('\n');
    const write = (answers: string[]) => {
      const dir = writeBundle({ tickets: [], surveyRows: [], transcripts: false });
      fs.mkdirSync(path.join(dir, 'transcripts'));
      fs.writeFileSync(path.join(dir, 'transcripts', 'shifting.vtt'), turns(answers));
      fs.writeFileSync(
        path.join(dir, 'transcripts', 'index.json'),
        JSON.stringify([
          {
            file: 'shifting.vtt',
            customer: 'kiln-cafe',
            interviewed_at: '2026-05-01',
            customer_speakers: ['Ann'],
          },
        ]),
      );
      return dir;
    };
    const A = 'We take walk-ins on paper.';
    const B = 'We cannot export the bookings to our accounts.';
    const C = 'The floor plan view is lovely.';
    const live = async () =>
      new Map(
        (await t.handle.db.select().from(units).where(eq(units.itemId, itemId)))
          .filter((u) => u.deletedAt === null)
          .map((u) => [u.ref, u]),
      );
    await runImport(t.handle.db, { path: write([B, C]) });
    const [item] = await t.handle.db.select().from(items).where(eq(items.externalId, 'shifting.vtt'));
    const itemId = item!.id;
    const b = (await live()).get('transcript:shifting.vtt#1')!;
    expect(b.text).toBe(B);
    const kiln = (await getCustomerByKey(t.handle.db, 'kiln-cafe'))!;
    await t.handle.db.insert(reviews).values({
      customerId: kiln.id,
      unitId: b.id,
      action: 'set_kind',
      value: 'value_gap',
      who: 'lead@test',
    });

    // A turn added above: B is the second turn now, and its decision goes with it.
    const added = await runImport(t.handle.db, { path: write([A, B, C]) });
    expect(added.counts).toMatchObject({ unitsNew: 1, unitsUnchanged: 2, unitsUpdated: 0, unitsRemoved: 0 });
    let now = await live();
    expect([...now.keys()].sort()).toEqual(['#1', '#2', '#3'].map((n) => `transcript:shifting.vtt${n}`));
    expect(now.get('transcript:shifting.vtt#1')!.text).toBe(A);
    expect(now.get('transcript:shifting.vtt#2')!.id).toBe(b.id);
    expect(now.get('transcript:shifting.vtt#3')!.text).toBe(C);
    const decided = await t.handle.db.select().from(reviews).where(eq(reviews.unitId, b.id));
    expect(decided).toHaveLength(1);

    // B taken out: its unit is kept, deleted, with its decision; C takes its place.
    const removed = await runImport(t.handle.db, { path: write([A, C]) });
    expect(removed.counts).toMatchObject({ unitsNew: 0, unitsUnchanged: 2, unitsRemoved: 1 });
    now = await live();
    expect([...now.values()].map((u) => u.text)).toEqual(expect.arrayContaining([A, C]));
    expect(now.get('transcript:shifting.vtt#2')!.text).toBe(C);
    const [kept] = await t.handle.db.select().from(units).where(eq(units.id, b.id));
    expect(kept!.text).toBe(B);
    expect(kept!.deletedAt).not.toBeNull();
    expect(await t.handle.db.select().from(reviews).where(eq(reviews.unitId, b.id))).toHaveLength(1);
  });

  it('reads a single text file given --speakers as a transcript, and says when it has no speaker lines', async () => {
    const dir = tempDir('gapmap-single-');
    await runImport(t.handle.db, {
      path: path.join(writeBundle({ ticketLines: [], surveyRows: [], transcripts: false }), 'customers.json'),
    });
    // Mostly continuation paragraphs: detection alone takes it for notes.
    const call = path.join(dir, 'call-90010.txt');
    fs.writeFileSync(
      call,
      'Ana Ruiz: How do weekends go?\n\nTom Baker: Two parties got table six.\n\n' +
        'It happened twice this month.\n\nWe gave them free drinks.\n\nIt is embarrassing.\n\n' +
        'Saturdays are the worst.\n\nAna Ruiz: Thanks.\n',
    );
    const res = await runImport(t.handle.db, { path: call, customer: 'kiln-cafe', speakers: ['Tom Baker'] });
    expect(res.errors).toEqual([]);
    const turns = await t.handle.db.select().from(units).where(eq(units.ref, 'transcript:call-90010.txt#1'));
    expect(turns).toMatchObject([
      {
        speaker: 'Tom Baker',
        text:
          'Two parties got table six. It happened twice this month. We gave them free drinks. ' +
          'It is embarrassing. Saturdays are the worst.',
      },
    ]);

    // Otter's layout: a heading of name and time above the words.
    const otter = path.join(dir, 'otter-90011.txt');
    fs.writeFileSync(otter, 'Speaker 1  0:00\nHow do weekends go?\n\nSpeaker 2  0:05\nBusy.\n');
    const read = await runImport(t.handle.db, {
      path: otter,
      customer: 'kiln-cafe',
      speakers: ['Speaker 2'],
    });
    expect(read.errors).toEqual([]);
    const [busy] = await t.handle.db
      .select()
      .from(units)
      .where(eq(units.ref, 'transcript:otter-90011.txt#1'));
    expect(busy).toMatchObject({ speaker: 'Speaker 2', text: 'Busy.', offsetMs: 5000 });

    // No speaker to be found: said so, with the heading-like line it saw.
    const plain = path.join(dir, 'plain-90012.txt');
    fs.writeFileSync(plain, 'Interview 12:30\nHow do weekends go?\n\nBusy, every Saturday.\n');
    const none = await runImport(t.handle.db, {
      path: plain,
      customer: 'kiln-cafe',
      speakers: ['Tom Baker'],
    });
    expect(none.counts).toMatchObject({ itemsNew: 0, errors: 1 });
    expect(none.errors).toMatchObject([
      {
        file: plain,
        line: null,
        message: expect.stringMatching(/no speaker lines.*"Interview 12:30".*two spaces or a tab/),
      },
    ]);
  });

  it('reports a broken link in a bundle folder by name and imports the rest', async () => {
    const dir = writeBundle({ tickets: [ticket({ id: 90020 })], surveyRows: [], transcripts: false });
    fs.symlinkSync(path.join(dir, 'gone', 'answers.csv'), path.join(dir, 'aaa-answers.csv'));
    const res = await runImport(t.handle.db, { path: dir });
    expect(res.errors).toMatchObject([
      {
        file: path.join(dir, 'aaa-answers.csv'),
        line: null,
        message: expect.stringMatching(/a link to .*gone\/answers\.csv, which does not exist/),
      },
    ]);
    expect(res.counts).toMatchObject({ itemsNew: 1, errors: 1 });
  });

  it('counts the file of an invalid index entry as listed: one error for the entry, none for the file', async () => {
    const dir = writeBundle({ tickets: [ticket({ id: 90032 })], surveyRows: [], transcripts: false });
    fs.mkdirSync(path.join(dir, 'transcripts'));
    fs.writeFileSync(path.join(dir, 'transcripts', 'call-90030.vtt'), TRANSCRIPT_VTT);
    fs.writeFileSync(path.join(dir, 'transcripts', 'call-90031.vtt'), TRANSCRIPT_VTT);
    fs.writeFileSync(
      path.join(dir, 'transcripts', 'index.json'),
      JSON.stringify([
        {
          file: 'call-90030.vtt',
          customer: 'kiln-cafe',
          interviewed_at: '12/03/2026',
          customer_speakers: ['Tom Baker'],
        },
        { file: 'call-90031.vtt', customer: 'kiln-cafe', customer_speakers: 'Tom Baker' },
      ]),
    );
    const res = await runImport(t.handle.db, { path: dir });
    expect(res.errors.map((e) => [path.basename(e.file), e.field])).toEqual([
      ['index.json', '[0].interviewed_at'],
      ['index.json', '[1].customer_speakers'],
    ]);
  });

  it('keeps the later copy of an id repeated in one file, and says which copy was left out', async () => {
    const dir = writeBundle({
      tickets: [
        ticket({ id: 90040, description: 'The first state of 90040.' }),
        ticket({ id: 90041 }),
        ticket({ id: 90040, description: 'The newer state of 90040.' }),
      ],
      surveyRows: [
        ['R-90042', 'kiln-cafe', '', 'Q', 'First answer', ''],
        ['R-90042', 'kiln-cafe', '', 'Q', 'Corrected answer', ''],
      ],
      transcripts: false,
    });
    const res = await runImport(t.handle.db, { path: dir });
    expect(res.errors).toEqual([
      {
        file: path.join(dir, 'surveys.csv'),
        line: 2,
        field: 'response_id',
        message:
          'survey R-90042 appears again on row 3 (first on row 2): the later copy, row 3, is the one kept',
      },
      {
        file: path.join(dir, 'tickets.jsonl'),
        line: 1,
        field: 'id',
        message:
          'ticket 90040 appears again on line 3 (first on line 1): the later copy, line 3, is the one kept',
      },
    ]);
    const text = async (ref: string) =>
      (await t.handle.db.select().from(units).where(eq(units.ref, ref)))[0]?.text;
    expect(await text('ticket:90040')).toBe('Question 90040\nThe newer state of 90040.');
    expect(await text('survey:R-90042')).toBe('Corrected answer');
  });

  it('says a UTF-16 file in a bundle is UTF-16, to save as UTF-8', async () => {
    const dir = writeBundle({ tickets: [ticket({ id: 90050 })], surveyRows: [], transcripts: false });
    const zendesk = JSON.stringify({ tickets: [ticket({ id: 90051 })] });
    fs.writeFileSync(
      path.join(dir, 'zendesk.json'),
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(zendesk, 'utf16le')]),
    );
    const res = await runImport(t.handle.db, { path: dir });
    expect(res.errors).toEqual([
      {
        file: path.join(dir, 'zendesk.json'),
        line: null,
        message:
          'the file looks like UTF-16 text: save it as UTF-8 and import it again (expected a format Gapmap reads, in UTF-8)',
      },
    ]);
    expect(res.counts).toMatchObject({ itemsNew: 1, errors: 1 });
  });
});
