/**
 * Transcript turns: every transcript format (WebVTT, SubRip, plain text, Word) first becomes a list
 * of cues (speaker + words + where it starts), then this one function joins consecutive cues of a
 * speaker into turns and keeps the customer's turns as units, numbered from 1 per file.
 */
import type { ParsedUnit } from './types.ts';

export interface Cue {
  speaker: string | null;
  text: string;
  /** Offset into the recording, when the format has one. */
  offsetMs: number | null;
  /** 1-based line where the cue starts, for error messages. */
  line: number;
}

export function normalizeSpeaker(name: string): string {
  return name.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
}

/**
 * Joins consecutive cues of one speaker with a space, and returns the customer speakers' turns as
 * units `transcript:<file>#<n>`. Interviewer turns and cues without a speaker end a turn but are
 * not units.
 */
export function customerTurns(
  file: string,
  cues: Cue[],
  customerSpeakers: string[],
  interviewedAt: Date | null,
  refPrefix = 'transcript',
): ParsedUnit[] {
  const customers = new Set(customerSpeakers.map(normalizeSpeaker));
  const units: ParsedUnit[] = [];
  let current: { speaker: string; parts: string[]; offsetMs: number | null } | null = null;
  const flush = () => {
    if (current && customers.has(normalizeSpeaker(current.speaker))) {
      const text = current.parts.join(' ').replace(/\s+/g, ' ').trim();
      if (text) {
        const ordinal = units.length + 1;
        units.push({
          ref: `${refPrefix}:${file}#${ordinal}`,
          ordinal,
          speaker: current.speaker,
          text,
          occurredAt: interviewedAt,
          offsetMs: current.offsetMs,
        });
      }
    }
    current = null;
  };
  for (const cue of cues) {
    const speaker = cue.speaker?.trim() || null;
    if (!speaker) {
      // A cue without a speaker continues the turn in progress (a wrapped line in most exports).
      if (current) current.parts.push(cue.text);
      continue;
    }
    if (current && normalizeSpeaker(current.speaker) === normalizeSpeaker(speaker)) {
      current.parts.push(cue.text);
      continue;
    }
    flush();
    current = { speaker, parts: [cue.text], offsetMs: cue.offsetMs };
  }
  flush();
  return units;
}
