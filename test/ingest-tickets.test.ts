import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTickets, type TicketOptions } from '../ingest/tickets.ts';
import type { ImportIssue, ParsedItem } from '../ingest/types.ts';

const dir = mkdtempSync(join(tmpdir(), 'gapmap-tickets-'));
function fixture(name: string, content: string | Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}
async function parse(file: string, opts?: TicketOptions) {
  const items: ParsedItem[] = [];
  const errors: ImportIssue[] = [];
  for await (const ev of parseTickets(file, opts)) {
    if (ev.type === 'item') items.push(ev.item);
    else errors.push(ev.error);
  }
  return { items, errors };
}

const oven = {
  id: 7101,
  customer: 'crumb-and-co',
  created_at: '2026-04-03T07:15:00Z',
  subject: 'Standing order printed twice',
  description: 'Hello,\nthe Friday standing order for the café printed twice on the kitchen plan.\n\nMarta',
  tags: ['orders', 'printing'],
  group: 'Support',
  comments: [{ author_role: 'agent', body: 'Sorry Marta, looking now.', created_at: '2026-04-03T08:00:00Z' }],
};
const quote = {
  id: 7102,
  customer: 'northgate-garage',
  created_at: '2026-04-04T12:00:00Z',
  subject: 'Quote PDF',
  description: 'Can the quote PDF show our logo?',
};
const jsonl = (...tickets: unknown[]) =>
  tickets.map((t) => (typeof t === 'string' ? t : JSON.stringify(t))).join('\n') + '\n';

describe('parseTickets, tickets.jsonl', () => {
  it('makes one item per ticket, its unit the subject, a newline and the description', async () => {
    const file = fixture('good.jsonl', jsonl(oven, quote));
    const { items, errors } = await parse(file);
    expect(errors).toEqual([]);
    expect(items[0]).toEqual({
      sourceType: 'ticket',
      externalId: '7101',
      customerKey: 'crumb-and-co',
      occurredAt: new Date('2026-04-03T07:15:00Z'),
      origin: { file, line: 1 },
      meta: {
        subject: 'Standing order printed twice',
        group: 'Support',
        tags: ['orders', 'printing'],
        status: null,
        organization: null,
        comments: [
          {
            author_role: 'agent',
            body: 'Sorry Marta, looking now.',
            created_at: new Date('2026-04-03T08:00:00Z'),
          },
        ],
        updatedAt: null,
      },
      units: [
        {
          ref: 'ticket:7101',
          ordinal: 1,
          speaker: null,
          text: `${oven.subject}\n${oven.description}`,
          occurredAt: new Date('2026-04-03T07:15:00Z'),
          offsetMs: null,
        },
      ],
    });
    expect(items[1]?.units[0]?.text).toBe('Quote PDF\nCan the quote PDF show our logo?');
    expect(items[1]?.origin.line).toBe(2);
  });

  it('reports bad JSON, a missing id or description and a bad timestamp by line, and parses the later lines', async () => {
    const file = fixture(
      'bad.jsonl',
      jsonl(
        '{"id": 1, "subject": "cut off',
        { ...oven, id: undefined },
        { ...oven, id: 7103, description: undefined },
        { ...oven, id: 7104, created_at: '04/03/2026' },
        '',
        { ...quote, customer: undefined },
        quote,
      ),
    );
    const { items, errors } = await parse(file);
    expect(items.map((i) => [i.externalId, i.origin.line])).toEqual([['7102', 7]]);
    expect(errors.map((e) => [e.line, e.field])).toEqual([
      [1, null],
      [2, 'id'],
      [3, 'description'],
      [4, 'created_at'],
      [6, 'customer'],
    ]);
    expect(errors[0]?.message).toMatch(/invalid JSON .*expected one JSON ticket object per line/);
    expect(errors[1]?.message).toMatch(/^ticket: id: expected the ticket id/);
    expect(errors[2]?.message).toMatch(/^ticket 7103: description: expected the ticket's first message/);
    expect(errors[3]?.message).toMatch(
      /^ticket 7104: created_at: "04\/03\/2026" is not a timestamp: expected an ISO 8601/,
    );
    expect(errors.every((e) => e.file === file)).toBe(true);
  });

  it('reads lines ended by a CR alone, numbering them as lines', async () => {
    const file = fixture(
      'cr.jsonl',
      [
        JSON.stringify(oven),
        '{"id": 9, "subject": "cut',
        JSON.stringify(quote),
        JSON.stringify({ ...quote, id: ' ' }),
      ].join('\r') + '\r',
    );
    const { items, errors } = await parse(file);
    expect(items.map((i) => [i.externalId, i.origin.line])).toEqual([
      ['7101', 1],
      ['7102', 3],
    ]);
    expect(errors.map((e) => [e.line, e.message.slice(0, 30)])).toEqual([
      [2, 'invalid JSON (Unterminated str'],
      [4, 'ticket " ": id: expected the t'],
    ]);
  });

  it('says what a line that is no ticket object holds', async () => {
    const { items, errors } = await parse(
      fixture('values.jsonl', jsonl('[1, 2]', 'null', '"text"', '42', quote)),
    );
    expect(items.map((i) => i.externalId)).toEqual(['7102']);
    expect(errors.map((e) => [e.line, e.field, e.message])).toEqual(
      ['a list', 'null', 'a string', 'a number'].map((found, i) => [
        i + 1,
        null,
        `ticket: expected a ticket object {"id", "created_at", "description", ...}, found ${found}`,
      ]),
    );
  });

  it('says a UTF-16 file is UTF-16, to save as UTF-8', async () => {
    const { items, errors } = await parse(
      fixture('unicode.jsonl', Buffer.from(jsonl(oven, quote), 'utf16le')),
    );
    expect(items).toEqual([]);
    expect(errors).toMatchObject([
      {
        line: null,
        message:
          'the file looks like UTF-16 text: save it as UTF-8 and import it again (expected a UTF-8 JSON file of tickets)',
      },
    ]);
  });

  it('uses the default customer for tickets without one', async () => {
    const { items } = await parse(fixture('nocustomer.jsonl', jsonl({ ...quote, customer: undefined })), {
      defaultCustomer: 'tidewater',
    });
    expect(items[0]?.customerKey).toBe('tidewater');
  });

  it('reports a line of invalid UTF-8 and goes on', async () => {
    const file = fixture(
      'latin1.jsonl',
      Buffer.concat([
        Buffer.from('{"id": 5, "description": "caf'),
        Buffer.from([0xe9]),
        Buffer.from(`"}\n${JSON.stringify(quote)}\n`),
      ]),
    );
    const { items, errors } = await parse(file);
    expect(items.map((i) => i.externalId)).toEqual(['7102']);
    expect(errors).toMatchObject([{ line: 1, message: expect.stringMatching(/invalid UTF-8/) }]);
  });

  it('refuses an empty file, a blank file and a binary file with one error', async () => {
    expect((await parse(fixture('empty.jsonl', ''))).errors).toMatchObject([
      { line: null, message: expect.stringMatching(/empty/) },
    ]);
    expect((await parse(fixture('blank.jsonl', '\n\n'))).errors).toMatchObject([
      { message: expect.stringMatching(/no tickets found/) },
    ]);
    const bin = await parse(fixture('bin.jsonl', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x0a, 0x00])));
    expect(bin.errors).toMatchObject([{ message: expect.stringMatching(/binary/) }]);
  });
});

describe('parseTickets, Zendesk export', () => {
  const zendesk = (over: Record<string, unknown> = {}) => ({
    url: 'https://example.zendesk.com/api/v2/tickets/88.json',
    id: 88,
    subject: 'Card reader declines',
    description: 'Our card reader declines every third payment.',
    created_at: '2026-04-10T10:00:00Z',
    updated_at: '2026-04-11T09:00:00Z',
    tags: ['payments'],
    group_id: 3601,
    organization_id: 990,
    requester_id: 12,
    status: 'open',
    customer: 'northgate-garage',
    ...over,
  });

  it('streams the tickets of {"tickets": [...]} with their Zendesk fields', async () => {
    const body = JSON.stringify(
      {
        tickets: [zendesk(), zendesk({ id: 89, customer: undefined, group: 'Billing' })],
        next_page: null,
        count: 2,
      },
      null,
      2,
    );
    const file = fixture('export.json', body);
    const { items, errors } = await parse(file, { defaultCustomer: 'crumb-and-co' });
    expect(errors).toEqual([]);
    expect(items.map((i) => [i.externalId, i.customerKey])).toEqual([
      ['88', 'northgate-garage'],
      ['89', 'crumb-and-co'],
    ]);
    expect(items[0]).toMatchObject({
      // The line each ticket starts on (it was null while the export was read by a parser that gave no positions).
      origin: { file, line: 3 },
      meta: {
        group: '3601',
        organization: '990',
        status: 'open',
        tags: ['payments'],
        comments: [],
        updatedAt: new Date('2026-04-11T09:00:00Z'),
      },
      units: [
        { ref: 'ticket:88', text: 'Card reader declines\nOur card reader declines every third payment.' },
      ],
    });
    expect(items[1]?.meta.group).toBe('Billing');
  });

  it('names the ticket index and id of a bad ticket and reads the next ones', async () => {
    const file = fixture(
      'export-bad.json',
      JSON.stringify({
        tickets: [zendesk({ description: '' }), zendesk({ id: 90, created_at: 'soon' }), zendesk({ id: 91 })],
      }),
    );
    const { items, errors } = await parse(file);
    expect(items.map((i) => i.externalId)).toEqual(['91']);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(
        /^tickets\[0\] \(id 88\): description: expected the ticket's first message, found an empty string/,
      ),
      expect.stringMatching(/^tickets\[1\] \(id 90\): created_at: "soon" is not a timestamp/),
    ]);
  });

  it('keeps the tickets before broken JSON and says where reading stopped', async () => {
    const good = Array.from({ length: 200 }, (_, i) =>
      JSON.stringify(zendesk({ id: 1000 + i, description: 'x'.repeat(400) })),
    );
    const file = fixture(
      'export-broken.json',
      `{"tickets": [${good.join(',')}, {"id": 5000 "subject": "oops"}]}`,
    );
    const { items, errors } = await parse(file);
    expect(items.length).toBeGreaterThan(150);
    expect(items.map((i) => i.externalId)).toEqual(
      good.slice(0, items.length).map((_, i) => String(1000 + i)),
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(
      new RegExp(
        `expected a Zendesk export \\{"tickets": \\[\\.\\.\\.\\]\\}; the tickets after tickets\\[${items.length - 1}\\] \\(id ${999 + items.length}\\) were not read`,
      ),
    );
  });

  it('keeps every ticket before a syntax error, and names its line and column', async () => {
    // One ticket per line, as Zendesk's exports are often laid out; small (one read) and large.
    for (const count of [40, 400]) {
      const good = Array.from({ length: count }, (_, i) =>
        JSON.stringify(zendesk({ id: 2000 + i, description: `Ticket ${i} ${'pad '.repeat(60)}` })),
      );
      const after = JSON.stringify(zendesk({ id: 9999 }));
      const file = fixture(
        `export-broken-${count}.json`,
        `{"tickets": [\n${good.join(',\n')},\n{"id": 5000, "created_at": "2026-04-10" "subject": "oops"},\n${after}\n]}\n`,
      );
      const { items, errors } = await parse(file);
      expect(items.map((i) => i.externalId)).toEqual(good.map((_, i) => String(2000 + i)));
      expect(items.at(-1)?.origin.line).toBe(count + 1);
      expect(errors).toMatchObject([
        {
          line: count + 2,
          message: expect.stringMatching(
            new RegExp(
              `^invalid JSON at line ${count + 2}, column 41: Expected ',' or '}' after property value: .*` +
                `the tickets after tickets\\[${count - 1}\\] \\(id ${1999 + count}\\) were not read$`,
            ),
          ),
        },
      ]);
    }
  });

  it('names where an export is cut short or its brackets do not match', async () => {
    const one = JSON.stringify(zendesk());
    const cases: [string, number, RegExp][] = [
      [
        `{"tickets": [\n${one},\n{"id": 2, "tags": ["a"}\n]}`,
        3,
        /line 3, column 23: unexpected "}": expected "]"/,
      ],
      [
        `{"tickets": [\n${one},\n{"id": 2, "description": "cut`,
        3,
        /the file ends inside tickets\[1\], which starts at line 3, column 1/,
      ],
      [
        `{"tickets": [\n${one}\n{"id": 2}]}`,
        3,
        /line 3, column 1: unexpected "\{": expected ',' or '\]' after tickets\[0\]/,
      ],
      [
        `{"tickets": [\n${one}\n], "count": 1,}`,
        3,
        /line 3, column 15: unexpected "}": expected a key in double quotes.*every ticket was read/,
      ],
    ];
    for (const [content, line, message] of cases) {
      const { items, errors } = await parse(fixture('export-cut.json', content));
      expect(items.map((i) => i.externalId)).toEqual(['88']);
      expect(errors).toMatchObject([{ line, message: expect.stringMatching(message) }]);
    }
  });

  it('reports invalid UTF-8 in an export', async () => {
    const file = fixture(
      'export-latin1.json',
      Buffer.concat([
        Buffer.from(`{"tickets": [${JSON.stringify(zendesk())}, {"id": 2, "description": "caf`),
        Buffer.from([0xe9, 0x22, 0x7d, 0x5d, 0x7d]),
      ]),
    );
    const { errors } = await parse(file);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/invalid UTF-8/);
  });
});
