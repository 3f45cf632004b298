import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNotes, parseNotesIndex, type NotesEntry } from '../ingest/notes.ts';
import type { ParsedItem } from '../ingest/types.ts';
import { encryptedDocxBytes, writeDocx } from './helpers/make-docx.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gapmap-notes-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const entry = (file: string, overrides: Partial<NotesEntry> = {}): NotesEntry => ({
  file,
  customer: 'acme-bakery',
  interviewedAt: new Date('2026-02-03T00:00:00Z'),
  author: 'Rosa Lind',
  ...overrides,
});

async function notesFile(name: string, content: string | Buffer): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, content);
  return file;
}

async function parsed(file: string, overrides: Partial<NotesEntry> = {}): Promise<ParsedItem> {
  const { item, errors } = await parseNotes(file, entry(file, overrides));
  expect(errors).toEqual([]);
  if (!item) throw new Error('expected an item');
  return item;
}

const texts = (item: ParsedItem) => item.units.map((u) => u.text);

describe('parseNotesIndex', () => {
  it('reads entries with dates and authors', async () => {
    const file = await notesFile(
      'index.json',
      JSON.stringify([
        { file: 'a.md', customer: 'acme-bakery', interviewed_at: '2026-02-03', author: 'Rosa Lind' },
        { file: 'b.txt', customer: 'acme-bakery' },
      ]),
    );
    const { entries, errors } = parseNotesIndex(file);
    expect(errors).toEqual([]);
    expect(entries).toEqual([
      {
        file: 'a.md',
        customer: 'acme-bakery',
        interviewedAt: new Date('2026-02-03T00:00:00Z'),
        author: 'Rosa Lind',
      },
      { file: 'b.txt', customer: 'acme-bakery', interviewedAt: null, author: null },
    ]);
  });

  it('names the line and field of a bad entry and keeps the good ones', async () => {
    const file = await notesFile(
      'index-bad.json',
      `[
  { "file": "ok.md", "customer": "acme-bakery" },
  { "file": "no-customer.md" },
  { "file": "when.md", "customer": "acme-bakery", "interviewed_at": "last Tuesday" },
  { "file": "../escape.md", "customer": "acme-bakery" },
  { "file": "slides.pdf", "customer": "acme-bakery" },
  { "file": "ok.md", "customer": "acme-bakery" }
]`,
    );
    const { entries, errors } = parseNotesIndex(file);
    expect(entries.map((e) => e.file)).toEqual(['ok.md']);
    expect(errors.map((e) => [e.line, e.field])).toEqual([
      [3, 'customer'],
      [4, 'interviewed_at'],
      [5, 'file'],
      [6, 'file'],
      [7, 'file'],
    ]);
    expect(errors[1]!.message).toContain('last Tuesday');
    expect(errors.every((e) => e.file === file)).toBe(true);
  });

  it('refuses JSON that does not parse, or is not an array', async () => {
    const broken = await notesFile('index-broken.json', '[\n  { "file": "a.md", \n]');
    const result = parseNotesIndex(broken);
    expect(result.entries).toEqual([]);
    expect(result.errors[0]!.message).toMatch(/not valid JSON.*expected an array/);
    const object = await notesFile('index-object.json', '{ "file": "a.md" }');
    expect(parseNotesIndex(object).errors[0]!.message).toMatch(/expected a JSON array/);
  });
});

describe('parseNotes: Markdown', () => {
  it('makes one unit per paragraph and list item, headings as sections', async () => {
    const file = await notesFile(
      'visit.md',
      `# Visit to the bakery

We met the owner before opening. She
walks the floor with a *tablet* and a **clipboard**.

## Ordering

- Orders come in by [phone](https://example.com/x) and \`email\`.
- She keeps a "standing order" sheet:
  wholesale customers rarely change it.
  - Nested: the café on the corner "never changes a thing".
    1. Deeper still
- Last item.

Setext heading
--------------

1. Numbered first.
2) Numbered second.

> A quoted paragraph, “word for word”.
`,
    );
    const item = await parsed(file);
    expect(texts(item)).toEqual([
      'We met the owner before opening. She walks the floor with a tablet and a clipboard.',
      'Orders come in by phone and email.',
      'She keeps a "standing order" sheet: wholesale customers rarely change it.',
      'Nested: the café on the corner "never changes a thing".',
      'Deeper still',
      'Last item.',
      'Numbered first.',
      'Numbered second.',
      'A quoted paragraph, “word for word”.',
    ]);
    expect(item.units.map((u) => u.section)).toEqual([
      'Visit to the bakery',
      'Ordering',
      'Ordering',
      'Ordering',
      'Ordering',
      'Ordering',
      'Setext heading',
      'Setext heading',
      'Setext heading',
    ]);
    expect(item.units.map((u) => u.ref)).toEqual(item.units.map((_, i) => `note:visit.md#${i + 1}`));
    expect(item.units[2]!.quotes).toEqual(['standing order']);
    expect(item.units[8]!.quotes).toEqual(['word for word']);
    expect(item.units[0]!.quotes).toEqual([]);
    expect(item).toMatchObject({
      sourceType: 'note',
      externalId: 'visit.md',
      customerKey: 'acme-bakery',
      occurredAt: new Date('2026-02-03T00:00:00Z'),
      meta: { format: 'markdown', author: 'Rosa Lind', title: 'Visit to the bakery' },
    });
    expect(item.units.every((u) => u.speaker === 'Rosa Lind')).toBe(true);
    expect(item.units.every((u) => u.occurredAt?.getTime() === Date.UTC(2026, 1, 3))).toBe(true);
  });

  it("keeps a list item's text apart from its nested list and skips front matter", async () => {
    const file = await notesFile(
      'front.md',
      `---
title: not a unit
---
- Parent item
  - Child item

  Parent continues after the child.
`,
    );
    const item = await parsed(file, { author: null });
    expect(texts(item)).toEqual(['Parent item', 'Child item', 'Parent continues after the child.']);
    expect(item.units[0]!.section).toBeNull();
    expect(item.units[0]!.speaker).toBeNull();
  });

  it('keeps angle brackets as text, makes a table row one unit, and finds single curly quotes', async () => {
    const file = await notesFile(
      'table.md',
      `Ask <client name> about the ‘pay later’ option; she’d said it’s ‘what I’d pay for’.

| Shop | Cash share |
| ---- | ---------- |
| *Harbour* | 40% |
| Old Town | 25% |
`,
    );
    const item = await parsed(file);
    expect(texts(item)).toEqual([
      'Ask <client name> about the ‘pay later’ option; she’d said it’s ‘what I’d pay for’.',
      'Harbour | 40%',
      'Old Town | 25%',
    ]);
    expect(item.units[0]!.quotes).toEqual(['pay later', 'what I’d pay for']);
  });

  it('refuses a .md file that is binary', async () => {
    const file = await notesFile(
      'photo.md',
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]),
    );
    const { item, errors } = await parseNotes(file, entry(file));
    expect(item).toBeNull();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ file });
    expect(errors[0]!.message).toMatch(/binary.*expected a UTF-8 text file/);
  });

  it('refuses a notes file with no text in it', async () => {
    const empty = await notesFile('empty.md', '');
    expect((await parseNotes(empty, entry(empty))).errors[0]!.message).toMatch(/empty/);
    const onlyHeadings = await notesFile('headings.md', '# Title\n\n## Section\n');
    const result = await parseNotes(onlyHeadings, entry(onlyHeadings));
    expect(result.item).toBeNull();
    expect(result.errors[0]!.message).toMatch(/no paragraphs or list items/);
  });
});

describe('parseNotes: plain text', () => {
  it('splits paragraphs and list items, joins wrapped lines', async () => {
    const file = await notesFile(
      'call.txt',
      `Call with the owner, 3 Feb. She runs two shops and
does the books on Sundays.

Main points
- Wants the invoice "on the customer's phone".
- The card reader is fine.
  Continues on an indented line.
* Star item
• Bullet item
1. Numbered item

Closing thought without a heading above it: they renew in May.
`,
    );
    const item = await parsed(file);
    expect(texts(item)).toEqual([
      'Call with the owner, 3 Feb. She runs two shops and does the books on Sundays.',
      'Main points',
      'Wants the invoice "on the customer\'s phone".',
      'The card reader is fine. Continues on an indented line.',
      'Star item',
      'Bullet item',
      'Numbered item',
      'Closing thought without a heading above it: they renew in May.',
    ]);
    expect(item.units[2]!.quotes).toEqual(["on the customer's phone"]);
    expect(item.units.every((u) => u.section === null)).toBe(true);
    expect(item.meta).toMatchObject({ format: 'txt' });
  });

  it('finds underlined, ALL CAPS and short stand-alone headings, conservatively', async () => {
    const file = await notesFile(
      'headings.txt',
      `Shop visit
==========

The shop opens at seven.

WHAT WORKS
Card payments are quick.

Pain points

- Reconciling cash takes an hour.

Follow-ups
----------
- Send the notes.

Short line ending in a full stop.

"Quoted on its own line"

Thanks all
`,
    );
    const item = await parsed(file);
    expect(item.units.map((u) => [u.section, u.text])).toEqual([
      ['Shop visit', 'The shop opens at seven.'],
      ['WHAT WORKS', 'Card payments are quick.'],
      ['Pain points', 'Reconciling cash takes an hour.'],
      ['Follow-ups', 'Send the notes.'],
      ['Follow-ups', 'Short line ending in a full stop.'],
      ['Follow-ups', '"Quoted on its own line"'],
      // The last line heads nothing, so it stays a unit.
      ['Follow-ups', 'Thanks all'],
    ]);
  });

  it('refuses a .txt that is not UTF-8', async () => {
    const file = await notesFile('latin1.txt', Buffer.from([0x43, 0x61, 0x66, 0xe9, 0x0a]));
    const { item, errors } = await parseNotes(file, entry(file));
    expect(item).toBeNull();
    expect(errors[0]).toMatchObject({ file, line: 1 });
    expect(errors[0]!.message).toMatch(/UTF-8/);
  });
});

describe('parseNotes: Word', () => {
  it('uses paragraph styles for headings and list items', async () => {
    const file = await writeDocx(join(dir, 'visit.docx'), [
      { title: true, text: 'Studio visit' },
      'We spent two hours at the studio.',
      '',
      { heading: 2, text: 'Invoices' },
      { bullet: 1, text: 'They send invoices on Fridays.' },
      { bullet: 2, text: 'Nested: the partner approves each one “by email”.' },
      { numbered: 1, text: 'Numbered item.' },
      {
        text: [
          { text: 'My read: ', bold: true },
          { text: 'currency is the ' },
          { text: 'deadline', italic: true },
          { text: '.' },
        ],
      },
      '• A bullet typed by hand.',
      { text: 'Line one\nline two' },
    ]);
    const item = await parsed(file);
    expect(item.units.map((u) => [u.section, u.text])).toEqual([
      ['Studio visit', 'We spent two hours at the studio.'],
      ['Invoices', 'They send invoices on Fridays.'],
      ['Invoices', 'Nested: the partner approves each one “by email”.'],
      ['Invoices', 'Numbered item.'],
      ['Invoices', 'My read: currency is the deadline.'],
      ['Invoices', 'A bullet typed by hand.'],
      ['Invoices', 'Line one line two'],
    ]);
    expect(item.units[2]!.quotes).toEqual(['by email']);
    expect(item.units[5]!.ref).toBe('note:visit.docx#6');
    expect(item.meta).toMatchObject({ format: 'docx', title: 'Studio visit' });
  });

  it('refuses a .docx that is not a zip, is password-protected, or is empty', async () => {
    const notZip = await notesFile('text.docx', 'just some text, saved with the wrong name\n');
    const locked = await notesFile('locked.docx', encryptedDocxBytes());
    const empty = await writeDocx(join(dir, 'blank.docx'), []);
    const results = await Promise.all([notZip, locked, empty].map((f) => parseNotes(f, entry(f))));
    expect(results.map((r) => r.item)).toEqual([null, null, null]);
    expect(results.map((r) => r.errors[0]!.file)).toEqual([notZip, locked, empty]);
    expect(results[0]!.errors[0]!.message).toMatch(/not a \.docx.*zip/);
    expect(results[1]!.errors[0]!.message).toMatch(/password-protected/);
    expect(results[2]!.errors[0]!.message).toMatch(/document is empty/);
  });

  it('refuses a file it has no reader for', async () => {
    const file = await notesFile('slides.pdf', '%PDF-1.7\n');
    const { item, errors } = await parseNotes(file, entry(file));
    expect(item).toBeNull();
    expect(errors[0]!.message).toMatch(/expected \.md, \.markdown, \.txt, \.docx/);
  });
});

// Measures the parsers against the shared dev bundle's labelled note units (never copied here).
const bundle =
  [join(import.meta.dirname, '../../shared/data/dev-bundle'), '/work/shared/data/dev-bundle'].find((p) =>
    existsSync(join(p, 'notes/index.json')),
  ) ?? join(import.meta.dirname, '../../shared/data/dev-bundle');
describe.skipIf(!existsSync(join(bundle, 'notes/index.json')))('dev bundle notes', () => {
  it('produces every labelled note unit with the same ref and text', async () => {
    const labels = readFileSync(join(bundle, 'labels.jsonl'), 'utf8')
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => JSON.parse(line) as { ref: string; text: string })
      .filter((label) => label.ref.startsWith('note:'));
    const { entries, errors } = parseNotesIndex(join(bundle, 'notes/index.json'));
    expect(errors).toEqual([]);
    const produced = new Map<string, string>();
    for (const e of entries) {
      const result = await parseNotes(join(bundle, 'notes', e.file), e);
      expect(result.errors).toEqual([]);
      for (const unit of result.item?.units ?? []) produced.set(unit.ref, unit.text);
    }
    const matched = labels.filter((label) => produced.get(label.ref) === label.text).length;
    console.log(
      `dev-bundle notes: ${matched}/${labels.length} labelled units matched (${produced.size} produced)`,
    );
    expect(labels.length).toBeGreaterThan(0);
    expect(labels.filter((label) => produced.get(label.ref) !== label.text)).toEqual([]);
  });
});
