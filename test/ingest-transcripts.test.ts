import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTranscript, parseTranscriptIndex, type TranscriptEntry } from '../ingest/transcripts.ts';

const dir = mkdtempSync(join(tmpdir(), 'gapmap-transcripts-'));
function fixture(name: string, content: string | Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}
const entry = (file: string, customerSpeakers = ['Marta Quill', 'Jo Baines']): TranscriptEntry => ({
  file,
  customer: 'crumb-and-co',
  interviewedAt: new Date('2026-04-20T00:00:00Z'),
  customerSpeakers,
});

describe('parseTranscriptIndex', () => {
  it('reads entries and reports a bad one by index and field', async () => {
    const file = fixture(
      'index.json',
      JSON.stringify([
        {
          file: 'crumb.vtt',
          customer: 'crumb-and-co',
          interviewed_at: '2026-04-20',
          customer_speakers: ['Marta Quill'],
        },
        {
          file: 'garage.srt',
          customer: 'northgate-garage',
          interviewed_at: 'April',
          customer_speakers: ['Dev Patel'],
        },
        { file: '../etc/passwd', customer: 'x', customer_speakers: ['A'] },
        { file: 'empty-speakers.txt', customer: 'x', customer_speakers: [] },
        { file: 'crumb.vtt', customer: 'crumb-and-co', customer_speakers: ['Jo Baines'] },
        { file: 'no-date.txt', customer: 'tidewater', customer_speakers: ['Ola Berg'] },
      ]),
    );
    const { entries, errors } = await parseTranscriptIndex(file);
    expect(entries).toEqual([
      {
        file: 'crumb.vtt',
        customer: 'crumb-and-co',
        interviewedAt: new Date('2026-04-20T00:00:00Z'),
        customerSpeakers: ['Marta Quill'],
      },
      { file: 'no-date.txt', customer: 'tidewater', interviewedAt: null, customerSpeakers: ['Ola Berg'] },
    ]);
    expect(errors.map((e) => e.field)).toEqual([
      '[1].interviewed_at',
      '[2].file',
      '[3].customer_speakers',
      '[4].file',
    ]);
    expect(errors[0]?.message).toMatch(/expected an ISO 8601/);
    expect(errors[3]?.message).toMatch(/already listed at \[0\]/);
  });

  it('names the line where a bad entry starts', async () => {
    const file = fixture(
      'index-lines.json',
      [
        '[',
        '  { "file": "a.vtt", "customer": "crumb-and-co", "customer_speakers": ["Marta Quill"] },',
        '  {',
        '    "file": "b.vtt", "customer": "crumb-and-co",',
        '    "customer_speakers": "Marta Quill"',
        '  },',
        '  { "file": "a.vtt", "customer": "crumb-and-co", "customer_speakers": ["Jo Baines"] }',
        ']',
      ].join('\n'),
    );
    const { entries, errors } = await parseTranscriptIndex(file);
    expect(entries.map((e) => e.file)).toEqual(['a.vtt']);
    expect(errors.map((e) => [e.field, e.line])).toEqual([
      ['[1].customer_speakers', 3],
      ['[2].file', 7],
    ]);
  });

  it('reports an index that is not a list, or not JSON', async () => {
    expect((await parseTranscriptIndex(fixture('obj.json', '{}'))).errors[0]?.message).toMatch(
      /expected a list of transcripts/,
    );
    expect((await parseTranscriptIndex(fixture('broken.json', '[{"file": }]'))).errors[0]?.message).toMatch(
      /invalid JSON/,
    );
  });
});

describe('parseTranscript, WebVTT', () => {
  const vtt = [
    'WEBVTT - bakery interview',
    '',
    'NOTE recorded in the back office',
    '',
    '1',
    '00:00:01.000 --> 00:00:04.000',
    '<v Sam Reyes>Thanks for having me. How do orders reach you?',
    '',
    'cue-2',
    '00:00:05.250 --> 00:00:09.000 align:start',
    '<v Marta Quill>Mostly by text message, which',
    'I then copy by hand.',
    '',
    '00:09.500 --> 00:12.000',
    '<v Marta Quill>It takes me <i>an hour</i> &amp; more.</v>',
    '',
    '00:00:12.500 --> 00:00:1x.000',
    '<v Marta Quill>This cue has a broken time.',
    '',
    '00:00:14.000 --> 00:00:16.000',
    '<v.loud Jo Baines>And I re-check them.</v>',
    '',
    '00:00:16.500 --> 00:00:18.000',
    '<v Sam Reyes>Got it.</v><v Jo Baines>Every single week.</v>',
    '',
  ].join('\r\n');

  it('joins a speaker’s cues into turns, strips tags, and skips a cue with a bad timestamp', async () => {
    const file = fixture('crumb.vtt', vtt);
    const { item, errors } = await parseTranscript(file, entry('crumb.vtt'));
    expect(errors).toEqual([
      {
        file,
        line: 17,
        field: null,
        message: expect.stringMatching(
          /bad cue timing "00:00:12.500 --> 00:00:1x.000": expected "hh:mm:ss.mmm --> hh:mm:ss.mmm"/,
        ),
      },
    ]);
    expect(item).toMatchObject({
      sourceType: 'transcript',
      externalId: 'crumb.vtt',
      customerKey: 'crumb-and-co',
      occurredAt: new Date('2026-04-20T00:00:00Z'),
      origin: { file, line: null },
      meta: {
        customerSpeakers: ['Marta Quill', 'Jo Baines'],
        speakers: ['Sam Reyes', 'Marta Quill', 'Jo Baines'],
      },
    });
    expect(item?.units.map((u) => [u.ref, u.speaker, u.text, u.offsetMs])).toEqual([
      [
        'transcript:crumb.vtt#1',
        'Marta Quill',
        'Mostly by text message, which I then copy by hand. It takes me an hour & more.',
        5250,
      ],
      ['transcript:crumb.vtt#2', 'Jo Baines', 'And I re-check them.', 14000],
      ['transcript:crumb.vtt#3', 'Jo Baines', 'Every single week.', 16500],
    ]);
  });

  it('reads hours of any number of digits, as WebVTT allows', async () => {
    const file = fixture(
      'long-clock.vtt',
      [
        'WEBVTT',
        '',
        '999:59:59.000 --> 1000:00:02.000',
        '<v Marta Quill>The recorder ran all season.',
        '',
        '1000:00:02.500 --> 1000:00:04.000',
        '<v Sam Reyes>Really?',
        '',
        '12345:00:00.000 --> 12345:00:01.000',
        '<v Jo Baines>Still going.',
        '',
      ].join('\n'),
    );
    const { item, errors } = await parseTranscript(file, entry('long-clock.vtt'));
    expect(errors).toEqual([]);
    expect(item?.units.map((u) => [u.speaker, u.offsetMs])).toEqual([
      ['Marta Quill', (999 * 3600 + 59 * 60 + 59) * 1000],
      ['Jo Baines', 12345 * 3600 * 1000],
    ]);
  });

  it('splits a cue glued to the next without a blank line', async () => {
    const file = fixture(
      'glued.vtt',
      [
        'WEBVTT',
        '',
        '00:00:01.000 --> 00:00:02.000',
        '<v Sam Reyes>Who orders the butter?',
        '00:00:02.000 --> 00:00:03.000',
        '<v Marta Quill>I do.',
        '',
      ].join('\n'),
    );
    const { item, errors } = await parseTranscript(file, entry('glued.vtt'));
    expect(errors).toEqual([]);
    expect(
      (item?.meta.turns as { speaker: string; text: string; offsetMs: number }[]).map((t) => [
        t.speaker,
        t.text,
        t.offsetMs,
      ]),
    ).toEqual([
      ['Sam Reyes', 'Who orders the butter?', 1000],
      ['Marta Quill', 'I do.', 2000],
    ]);
  });

  it('reads a WebVTT file without voice tags whose cues start with Name:, as meeting tools write them', async () => {
    const file = fixture(
      'meeting.vtt',
      [
        'WEBVTT',
        '',
        '1',
        '00:00:01.000 --> 00:00:04.000',
        'Sam Reyes: How do you order flour today?',
        '',
        '2',
        '00:00:05.000 --> 00:00:09.000',
        'Marta Quill (Guest): By phone, every Monday. Problem: the mill never calls back.',
        '',
        '3',
        '00:00:09.500 --> 00:00:12.000',
        'And the invoices come a week late.',
        '',
        '4',
        '00:00:13.000 --> 00:00:15.000',
        'Sam Reyes: Thanks.',
        '',
      ].join('\n'),
    );
    const { item, errors } = await parseTranscript(file, entry('meeting.vtt'));
    expect(errors).toEqual([]);
    expect(item!.units.map((u) => [u.speaker, u.text, u.offsetMs])).toEqual([
      [
        'Marta Quill', // as the index spells her: the meeting tool's tag is not part of the name
        'By phone, every Monday. Problem: the mill never calls back. And the invoices come a week late.',
        5000,
      ],
    ]);
  });

  it('refuses a file without the WEBVTT header', async () => {
    const { item, errors } = await parseTranscript(
      fixture('nohead.vtt', '00:00:01.000 --> 00:00:02.000\n<v Marta Quill>Hi\n'),
      entry('nohead.vtt'),
    );
    expect(item).toBeNull();
    expect(errors[0]).toMatchObject({
      line: 1,
      message: expect.stringMatching(/expected the line "WEBVTT"/),
    });
  });
});

describe('parseTranscript, SubRip', () => {
  const srt = [
    '1',
    '00:00:01,000 --> 00:00:03,000',
    'Sam Reyes: Which report do you open first?',
    '',
    '2',
    '00:00:03,500 --> 00:00:06,000',
    'Jo Baines: The unpaid list. Then I',
    '',
    '3',
    '00:00:06,000 --> 00:00:08,000',
    'call the cafés that are late: all of them.',
    '',
    '4',
    '00:00:08,000 -> 00:00:09,000',
    'Jo Baines: lost cue',
    '',
    '5',
    '00:00:09,000 --> 00:00:11,000',
    'Sam Reyes: Thanks.',
    '',
  ].join('\n');

  it('reads Name: prefixes, and a cue without a name continues the speaker', async () => {
    const file = fixture('crumb.srt', srt);
    const { item, errors } = await parseTranscript(file, entry('crumb.srt'));
    expect(item?.units.map((u) => [u.ref, u.speaker, u.text, u.offsetMs])).toEqual([
      [
        'transcript:crumb.srt#1',
        'Jo Baines',
        'The unpaid list. Then I call the cafés that are late: all of them.',
        3500,
      ],
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      line: 14,
      message: expect.stringMatching(
        /bad cue timing "00:00:08,000 -> 00:00:09,000": expected "hh:mm:ss,mmm --> hh:mm:ss,mmm"/,
      ),
    });
  });
});

describe('parseTranscript, caption markup', () => {
  it('strips only caption tags and decodes numeric character references', async () => {
    const srt = fixture(
      'prices.srt',
      [
        '1',
        '00:00:01,000 --> 00:00:02,000',
        'Sam Reyes: <i>What do you pay?</i>',
        '',
        '2',
        '00:00:02,000 --> 00:00:05,000',
        '{\\an8}Marta Quill: We pay <50 a month for invoicing but >20 for the add-on,',
        '<font color="#ffcc00">don&#39;t</font> ask &#x2014; <B>really</b> &amp; truly.',
        '',
      ].join('\n'),
    );
    const vtt = fixture(
      'prices.vtt',
      [
        'WEBVTT',
        '',
        '00:00:01.000 --> 00:00:02.000',
        '<v Sam Reyes>What do you pay?',
        '',
        '00:00:02.000 --> 00:00:05.000',
        '<v.calm Marta Quill><c.yellow>We pay &lt;50</c> a month, <00:00:03.500>don&#39;t ask &#x2014; a&lt;b&gt;c &#0; <lang fr>voilà</lang>.',
        '',
      ].join('\n'),
    );
    const fromSrt = await parseTranscript(srt, entry('prices.srt'));
    expect(fromSrt.item?.units.map((u) => u.text)).toEqual([
      "We pay <50 a month for invoicing but >20 for the add-on, don't ask \u2014 really & truly.",
    ]);
    const fromVtt = await parseTranscript(vtt, entry('prices.vtt'));
    expect(fromVtt.item?.units.map((u) => u.text)).toEqual([
      "We pay <50 a month, don't ask \u2014 a<b>c &#0; voilà.",
    ]);
  });
});

describe('parseTranscript, plain text', () => {
  const txt = [
    '[00:00:02] Sam Reyes: How do you plan the week?',
    '',
    '[00:00:07] Marta Quill: On paper first. Then',
    'into the app on Sunday night.',
    '',
    '[00:00:19] Marta Quill: It is the worst hour of the week.',
    '',
    '[00:61:00] Marta Quill: bad clock',
    '',
    'Jo Baines: I just read the plan.',
    '',
  ].join('\n');

  it('reads the heading lines of an Otter-style export: a name and a time above the words', async () => {
    const file = fixture(
      'otter.txt',
      [
        'Speaker 1  0:00',
        'Thanks for making time. How do you order flour?',
        '',
        'Marta Quill  0:07',
        'By phone, every Monday.',
        'The mill never calls back.',
        '',
        'Speaker 1  1:02:03',
        'Got it.',
        '',
        'Marta Quill  1:02:09',
        'Chapter 2 is where it gets worse.',
        '',
      ].join('\n'),
    );
    const { item, errors } = await parseTranscript(file, entry('otter.txt'));
    expect(errors).toEqual([]);
    expect(item!.units.map((u) => [u.speaker, u.text, u.offsetMs])).toEqual([
      ['Marta Quill', 'By phone, every Monday. The mill never calls back.', 7000],
      ['Marta Quill', 'Chapter 2 is where it gets worse.', 3_729_000],
    ]);
  });

  it('reads Name: paragraphs with optional [hh:mm:ss] and reports a bad timestamp', async () => {
    const file = fixture('crumb.txt', txt);
    const { item, errors } = await parseTranscript(file, entry('crumb.txt'));
    expect(item?.units.map((u) => [u.ref, u.speaker, u.text, u.offsetMs])).toEqual([
      [
        'transcript:crumb.txt#1',
        'Marta Quill',
        'On paper first. Then into the app on Sunday night. It is the worst hour of the week.',
        7000,
      ],
      ['transcript:crumb.txt#2', 'Jo Baines', 'I just read the plan.', null],
    ]);
    expect(errors).toEqual([
      {
        file,
        line: 8,
        field: null,
        message: 'bad timestamp "[00:61:00]": expected [hh:mm:ss] or [mm:ss]; the turn was skipped',
      },
    ]);
  });
});

describe('parseTranscript, which Name: labels are speakers', () => {
  const turns = (item: Awaited<ReturnType<typeof parseTranscript>>['item']) =>
    (
      item?.meta.turns as { speaker: string; text: string; offsetMs: number | null; unit: number | null }[]
    ).map((t) => [t.speaker, t.text, t.offsetMs, t.unit]);

  it('SubRip: numbered and dash-led labels and glued cues are turns of their own', async () => {
    const file = fixture(
      'labels.srt',
      [
        '1',
        '00:00:01,000 --> 00:00:02,000',
        'Moderator 1: Who counts the till?',
        '2',
        '00:00:02,000 --> 00:00:04,000',
        'Marta Quill: I do, every night,',
        'after closing.',
        '',
        '3',
        '00:00:04,000 --> 00:00:05,000',
        'P3: Same here.',
        '',
        '4',
        '00:00:05,000 --> 00:00:07,000',
        '- Jo Baines: Except on Sundays.',
        '- Moderator 1: Why Sundays?',
        '',
        '5',
        '00:00:07,000 --> 00:00:09,000',
        'MARTA QUILL: The bank is shut.',
        '',
      ].join('\n'),
    );
    const { item, errors } = await parseTranscript(file, entry('labels.srt'));
    expect(errors).toEqual([]);
    expect(turns(item)).toEqual([
      ['Moderator 1', 'Who counts the till?', 1000, null],
      ['Marta Quill', 'I do, every night, after closing.', 2000, 1],
      ['P3', 'Same here.', 4000, null],
      ['Jo Baines', 'Except on Sundays.', 5000, 2],
      ['Moderator 1', 'Why Sundays?', 5000, null],
      ['MARTA QUILL', 'The bank is shut.', 7000, 3],
    ]);
  });

  it('plain text: a one-off "Word:" or a bullet\'s label inside a turn is text; unbracketed stamps lead turns', async () => {
    const file = fixture(
      'labels.txt',
      [
        'Sam Reyes: How do you order flour?',
        '',
        'Marta Quill: By phone, on Mondays.',
        'Honestly: it eats the whole morning.',
        '',
        '00:01:10 Sam Reyes: And the invoices?',
        '',
        '00:01:15 Marta Quill: Two problems.',
        'Problem: the mill sends paper only, so we may switch mills.',
        'Also: nobody checks the totals.',
        '',
        '[00:02:00]',
        'Sam Reyes: What would help?',
        '',
        'Marta Quill: A tool with',
        '- Price: under forty a month',
        '',
        '- Support: someone who answers.',
        '',
      ].join('\n'),
    );
    const { item, errors } = await parseTranscript(file, entry('labels.txt'));
    expect(errors).toEqual([]);
    expect(turns(item)).toEqual([
      ['Sam Reyes', 'How do you order flour?', null, null],
      ['Marta Quill', 'By phone, on Mondays. Honestly: it eats the whole morning.', null, 1],
      ['Sam Reyes', 'And the invoices?', 70000, null],
      [
        'Marta Quill',
        'Two problems. Problem: the mill sends paper only, so we may switch mills. Also: nobody checks the totals.',
        75000,
        2,
      ],
      ['Sam Reyes', 'What would help?', 120000, null],
      ['Marta Quill', 'A tool with - Price: under forty a month - Support: someone who answers.', null, 3],
    ]);
    expect(item?.meta.speakers).toEqual(['Sam Reyes', 'Marta Quill']);
  });

  it('plain text, one turn a line: a label the file repeats is a speaker, a one-off is text', async () => {
    const file = fixture(
      'per-line.txt',
      [
        'Marta Quill: We bake from four.',
        'Interviewer: And deliveries?',
        'Marta Quill: Jo drives them.',
        'Frankly: the van is too small.',
        'Interviewer: Noted.',
        '',
      ].join('\n'),
    );
    const { item } = await parseTranscript(file, entry('per-line.txt'));
    expect(turns(item)).toEqual([
      ['Marta Quill', 'We bake from four.', null, 1],
      ['Interviewer', 'And deliveries?', null, null],
      ['Marta Quill', 'Jo drives them. Frankly: the van is too small.', null, 2],
      ['Interviewer', 'Noted.', null, null],
    ]);
  });

  it('reads the index’s names as written, in plain text and SubRip', async () => {
    const speakers = ['Ana Ruiz (Guest)', '李娜', 'Speaker 2', 'Jo Baines'];
    const txt = fixture(
      'names.txt',
      [
        'Speaker 1: Who does the rota?',
        '',
        'Speaker 2: The manager.',
        '',
        'Ana Ruiz (Guest): Mostly me.',
        '',
        '李娜: 我们用纸。',
        '',
        'Jo Baines (External): I just follow it.',
        '',
      ].join('\n'),
    );
    const fromTxt = await parseTranscript(txt, entry('names.txt', speakers));
    expect(fromTxt.errors).toEqual([]);
    expect(fromTxt.item?.units.map((u) => [u.speaker, u.text])).toEqual([
      ['Speaker 2', 'The manager.'],
      ['Ana Ruiz (Guest)', 'Mostly me.'],
      ['李娜', '我们用纸。'],
      ['Jo Baines', 'I just follow it.'],
    ]);
    const srt = fixture(
      'names.srt',
      [
        '1',
        '00:00:01,000 --> 00:00:02,000',
        'Ana Ruiz: On paper.',
        '',
        '2',
        '00:00:02,000 --> 00:00:03,000',
        '李娜: 对。',
        '',
      ].join('\n'),
    );
    const fromSrt = await parseTranscript(srt, entry('names.srt', speakers));
    expect(fromSrt.item?.units.map((u) => [u.speaker, u.text])).toEqual([
      ['Ana Ruiz (Guest)', 'On paper.'],
      ['李娜', '对。'],
    ]);
  });
});

describe('parseTranscript, bad files', () => {
  it('names the speakers found and expected when no customer speaker speaks', async () => {
    const file = fixture('wrong-people.txt', 'Sam Reyes: Hello?\n\nPat Lowe: Hi there.\n');
    const { item, errors } = await parseTranscript(file, entry('wrong-people.txt'));
    expect(item).toBeNull();
    expect(errors).toEqual([
      {
        file,
        line: null,
        field: 'customer_speakers',
        message:
          'none of the customer speakers speaks: expected "Marta Quill", "Jo Baines" (from the index), found "Sam Reyes", "Pat Lowe"',
      },
    ]);
  });

  it('refuses an empty, a binary and an invalid UTF-8 file', async () => {
    const empty = await parseTranscript(fixture('empty.vtt', ''), entry('empty.vtt'));
    expect(empty).toMatchObject({ item: null, errors: [{ message: expect.stringMatching(/empty/) }] });
    const bin = await parseTranscript(
      fixture('bin.srt', Buffer.from([0x00, 0x01, 0x02, 0x0a])),
      entry('bin.srt'),
    );
    expect(bin).toMatchObject({ item: null, errors: [{ message: expect.stringMatching(/binary/) }] });
    const latin = await parseTranscript(
      fixture(
        'latin1.txt',
        Buffer.concat([Buffer.from('Marta Quill: ok\n\nJo Baines: caf'), Buffer.from([0xe9, 0x0a])]),
      ),
      entry('latin1.txt'),
    );
    expect(latin).toMatchObject({
      item: null,
      errors: [{ line: 3, message: expect.stringMatching(/invalid UTF-8 on line 3/) }],
    });
  });

  it('refuses a WebVTT file with a header and no cues', async () => {
    const { item, errors } = await parseTranscript(
      fixture('nocues.vtt', 'WEBVTT\n\nNOTE nothing here\n'),
      entry('nocues.vtt'),
    );
    expect(item).toBeNull();
    expect(errors[0]?.message).toMatch(/no cues or turns found/);
  });
});
