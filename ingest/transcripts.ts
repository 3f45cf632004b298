/**
 * Interview transcripts: transcripts/index.json names each file's customer and customer speakers;
 * WebVTT, SubRip and plain-text files become cues, and `customerTurns` makes the customer's turns
 * the units `transcript:<file>#<n>`. A cue with a bad timestamp is reported and skipped.
 */
import { basename } from 'node:path';
import { z } from 'zod';
import { zodIssues } from './customers.ts';
import { arrayElementLines, parseJson, parseTimestamp, readTextFile, TIMESTAMP_EXPECTED } from './text.ts';
import { conversation, customerTurns, normalizeSpeaker, type Cue } from './turns.ts';
import type { ImportIssue, ParsedItem } from './types.ts';
import { refused } from './types.ts';

export interface TranscriptEntry {
  /** File name inside the transcripts folder. */
  file: string;
  customer: string;
  interviewedAt: Date | null;
  customerSpeakers: string[];
}

const nonEmpty = z
  .string({ error: 'expected a non-empty string' })
  .trim()
  .min(1, 'expected a non-empty string');

const entrySchema = z.object({
  file: nonEmpty.refine(
    (f) => basename(f) === f && f !== '..',
    'expected a file name inside the transcripts folder',
  ),
  customer: nonEmpty,
  interviewed_at: z
    .string()
    .refine((s) => parseTimestamp(s) !== null, `expected ${TIMESTAMP_EXPECTED}`)
    .nullish(),
  customer_speakers: z
    .array(nonEmpty, { error: 'expected a list of speaker names' })
    .min(1, 'expected at least one customer speaker'),
});

export async function parseTranscriptIndex(
  file: string,
): Promise<{ entries: TranscriptEntry[]; errors: ImportIssue[] }> {
  const read = await readTextFile(file);
  if ('error' in read) return { entries: [], errors: [read.error] };
  const expected =
    'a list of transcripts: [{ "file", "customer", "interviewed_at", "customer_speakers": [...] }]';
  const json = parseJson(file, read.text, expected);
  if ('error' in json) return { entries: [], errors: [json.error] };
  if (!Array.isArray(json.value))
    return { entries: [], errors: [{ file, line: null, field: null, message: `expected ${expected}` }] };

  const entries: TranscriptEntry[] = [];
  const errors: ImportIssue[] = [];
  const seen = new Map<string, number>();
  const lines = arrayElementLines(read.text);
  json.value.forEach((raw: unknown, index) => {
    const line = lines[index] ?? null;
    const parsed = entrySchema.safeParse(raw);
    if (!parsed.success) {
      errors.push(...zodIssues(file, line, `[${index}]`, parsed.error));
      return;
    }
    const e = parsed.data;
    const first = seen.get(e.file);
    if (first !== undefined) {
      errors.push({
        file,
        line,
        field: `[${index}].file`,
        message: `[${index}].file: "${e.file}" is already listed at [${first}]: expected each file once`,
      });
      return;
    }
    seen.set(e.file, index);
    entries.push({
      file: e.file,
      customer: e.customer,
      interviewedAt: e.interviewed_at ? parseTimestamp(e.interviewed_at) : null,
      customerSpeakers: e.customer_speakers,
    });
  });
  return { entries, errors };
}

type CueResult = { cues: Cue[]; errors: ImportIssue[] };

/**
 * `hh:mm:ss.mmm` or `mm:ss.mmm` (SubRip: a comma before the milliseconds) -> milliseconds. WebVTT
 * allows any number of hour digits (a recording's clock can start at 1000:00:00.000); past what a
 * millisecond count holds exactly, the time is refused.
 */
function clockMs(value: string, sep: '.' | ','): number | null {
  const m = new RegExp(`^(?:(\\d+):)?([0-5]\\d):([0-5]\\d)\\${sep}(\\d{3})$`).exec(value);
  if (!m) return null;
  const [, h = '0', mi = '0', s = '0', ms = '0'] = m;
  const total = ((Number(h) * 60 + Number(mi)) * 60 + Number(s)) * 1000 + Number(ms);
  return Number.isSafeInteger(total) ? total : null;
}

function timingLine(line: string, sep: '.' | ','): { startMs: number } | null {
  const m = /^(\S+)\s+-->\s+(\S+)(?:\s.*)?$/.exec(line.trim());
  if (!m) return null;
  const start = clockMs(m[1] ?? '', sep);
  const end = clockMs(m[2] ?? '', sep);
  return start === null || end === null ? null : { startMs: start };
}

/**
 * Index of a cue's timing line: the first or, after a cue number or identifier, the second. When
 * neither holds "-->", the line that should have been the timing is returned, to be reported.
 */
function timingIndex(lines: string[]): number {
  const at = lines.findIndex((l) => l.includes('-->'));
  if (at === 0 || at === 1) return at;
  return lines.length > 1 && /^\S+$/.test(lines[0] ?? '') && /\d:\d/.test(lines[1] ?? '') ? 1 : 0;
}

type Block = { line: number; lines: string[] };

/** Blank-line separated blocks, each with the 1-based line of its first line. */
function blocks(text: string): Block[] {
  const out: Block[] = [];
  let current: Block | null = null;
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') {
      current = null;
      return;
    }
    if (!current) {
      current = { line: i + 1, lines: [] };
      out.push(current);
    }
    current.lines.push(raw);
  });
  return out;
}

/**
 * A cue glued to the next one without a blank line is two cues: a later line shaped like a timing
 * line starts a new cue (WebVTT's parser does the same), taking the cue number above it along.
 */
function splitGlued(block: Block): Block[] {
  const out: Block[] = [];
  let start = 0;
  let timingAt: number | null = null;
  block.lines.forEach((l, i) => {
    if (!/^\s*[\d:.,]*\d:\d[\d:.,]*\s+-->\s/.test(l)) return;
    if (timingAt === null) {
      timingAt = i;
      return;
    }
    const at = i - 1 > timingAt && /^\s*\d+\s*$/.test(block.lines[i - 1] ?? '') ? i - 1 : i;
    out.push({ line: block.line + start, lines: block.lines.slice(start, at) });
    start = at;
    timingAt = i;
  });
  out.push({ line: block.line + start, lines: block.lines.slice(start) });
  return out;
}

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  nbsp: ' ',
  quot: '"',
  apos: "'",
  lrm: '',
  rlm: '',
};

/**
 * The markup captions use: SubRip's <i>, <b>, <u>, <s>, <font ...>, WebVTT's <c.class>, <v Name>,
 * <lang en>, <ruby>, <rt> and karaoke timestamps <00:01.500>. Any other angle bracket is the
 * speaker's ("we pay <50 a month but >20 for the add-on").
 */
const TAG = /<\/?(?:[bisu]|c|v|font|lang|ruby|rt|span|br)(?=[\s.>/])[^<>]*>|<(?:\d+:)?\d{2}:\d{2}\.\d{3}>/gi;

function decodeEntities(text: string): string {
  return text.replace(
    /&(?:#(\d{1,7})|#[xX]([\da-fA-F]{1,6})|(amp|lt|gt|nbsp|quot|apos|lrm|rlm));/g,
    (ref, dec, hex, name) => {
      if (name) return ENTITIES[name as string] ?? '';
      const code = dec ? Number(dec) : parseInt(hex as string, 16);
      const valid = code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
      return valid ? String.fromCodePoint(code) : ref;
    },
  );
}

function stripTags(text: string): string {
  return decodeEntities(text.replace(TAG, '')).replace(/\s+/g, ' ').trim();
}

/**
 * WebVTT cues. Speakers come from voice tags (`<v Carla>words`); a file with none, as meeting tools
 * such as Zoom write them, names them as SubRip does, with `Name:` leading a cue (labelledCues).
 */
export function vttCues(file: string, text: string, customerSpeakers: string[] = []): CueResult {
  const cues: Cue[] = [];
  const errors: ImportIssue[] = [];
  const all = blocks(text);
  const header = all.shift();
  if (!header || !/^WEBVTT(?:[ \t].*)?$/.test(header.lines[0] ?? '')) {
    return {
      cues,
      errors: [
        { file, line: 1, field: null, message: 'expected the line "WEBVTT" at the top of a WebVTT file' },
      ],
    };
  }
  const timed: { block: Block; timingAt: number; startMs: number; body: string[] }[] = [];
  for (const block of all.flatMap(splitGlued)) {
    const first = block.lines[0] ?? '';
    if (/^(NOTE|STYLE|REGION)(\s|$)/.test(first)) continue;
    const timingAt = timingIndex(block.lines);
    const timing = timingLine(block.lines[timingAt] ?? '', '.');
    if (!timing) {
      errors.push({
        file,
        line: block.line + timingAt,
        field: null,
        message: `bad cue timing "${block.lines[timingAt]?.trim()}": expected "hh:mm:ss.mmm --> hh:mm:ss.mmm" or "mm:ss.mmm --> mm:ss.mmm"; the cue was skipped`,
      });
      continue;
    }
    timed.push({ block, timingAt, startMs: timing.startMs, body: block.lines.slice(timingAt + 1) });
  }
  const VOICE = /(<v(?:\.[^\s>]*)?\s+[^>]*>)/;
  if (!timed.some((t) => VOICE.test(t.body.join('\n')))) {
    const lines: TextLine[] = [];
    for (const t of timed) lines.push(...cueLines(t.block, t.timingAt, t.startMs, t.body.map(stripTags)));
    return { cues: labelledCues(lines, labelReader(customerSpeakers), true), errors };
  }
  for (const t of timed) {
    // A cue may hold several voices: `<v A>words</v><v B>words`. Text before the first voice tag
    // has no speaker and continues the turn in progress.
    const parts = t.body.join('\n').split(VOICE);
    let speaker: string | null = null;
    for (const part of parts) {
      const voice = /^<v(?:\.[^\s>]*)?\s+([^>]*)>$/.exec(part);
      if (voice) {
        speaker = voice[1]?.trim() || null;
        continue;
      }
      const words = stripTags(part);
      if (words) cues.push({ speaker, text: words, offsetMs: t.startMs, line: t.block.line });
    }
  }
  return { cues, errors };
}

/** Labels meeting tools add after a name: "Sam Ito (Guest)" is Sam Ito, as in Word transcripts. */
const TOOL_TAG_SOURCE = String.raw`\s*\((?:guest|external|unverified|host|co-host|organi[sz]er|presenter)\)`;
const TOOL_TAG = new RegExp(`${TOOL_TAG_SOURCE}$`, 'i');
const NAME_PARTICLES = new Set('de da di del der den van von la le du bin al el dos das'.split(' '));
/** `Label: words`, or the label alone: what comes before the line's first colon. */
const LABELLED = /^([^:]{1,60}?)\s*:(?:\s+(.*))?$/;
/** A caption dash or ">>" that marks a change of speaker: `- Carla: words` (in plain text, a list's bullet). */
const TURN_MARK = /^(?:[-–—]|>>)\s*/;

interface Label {
  speaker: string;
  words: string;
  /** One of the index's customer speakers. */
  known: boolean;
}

/**
 * Shaped like a speaker label rather than a sentence's first words, as Word transcripts judge it:
 * up to six words, each capitalised, a number ("Speaker 1", "P2"), in parentheses ("Carla (Acme)"),
 * in a script without capitals ("王芳") or a particle such as "van"; no sentence punctuation. The
 * first word starts with a letter, so a numbered list's "1. Price:" is text.
 */
function labelShaped(label: string): boolean {
  const name = label.replace(TOOL_TAG, '').trim();
  if (!/\p{L}/u.test(name) || /[!?;,"“”]/.test(name)) return false;
  const words = name.split(/\s+/);
  return (
    words.length <= 6 &&
    /^\(?[\p{L}]/u.test(name) &&
    words.every((w) => /^\(?[\p{Lu}\p{Lt}\p{Lo}\d]/u.test(w) || NAME_PARTICLES.has(w.toLowerCase()))
  );
}

/**
 * Reads the `Name:` label that leads a line. The index's customer speakers are matched as written
 * (any name, "Sam Ito (Guest)" or "王芳", in any case, with or without a meeting tool's tag), and
 * come back spelt as the index has them when only that tag differs.
 */
function labelReader(customerSpeakers: string[]): (text: string) => Label | null {
  const known = [...customerSpeakers]
    .sort((a, b) => b.length - a.length)
    .map((name) => {
      const bare = name
        .replace(TOOL_TAG, '')
        .trim()
        .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        .replace(/\s+/g, '\\s+');
      return { name, pattern: new RegExp(`^(${bare}(?:${TOOL_TAG_SOURCE})?)\\s*:(?:\\s+(.*))?$`, 'iu') };
    });
  return (raw) => {
    const text = raw.normalize('NFC');
    for (const { name, pattern } of known) {
      const m = pattern.exec(text);
      if (!m) continue;
      const label = m[1] ?? name;
      const speaker = normalizeSpeaker(label) === normalizeSpeaker(name) ? label : name;
      return { speaker, words: (m[2] ?? '').trim(), known: true };
    }
    const m = LABELLED.exec(text);
    if (!m || !labelShaped(m[1] ?? '')) return null;
    return { speaker: (m[1] ?? '').replace(TOOL_TAG, '').trim(), words: (m[2] ?? '').trim(), known: false };
  };
}

interface TextLine {
  /** 1-based line, for the cue it starts. */
  line: number;
  text: string;
  offsetMs: number | null;
  /** Where a turn may begin: the first line of a paragraph or cue, or a line a timestamp leads. */
  turnStart: boolean;
  /** A bad timestamp led this line: it and the lines below it up to the next turn are skipped. */
  skip?: boolean;
}

/**
 * Cues from lines that may start `Name: words`. A label is a speaker when it is one of the index's
 * customer speakers, stands where a turn begins (a paragraph's or cue's first line, after a
 * timestamp or, in captions, a dash), or is a label the file puts there elsewhere; in a file written
 * one turn a line without blank lines between turns, also a label that leads two lines or more. Any
 * other `Word:` ("Problem: we cannot export...", a bullet's "- Price: too high") inside a turn is
 * that turn's text, never a speaker that would take the customer's words out of their unit.
 */
function labelledCues(
  lines: TextLine[],
  readLabel: (text: string) => Label | null,
  dashStartsTurn: boolean,
): Cue[] {
  const read = lines.map((l) => {
    const mark = TURN_MARK.exec(l.text);
    const label = l.skip ? null : readLabel(mark ? l.text.slice(mark[0].length) : l.text);
    const key = label ? normalizeSpeaker(label.speaker) : '';
    const marked = mark !== null && label !== null && dashStartsTurn;
    // In plain text a dash is a list's bullet: the paragraph it starts may be the turn's next one.
    const labelAtStart = l.turnStart && (mark === null || dashStartsTurn);
    return { ...l, label, key, marked, labelAtStart };
  });
  const placed = new Set<string>();
  const uses = new Map<string, number>();
  let labelledStarts = 0;
  for (const r of read) {
    if (!r.label) continue;
    uses.set(r.key, (uses.get(r.key) ?? 0) + 1);
    if (r.labelAtStart || r.marked) placed.add(r.key);
    if (r.labelAtStart) labelledStarts++;
  }
  const onePerLine = labelledStarts < 2;
  const cues: Cue[] = [];
  let current: Cue | null = null;
  let skipping = false;
  for (const r of read) {
    if (r.skip) {
      current = null;
      skipping = true;
      continue;
    }
    const speaker =
      r.label &&
      (r.label.known ||
        r.labelAtStart ||
        r.marked ||
        placed.has(r.key) ||
        (onePerLine && (uses.get(r.key) ?? 0) >= 2))
        ? r.label
        : null;
    if (speaker || r.turnStart || (!current && !skipping)) {
      skipping = false;
      current = {
        speaker: speaker?.speaker ?? null,
        text: speaker ? speaker.words : r.text,
        offsetMs: r.offsetMs,
        line: r.line,
      };
      cues.push(current);
    } else if (current && !skipping) {
      current.text = current.text ? `${current.text} ${r.text}` : r.text;
    }
  }
  return cues;
}

/** A caption cue's text lines (tags already stripped) for labelledCues: the first one starts a turn. */
function cueLines(block: Block, timingAt: number, offsetMs: number, body: string[]): TextLine[] {
  return body
    .filter((l) => l !== '')
    .map((text, k) => ({
      line: k === 0 ? block.line : block.line + timingAt + 1 + k,
      text,
      offsetMs,
      turnStart: k === 0,
    }));
}

/**
 * SubRip cues, each a turn's start: `Name:` on its first line names the speaker, and a later line
 * may hand over (`- Ivan: and then?`); a cue without a name continues the turn in progress.
 */
export function srtCues(file: string, text: string, customerSpeakers: string[] = []): CueResult {
  const lines: TextLine[] = [];
  const errors: ImportIssue[] = [];
  for (const block of blocks(text).flatMap(splitGlued)) {
    const timingAt = timingIndex(block.lines);
    const timingText = block.lines[timingAt] ?? '';
    const timing = timingLine(timingText, ',') ?? timingLine(timingText, '.');
    if (!timing) {
      errors.push({
        file,
        line: block.line + timingAt,
        field: null,
        message: `bad cue timing "${timingText.trim()}": expected "hh:mm:ss,mmm --> hh:mm:ss,mmm"; the cue was skipped`,
      });
      continue;
    }
    const body = block.lines.slice(timingAt + 1).map((l) => stripTags(l.replace(/\{\\[^}]*\}/g, '')));
    lines.push(...cueLines(block, timingAt, timing.startMs, body));
  }
  return { cues: labelledCues(lines, labelReader(customerSpeakers), true), errors };
}

/** `[00:12:03]` or `[12:03]` before a line; unbracketed, only `00:12:03` before a speaker's name. */
function txtStamp(
  text: string,
  readLabel: (text: string) => Label | null,
): { value: string; bracketed: boolean; rest: string } | null {
  const bracketed = /^\[([\d:.,\s]+)\]\s*/.exec(text);
  if (bracketed)
    return { value: (bracketed[1] ?? '').trim(), bracketed: true, rest: text.slice(bracketed[0].length) };
  const bare = /^(\d+:\d+:\d+(?:[.,]\d+)?)\s+/.exec(text);
  const rest = bare ? text.slice(bare[0].length) : '';
  return bare && readLabel(rest.replace(TURN_MARK, ''))
    ? { value: bare[1] ?? '', bracketed: false, rest }
    : null;
}

function stampMs(value: string): number | null {
  const m = /^(?:(\d+):)?([0-5]\d):([0-5]\d)(?:[.,](\d{1,3}))?$/.exec(value);
  if (!m) return null;
  const ms =
    ((Number(m[1] ?? 0) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 +
    Number((m[4] ?? '').padEnd(3, '0'));
  return Number.isSafeInteger(ms) ? ms : null;
}

/**
 * A speaker's heading line as Otter and similar tools export it: the name, then the time from the
 * start (`Speaker 2  0:05`, `Jane Doe  1:02:03`), with the words on the lines below. Two spaces or a
 * tab before the time; one will do after a name the index lists.
 */
function headingOf(
  text: string,
  readLabel: (text: string) => Label | null,
): { speaker: string; offsetMs: number } | null {
  const m = /^(.{1,60}?)(\s+)(\d{1,3}(?::\d{2}){1,2})$/.exec(text);
  if (!m) return null;
  const name = m[1]!.trim();
  const known = readLabel(`${name}:`)?.known ?? false;
  if (!known && (!/\s{2,}|\t/.test(m[2]!) || !labelShaped(name))) return null;
  const [a, b, c] = m[3]!.split(':').map(Number);
  const seconds = c === undefined ? a! * 60 + b! : (a! * 60 + b!) * 60 + c;
  if (b! > 59 || (c !== undefined && c > 59)) return null;
  return { speaker: name, offsetMs: seconds * 1000 };
}

/**
 * Plain text: paragraphs of `Name: words`, a timestamp (`[00:12:03]`, or `00:12:03` before the
 * name) optionally leading the line or standing on the line above it, or a heading line of the
 * name and time above the words (headingOf). A paragraph without a name continues the turn in
 * progress.
 */
export function txtCues(file: string, text: string, customerSpeakers: string[] = []): CueResult {
  const readLabel = labelReader(customerSpeakers);
  const lines: TextLine[] = [];
  const errors: ImportIssue[] = [];
  let paragraphStart = true;
  let stampAbove: number | null = null;
  let headingAbove: string | null = null;
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (!trimmed) {
      paragraphStart = true;
      return;
    }
    const heading = headingOf(trimmed, readLabel);
    if (heading) {
      headingAbove = heading.speaker;
      stampAbove = heading.offsetMs;
      paragraphStart = true;
      return;
    }
    const turnStart = paragraphStart || stampAbove !== null;
    paragraphStart = false;
    if (headingAbove !== null) {
      // The heading's name leads its words, as `Name: words` would.
      lines.push({ line, text: `${headingAbove}: ${trimmed}`, offsetMs: stampAbove, turnStart: true });
      headingAbove = null;
      stampAbove = null;
      return;
    }
    const stamp = txtStamp(trimmed, readLabel);
    if (!stamp) {
      lines.push({ line, text: trimmed, offsetMs: stampAbove, turnStart });
      stampAbove = null;
      return;
    }
    const offsetMs = stampMs(stamp.value);
    stampAbove = null;
    if (offsetMs === null) {
      const expected = stamp.bracketed ? '[hh:mm:ss] or [mm:ss]' : 'hh:mm:ss or mm:ss';
      const shown = stamp.bracketed ? `[${stamp.value}]` : stamp.value;
      errors.push({
        file,
        line,
        field: null,
        message: `bad timestamp "${shown}": expected ${expected}; the turn was skipped`,
      });
      lines.push({ line, text: trimmed, offsetMs: null, turnStart: true, skip: true });
    } else if (stamp.rest === '') {
      stampAbove = offsetMs;
    } else {
      lines.push({ line, text: stamp.rest, offsetMs, turnStart: true });
    }
  });
  return { cues: labelledCues(lines, readLabel, false), errors };
}

/**
 * Builds the transcript's item from its cues (any format, Word included): refused when none of
 * the customer speakers speaks, naming those found and those expected.
 */
export function transcriptItem(
  file: string,
  entry: TranscriptEntry,
  cues: Cue[],
): { item: ParsedItem | null; errors: ImportIssue[] } {
  const name = basename(file);
  const speakers: string[] = [];
  const seen = new Set<string>();
  for (const cue of cues) {
    const s = cue.speaker?.trim();
    if (s && !seen.has(normalizeSpeaker(s))) {
      seen.add(normalizeSpeaker(s));
      speakers.push(s);
    }
  }
  if (cues.length === 0) {
    return refused(file, 'no cues or turns found: expected a transcript with speakers and their words');
  }
  const units = customerTurns(name, cues, entry.customerSpeakers, entry.interviewedAt);
  if (units.length === 0) {
    return refused(
      file,
      `none of the customer speakers speaks: expected ${entry.customerSpeakers.map((s) => `"${s}"`).join(', ')} ` +
        `(from the index), found ${speakers.length ? speakers.map((s) => `"${s}"`).join(', ') : 'no named speakers'}`,
      'customer_speakers',
    );
  }
  return {
    item: {
      sourceType: 'transcript',
      externalId: name,
      customerKey: entry.customer,
      occurredAt: entry.interviewedAt,
      origin: { file, line: null },
      meta: {
        interviewedAt: entry.interviewedAt,
        customerSpeakers: entry.customerSpeakers,
        speakers,
        turns: conversation(cues, entry.customerSpeakers),
      },
      units,
    },
    errors: [],
  };
}

export type TranscriptFormat = 'vtt' | 'srt' | 'txt-transcript';

export function transcriptFormat(file: string, text: string): TranscriptFormat {
  if (/^WEBVTT(\s|$)/.test(text)) return 'vtt';
  if (/^\s*\d+\s*\n\s*[\d:,.]+\s+-->/.test(text)) return 'srt';
  if (/\.vtt$/i.test(file)) return 'vtt';
  if (/\.srt$/i.test(file)) return 'srt';
  return 'txt-transcript';
}

export async function parseTranscript(
  file: string,
  entry: TranscriptEntry,
): Promise<{ item: ParsedItem | null; errors: ImportIssue[] }> {
  const read = await readTextFile(file);
  if ('error' in read) return { item: null, errors: [read.error] };
  const format = transcriptFormat(file, read.text);
  const parsed =
    format === 'vtt'
      ? vttCues(file, read.text, entry.customerSpeakers)
      : format === 'srt'
        ? srtCues(file, read.text, entry.customerSpeakers)
        : txtCues(file, read.text, entry.customerSpeakers);
  const built = transcriptItem(file, entry, parsed.cues);
  return { item: built.item, errors: [...parsed.errors, ...built.errors] };
}
