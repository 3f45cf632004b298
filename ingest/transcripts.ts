/**
 * Interview transcripts: transcripts/index.json names each file's customer and customer speakers;
 * WebVTT, SubRip and plain-text files become cues, and `customerTurns` makes the customer's turns
 * the units `transcript:<file>#<n>`. A cue with a bad timestamp is reported and skipped.
 */
import { basename } from 'node:path';
import { z } from 'zod';
import { zodIssues } from './customers.ts';
import { parseJson, parseTimestamp, readTextFile, TIMESTAMP_EXPECTED } from './text.ts';
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
  json.value.forEach((raw: unknown, index) => {
    const parsed = entrySchema.safeParse(raw);
    if (!parsed.success) {
      errors.push(...zodIssues(file, null, `[${index}]`, parsed.error));
      return;
    }
    const e = parsed.data;
    const first = seen.get(e.file);
    if (first !== undefined) {
      errors.push({
        file,
        line: null,
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

/** Blank-line separated blocks, each with the 1-based line of its first line. */
function blocks(text: string): { line: number; lines: string[] }[] {
  const out: { line: number; lines: string[] }[] = [];
  let current: { line: number; lines: string[] } | null = null;
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

export function vttCues(file: string, text: string): CueResult {
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
  for (const block of all) {
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
    const body = block.lines.slice(timingAt + 1).join('\n');
    // A cue may hold several voices: `<v A>words</v><v B>words`. Text before the first voice tag
    // has no speaker and continues the turn in progress.
    const parts = body.split(/(<v(?:\.[^\s>]*)?\s+[^>]*>)/);
    let speaker: string | null = null;
    for (const part of parts) {
      const voice = /^<v(?:\.[^\s>]*)?\s+([^>]*)>$/.exec(part);
      if (voice) {
        speaker = voice[1]?.trim() || null;
        continue;
      }
      const words = stripTags(part);
      if (words) cues.push({ speaker, text: words, offsetMs: timing.startMs, line: block.line });
    }
  }
  return { cues, errors };
}

/** `Name:` at the start of a line: one to five words that start with a capital letter. */
const SPEAKER =
  /^((?:\p{Lu}[\p{L}\p{M}'’.-]*)(?:[ \t]+(?:\p{Lu}[\p{L}\p{M}'’.-]*|de|van|von|der|da|di|la|le|bin|al)){0,4}):[ \t]+(.*)$/u;

export function srtCues(file: string, text: string): CueResult {
  const cues: Cue[] = [];
  const errors: ImportIssue[] = [];
  for (const block of blocks(text)) {
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
    const body = stripTags(
      block.lines
        .slice(timingAt + 1)
        .join('\n')
        .replace(/\{\\[^}]*\}/g, ''),
    );
    const named = SPEAKER.exec(body);
    const words = named ? (named[2] ?? '').trim() : body;
    if (words)
      cues.push({ speaker: named?.[1] ?? null, text: words, offsetMs: timing.startMs, line: block.line });
  }
  return { cues, errors };
}

export function txtCues(file: string, text: string): CueResult {
  const cues: Cue[] = [];
  const errors: ImportIssue[] = [];
  let current: Cue | null = null;
  let skipping = false;
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    let rest = raw.trim();
    if (!rest) {
      current = null;
      skipping = false;
      return;
    }
    let offsetMs: number | null = null;
    const stamp = /^\[([^\]]*)\]\s*/.exec(rest);
    if (stamp && /^[\d:.,\s]+$/.test(stamp[1] ?? '')) {
      const value = (stamp[1] ?? '').trim();
      const m = /^(?:(\d{1,3}):)?([0-5]\d):([0-5]\d)(?:[.,](\d{1,3}))?$/.exec(value);
      if (!m) {
        errors.push({
          file,
          line,
          field: null,
          message: `bad timestamp "[${value}]": expected [hh:mm:ss] or [mm:ss]; the turn was skipped`,
        });
        current = null;
        skipping = true;
        return;
      }
      offsetMs =
        ((Number(m[1] ?? 0) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 +
        Number((m[4] ?? '').padEnd(3, '0'));
      rest = rest.slice(stamp[0].length);
    }
    const named = SPEAKER.exec(rest);
    if (named || offsetMs !== null) {
      skipping = false;
      current = { speaker: named?.[1] ?? null, text: named ? (named[2] ?? '').trim() : rest, offsetMs, line };
      cues.push(current);
    } else if (skipping) {
      return;
    } else if (current) {
      current.text = `${current.text} ${rest}`;
    } else {
      current = { speaker: null, text: rest, offsetMs: null, line };
      cues.push(current);
    }
  });
  return { cues, errors };
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
      ? vttCues(file, read.text)
      : format === 'srt'
        ? srtCues(file, read.text)
        : txtCues(file, read.text);
  const built = transcriptItem(file, entry, parsed.cues);
  return { item: built.item, errors: [...parsed.errors, ...built.errors] };
}
