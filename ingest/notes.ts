/**
 * Interview notes (.md, .txt, .docx): one unit per paragraph or list item, headings kept as the
 * section of the units below them, the notes' author as the speaker of every unit and the words
 * in double quotation marks kept apart as the customer's own words.
 */
import { readFileSync } from 'node:fs';
import { basename, extname, isAbsolute } from 'node:path';
import MarkdownIt from 'markdown-it';
import type { Token } from 'markdown-it';
import { z } from 'zod';
import { errorMessage } from '../app/errors.ts';
import { readDocx } from './docx.ts';
import {
  arrayElementLines,
  decodeText,
  lineAt,
  parseTimestamp,
  readTextFile,
  TIMESTAMP_EXPECTED,
} from './text.ts';
import type { ImportIssue, ParsedItem, ParsedUnit } from './types.ts';
import { refused } from './types.ts';

export interface NotesEntry {
  /** File name inside the bundle's notes/ folder. */
  file: string;
  customer: string;
  interviewedAt: Date | null;
  author: string | null;
}

export const NOTES_EXTENSIONS = ['.md', '.markdown', '.txt', '.docx'] as const;

// ---------------------------------------------------------------------------------------------
// notes/index.json

const entrySchema = z.object({
  file: z.string().trim().min(1, 'expected a file name'),
  customer: z.string().trim().min(1, 'expected a customer key'),
  interviewed_at: z.string().nullish(),
  author: z.string().nullish(),
});

export function parseNotesIndex(file: string): { entries: NotesEntry[]; errors: ImportIssue[] } {
  const errors: ImportIssue[] = [];
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (err) {
    return {
      entries: [],
      errors: [{ file, line: null, field: null, message: `cannot read the file: ${errorMessage(err)}` }],
    };
  }
  const decoded = decodeText(file, buf);
  if ('error' in decoded) return { entries: [], errors: [decoded.error] };
  const text = decoded.text;

  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    const message = errorMessage(err);
    const pos = /position (\d+)/.exec(message);
    const line = pos ? lineAt(text, Number(pos[1])) : null;
    return {
      entries: [],
      errors: [
        {
          file,
          line,
          field: null,
          message: `not valid JSON (${message}): expected an array of {file, customer, interviewed_at, author}`,
        },
      ],
    };
  }
  if (!Array.isArray(data)) {
    return {
      entries: [],
      errors: [
        {
          file,
          line: 1,
          field: null,
          message: 'expected a JSON array of {file, customer, interviewed_at, author}',
        },
      ],
    };
  }

  const lines = arrayElementLines(text);
  const entries: NotesEntry[] = [];
  const seen = new Set<string>();
  data.forEach((raw, i) => {
    const line = lines[i] ?? null;
    const parsed = entrySchema.safeParse(raw);
    if (!parsed.success) {
      for (const problem of parsed.error.issues) {
        const field = problem.path.length ? problem.path.join('.') : null;
        const message = field
          ? `entry ${i + 1}, "${field}": ${problem.message}`
          : `entry ${i + 1}: expected an object {file, customer, interviewed_at, author}`;
        errors.push({ file, line, field, message });
      }
      return;
    }
    const { file: name, customer, interviewed_at, author } = parsed.data;
    if (isAbsolute(name) || name.split(/[\\/]/).includes('..')) {
      errors.push({
        file,
        line,
        field: 'file',
        message: `entry ${i + 1}: "${name}" must be a file name inside the notes folder`,
      });
      return;
    }
    if (!NOTES_EXTENSIONS.some((ext) => name.toLowerCase().endsWith(ext))) {
      errors.push({
        file,
        line,
        field: 'file',
        message: `entry ${i + 1}: "${name}" is not a notes file: expected ${NOTES_EXTENSIONS.join(', ')}`,
      });
      return;
    }
    if (seen.has(name)) {
      errors.push({
        file,
        line,
        field: 'file',
        message: `entry ${i + 1}: "${name}" is listed twice: expected each file once`,
      });
      return;
    }
    let interviewedAt: Date | null = null;
    if (interviewed_at != null && interviewed_at.trim() !== '') {
      interviewedAt = parseTimestamp(interviewed_at);
      if (!interviewedAt) {
        errors.push({
          file,
          line,
          field: 'interviewed_at',
          message: `entry ${i + 1}, "interviewed_at": "${interviewed_at}" is not a date: expected ${TIMESTAMP_EXPECTED}`,
        });
        return;
      }
    }
    seen.add(name);
    entries.push({ file: name, customer, interviewedAt, author: author?.trim() || null });
  });
  return { entries, errors };
}

// ---------------------------------------------------------------------------------------------
// One notes file

/** A block of the notes before it becomes a unit: a heading, a paragraph or a list item. */
export interface Block {
  kind: 'heading' | 'paragraph' | 'list';
  text: string;
}

export async function parseNotes(
  file: string,
  entry: NotesEntry,
): Promise<{ item: ParsedItem | null; errors: ImportIssue[] }> {
  const ext = extname(file).toLowerCase();
  let blocks: Block[];
  let format: string;
  if (ext === '.docx') {
    const doc = await readDocx(file);
    if ('error' in doc) return { item: null, errors: [doc.error] };
    blocks = docxBlocks(doc.paragraphs);
    format = 'docx';
  } else if (ext === '.md' || ext === '.markdown' || ext === '.txt') {
    const read = await readTextFile(file);
    if ('error' in read) return { item: null, errors: [read.error] };
    if (ext === '.txt') {
      blocks = plainTextBlocks(read.text);
      format = 'txt';
    } else {
      blocks = markdownBlocks(read.text);
      format = 'markdown';
    }
  } else {
    return refused(file, `not a notes file: expected ${NOTES_EXTENSIONS.join(', ')}`);
  }

  const name = basename(file);
  const units: ParsedUnit[] = [];
  let section: string | null = null;
  let title: string | null = null;
  for (const block of blocks) {
    const text = normalizeSpace(block.text);
    if (!text) continue;
    if (block.kind === 'heading') {
      section = text;
      title ??= text;
      continue;
    }
    const ordinal = units.length + 1;
    units.push({
      ref: `note:${name}#${ordinal}`,
      ordinal,
      speaker: entry.author,
      text,
      occurredAt: entry.interviewedAt,
      offsetMs: null,
      section,
      quotes: quotesIn(text),
    });
  }
  if (units.length === 0) {
    return refused(file, 'no paragraphs or list items: expected interview notes with text');
  }
  return {
    item: {
      sourceType: 'note',
      externalId: name,
      customerKey: entry.customer,
      occurredAt: entry.interviewedAt,
      origin: { file, line: null },
      meta: { format, author: entry.author, title },
      units,
    },
    errors: [],
  };
}

export function normalizeSpace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * The words inside "straight" or “curly” double quotation marks, or ‘curly single’ ones (a ’ that
 * a letter follows is an apostrophe, as in ‘I’d pay’, not the closing mark).
 */
export function quotesIn(text: string): string[] {
  const quotes: string[] = [];
  for (const m of text.matchAll(/"([^"]+)"|“([^”]+)”|‘(.+?)’(?!\p{L})/gu)) {
    const quote = normalizeSpace(m[1] ?? m[2] ?? m[3] ?? '');
    if (quote) quotes.push(quote);
  }
  return quotes;
}

// ---------------------------------------------------------------------------------------------
// Markdown: CommonMark through markdown-it's token stream

// CommonMark plus tables, with raw HTML off: "<customer name>" in notes is text, not a tag.
const markdown = new MarkdownIt('default', { html: false, linkify: false, typographer: false });

export function markdownBlocks(source: string): Block[] {
  const tokens = markdown.parse(stripFrontMatter(source), {});
  const blocks: Block[] = [];
  // One entry per open list item: the text of its own paragraphs, not of its nested lists.
  const items: { parts: string[] }[] = [];
  let heading = false;
  // A table row is one unit, its cells joined with " | "; the header row names columns, not notes.
  let row: string[] | null = null;
  let tableHead = false;
  const flushItem = (item: { parts: string[] } | undefined) => {
    if (item && item.parts.length) blocks.push({ kind: 'list', text: item.parts.join(' ') });
    if (item) item.parts = [];
  };
  for (const token of tokens) {
    switch (token.type) {
      case 'heading_open':
        heading = true;
        break;
      case 'heading_close':
        heading = false;
        break;
      case 'list_item_open':
        items.push({ parts: [] });
        break;
      case 'list_item_close':
        flushItem(items.pop());
        break;
      case 'bullet_list_open':
      case 'ordered_list_open':
        // A nested list: its parent item's own text comes first, in reading order.
        flushItem(items[items.length - 1]);
        break;
      case 'thead_open':
        tableHead = true;
        break;
      case 'thead_close':
        tableHead = false;
        break;
      case 'tr_open':
        row = [];
        break;
      case 'tr_close':
        if (row && !tableHead && row.some((cell) => cell.trim())) {
          const text = row.join(' | ');
          const item = items[items.length - 1];
          if (item) item.parts.push(text);
          else blocks.push({ kind: 'paragraph', text });
        }
        row = null;
        break;
      case 'inline': {
        const text = inlineText(token.children ?? []);
        const item = items[items.length - 1];
        if (row) row.push(text);
        else if (heading) blocks.push({ kind: 'heading', text });
        else if (item) item.parts.push(text);
        else blocks.push({ kind: 'paragraph', text });
        break;
      }
      case 'fence':
      case 'code_block': {
        const item = items[items.length - 1];
        if (item) item.parts.push(token.content);
        else blocks.push({ kind: 'paragraph', text: token.content });
        break;
      }
    }
  }
  return blocks;
}

function inlineText(children: Token[]): string {
  let text = '';
  for (const child of children) {
    switch (child.type) {
      case 'text':
      case 'code_inline':
        text += child.content;
        break;
      case 'softbreak':
      case 'hardbreak':
        text += ' ';
        break;
      case 'image':
        text += inlineText(child.children ?? []);
        break;
      // Emphasis and link open/close tokens and inline HTML carry no words of their own.
    }
  }
  return text;
}

/** YAML front matter (`---` ... `---` at the top) is metadata, not notes; blank lines keep line numbers. */
function stripFrontMatter(source: string): string {
  const lines = source.split('\n');
  if (lines[0]?.trim() !== '---') return source;
  const end = lines.findIndex((line, i) => i > 0 && (line.trim() === '---' || line.trim() === '...'));
  if (end === -1) return source;
  return lines.map((line, i) => (i <= end ? '' : line)).join('\n');
}

// ---------------------------------------------------------------------------------------------
// Plain text

const LIST_MARKER = /^\s*(?:[-*•‣◦▪–]|\d{1,3}[.)])\s+(?=\S)/;
const UNDERLINE = /^\s*(?:={3,}|-{3,})\s*$/;
const RULE = /^\s*(?:[-=*_~]\s*){3,}$/;
const MAX_HEADING_LENGTH = 60;
const MAX_HEADING_WORDS = 8;

/**
 * Paragraphs are separated by blank lines. A line starting with -, *, • or `1.` starts a list item
 * and the lines after it (until the next marker or blank line) continue it. Headings are kept
 * conservative, since a missed heading only loses a section name but a false one loses a unit:
 * a line underlined with === or ---; an ALL CAPS line; or a short line standing alone between
 * blank lines, ending without punctuation and without quotation marks, with text after it.
 */
export function plainTextBlocks(source: string): Block[] {
  const lines = source.split('\n');
  const groups: string[][] = [];
  let current: string[] = [];
  for (const line of lines) {
    if (line.trim() === '') {
      if (current.length) groups.push(current);
      current = [];
    } else current.push(line);
  }
  if (current.length) groups.push(current);

  const blocks: Block[] = [];
  groups.forEach((group, g) => {
    const hasFollowing = g < groups.length - 1;
    let open: Block | null = null;
    const close = () => {
      if (open) blocks.push(open);
      open = null;
    };
    for (let i = 0; i < group.length; i++) {
      const line = group[i]!;
      const next = group[i + 1];
      if (next !== undefined && UNDERLINE.test(next) && !LIST_MARKER.test(line) && isHeadingLength(line)) {
        close();
        blocks.push({ kind: 'heading', text: line });
        i++;
        continue;
      }
      if (RULE.test(line)) {
        close();
        continue;
      }
      if (!open && isAllCapsHeading(line)) {
        blocks.push({ kind: 'heading', text: line });
        continue;
      }
      if (group.length === 1 && hasFollowing && isShortHeading(line)) {
        blocks.push({ kind: 'heading', text: line });
        continue;
      }
      const marker = LIST_MARKER.exec(line);
      if (marker) {
        close();
        open = { kind: 'list', text: line.slice(marker[0].length) };
      } else if (open) {
        open.text += ` ${line}`;
      } else {
        open = { kind: 'paragraph', text: line };
      }
    }
    close();
  });
  return blocks;
}

function isHeadingLength(line: string): boolean {
  const text = line.trim();
  return text.length > 0 && text.length <= MAX_HEADING_LENGTH;
}

function isAllCapsHeading(line: string): boolean {
  const text = line.trim();
  if (!isHeadingLength(text) || LIST_MARKER.test(line) || /[."“”]$/.test(text)) return false;
  const letters = text.match(/\p{L}/gu) ?? [];
  return letters.length >= 3 && !/\p{Ll}/u.test(text);
}

function isShortHeading(line: string): boolean {
  const text = line.trim();
  if (!isHeadingLength(text) || LIST_MARKER.test(line)) return false;
  if (/["“”]/.test(text)) return false;
  if (/[.!?,;:…'’)\]]$/.test(text)) return false;
  // Two sentences on one line are a paragraph, however short.
  if (/[.!?]\s/.test(text)) return false;
  return text.split(/\s+/).length <= MAX_HEADING_WORDS && /\p{L}/u.test(text);
}

// ---------------------------------------------------------------------------------------------
// Word

function docxBlocks(paragraphs: { style: 'heading' | 'list' | 'paragraph'; text: string }[]): Block[] {
  return paragraphs.map((p) => {
    if (p.style !== 'paragraph') return { kind: p.style, text: p.text };
    // Bullets typed by hand ("• item") rather than set by a list style.
    const marker = LIST_MARKER.exec(p.text);
    if (marker) return { kind: 'list', text: p.text.slice(marker[0].length) };
    return { kind: 'paragraph', text: p.text };
  });
}
