import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  looksLikeUtf16,
  parseJson,
  parseTimestamp,
  readLines,
  readTextFile,
  type LineEvent,
} from '../ingest/text.ts';

const dir = mkdtempSync(join(tmpdir(), 'gapmap-text-'));
function fixture(name: string, content: string | Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}
async function lines(file: string, maxLineBytes?: number): Promise<LineEvent[]> {
  const out: LineEvent[] = [];
  for await (const ev of readLines(file, { maxLineBytes })) out.push(ev);
  return out;
}

describe('readTextFile', () => {
  it('strips a BOM and turns CRLF into LF', async () => {
    const file = fixture(
      'bom.txt',
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Olá\r\nmundo\r\n')]),
    );
    expect(await readTextFile(file)).toEqual({ text: 'Olá\nmundo\n' });
  });

  it('refuses an empty file', async () => {
    const res = await readTextFile(fixture('empty.txt', ''));
    expect(res).toMatchObject({ error: { line: null, message: expect.stringMatching(/empty/) } });
  });

  it('refuses a binary file, naming the line of the NUL byte', async () => {
    const res = await readTextFile(fixture('bin.txt', Buffer.from('one\ntwo\u0000three')));
    expect(res).toMatchObject({ error: { line: 2, message: expect.stringMatching(/binary/) } });
  });

  it('refuses invalid UTF-8 and names the line of the first bad byte', async () => {
    const res = await readTextFile(
      fixture(
        'latin1.txt',
        Buffer.concat([Buffer.from('ok\nfine\ncaf'), Buffer.from([0xe9]), Buffer.from('\nend')]),
      ),
    );
    expect(res).toMatchObject({
      error: { line: 3, message: expect.stringMatching(/invalid UTF-8 on line 3/) },
    });
  });

  it('names the file when it cannot be read', async () => {
    const res = await readTextFile(join(dir, 'missing.txt'));
    expect(res).toMatchObject({
      error: { file: join(dir, 'missing.txt'), message: expect.stringMatching(/cannot read/) },
    });
  });
});

describe('UTF-16 files', () => {
  const utf16 = (text: string, bom = true) =>
    Buffer.concat([Buffer.from(bom ? [0xff, 0xfe] : []), Buffer.from(text, 'utf16le')]);

  it('says a UTF-16 file (with or without a byte-order mark) is UTF-16, to save as UTF-8', async () => {
    for (const [name, content] of [
      ['bom.md', utf16('# Visit\n\nMarta copies orders by hand.\n')],
      ['no-bom.txt', utf16('Marta: orders come by text.\n', false)],
      ['big-endian.txt', Buffer.from([0xfe, 0xff, 0x00, 0x48, 0x00, 0x69])],
    ] as const) {
      expect(await readTextFile(fixture(name, content)), name).toEqual({
        error: {
          file: join(dir, name),
          line: null,
          field: null,
          message:
            'the file looks like UTF-16 text: save it as UTF-8 and import it again (expected a UTF-8 text file)',
        },
      });
    }
  });

  it('tells UTF-16 from binary data', () => {
    expect(looksLikeUtf16(utf16('response_id,customer\r\nr1,acme\r\n', false))).toBe(true);
    expect(looksLikeUtf16(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x0a, 0x00, 0x03]))).toBe(false);
    expect(looksLikeUtf16(Buffer.from('plain text, no zeros'))).toBe(false);
  });
});

describe('readLines', () => {
  it('yields numbered lines without CR, BOM or a trailing empty line', async () => {
    const file = fixture(
      'lines.txt',
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('a\r\n\nc\n')]),
    );
    expect(await lines(file)).toEqual([
      { line: 1, text: 'a' },
      { line: 2, text: '' },
      { line: 3, text: 'c' },
    ]);
  });

  it('keeps a last line without a newline', async () => {
    expect(await lines(fixture('nonl.txt', 'x\ny'))).toEqual([
      { line: 1, text: 'x' },
      { line: 2, text: 'y' },
    ]);
  });

  it('reports a line of invalid UTF-8 or NUL bytes and goes on', async () => {
    const file = fixture(
      'mixed.txt',
      Buffer.concat([
        Buffer.from('good\nba'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('d\nnu\u0000l\nlast\n'),
      ]),
    );
    const out = await lines(file);
    expect(out[0]).toEqual({ line: 1, text: 'good' });
    expect(out[1]).toMatchObject({
      line: 2,
      error: { file, line: 2, message: expect.stringMatching(/invalid UTF-8/) },
    });
    expect(out[2]).toMatchObject({ line: 3, error: { line: 3, message: expect.stringMatching(/NUL/) } });
    expect(out[3]).toEqual({ line: 4, text: 'last' });
  });

  it('joins a line that spans read chunks, multi-byte characters included', async () => {
    const long = 'é'.repeat(700_000); // 1.4 MB: longer than one 1 MB read
    const out = await lines(fixture('long.txt', `short\n${long}\nend`));
    expect(out.map((e) => ('text' in e ? e.text.length : -1))).toEqual([5, long.length, 3]);
  });

  it('reports a line longer than the limit and reads the next one', async () => {
    const out = await lines(fixture('runaway.txt', `ok\n${'x'.repeat(5000)}\nafter\n`), 1000);
    expect(out[0]).toEqual({ line: 1, text: 'ok' });
    expect(out[1]).toMatchObject({
      line: 2,
      error: { message: expect.stringMatching(/longer than 1000 bytes/) },
    });
    expect(out[2]).toEqual({ line: 3, text: 'after' });
  });
});

describe('parseTimestamp', () => {
  it('reads dates and times, UTC when no zone is given', () => {
    expect(parseTimestamp('2026-03-12')?.toISOString()).toBe('2026-03-12T00:00:00.000Z');
    expect(parseTimestamp('2026-03-12T14:05:09Z')?.toISOString()).toBe('2026-03-12T14:05:09.000Z');
    expect(parseTimestamp('2026-03-12 14:05')?.toISOString()).toBe('2026-03-12T14:05:00.000Z');
    expect(parseTimestamp('2026-03-12T14:05:09.5+0200')?.toISOString()).toBe('2026-03-12T12:05:09.500Z');
  });

  it('refuses what is not a timestamp or names a day that does not exist', () => {
    for (const bad of [
      '',
      'yesterday',
      '12/03/2026',
      '2026-02-30',
      '2026-13-01',
      '2026-03-12T25:00:00Z',
      '1741788000',
    ]) {
      expect(parseTimestamp(bad), bad).toBeNull();
    }
  });
});

describe('parseJson', () => {
  it('names the line where the JSON breaks, in both forms of V8 message', () => {
    expect(parseJson('a.json', '[\n1,\n2\n3]', 'a list')).toMatchObject({
      error: { line: 4, message: expect.stringMatching(/expected a list$/) },
    });
    expect(parseJson('b.json', '[\n  {"name": "x",\n   "size": }\n]', 'a list')).toMatchObject({
      error: { line: 3 },
    });
    expect(parseJson('c.json', '[1, 2]', 'a list')).toEqual({ value: [1, 2] });
  });
});
