/**
 * Reading text the way every parser needs it: refuse empty, binary and invalid UTF-8 files with
 * the line of the first bad byte, drop a UTF-8 byte-order mark, and turn CRLF into LF.
 * `readTextFile` is for small files (indexes, transcripts); `readLines` streams large ones.
 */
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import type { ImportIssue } from './types.ts';

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const NEWLINE = 0x0a;
const EMPTY = Buffer.alloc(0);

/** Larger files go through `readLines` or a streaming parser. */
export const MAX_TEXT_FILE_BYTES = 64 * 1024 * 1024;

function fileIssue(file: string, line: number | null, message: string): ImportIssue {
  return { file, line, field: null, message };
}

/** 1-based line of the first line that is not valid UTF-8, or null when the whole buffer is. */
function firstBadUtf8Line(buf: Buffer): number | null {
  let line = 1;
  let start = 0;
  while (start <= buf.length) {
    const nl = buf.indexOf(NEWLINE, start);
    const end = nl === -1 ? buf.length : nl;
    if (!isUtf8(buf.subarray(start, end))) return line;
    if (nl === -1) break;
    start = nl + 1;
    line++;
  }
  return null;
}

function lineOfOffset(buf: Buffer, offset: number): number {
  let line = 1;
  for (let i = buf.indexOf(NEWLINE); i !== -1 && i < offset; i = buf.indexOf(NEWLINE, i + 1)) line++;
  return line;
}

/**
 * UTF-16 text (what Windows tools save as "Unicode"): a UTF-16 byte-order mark, or, in the first
 * bytes, zeros at most of the even or of the odd positions and hardly any at the others.
 */
export function looksLikeUtf16(head: Buffer): boolean {
  if (head.length >= 2 && ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)))
    return true;
  // Without a mark, a few bytes say nothing: binary data has zeros too. Beside each zero of an
  // ASCII character stands a printable byte, a tab or a line end.
  const pairs = Math.floor(Math.min(head.length, 1024) / 2);
  if (pairs < 8) return false;
  const printable = (b: number) => (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d;
  const zeros = [0, 0];
  const texts = [0, 0];
  for (let i = 0; i < pairs * 2; i++) {
    if (head[i] === 0) zeros[i % 2]!++;
    else if (printable(head[i]!)) texts[i % 2]!++;
  }
  const [evenZeros = 0, oddZeros = 0] = zeros;
  const [evenText = 0, oddText = 0] = texts;
  const most = (n: number) => n >= pairs / 2;
  const few = (n: number) => n <= pairs / 10;
  return (
    (most(oddZeros) && few(evenZeros) && most(evenText)) ||
    (most(evenZeros) && few(oddZeros) && most(oddText))
  );
}

export const utf16Message = (expected: string) =>
  `the file looks like UTF-16 text: save it as UTF-8 and import it again (expected ${expected})`;

/** What a NUL byte in the head of a file means: UTF-16 text to save again as UTF-8, or binary data. */
export function nulByteMessage(head: Buffer, expected: string): string {
  return looksLikeUtf16(head) ? utf16Message(expected) : `binary data (a NUL byte): expected ${expected}`;
}

/** Checks a whole file's bytes; the decoded text has no BOM and LF line ends. */
export function decodeText(file: string, buf: Buffer): { text: string } | { error: ImportIssue } {
  if (buf.length === 0) return { error: fileIssue(file, null, 'the file is empty: expected text') };
  const nul = buf.indexOf(0);
  if (nul !== -1 && looksLikeUtf16(buf)) {
    return { error: fileIssue(file, null, utf16Message('a UTF-8 text file')) };
  }
  if (nul !== -1) {
    return {
      error: fileIssue(file, lineOfOffset(buf, nul), 'binary data (a NUL byte): expected a UTF-8 text file'),
    };
  }
  const body = buf.subarray(0, 3).equals(BOM) ? buf.subarray(3) : buf;
  if (!isUtf8(body)) {
    const line = firstBadUtf8Line(body) ?? 1;
    return { error: fileIssue(file, line, `invalid UTF-8 on line ${line}: expected a UTF-8 text file`) };
  }
  const text = body.toString('utf8').replace(/\r\n?/g, '\n');
  if (text.trim() === '')
    return { error: fileIssue(file, null, 'the file holds only blank space: expected text') };
  return { text };
}

export async function readTextFile(file: string): Promise<{ text: string } | { error: ImportIssue }> {
  try {
    const { size } = await stat(file);
    if (size > MAX_TEXT_FILE_BYTES) {
      return {
        error: fileIssue(
          file,
          null,
          `the file is ${size} bytes: expected at most ${MAX_TEXT_FILE_BYTES} for this format`,
        ),
      };
    }
    return decodeText(file, await readFile(file));
  } catch (err) {
    return { error: fileIssue(file, null, `cannot read the file: ${(err as Error).message}`) };
  }
}

/** The first `bytes` bytes of a file, for telling formats apart without reading it whole. */
export async function readHead(file: string, bytes = 64 * 1024): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

export type LineEvent =
  | { line: number; text: string }
  /** `lossy`: the line with bad bytes replaced (U+FFFD), for parsers that must keep their place. */
  | { line: number; error: ImportIssue; lossy: string };

export interface ReadLinesOptions {
  /** A longer line is reported and skipped, so one runaway line cannot exhaust memory. */
  maxLineBytes?: number;
}

/**
 * Streams a file line by line in bounded memory: each line is checked for NUL bytes and invalid
 * UTF-8 on its own, so a bad line is reported with its number and the next lines still come.
 * CR before LF is dropped, and a BOM on line 1.
 */
export async function* readLines(file: string, opts: ReadLinesOptions = {}): AsyncGenerator<LineEvent> {
  const maxLineBytes = opts.maxLineBytes ?? 64 * 1024 * 1024;
  let line = 1;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let tooLong = false;

  const finish = (last: Buffer): LineEvent => {
    const n = line++;
    if (tooLong) {
      tooLong = false;
      return {
        line: n,
        error: fileIssue(file, n, `line is longer than ${maxLineBytes} bytes: expected one record per line`),
        lossy: '',
      };
    }
    let bytes = pending.length ? Buffer.concat([...pending, last]) : last;
    pending = [];
    pendingBytes = 0;
    if (bytes.length && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    if (n === 1 && bytes.subarray(0, 3).equals(BOM)) bytes = bytes.subarray(3);
    if (bytes.indexOf(0) !== -1) {
      return {
        line: n,
        error: fileIssue(file, n, 'binary data (a NUL byte): expected UTF-8 text'),
        lossy: bytes.toString('utf8'),
      };
    }
    if (!isUtf8(bytes)) {
      return {
        line: n,
        error: fileIssue(file, n, 'invalid UTF-8: expected UTF-8 text'),
        lossy: bytes.toString('utf8'),
      };
    }
    return { line: n, text: bytes.toString('utf8') };
  };

  const keep = (part: Buffer) => {
    if (tooLong || pendingBytes + part.length > maxLineBytes) {
      tooLong = true;
      pending = [];
      pendingBytes = 0;
      return;
    }
    // Copy: the stream may reuse the chunk's memory, and a small slice would pin the whole chunk.
    pending.push(Buffer.from(part));
    pendingBytes += part.length;
  };

  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    const buf = chunk as Buffer;
    let start = 0;
    for (let nl = buf.indexOf(NEWLINE); nl !== -1; nl = buf.indexOf(NEWLINE, start)) {
      const part = buf.subarray(start, nl);
      if (tooLong || pendingBytes + part.length > maxLineBytes) {
        keep(part);
        yield finish(EMPTY);
      } else {
        yield finish(part);
      }
      start = nl + 1;
    }
    if (start < buf.length) keep(buf.subarray(start));
  }
  if (pendingBytes > 0 || tooLong) yield finish(EMPTY);
}

/** An ISO 8601 date, or date and time (`T` or a space between, seconds and zone optional: no zone means UTC); null when it is not one or names a day that does not exist. */
export function parseTimestamp(value: string): Date | null {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?\s*(Z|[+-]\d{2}:?\d{2})?)?$/i.exec(
      value.trim(),
    );
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone] = m;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1) return null;
  if (day > new Date(Date.UTC(Number(y), month, 0)).getUTCDate()) return null;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return null;
  const ms = frac ? frac.slice(0, 4).padEnd(4, '0') : '';
  let tz = zone ? zone.toUpperCase() : 'Z';
  if (/^[+-]\d{4}$/.test(tz)) tz = `${tz.slice(0, 3)}:${tz.slice(3)}`;
  const date = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}${ms}${tz}`);
  return Number.isNaN(date.getTime()) ? null : date;
}

export const TIMESTAMP_EXPECTED = 'an ISO 8601 date or time like 2026-03-12 or 2026-03-12T14:05:00Z';

/**
 * Where JSON.parse stopped: V8 says "at position N", or quotes the text around the error
 * ("...ten chars" + the bad token + "ten chars..."), which is found again in the text.
 */
export function jsonErrorOffset(text: string, message: string): number | null {
  const position = /at position (\d+)/.exec(message);
  if (position) return Number(position[1]);
  const quoted = /^Unexpected token '(.+?)', (\.\.\.)?"([\s\S]*)"(?:\.\.\.)? is not valid JSON$/.exec(
    message,
  );
  if (!quoted) return null;
  const [, token = '', cut, snippet = ''] = quoted;
  const at = text.indexOf(snippet);
  if (at === -1 || text.indexOf(snippet, at + 1) !== -1) return null;
  return at + (cut ? 10 : Math.max(0, snippet.indexOf(token)));
}

/** JSON.parse with an error that names the line where parsing stopped and what was expected. */
export function parseJson(
  file: string,
  text: string,
  expected: string,
): { value: unknown } | { error: ImportIssue } {
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    const message = (err as Error).message;
    const offset = jsonErrorOffset(text, message);
    const line = offset === null ? null : text.slice(0, offset).split('\n').length;
    return {
      error: fileIssue(file, line, `invalid JSON (${message.replace(/\s+/g, ' ')}): expected ${expected}`),
    };
  }
}

/** The 1-based line of a character offset. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/**
 * The line where each element of a top-level JSON array starts (customers.json, the index.json of
 * transcripts/ and notes/), so an entry's errors name its line.
 */
export function arrayElementLines(text: string): number[] {
  const starts: number[] = [];
  let depth = 0;
  let inString = false;
  let expectElement = false;
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\n') line++;
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') continue;
    if (depth === 1 && expectElement && ch !== ']') {
      starts.push(line);
      expectElement = false;
    }
    if (ch === '"') inString = true;
    else if (ch === '[' || ch === '{') {
      depth++;
      if (depth === 1) expectElement = true;
    } else if (ch === ']' || ch === '}') depth--;
    else if (ch === ',' && depth === 1) expectElement = true;
  }
  return starts;
}
