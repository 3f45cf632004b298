/**
 * Transcripts saved as Word documents, in the two layouts people have:
 * - one turn per paragraph, `Name: words` (a timestamp such as `[00:12:03]` may lead the line);
 * - what meeting tools (Teams, Zoom, Otter) export: a line with the speaker's name and a timestamp
 *   (`Priya Nandakumar   0:03`, `Priya Nandakumar 00:01:12`), the words in the paragraph(s) below.
 * Both become cues, and `customerTurns` joins them into the customer's turns like every other format.
 */
import { basename } from 'node:path';
import { readDocx } from './docx.ts';
import { conversation, customerTurns, normalizeSpeaker, type Cue } from './turns.ts';
import type { ImportIssue, ParsedItem } from './types.ts';
import { refused } from './types.ts';

export interface DocxTranscriptEntry {
  customer: string;
  interviewedAt: Date | null;
  customerSpeakers: string[];
}

type Layout = 'name-colon' | 'name-timestamp';

const TIME = String.raw`\d{1,2}(?::\d{2}){1,2}(?:[.,]\d{1,3})?`;
/** `Name 0:03`, `Name | 00:01:12`, `Name (0:03)`: the whole line is a name and a time. */
const NAME_THEN_TIME = new RegExp(String.raw`^(.+?)\s*(?:[|·•–-]\s*)?[\[(]?(${TIME})[\])]?$`);
/** `00:01:12 Name`, `[0:03] Name`. */
const TIME_THEN_NAME = new RegExp(String.raw`^[\[(]?(${TIME})[\])]?\s*(?:[|·•–-]\s*)?(.+)$`);
/** `Name: words`, `[00:12:03] Name: words`, `Name (00:12): words`. */
const NAME_COLON = new RegExp(
  String.raw`^(?:[\[(]?(${TIME})[\])]?\s*)?([^:]{1,60}?)\s*(?:[\[(](${TIME})[\])])?\s*:(?:\s+(.*))?$`,
);
/** Labels meeting tools add after a name: "Sam Ito (Guest)" is Sam Ito. */
const TOOL_TAG = /\s*\((?:guest|external|unverified|host|co-host|organi[sz]er|presenter)\)$/i;
const NAME_PARTICLES = new Set([
  'de',
  'da',
  'di',
  'del',
  'der',
  'den',
  'van',
  'von',
  'la',
  'le',
  'du',
  'bin',
  'al',
  'el',
  'dos',
  'das',
]);

export async function parseDocxTranscript(
  file: string,
  entry: DocxTranscriptEntry,
): Promise<{ item: ParsedItem | null; errors: ImportIssue[] }> {
  const fail = (message: string) => refused(file, message);
  if (entry.customerSpeakers.length === 0) {
    return fail(
      "no customer speakers given: expected the names of the customer's speakers (customer_speakers in the index, or --speakers)",
    );
  }
  const doc = await readDocx(file);
  if ('error' in doc) return { item: null, errors: [doc.error] };

  // A line break inside a paragraph is a line of its own: some tools put the name line and the
  // words in one paragraph. Lines are numbered by (non-empty) paragraph. Headings (a title such as
  // "Interview: Harbour Florists") are never turns.
  const lines = doc.paragraphs.flatMap((p, i) =>
    (p.style === 'heading' ? '' : p.text)
      .split('\n')
      .map((text) => text.replace(/\s+/g, ' ').trim())
      .filter((text) => text !== '')
      .map((text) => ({ text, paragraph: i + 1 })),
  );
  const known = new Set(entry.customerSpeakers.map(normalizeSpeaker));
  const layout = chooseLayout(
    lines.map((l) => l.text),
    known,
  );
  const cues = layout === 'name-timestamp' ? timestampCues(lines, known) : colonCues(lines, known);

  const speakers: string[] = [];
  for (const cue of cues) {
    if (cue.speaker && !speakers.some((s) => normalizeSpeaker(s) === normalizeSpeaker(cue.speaker!))) {
      speakers.push(cue.speaker);
    }
  }
  if (speakers.length === 0) {
    return fail(
      'no speaker turns found: expected paragraphs of "Name: words", or a line with a speaker name and a timestamp ("Name 0:03") followed by the words',
    );
  }
  const name = basename(file);
  const units = customerTurns(name, cues, entry.customerSpeakers, entry.interviewedAt);
  if (units.length === 0) {
    return fail(
      `no turn by a customer speaker: expected one of ${entry.customerSpeakers.join(', ')} to speak; speakers found: ${speakers.join(', ')}`,
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
        format: 'docx',
        layout,
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

function chooseLayout(lines: string[], known: Set<string>): Layout {
  let timestamped = 0;
  let colon = 0;
  for (const line of lines) {
    if (nameTimestamp(line, known)) timestamped++;
    else if (nameColon(line, known)) colon++;
  }
  return timestamped > 0 && timestamped >= colon ? 'name-timestamp' : 'name-colon';
}

function timestampCues(lines: { text: string; paragraph: number }[], known: Set<string>): Cue[] {
  const cues: Cue[] = [];
  let speaker: { name: string; offsetMs: number | null } | null = null;
  for (const { text, paragraph } of lines) {
    const header = nameTimestamp(text, known);
    if (header) {
      speaker = header;
      continue;
    }
    // Words before the first speaker line (a title, "Transcript") belong to nobody.
    cues.push({ speaker: speaker?.name ?? null, text, offsetMs: speaker?.offsetMs ?? null, line: paragraph });
    if (speaker) speaker = { name: speaker.name, offsetMs: null };
  }
  return cues;
}

function colonCues(lines: { text: string; paragraph: number }[], known: Set<string>): Cue[] {
  return lines.map(({ text, paragraph }) => {
    const turn = nameColon(text, known);
    if (!turn) return { speaker: null, text, offsetMs: null, line: paragraph };
    return { speaker: turn.name, text: turn.words, offsetMs: turn.offsetMs, line: paragraph };
  });
}

function nameTimestamp(line: string, known: Set<string>): { name: string; offsetMs: number | null } | null {
  const after = NAME_THEN_TIME.exec(line);
  if (after && isName(after[1]!, known))
    return { name: speakerName(after[1]!), offsetMs: parseOffset(after[2]!) };
  const before = TIME_THEN_NAME.exec(line);
  if (before && isName(before[2]!, known))
    return { name: speakerName(before[2]!), offsetMs: parseOffset(before[1]!) };
  return null;
}

function nameColon(
  line: string,
  known: Set<string>,
): { name: string; words: string; offsetMs: number | null } | null {
  const m = NAME_COLON.exec(line);
  if (!m || !isName(m[2]!, known)) return null;
  const time = m[1] ?? m[3];
  return { name: speakerName(m[2]!), words: m[4] ?? '', offsetMs: time ? parseOffset(time) : null };
}

function speakerName(raw: string): string {
  return raw.trim().replace(TOOL_TAG, '');
}

/**
 * A speaker label, not the start of a sentence: up to six words, each capitalised (or a particle
 * such as "van", or a number as in "Speaker 2"), no sentence punctuation. A name the index lists
 * as a customer speaker always counts.
 */
function isName(raw: string, known: Set<string>): boolean {
  const name = speakerName(raw);
  if (!name || name.length > 60) return false;
  if (known.has(normalizeSpeaker(name))) return true;
  if (/[!?;:"“”]/.test(name)) return false;
  const words = name.split(/\s+/);
  if (words.length > 6) return false;
  return words.every((w) => /^\(?[\p{Lu}\d]/u.test(w) || NAME_PARTICLES.has(w.toLowerCase()));
}

function parseOffset(time: string): number | null {
  const [clock, fraction = ''] = time.split(/[.,]/);
  const parts = (clock ?? '').split(':').map(Number);
  if (parts.some((n) => !Number.isFinite(n))) return null;
  const seconds = parts.reduce((total, n) => total * 60 + n, 0);
  return seconds * 1000 + (fraction ? Math.round(Number(`0.${fraction}`) * 1000) : 0);
}
