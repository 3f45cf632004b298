/**
 * What the parsers produce. Parsers know nothing of the database: they turn a file into items
 * (a ticket, a survey answer, a transcript, a notes file) each holding its units, and report
 * every problem with the file and line or row where it is.
 */

export type SourceType = 'ticket' | 'survey' | 'transcript' | 'note';

/** A job's statement or desired outcome is one sentence; every review page and map head prints them whole. */
export const JOB_TEXT_MAX = 500;

/** What is said of a statement or outcome longer than JOB_TEXT_MAX (customers.json and the jobs page). */
export function jobTextTooLong(length: number): string {
  return `${length} characters, expected at most ${JOB_TEXT_MAX} (one sentence; the job's examples can say more)`;
}

export interface JobDef {
  key: string;
  statement: string;
  desiredOutcome: string;
  examples: string[];
}

export interface CustomerDef {
  key: string;
  name: string;
  jobs: JobDef[];
}

export interface ParsedUnit {
  /** Stable reference to the source: `ticket:<id>`, `survey:<response_id>`, `transcript:<file>#<n>`, `note:<file>#<n>`. */
  ref: string;
  /** Position of the unit within its item, from 1. */
  ordinal: number;
  /** Who said or wrote it, when the source says. */
  speaker: string | null;
  text: string;
  /** When it was written or said, when the source says. */
  occurredAt: Date | null;
  /** Offset into the recording, for transcripts. */
  offsetMs: number | null;
  /** For notes: the heading the unit sits under. */
  section?: string | null;
  /** For notes: the customer's own words (text in quotation marks) inside the unit. */
  quotes?: string[];
}

export interface ParsedItem {
  sourceType: SourceType;
  /** Ticket id, survey response id, or file name: unique within its source type. */
  externalId: string;
  customerKey: string;
  occurredAt: Date | null;
  /** File and line or row the item came from, for error messages and the dashboard. */
  origin: { file: string; line: number | null };
  /** Source-specific facts kept with the item: ticket group and tags, survey question and score, ... */
  meta: Record<string, unknown>;
  units: ParsedUnit[];
}

export interface ImportIssue {
  file: string;
  /** 1-based line (JSONL, text formats) or row (CSV, counting the header as row 1); null for the whole file. */
  line: number | null;
  /** The field or column at fault, when there is one. */
  field?: string | null;
  /** What was wrong and what was expected. */
  message: string;
}

export type ParseEvent = { type: 'item'; item: ParsedItem } | { type: 'error'; error: ImportIssue };

export function issue(file: string, line: number | null, message: string, field?: string | null): ParseEvent {
  return { type: 'error', error: { file, line, field: field ?? null, message } };
}

/** What a parser of a whole file returns when it refuses that file: no item, one error naming it. */
export function refused(
  file: string,
  message: string,
  field: string | null = null,
): { item: null; errors: ImportIssue[] } {
  return { item: null, errors: [{ file, line: null, field, message }] };
}
