/**
 * The two indexed folders of a bundle (BUNDLE.md): transcripts/ and notes/, each an index.json
 * listing its files, and the parser of each file. Read by the importer and by `gapmap eval`.
 */
import type { ImportIssue, ParsedItem } from './types.ts';
import { parseTranscript, parseTranscriptIndex, type TranscriptEntry } from './transcripts.ts';
import { parseNotes, parseNotesIndex, type NotesEntry } from './notes.ts';
import { parseDocxTranscript } from './docx-transcript.ts';

type Parsed = { item: ParsedItem | null; errors: ImportIssue[] };

/** Files of a bundle that only `gapmap eval` reads. */
export const MEASUREMENT_FILES = new Set(['labels.jsonl', 'gaps.json']);

/**
 * A file at the top of a bundle folder that the importer reads as feedback or customers: any
 * survey CSV/TSV, tickets JSONL or JSON export, whatever its name (BUNDLE.md names surveys.csv and
 * tickets.jsonl, exports come as nps-march.csv), and customers.json.
 */
export function isBundleFile(name: string): boolean {
  return !name.startsWith('.') && !MEASUREMENT_FILES.has(name) && /\.(csv|tsv|jsonl|json)$/i.test(name);
}

/** How an indexed folder of a bundle is read: its index.json, then each file it lists. */
export interface FolderReader<E extends { file: string }> {
  name: 'transcripts' | 'notes';
  index(
    file: string,
  ): Promise<{ entries: E[]; errors: ImportIssue[] }> | { entries: E[]; errors: ImportIssue[] };
  parse(file: string, entry: E): Promise<Parsed>;
  expected: string;
  /** What its index.json holds, for the message when a folder has none. */
  indexShape: string;
  /** How one of its files imports alone. */
  single: string;
}

export const TRANSCRIPTS: FolderReader<TranscriptEntry> = {
  name: 'transcripts',
  index: parseTranscriptIndex,
  parse: (file, entry) =>
    /\.docx$/i.test(file) ? parseDocxTranscript(file, entry) : parseTranscript(file, entry),
  expected: 'an entry naming its customer and customer speakers',
  indexShape: '[{"file", "customer", "interviewed_at", "customer_speakers": ["Name", ...]}]',
  single: 'gapmap import <file> --customer KEY --speakers "Name, Name"',
};

export const NOTES: FolderReader<NotesEntry> = {
  name: 'notes',
  index: parseNotesIndex,
  parse: parseNotes,
  expected: 'an entry naming its customer',
  indexShape: '[{"file", "customer", "interviewed_at", "author"}]',
  single: 'gapmap import <file> --customer KEY',
};
