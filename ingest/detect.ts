/**
 * Which format a file is, by its content first and its extension second, and what a bundle
 * folder holds. Detection reads only the head of a file, so it is cheap on a 1 GB export.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { readHead } from './text.ts';
import { ticketFileKind } from './tickets.ts';

export type Format =
  | 'customers'
  | 'surveys'
  | 'tickets'
  | 'zendesk-export'
  | 'transcript-index'
  | 'vtt'
  | 'srt'
  | 'txt-transcript'
  | 'notes-index'
  | 'notes'
  | 'docx'
  | 'unknown';

const HEAD_BYTES = 64 * 1024;
const ZIP = Buffer.from('PK\u0003\u0004', 'latin1');
const SPEAKER_LINE = /^(?:\[[\d:.,]+\]\s*)?\p{Lu}[\p{L}\p{M}'’.-]*(?:[ \t]+[\p{L}\p{M}'’.-]+){0,4}:[ \t]+\S/u;

function keysOfFirst(value: unknown): Set<string> | null {
  const first: unknown = Array.isArray(value) ? value[0] : null;
  return first && typeof first === 'object' ? new Set(Object.keys(first)) : null;
}

/** A JSON list (customers.json or an index): by the keys of its first entry, or its text when the head is cut. */
function jsonListFormat(head: string, complete: boolean): Format {
  let keys: Set<string> | null = null;
  if (complete) {
    try {
      keys = keysOfFirst(JSON.parse(head));
    } catch {
      return 'unknown';
    }
  }
  const has = (k: string) => (keys ? keys.has(k) : head.includes(`"${k}"`));
  if (has('jobs') && has('key')) return 'customers';
  if (has('customer_speakers')) return 'transcript-index';
  if (has('file') && has('customer')) return 'notes-index';
  return 'unknown';
}

/** How many lines that parse as JSON a JSONL file is judged by: one bad first line must not hide the rest. */
const JSONL_PROBE_LINES = 20;
const TICKET_FIELDS = ['id', 'description', 'subject', 'created_at', 'comments'];

/**
 * One JSON value per line. Tickets when one of the first lines that parse is a ticket (an id and a
 * subject or description); a `.jsonl` file also when one is an object with any ticket field (a
 * ticket missing its id), or when no line parses. The parser then reports each bad line itself.
 */
function jsonLinesFormat(head: string, complete: boolean, ext: string): Format {
  const lines = head.split('\n');
  if (!complete) lines.pop(); // may be cut short
  let parsed = 0;
  let ticketField = false;
  for (const line of lines) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const has = (k: string) => k in value;
      if (has('id') && (has('description') || has('subject'))) return 'tickets';
      if (TICKET_FIELDS.some(has)) ticketField = true;
    }
    if (++parsed >= JSONL_PROBE_LINES) break;
  }
  return ext === '.jsonl' && (parsed === 0 || ticketField) ? 'tickets' : 'unknown';
}

/** The format of text that opens like JSON (`[` not followed by a timestamp, or `{`); null for other text. */
function jsonFormat(start: string, complete: boolean, ext: string): Format | null {
  if (start.startsWith('[') && !/^\[[\d:.,]+\]/.test(start)) {
    const list = jsonListFormat(start, complete);
    // A JSONL file whose first line is a list is still JSONL.
    return list === 'unknown' ? jsonLinesFormat(start, complete, ext) : list;
  }
  if (start.startsWith('{')) {
    if (ticketFileKind(start) === 'zendesk-export') return 'zendesk-export';
    return jsonLinesFormat(start, complete, ext);
  }
  return null;
}

const TEXT_EXTENSIONS = new Set(['.txt', '.md', '.markdown']);

function byExtension(file: string): Format {
  switch (extname(file).toLowerCase()) {
    case '.vtt':
      return 'vtt';
    case '.srt':
      return 'srt';
    case '.csv':
    case '.tsv':
      return 'surveys';
    case '.jsonl':
      return 'tickets';
    case '.docx':
      return 'docx';
    case '.md':
    case '.markdown':
      return 'notes';
    default:
      return 'unknown';
  }
}

export async function detectFormat(file: string): Promise<Format> {
  let head: Buffer;
  let size: number;
  try {
    size = (await stat(file)).size;
    head = await readHead(file, HEAD_BYTES);
  } catch {
    return 'unknown';
  }
  if (head.subarray(0, 4).equals(ZIP)) {
    return /\.docx$/i.test(file) || head.includes('word/') ? 'docx' : 'unknown';
  }
  if (head.length === 0 || head.includes(0)) return byExtension(file);

  // The head may end inside a multi-byte character; that is fine for these tests.
  const text = head
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n');
  const start = text.trimStart();
  const ext = extname(file).toLowerCase();

  if (/^WEBVTT(\s|$)/.test(start)) return 'vtt';
  if (/^\d+\s*\n[\d:,.]+\s+-->\s+[\d:,.]+/.test(start)) return 'srt';
  const json = jsonFormat(start, size <= HEAD_BYTES, ext);
  // Notes that open with "[Draft]" or "{" are text all the same: their extension says so.
  if (json !== null && (json !== 'unknown' || !TEXT_EXTENSIONS.has(ext))) return json;
  const firstLine = start.split('\n', 1)[0] ?? '';
  if (/(^|[,;\t])\s*"?response_id"?\s*([,;\t]|$)/i.test(firstLine)) return 'surveys';
  if (ext === '.csv' || ext === '.tsv') return 'surveys';
  if (TEXT_EXTENSIONS.has(ext) || ext === '') {
    const paragraphs = start
      .split(/\n\s*\n/)
      .map((p) => p.trim())
      .filter(Boolean);
    const turns = paragraphs.filter((p) => SPEAKER_LINE.test(p)).length;
    if (ext !== '.md' && ext !== '.markdown' && turns >= 2 && turns >= paragraphs.length / 2)
      return 'txt-transcript';
    return 'notes';
  }
  return byExtension(file);
}

export interface IndexedFolder {
  /** Path of index.json, or null when the folder has none. */
  index: string | null;
  /** Every other file in the folder, sorted. */
  files: string[];
}

export interface BundleLayout {
  customers: string | null;
  surveys: string[];
  /** tickets JSONL files and Zendesk JSON exports. */
  tickets: string[];
  transcripts: IndexedFolder | null;
  notes: IndexedFolder | null;
  /** Top-level files that are none of the above (labels.jsonl, gaps.json, ...). */
  other: string[];
}

async function indexedFolder(dir: string): Promise<IndexedFolder | null> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  } catch {
    return null;
  }
  return {
    index: names.includes('index.json') ? join(dir, 'index.json') : null,
    files: names
      .filter((n) => n !== 'index.json' && !n.startsWith('.'))
      .sort()
      .map((n) => join(dir, n)),
  };
}

export async function bundleLayout(dir: string): Promise<BundleLayout> {
  const layout: BundleLayout = {
    customers: null,
    surveys: [],
    tickets: [],
    transcripts: null,
    notes: null,
    other: [],
  };
  const entries = (await readdir(dir, { withFileTypes: true })).filter(
    (d) => d.isFile() && !d.name.startsWith('.'),
  );
  for (const name of entries.map((d) => d.name).sort()) {
    const file = join(dir, name);
    const format = await detectFormat(file);
    if (format === 'customers' && !layout.customers) layout.customers = file;
    else if (format === 'surveys') layout.surveys.push(file);
    else if (format === 'tickets' || format === 'zendesk-export') layout.tickets.push(file);
    else layout.other.push(file);
  }
  layout.transcripts = await indexedFolder(join(dir, 'transcripts'));
  layout.notes = await indexedFolder(join(dir, 'notes'));
  return layout;
}
