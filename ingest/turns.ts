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

export interface Turn {
  speaker: string;
  text: string;
  offsetMs: number | null;
}

/** Consecutive cues of one speaker joined with a space; a cue without a speaker continues the turn in progress. */
export function joinTurns(cues: Cue[]): Turn[] {
  const turns: Turn[] = [];
  let current: { speaker: string; parts: string[]; offsetMs: number | null } | null = null;
  const flush = () => {
    const text = current?.parts.join(' ').replace(/\s+/g, ' ').trim();
    if (current && text) turns.push({ speaker: current.speaker, text, offsetMs: current.offsetMs });
    current = null;
  };
  for (const cue of cues) {
    const speaker = cue.speaker?.trim() || null;
    if (!speaker) {
      // A wrapped line in most exports.
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
  return turns;
}

/**
 * Every turn of the conversation, the customer's numbered as their units are: kept with the
 * transcript so the dashboard can show a quote among its neighbouring turns, interviewer's included.
 */
export function conversation(cues: Cue[], customerSpeakers: string[]): (Turn & { unit: number | null })[] {
  const customers = new Set(customerSpeakers.map(normalizeSpeaker));
  let n = 0;
  return joinTurns(cues).map((t) => ({
    ...t,
    unit: customers.has(normalizeSpeaker(t.speaker)) ? ++n : null,
  }));
}

/**
 * The customer speakers' turns as units `transcript:<file>#<n>`, numbered from 1 per file.
 * Interviewer turns are not units.
 */
export function customerTurns(
  file: string,
  cues: Cue[],
  customerSpeakers: string[],
  interviewedAt: Date | null,
  refPrefix = 'transcript',
): ParsedUnit[] {
  return conversation(cues, customerSpeakers)
    .filter((t) => t.unit !== null)
    .map((t) => ({
      ref: `${refPrefix}:${file}#${t.unit}`,
      ordinal: t.unit!,
      speaker: t.speaker,
      text: t.text,
      occurredAt: interviewedAt,
      offsetMs: t.offsetMs,
    }));
}
