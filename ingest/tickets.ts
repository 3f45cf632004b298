/**
 * Support tickets, from tickets.jsonl (one Zendesk-like ticket per line) or a Zendesk JSON export
 * (`{"tickets": [...]}`, the API's ticket objects). Both stream: a file of any size is read in
 * bounded memory. One item per ticket; its unit is the subject, a newline, then the description
 * (the customer's first message), ref `ticket:<id>`.
 */
import { createReadStream } from 'node:fs';
import { z } from 'zod';
import { zodIssues } from './customers.ts';
import {
  jsonErrorOffset,
  nulByteMessage,
  parseTimestamp,
  readHead,
  readLines,
  TIMESTAMP_EXPECTED,
} from './text.ts';
import type { ParseEvent, ParsedItem } from './types.ts';

export interface TicketOptions {
  /** Customer of every ticket without a `customer` field. */
  defaultCustomer?: string;
}

const timestamp = z.string({ error: `expected ${TIMESTAMP_EXPECTED}` }).transform((value, ctx) => {
  const date = parseTimestamp(value);
  if (!date) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a timestamp: expected ${TIMESTAMP_EXPECTED}`,
    });
    return z.NEVER;
  }
  return date;
});
const optionalText = z.string().nullish();

const ID_EXPECTED = 'expected the ticket id (a number or a non-empty string)';
const ticketSchema = z.object({
  id: z.union([z.number().int().nonnegative(), z.string().trim().min(1, ID_EXPECTED)], {
    error: ID_EXPECTED,
  }),
  customer: z.string().trim().min(1).nullish(),
  created_at: timestamp,
  updated_at: timestamp.nullish(),
  subject: optionalText,
  description: z
    .string({ error: "expected the ticket's first message as a string" })
    .refine((s) => s.trim() !== '', "expected the ticket's first message, found an empty string"),
  tags: z.array(z.string()).nullish(),
  group: optionalText,
  group_id: z.union([z.number(), z.string()]).nullish(),
  organization: optionalText,
  organization_id: z.union([z.number(), z.string()]).nullish(),
  status: optionalText,
  comments: z
    .array(z.object({ author_role: optionalText, body: z.string(), created_at: timestamp.nullish() }))
    .nullish(),
});

const asText = (v: string | number | null | undefined) => (v === null || v === undefined ? null : String(v));

/** Validates one ticket object and turns it into an item, or the errors that keep it out. */
export function ticketEvents(
  value: unknown,
  where: { file: string; line: number | null; label: string },
  opts: TicketOptions,
): ParseEvent[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    const found = Array.isArray(value) ? 'a list' : value === null ? 'null' : `a ${typeof value}`;
    const message = `${where.label}: expected a ticket object {"id", "created_at", "description", ...}, found ${found}`;
    return [{ type: 'error', error: { file: where.file, line: where.line, field: null, message } }];
  }
  const parsed = ticketSchema.safeParse(value);
  if (!parsed.success) {
    return zodIssues(where.file, where.line, '', parsed.error).map((error) => ({
      type: 'error',
      error: { ...error, message: `${where.label}: ${error.message}` },
    }));
  }
  const t = parsed.data;
  const id = String(t.id);
  const customerKey = t.customer ?? opts.defaultCustomer;
  if (!customerKey) {
    return [
      {
        type: 'error',
        error: {
          file: where.file,
          line: where.line,
          field: 'customer',
          message: `${where.label}: no customer: expected a "customer" field holding a customer key, or a default customer (--customer KEY)`,
        },
      },
    ];
  }
  const subject = t.subject ?? '';
  const item: ParsedItem = {
    sourceType: 'ticket',
    externalId: id,
    customerKey,
    occurredAt: t.created_at,
    origin: { file: where.file, line: where.line },
    meta: {
      subject: t.subject ?? null,
      group: t.group ?? asText(t.group_id),
      tags: t.tags ?? [],
      status: t.status ?? null,
      organization: t.organization ?? asText(t.organization_id),
      comments: (t.comments ?? []).map((c) => ({
        author_role: c.author_role ?? null,
        body: c.body,
        created_at: c.created_at ?? null,
      })),
      updatedAt: t.updated_at ?? null,
    },
    units: [
      {
        ref: `ticket:${id}`,
        ordinal: 1,
        speaker: null,
        text: subject ? `${subject}\n${t.description}` : t.description,
        occurredAt: t.created_at,
        offsetMs: null,
      },
    ],
  };
  return [{ type: 'item', item }];
}

/** `ticket 7101`, or `ticket " "` for an id that shows nothing, or `ticket` without one. */
function ticketLabel(value: unknown): string {
  if (!value || typeof value !== 'object' || !('id' in value)) return 'ticket';
  const id = String(value.id);
  return `ticket ${id.trim() === '' ? JSON.stringify(id) : id}`;
}

type TicketFileKind = 'jsonl' | 'zendesk-export';

/** JSONL unless the file is one JSON object holding a `tickets` list. */
export function ticketFileKind(head: string): TicketFileKind {
  const firstLine =
    head
      .replace(/^\uFEFF/, '')
      .trimStart()
      .split('\n', 1)[0] ?? '';
  try {
    const first: unknown = JSON.parse(firstLine);
    return first && typeof first === 'object' && Array.isArray((first as { tickets?: unknown }).tickets)
      ? 'zendesk-export'
      : 'jsonl';
  } catch {
    return /^\s*\{/.test(firstLine) && /"tickets"\s*:\s*\[/.test(head) ? 'zendesk-export' : 'jsonl';
  }
}

export async function* parseTickets(file: string, opts: TicketOptions = {}): AsyncGenerator<ParseEvent> {
  const fileError = (line: number | null, message: string): ParseEvent => ({
    type: 'error',
    error: { file, line, field: null, message },
  });
  const head = await readHead(file, 64 * 1024).catch((err: Error) => err);
  if (head instanceof Error) return yield fileError(null, `cannot read the file: ${head.message}`);
  if (head.length === 0) return yield fileError(null, 'the file is empty: expected one JSON ticket per line');
  if (head.includes(0)) return yield fileError(null, nulByteMessage(head, 'a UTF-8 JSON file of tickets'));

  if (ticketFileKind(head.toString('utf8')) === 'zendesk-export') {
    yield* parseZendeskExport(file, opts);
    return;
  }
  let tickets = 0;
  // Lines ended by a CR alone (old Mac exports) arrive as one line holding CRs: each CR counts as
  // a line end, as it does for transcripts and CSV, and every line after one is a line further on.
  let crs = 0;
  for await (const ev of readLines(file)) {
    if ('error' in ev) {
      yield { type: 'error', error: { ...ev.error, line: ev.line + crs } };
      continue;
    }
    const parts = ev.text.split('\r');
    for (const [i, text] of parts.entries()) {
      const line = ev.line + crs + i;
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        yield fileError(
          line,
          `invalid JSON (${(err as Error).message}): expected one JSON ticket object per line`,
        );
        continue;
      }
      tickets++;
      yield* ticketEvents(value, { file, line, label: ticketLabel(value) }, opts);
    }
    crs += parts.length - 1;
  }
  if (tickets === 0) yield fileError(null, 'no tickets found: expected one JSON ticket object per line');
}

type ExportEvent =
  | { type: 'ticket'; index: number; value: unknown; line: number }
  | { type: 'error'; line: number; column: number; message: string };

type Step = 'start' | 'key' | 'colon' | 'value' | 'after-value' | 'element' | 'after-element' | 'end';

/** A value being read: its text so far, its open brackets, whether inside a string. */
interface Capture {
  parts: string[];
  from: number;
  stack: number[];
  inString: boolean;
  escape: boolean;
  primitive: boolean;
  line: number;
  column: number;
}

const OPEN: Record<number, number> = { 0x7b: 0x7d, 0x5b: 0x5d }; // { -> }, [ -> ]
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const charAt = (c: number) => JSON.stringify(String.fromCharCode(c));

/**
 * Reads `{"tickets": [...], ...}` piece by piece and hands out each ticket as soon as its text is
 * complete, with the line it starts on. Each ticket's text is parsed on its own, so a syntax error
 * costs no ticket before it and is reported with its line and column. Reading stops at the first
 * one: past it, where the next ticket starts is no longer known for sure.
 */
class ExportScanner {
  line = 1;
  column = 0;
  /** Index of the next ticket; whether the tickets list was opened and closed. */
  index = 0;
  sawTickets = false;
  closedTickets = false;
  done = false;
  out: ExportEvent[] = [];
  private step: Step = 'start';
  private first = true;
  private key: string | null = null;
  private inTickets = false;
  private capture: Capture | null = null;
  private afterCr = false;

  private advance(c: number) {
    if (c === 0x0a) {
      if (!this.afterCr) this.line++;
      this.column = 0;
    } else if (c === 0x0d) {
      this.line++;
      this.column = 0;
    } else this.column++;
    this.afterCr = c === 0x0d;
  }

  private fail(message: string, line = this.line, column = this.column) {
    this.out.push({ type: 'error', line, column, message });
    this.done = true;
  }

  feed(text: string) {
    let i = 0;
    while (i < text.length && !this.done) {
      if (this.capture) {
        i = this.read(text, i);
        continue;
      }
      const c = text.charCodeAt(i);
      if (this.step === 'start' && c === 0xfeff && this.line === 1 && this.column === 0) {
        i++;
        continue;
      }
      this.advance(c);
      i++;
      if (isSpace(c)) continue;
      this.structure(c, text, i - 1);
    }
    if (this.capture && !this.done) {
      this.capture.parts.push(text.slice(this.capture.from));
      this.capture.from = 0;
    }
  }

  end() {
    if (this.done) return;
    if (this.capture) {
      const c = this.capture;
      if (c.primitive && c.stack.length === 0 && !this.inTickets && this.step === 'value') {
        return this.fail("the file ends before the export's closing '}'");
      }
      const what = this.inTickets ? `tickets[${this.index}]` : 'a value';
      return this.fail(`the file ends inside ${what}, which starts at line ${c.line}, column ${c.column}`);
    }
    if (this.step !== 'end') this.fail("the file ends before the export's closing '}'");
  }

  /** A character outside any value: the export's own braces, keys, colons and commas. */
  private structure(c: number, text: string, at: number) {
    const unexpected = (expected: string) => this.fail(`unexpected ${charAt(c)}: expected ${expected}`);
    switch (this.step) {
      case 'start':
        if (c === 0x7b) this.step = 'key';
        else unexpected("'{' at the start of the export");
        return;
      case 'key':
        if (c === 0x22) this.begin(text, at, c);
        else if (c === 0x7d && this.first) this.step = 'end';
        else unexpected(this.first ? "a key in double quotes or '}'" : 'a key in double quotes');
        return;
      case 'colon':
        if (c === 0x3a) this.step = 'value';
        else unexpected(`':' after the key "${this.key}"`);
        return;
      case 'value':
        if (this.key !== 'tickets') return this.begin(text, at, c);
        if (c !== 0x5b) return unexpected('"tickets" to hold a list [...]');
        this.inTickets = true;
        this.sawTickets = true;
        this.first = true;
        this.step = 'element';
        return;
      case 'after-value':
        if (c === 0x2c) {
          this.step = 'key';
          this.first = false;
        } else if (c === 0x7d) this.step = 'end';
        else unexpected(`',' or '}' after the value of "${this.key}"`);
        return;
      case 'element':
        if (c === 0x5d && this.first) return this.closeTickets();
        if (c === 0x5d || c === 0x2c) return unexpected(`tickets[${this.index}]`);
        return this.begin(text, at, c);
      case 'after-element':
        if (c === 0x2c) {
          this.step = 'element';
          this.first = false;
        } else if (c === 0x5d) this.closeTickets();
        else unexpected(`',' or ']' after tickets[${this.index - 1}]`);
        return;
      case 'end':
        return unexpected("nothing after the export's closing '}'");
    }
  }

  private closeTickets() {
    this.inTickets = false;
    this.closedTickets = true;
    this.step = 'after-value';
  }

  /** Starts a value (a key, a ticket, another top-level value) at its first character, already read. */
  private begin(text: string, at: number, c: number) {
    const close = OPEN[c];
    this.capture = {
      parts: [],
      from: at,
      stack: close === undefined ? [] : [close],
      inString: c === 0x22,
      escape: false,
      primitive: close === undefined && c !== 0x22,
      line: this.line,
      column: this.column,
    };
  }

  /** Reads on inside a value; returns where it stopped (the end of the text, or just past the value). */
  private read(text: string, from: number): number {
    const cap = this.capture!;
    for (let j = from; j < text.length; j++) {
      const c = text.charCodeAt(j);
      if (cap.primitive && (isSpace(c) || c === 0x2c || c === 0x5d || c === 0x7d)) {
        this.finish(text, j); // the character after a number, true, false or null is the export's
        return j;
      }
      this.advance(c);
      if (cap.inString) {
        if (cap.escape) cap.escape = false;
        else if (c === 0x5c) cap.escape = true;
        else if (c === 0x22) {
          cap.inString = false;
          if (cap.stack.length === 0) {
            this.finish(text, j + 1);
            return j + 1;
          }
        }
      } else if (!cap.primitive) {
        if (c === 0x22) cap.inString = true;
        else if (OPEN[c] !== undefined) cap.stack.push(OPEN[c]);
        else if (c === 0x7d || c === 0x5d) {
          const expected = cap.stack.pop();
          if (c !== expected) {
            this.fail(
              `unexpected ${charAt(c)}: expected ${charAt(expected!)} to close the value that starts at line ${cap.line}, column ${cap.column}`,
            );
            return text.length;
          }
          if (cap.stack.length === 0) {
            this.finish(text, j + 1);
            return j + 1;
          }
        }
      }
    }
    return text.length;
  }

  private finish(text: string, end: number) {
    const cap = this.capture!;
    this.capture = null;
    const raw = cap.parts.join('') + text.slice(cap.from, end);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      const message = (err as Error).message;
      const offset = jsonErrorOffset(raw, message) ?? 0;
      const before = raw.slice(0, offset);
      const nl = Math.max(before.lastIndexOf('\n'), before.lastIndexOf('\r'));
      const lines = before.split(/\r\n?|\n/).length - 1;
      const detail = message
        .replace(/ in JSON at position \d+.*$/s, '')
        .replace(/, (\.\.\.)?"[\s\S]*" is not valid JSON$/, '');
      return this.fail(`${detail}`, cap.line + lines, lines === 0 ? cap.column + offset : offset - nl);
    }
    if (this.step === 'key') {
      this.key = value as string;
      this.step = 'colon';
    } else if (this.inTickets) {
      this.out.push({ type: 'ticket', index: this.index++, value, line: cap.line });
      this.step = 'after-element';
    } else this.step = 'after-value';
  }

  take(): ExportEvent[] {
    const out = this.out;
    this.out = [];
    return out;
  }
}

async function* parseZendeskExport(file: string, opts: TicketOptions): AsyncGenerator<ParseEvent> {
  const scanner = new ExportScanner();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const expected = 'expected a Zendesk export {"tickets": [...]}';
  let last: { index: number; id: string } | null = null;
  const stop = (line: number | null, message: string): ParseEvent => {
    const after = scanner.closedTickets
      ? 'every ticket was read'
      : last
        ? `the tickets after tickets[${last.index}] (id ${last.id}) were not read`
        : 'no ticket was read';
    return {
      type: 'error',
      error: { file, line, field: null, message: `${message}: ${expected}; ${after}` },
    };
  };
  function* events(): Generator<ParseEvent> {
    for (const ev of scanner.take()) {
      if (ev.type === 'error') {
        yield stop(ev.line, `invalid JSON at line ${ev.line}, column ${ev.column}: ${ev.message}`);
        continue;
      }
      const value = ev.value;
      const id = value && typeof value === 'object' && 'id' in value ? String(value.id) : null;
      last = { index: ev.index, id: id ?? '?' };
      const label = `tickets[${ev.index}]${id === null ? '' : ` (id ${id})`}`;
      yield* ticketEvents(value, { file, line: ev.line, label }, opts);
    }
  }
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    const buf = chunk as Buffer;
    let text: string;
    try {
      text = decoder.decode(buf, { stream: true });
    } catch {
      yield* events();
      yield stop(
        scanner.line,
        `invalid UTF-8 between bytes ${bytes} and ${bytes + buf.length} (from line ${scanner.line}): expected UTF-8 text`,
      );
      return;
    }
    bytes += buf.length;
    scanner.feed(text);
    yield* events();
    if (scanner.done) return;
  }
  try {
    scanner.feed(decoder.decode());
  } catch {
    yield stop(scanner.line, 'invalid UTF-8 at the end of the file: expected UTF-8 text');
    return;
  }
  scanner.end();
  yield* events();
  if (scanner.done) return;
  if (!scanner.sawTickets || scanner.index === 0) {
    yield {
      type: 'error',
      error: {
        file,
        line: null,
        field: null,
        message: 'no tickets found: expected a Zendesk export {"tickets": [...]} with at least one ticket',
      },
    };
  }
}
