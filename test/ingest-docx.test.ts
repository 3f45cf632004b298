import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import JSZip from 'jszip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDocx } from '../ingest/docx.ts';
import { parseDocxTranscript, type DocxTranscriptEntry } from '../ingest/docx-transcript.ts';
import { encryptedDocxBytes, writeDocx, type ParagraphSpec } from './helpers/make-docx.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gapmap-docx-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const interviewedAt = new Date('2026-04-09T00:00:00Z');
const entry = (customerSpeakers: string[] = ['Maya Ferreira']): DocxTranscriptEntry => ({
  customer: 'harbour-florists',
  interviewedAt,
  customerSpeakers,
});

let counter = 0;
const docx = (paragraphs: ParagraphSpec[]) => writeDocx(join(dir, `doc-${++counter}.docx`), paragraphs);

describe('readDocx', () => {
  it('tells headings, list items and paragraphs apart by style', async () => {
    const file = await docx([
      { title: true, text: 'Title here' },
      { heading: 1, text: 'One' },
      { heading: 3, text: 'Three' },
      { bullet: 1, text: 'Bullet' },
      { bullet: 2, text: 'Nested bullet' },
      { numbered: 1, text: 'Numbered' },
      'Plain\twith a tab',
      '',
      { text: [{ text: 'Bold', bold: true }, { text: ' and plain' }] },
    ]);
    expect(await readDocx(file)).toEqual({
      paragraphs: [
        { style: 'heading', level: 0, text: 'Title here' },
        { style: 'heading', level: 1, text: 'One' },
        { style: 'heading', level: 3, text: 'Three' },
        { style: 'list', level: 1, text: 'Bullet' },
        { style: 'list', level: 2, text: 'Nested bullet' },
        { style: 'list', level: 1, text: 'Numbered' },
        { style: 'paragraph', level: 0, text: 'Plain\twith a tab' },
        { style: 'paragraph', level: 0, text: 'Bold and plain' },
      ],
    });
  });

  it('refuses a file that is not a zip', async () => {
    const file = join(dir, 'plain.docx');
    await writeFile(file, 'Maya Ferreira: hello\n');
    const result = await readDocx(file);
    expect(result).toEqual({
      error: { file, line: null, field: null, message: expect.stringMatching(/not a \.docx.*zip/) },
    });
  });

  it('refuses a password-protected document', async () => {
    const file = join(dir, 'locked.docx');
    await writeFile(file, encryptedDocxBytes());
    const result = await readDocx(file);
    expect('error' in result && result.error.message).toMatch(
      /password-protected or an old Word 97-2003 \.doc/,
    );
  });

  it('refuses a zip without a Word document in it', async () => {
    const zip = new JSZip();
    zip.file('readme.txt', 'not word');
    const file = join(dir, 'other.docx');
    await writeFile(file, await zip.generateAsync({ type: 'nodebuffer' }));
    const result = await readDocx(file);
    expect('error' in result && result.error.message).toMatch(/not a readable \.docx/);
  });

  it('refuses an empty document and an empty file', async () => {
    const blank = await docx(['', '  ']);
    const result = await readDocx(blank);
    expect('error' in result && result.error).toMatchObject({
      file: blank,
      message: expect.stringMatching(/document is empty/),
    });
    const zeroBytes = join(dir, 'zero.docx');
    await writeFile(zeroBytes, '');
    const zero = await readDocx(zeroBytes);
    expect('error' in zero && zero.error.message).toMatch(/file is empty/);
  });
});

describe('parseDocxTranscript', () => {
  it('reads paragraphs of "Name: words" and keeps the customer turns', async () => {
    const file = await docx([
      { heading: 1, text: 'Interview: Harbour Florists' },
      'Jon Reyes: Thanks for making the time.',
      'Maya Ferreira: Happy to. Most of our orders are weddings.',
      'Maya Ferreira: We quote each one by hand.',
      'And a paragraph the speaker carried on with.',
      '[00:04:10] Jon Reyes: How long does a quote take?',
      '[00:04:15] Maya Ferreira: An evening, sometimes two. Honestly: too long.',
    ]);
    const { item, errors } = await parseDocxTranscript(file, entry());
    expect(errors).toEqual([]);
    const name = file.split('/').pop()!;
    expect(item).toMatchObject({
      sourceType: 'transcript',
      externalId: name,
      customerKey: 'harbour-florists',
      occurredAt: interviewedAt,
      meta: { format: 'docx', layout: 'name-colon', speakers: ['Jon Reyes', 'Maya Ferreira'] },
    });
    expect(item!.units).toEqual([
      {
        ref: `transcript:${name}#1`,
        ordinal: 1,
        speaker: 'Maya Ferreira',
        text: 'Happy to. Most of our orders are weddings. We quote each one by hand. And a paragraph the speaker carried on with.',
        occurredAt: interviewedAt,
        offsetMs: null,
      },
      {
        ref: `transcript:${name}#2`,
        ordinal: 2,
        speaker: 'Maya Ferreira',
        text: 'An evening, sometimes two. Honestly: too long.',
        occurredAt: interviewedAt,
        offsetMs: 255_000,
      },
    ]);
  });

  it('reads the meeting-tool layout: a name and a timestamp, then the words', async () => {
    const file = await docx([
      'Weekly call transcript',
      'Jon Reyes   0:03',
      'Shall we start with the quotes?',
      'Maya Ferreira   0:07',
      'Yes. The quotes are where the evenings go.',
      'Every wedding is different, so nothing carries over.',
      'Jon Reyes 00:01:12',
      'What would help most?',
      'maya ferreira 1:02:03',
      { text: 'Copying last year’s quote.\nThen changing the date.' },
      'Sam Ito (Guest)   1:05:00',
      'Sorry, I joined late.',
    ]);
    const { item, errors } = await parseDocxTranscript(file, entry(['Maya Ferreira', 'Sam Ito']));
    expect(errors).toEqual([]);
    expect(item!.meta).toMatchObject({
      layout: 'name-timestamp',
      speakers: ['Jon Reyes', 'Maya Ferreira', 'Sam Ito'],
    });
    expect(item!.units.map((u) => [u.ordinal, u.speaker, u.offsetMs, u.text])).toEqual([
      [
        1,
        'Maya Ferreira',
        7_000,
        'Yes. The quotes are where the evenings go. Every wedding is different, so nothing carries over.',
      ],
      [2, 'maya ferreira', 3_723_000, 'Copying last year’s quote. Then changing the date.'],
      [3, 'Sam Ito', 3_900_000, 'Sorry, I joined late.'],
    ]);
  });

  it('names the speakers it found when no customer speaker speaks', async () => {
    const file = await docx(['Jon Reyes: Hello?', 'Ana Costa: Hi, Maya is off sick today.']);
    const { item, errors } = await parseDocxTranscript(file, entry());
    expect(item).toBeNull();
    expect(errors).toEqual([
      {
        file,
        line: null,
        field: null,
        message:
          'no turn by a customer speaker: expected one of Maya Ferreira to speak; speakers found: Jon Reyes, Ana Costa',
      },
    ]);
  });

  it('refuses a document with no speaker turns, and an entry without customer speakers', async () => {
    const prose = await docx(['We talked about the shop for an hour.', 'She said the quotes take too long.']);
    const noTurns = await parseDocxTranscript(prose, entry());
    expect(noTurns.item).toBeNull();
    expect(noTurns.errors[0]!.message).toMatch(
      /no speaker turns found: expected paragraphs of "Name: words"/,
    );
    const noSpeakers = await parseDocxTranscript(prose, entry([]));
    expect(noSpeakers.errors[0]!.message).toMatch(/no customer speakers given/);
  });

  it("passes on the reader's refusals: not a zip, password-protected, empty", async () => {
    const notZip = join(dir, 'transcript.docx');
    await writeFile(notZip, 'Maya Ferreira: hello\n');
    const locked = join(dir, 'locked-transcript.docx');
    await writeFile(locked, encryptedDocxBytes());
    const empty = await docx([]);
    const results = await Promise.all([notZip, locked, empty].map((f) => parseDocxTranscript(f, entry())));
    expect(results.map((r) => [r.item, r.errors[0]!.file])).toEqual([
      [null, notZip],
      [null, locked],
      [null, empty],
    ]);
    expect(results.map((r) => r.errors[0]!.message)).toEqual([
      expect.stringMatching(/zip/),
      expect.stringMatching(/password-protected/),
      expect.stringMatching(/empty/),
    ]);
  });
});
