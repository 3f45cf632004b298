/**
 * Support tickets, from tickets.jsonl (one Zendesk-like ticket per line) or a Zendesk JSON export
 * (`{"tickets": [...]}`, the API's ticket objects). Both stream: a file of any size is read in
 * bounded memory. One item per ticket; its unit is the subject, a newline, then the description
 * (the customer's first message), ref `ticket:<id>`.
 */
import { createReadStream } from 'node:fs';
import { type Readable, Transform } from 'node:stream';
import { z } from 'zod';
import { parser } from 'stream-json';
import { pick } from 'stream-json/filters/pick.js';
import { streamArray } from 'stream-json/streamers/stream-array.js';
import { zodIssues } from './customers.ts';
import { parseTimestamp, readHead, readLines, TIMESTAMP_EXPECTED } from './text.ts';
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

const ticketSchema = z.object({
  id: z.union([z.number().int().nonnegative(), z.string().trim().min(1)], {
    error: 'expected the ticket id (a number or a non-empty string)',
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
  if (head.includes(0))
    return yield fileError(null, 'binary data (a NUL byte): expected a UTF-8 JSON file of tickets');

  if (ticketFileKind(head.toString('utf8')) === 'zendesk-export') {
    yield* parseZendeskExport(file, opts);
    return;
  }
  let tickets = 0;
  for await (const ev of readLines(file)) {
    if ('error' in ev) {
      yield { type: 'error', error: ev.error };
      continue;
    }
    if (ev.text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(ev.text);
    } catch (err) {
      yield fileError(
        ev.line,
        `invalid JSON (${(err as Error).message}): expected one JSON ticket object per line`,
      );
      continue;
    }
    tickets++;
    const label = `ticket${value && typeof value === 'object' && 'id' in value ? ` ${String(value.id)}` : ''}`;
    yield* ticketEvents(value, { file, line: ev.line, label }, opts);
  }
  if (tickets === 0) yield fileError(null, 'no tickets found: expected one JSON ticket object per line');
}

const PIECE = 16 * 1024;

/** Passes text on and stops at the first byte that is not UTF-8, which a JSON parser would replace silently. */
function utf8Check(): Transform {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let offset = 0;
  return new Transform({
    readableObjectMode: false,
    transform(chunk: Buffer, _enc, done) {
      let text: string;
      try {
        text = decoder.decode(chunk, { stream: true });
      } catch {
        done(
          new Error(
            `invalid UTF-8 between bytes ${offset} and ${offset + chunk.length}: expected UTF-8 text`,
          ),
        );
        return;
      }
      offset += chunk.length;
      // Small pieces: the JSON parser drops the tokens of the piece in which it meets an error, so
      // this bounds how many good tickets before a syntax error are lost with it.
      for (let start = 0; start < text.length;) {
        let end = Math.min(start + PIECE, text.length);
        if (end < text.length && /[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end--;
        this.push(text.slice(start, end));
        start = end;
      }
      done();
    },
    flush(done) {
      try {
        done(null, decoder.decode());
      } catch {
        done(new Error('invalid UTF-8 at the end of the file: expected UTF-8 text'));
      }
    },
  });
}

async function* parseZendeskExport(file: string, opts: TicketOptions): AsyncGenerator<ParseEvent> {
  // Not pipeline(): it would destroy the tickets already parsed when a later byte is bad. Instead an
  // error upstream ends the ticket stream, the tickets before it still come, then the error.
  const source = createReadStream(file);
  const check = utf8Check();
  const tokens = parser.asStream();
  const picked = pick.asStream({ filter: 'tickets' });
  const tickets = streamArray.asStream();
  const upstream: Readable[] = [source, check, tokens, picked];
  let failure: Error | null = null;
  for (const stream of upstream) {
    stream.on('error', (err: Error) => {
      failure ??= err;
      tickets.end();
    });
  }
  source.pipe(check).pipe(tokens).pipe(picked).pipe(tickets);
  let last: { index: number; id: string } | null = null;
  try {
    for await (const { key, value } of tickets as AsyncIterable<{ key: number; value: unknown }>) {
      const id = value && typeof value === 'object' && 'id' in value ? String(value.id) : null;
      last = { index: key, id: id ?? '?' };
      const label = `tickets[${key}]${id === null ? '' : ` (id ${id})`}`;
      yield* ticketEvents(value, { file, line: null, label }, opts);
    }
    if (failure) throw failure;
  } catch (err) {
    const after = last
      ? `the tickets after tickets[${last.index}] (id ${last.id}) were not read`
      : 'no ticket was read';
    yield {
      type: 'error',
      error: {
        file,
        line: null,
        field: null,
        message: `${(err as Error).message}: expected a Zendesk export {"tickets": [...]}; ${after}`,
      },
    };
    return;
  } finally {
    for (const stream of upstream) stream.destroy();
  }
  if (last === null) {
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
