import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { delimiterOf, parseSurveys, type SurveyOptions } from '../ingest/surveys.ts';
import type { ImportIssue, ParsedItem } from '../ingest/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'gapmap-surveys-'));
function fixture(name: string, content: string | Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}
async function parse(file: string, opts?: SurveyOptions) {
  const items: ParsedItem[] = [];
  const errors: ImportIssue[] = [];
  for await (const ev of parseSurveys(file, opts)) {
    if (ev.type === 'item') items.push(ev.item);
    else errors.push(ev.error);
  }
  return { items, errors };
}

const HEADER = 'response_id,customer,submitted_at,question,answer,score\n';

describe('parseSurveys', () => {
  it('makes one item and one unit per row', async () => {
    const file = fixture(
      'good.csv',
      HEADER +
        'S-1,crumb-and-co,2026-04-01T09:30:00Z,What should we improve?,The delivery slots fill up too fast.,6\r\n' +
        'S-2,northgate-garage,2026-04-02,Why this score?,"Quotes go out in minutes, ""finally"".",\n',
    );
    const { items, errors } = await parse(file);
    expect(errors).toEqual([]);
    expect(items).toHaveLength(2);
    expect(items[0]).toEqual({
      sourceType: 'survey',
      externalId: 'S-1',
      customerKey: 'crumb-and-co',
      occurredAt: new Date('2026-04-01T09:30:00Z'),
      origin: { file, line: 2 },
      meta: { question: 'What should we improve?', score: 6 },
      units: [
        {
          ref: 'survey:S-1',
          ordinal: 1,
          speaker: null,
          text: 'The delivery slots fill up too fast.',
          occurredAt: new Date('2026-04-01T09:30:00Z'),
          offsetMs: null,
        },
      ],
    });
    expect(items[1]?.units[0]?.text).toBe('Quotes go out in minutes, "finally".');
    expect(items[1]?.meta).toEqual({ question: 'Why this score?', score: null });
  });

  it('maps an export’s own header names through the columns option, with a default customer', async () => {
    const file = fixture(
      'export.csv',
      'Respondent,Date submitted,What would you improve?,How likely are you to recommend us?\n' +
        'r-77,2026-05-05 10:00:00,Let me reorder last week’s batch in one click.,9\n',
    );
    const opts: SurveyOptions = {
      columns: {
        response_id: 'Respondent',
        submitted_at: 'Date submitted',
        answer: 'What would you improve?',
        score: 'How likely are you to recommend us?',
      },
      defaultCustomer: 'crumb-and-co',
    };
    const { items, errors } = await parse(file, opts);
    expect(errors).toEqual([]);
    expect(items[0]).toMatchObject({
      externalId: 'r-77',
      customerKey: 'crumb-and-co',
      occurredAt: new Date('2026-05-05T10:00:00Z'),
      meta: { question: null, score: 9 },
      units: [{ ref: 'survey:r-77', text: 'Let me reorder last week’s batch in one click.' }],
    });
  });

  it('reads semicolon- and tab-separated exports, judged by the header', async () => {
    const cases = [
      {
        name: 'semicolons.csv',
        text:
          'response_id;customer;submitted_at;question;answer;score\n' +
          'S-1;crumb-and-co;2026-04-01;Why?;"Slots fill up, too fast; every week";6\n',
        want: ['S-1', 'Slots fill up, too fast; every week', 6],
      },
      {
        name: 'tabs.tsv',
        text:
          'response_id\tcustomer\tsubmitted_at\tquestion\tanswer\tscore\n' +
          'S-2\tnorthgate-garage\t2026-04-02\tWhy?\tQuotes go out in minutes, finally\t9\n',
        want: ['S-2', 'Quotes go out in minutes, finally', 9],
      },
    ];
    for (const c of cases) {
      const { items, errors } = await parse(fixture(c.name, c.text));
      expect(errors).toEqual([]);
      expect(items.map((i) => [i.externalId, i.units[0]!.text, i.meta.score])).toEqual([c.want]);
    }
    // Separators inside a quoted column name do not count.
    expect(delimiterOf(Buffer.from('"Why, oh why, this score?";response_id;answer\n'))).toBe(';');
    expect(delimiterOf(Buffer.from('response_id,answer,"a;b;c"\n'))).toBe(',');
    expect(delimiterOf(Buffer.from('answer\n'))).toBe(',');
  });

  it('refuses a header without a required column, listing the header found and expected', async () => {
    const { items, errors } = await parse(fixture('noanswer.csv', 'response_id,customer,comment\nx,y,z\n'));
    expect(items).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ line: 1, message: expect.stringContaining('no column "answer"') });
    expect(errors[0]?.message).toContain(
      'expected the columns response_id, customer, submitted_at, question, answer, score',
    );
    expect(errors[0]?.message).toContain('found: response_id, customer, comment');
  });

  it('reports each bad row by number and keeps the good rows', async () => {
    const file = fixture(
      'bad-rows.csv',
      HEADER +
        'S-10,crumb-and-co,2026-04-01,Q,   ,5\n' + // row 2: empty answer
        'S-11,crumb-and-co,last tuesday,Q,Too slow,5\n' + // row 3: bad timestamp
        'S-12,crumb-and-co,2026-04-01,Q,Too slow,11\n' + // row 4: score out of range
        'S-13,crumb-and-co,2026-04-01,Q,Too slow\n' + // row 5: a column short
        'S-14,,2026-04-01,Q,Who am I?,3\n' + // row 6: no customer
        'S-15,crumb-and-co,2026-04-01,Q,"Two lines\nof answer",seven\n' + // row 7 (lines 7-8): bad score
        'S-16,crumb-and-co,2026-04-01,Q,Fine now,10\n', // row 8 (line 9): good
    );
    const { items, errors } = await parse(file);
    expect(items.map((i) => i.externalId)).toEqual(['S-16']);
    expect(items[0]?.origin).toEqual({ file, line: 8 });
    expect(errors.map((e) => [e.line, e.field])).toEqual([
      [2, 'answer'],
      [3, 'submitted_at'],
      [4, 'score'],
      [5, null],
      [6, 'customer'],
      [7, 'score'],
    ]);
    expect(errors[1]?.message).toMatch(
      /^row 3: submitted_at "last tuesday" is not a timestamp: expected an ISO 8601/,
    );
    expect(errors[2]?.message).toMatch(/score "11": expected a whole number from 0 to 10/);
    expect(errors[3]?.message).toBe('row 5: 5 fields, expected 6 as in the header');
    expect(errors[5]?.message).toMatch(/^row 7 \(lines 7-8\): /);
    expect(errors.every((e) => e.file === file)).toBe(true);
  });

  it('refuses a row with invalid UTF-8, naming row and line, and reads the rest', async () => {
    const file = fixture(
      'latin1.csv',
      Buffer.concat([
        Buffer.from(`${HEADER}S-1,crumb-and-co,2026-04-01,Q,"one\nna`),
        Buffer.from([0xef, 0xbf]),
        Buffer.from('ve",4\nS-2,crumb-and-co,2026-04-01,Q,fine,4\n'),
      ]),
    );
    const { items, errors } = await parse(file);
    expect(items.map((i) => i.externalId)).toEqual(['S-2']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      line: 2,
      message: expect.stringMatching(/^row 2 \(lines 2-3\): line 3: invalid UTF-8/),
    });
  });

  it('reports an unclosed quote', async () => {
    const { items, errors } = await parse(
      fixture(
        'quote.csv',
        `${HEADER}S-1,crumb-and-co,2026-04-01,Q,ok,1\nS-2,crumb-and-co,2026-04-01,Q,"never closed,1\n`,
      ),
    );
    expect(items.map((i) => i.externalId)).toEqual(['S-1']);
    expect(errors[0]?.message).toMatch(/Quote Not Closed.*expected a CSV row with quotes closed/);
  });

  it('names the line where an unclosed quote opened, and reads the rows after it again', async () => {
    const file = fixture(
      'quote-mid.csv',
      HEADER +
        'S-1,crumb-and-co,2026-04-01,Q,"two\nlines",1\n' +
        'S-2,crumb-and-co,2026-04-01,Q,"never closed,2\n' +
        'the rest of it,2\n' +
        'S-3,crumb-and-co,2026-04-01,Q,third,3\n' +
        'S-4,crumb-and-co,2026-04-01,Q,fourth,4\n',
    );
    const { items, errors } = await parse(file);
    expect(items.map((i) => [i.externalId, i.origin.line, i.units[0]?.text])).toEqual([
      ['S-1', 2, 'two\nlines'],
      ['S-3', 5, 'third'],
      ['S-4', 6, 'fourth'],
    ]);
    expect(errors.map((e) => [e.line, e.message])).toEqual([
      [
        3,
        'row 3 (line 4): Quote Not Closed: the quote opened on line 4 is never closed, so this row was not imported: ' +
          'expected a CSV row with quotes closed; the lines after it were read again as rows',
      ],
      [4, 'row 4 (line 5): 2 fields, expected 6 as in the header'],
    ]);
  });

  it('says a UTF-16 export is UTF-16, to save as UTF-8', async () => {
    const file = fixture(
      'unicode.csv',
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(HEADER, 'utf16le')]),
    );
    expect((await parse(file)).errors).toMatchObject([
      {
        line: null,
        message:
          'the file looks like UTF-16 text: save it as UTF-8 and import it again (expected a UTF-8 CSV file)',
      },
    ]);
  });

  it('says a file with a header and no row imports nothing, when asked (a file imported alone)', async () => {
    const file = fixture('header-only.csv', `${HEADER}\n`);
    expect((await parse(file)).errors).toEqual([]);
    expect((await parse(file, { requireRows: true })).errors).toEqual([
      { file, line: null, field: null, message: 'no rows after the header: expected one row per answer' },
    ]);
    const bad = fixture('bad-row-only.csv', `${HEADER}S-1,crumb-and-co,soon,Q,ok,\n`);
    expect((await parse(bad, { requireRows: true })).errors).toMatchObject([{ field: 'submitted_at' }]);
  });

  it('refuses an empty file, a binary file and a file with only blank lines', async () => {
    expect((await parse(fixture('empty.csv', ''))).errors[0]?.message).toMatch(/empty/);
    expect(
      (await parse(fixture('bin.csv', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00])))).errors[0]?.message,
    ).toMatch(/binary/);
    expect((await parse(fixture('blank.csv', '\n\n'))).errors[0]?.message).toMatch(/no header/);
  });
});
