/**
 * Survey exports as CSV: one item per row, its answer the one unit `survey:<response_id>`.
 * The header is row 1. Exports name their columns their own way, so `columns` maps our field
 * names to the export's header names.
 */
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { nulByteMessage, parseTimestamp, readHead, readLines, TIMESTAMP_EXPECTED } from './text.ts';
import type { ImportIssue, ParseEvent } from './types.ts';

export const SURVEY_FIELDS = [
  'response_id',
  'customer',
  'submitted_at',
  'question',
  'answer',
  'score',
] as const;
export type SurveyField = (typeof SURVEY_FIELDS)[number];
/** Our field name -> the export's header name, e.g. `{ answer: 'What would you improve?' }`. */
export type SurveyColumns = Partial<Record<SurveyField, string>>;

export interface SurveyOptions {
  columns?: SurveyColumns;
  /** Customer of every row whose customer column is missing or empty. */
  defaultCustomer?: string;
  /** A header and no row is an error (a file imported on its own, which then imports nothing). */
  requireRows?: boolean;
}

interface CsvRecord {
  record: string[];
  info: { lines: number };
}

function findColumn(header: string[], name: string): number {
  const exact = header.indexOf(name);
  if (exact !== -1) return exact;
  const lower = name.toLowerCase();
  return header.findIndex((h) => h.toLowerCase() === lower);
}

/**
 * The header line's field separator: a comma, or a semicolon (spreadsheets saved as CSV where the
 * comma is the decimal mark) or a tab, whichever the header has most of outside quotes.
 */
export function delimiterOf(head: Buffer): string {
  const line = head.toString('utf8').split(/\r?\n/, 1)[0] ?? '';
  const counts = new Map<string, number>([
    [',', 0],
    [';', 0],
    ['\t', 0],
  ]);
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && counts.has(ch)) counts.set(ch, counts.get(ch)! + 1);
  }
  let best = ',';
  for (const [d, n] of counts) if (n > counts.get(best)!) best = d;
  return best;
}

export async function* parseSurveys(file: string, opts: SurveyOptions = {}): AsyncGenerator<ParseEvent> {
  const fileError = (line: number | null, message: string, field: string | null = null): ParseEvent => ({
    type: 'error',
    error: { file, line, field, message },
  });
  const head = await readHead(file, 64 * 1024).catch((err: Error) => err);
  if (head instanceof Error) return yield fileError(null, `cannot read the file: ${head.message}`);
  if (head.length === 0)
    return yield fileError(null, 'the file is empty: expected a CSV header and one row per answer');
  if (head.includes(0)) return yield fileError(null, nulByteMessage(head, 'a UTF-8 CSV file'));

  // A line that is not valid UTF-8 goes to the CSV parser with its bad bytes replaced, so quotes
  // still pair up; the row that holds it is reported and left out, and the rows around it parse.
  const badLines = new Map<number, ImportIssue>();
  async function* text(from: number) {
    for await (const ev of readLines(file)) {
      if (ev.line < from) continue;
      if ('error' in ev) {
        badLines.set(ev.line, ev.error);
        yield `${ev.lossy}\n`;
      } else {
        yield `${ev.text}\n`;
      }
    }
  }
  const csvErrors: ParseEvent[] = [];
  const delimiter = delimiterOf(head);
  /** The line on which the last record began that csv-parse could not finish: a quote never closed. */
  let unclosed: number | null = null;
  /** The file's records from line `from` on, each with its first and last line. */
  async function* records(
    from: number,
  ): AsyncGenerator<{ record: string[]; firstLine: number; lastLine: number }> {
    const parser = Readable.from(text(from)).pipe(
      parse({
        delimiter,
        info: true,
        relax_column_count: true,
        relax_quotes: true,
        skip_records_with_error: true,
      }),
    );
    let lastLine = from - 1;
    let quoteNotClosed = false;
    parser.on('skip', (err: Error & { code?: string; lines?: number }) => {
      if (err.code === 'CSV_QUOTE_NOT_CLOSED') quoteNotClosed = true;
      else
        csvErrors.push(fileError(err.lines ?? null, `${err.message}: expected a CSV row with quotes closed`));
    });
    for await (const { record, info } of parser as AsyncIterable<CsvRecord>) {
      const firstLine = lastLine + 1;
      lastLine = from - 1 + info.lines;
      yield { record, firstLine, lastLine };
    }
    // Only at the end of the file: the parser may have read ahead of the records taken so far.
    if (quoteNotClosed) unclosed = lastLine + 1;
  }

  let row = 0;
  let stopped = false;
  /** Rows after the header, good or bad. */
  let dataRows = 0;
  let header: string[] | null = null;
  let col: Partial<Record<SurveyField, number>> = {};

  for (let from = 1; ;) {
    unclosed = null;
    yield* rows(records(from));
    yield* csvErrors.splice(0);
    const start: number | null = unclosed;
    if (stopped) return;
    if (start === null) {
      if (!header)
        yield fileError(null, 'the file has no header: expected a CSV header and one row per answer');
      else if (dataRows === 0 && opts.requireRows)
        yield fileError(null, 'no rows after the header: expected one row per answer');
      return;
    }
    if (!header) {
      return yield fileError(
        1,
        `row 1 (line ${start}): Quote Not Closed: a quote in the header is never closed: expected a CSV header and one row per answer`,
      );
    }
    // A quote opened and never closed took every line after it into one field. The row is
    // reported; the lines after the one where the quote opened are read again as rows of their
    // own, each checked as any row is (a line that was the rest of a broken answer fails them).
    row++;
    dataRows++;
    const opened = (await lineOfOpenQuote(file, start, delimiter)) ?? start;
    const where = opened === row ? `row ${row}` : `row ${row} (line ${opened})`;
    yield fileError(
      row,
      `${where}: Quote Not Closed: the quote opened on line ${opened} is never closed, so this row was not imported: ` +
        `expected a CSV row with quotes closed; the lines after it were read again as rows`,
    );
    from = opened + 1;
  }

  async function* rows(
    recs: AsyncIterable<{ record: string[]; firstLine: number; lastLine: number }>,
  ): AsyncGenerator<ParseEvent> {
    for await (const { record, firstLine, lastLine } of recs) {
      yield* csvErrors.splice(0);
      row++;
      const where =
        firstLine === lastLine
          ? firstLine === row
            ? `row ${row}`
            : `row ${row} (line ${firstLine})`
          : `row ${row} (lines ${firstLine}-${lastLine})`;
      const rowError = (message: string, field: string | null = null) =>
        fileError(row, `${where}: ${message}`, field);

      const bad = [...badLines.keys()].find((l) => l >= firstLine && l <= lastLine);
      if (bad !== undefined) {
        const message = badLines.get(bad)?.message ?? 'invalid UTF-8: expected UTF-8 text';
        badLines.delete(bad);
        yield fileError(row, `${where}: line ${bad}: ${message}`);
        if (header) dataRows++;
        else {
          stopped = true;
          return;
        }
        continue;
      }
      if (record.length === 1 && record[0]?.trim() === '') continue; // a blank line

      if (!header) {
        header = record.map((h) => h.trim());
        const found = header;
        col = Object.fromEntries(
          SURVEY_FIELDS.map((f) => [f, findColumn(found, opts.columns?.[f] ?? f)]).filter(
            ([, i]) => i !== -1,
          ),
        );
        const required: SurveyField[] = opts.defaultCustomer
          ? ['response_id', 'answer']
          : ['response_id', 'customer', 'answer'];
        const missing = required
          .filter((f) => col[f] === undefined)
          .map((f) => `"${opts.columns?.[f] ?? f}"`);
        if (missing.length) {
          const expected = SURVEY_FIELDS.map((f) => opts.columns?.[f] ?? f).join(', ');
          stopped = true;
          return yield fileError(
            row,
            `the header has no column ${missing.join(', ')}: expected the columns ${expected} ` +
              `(customer may be left out when a default customer is given; name other columns with the column options); found: ${found.join(', ')}`,
          );
        }
        continue;
      }

      dataRows++;
      if (record.length !== header.length) {
        yield rowError(`${record.length} fields, expected ${header.length} as in the header`);
        continue;
      }
      const value = (f: SurveyField): string => {
        const i = col[f];
        return i === undefined ? '' : (record[i] ?? '').trim();
      };

      const responseId = value('response_id');
      if (!responseId) {
        yield rowError(
          `empty ${opts.columns?.response_id ?? 'response_id'}: expected a response id`,
          'response_id',
        );
        continue;
      }
      const answer = value('answer');
      if (!answer) {
        yield rowError(`empty ${opts.columns?.answer ?? 'answer'}: expected the answer text`, 'answer');
        continue;
      }
      const customer = value('customer') || opts.defaultCustomer;
      if (!customer) {
        yield rowError('empty customer: expected a customer key (or give a default customer)', 'customer');
        continue;
      }
      const submitted = value('submitted_at');
      const occurredAt = submitted ? parseTimestamp(submitted) : null;
      if (submitted && !occurredAt) {
        yield rowError(
          `submitted_at "${submitted}" is not a timestamp: expected ${TIMESTAMP_EXPECTED}`,
          'submitted_at',
        );
        continue;
      }
      const scoreText = value('score');
      const score = scoreText === '' ? null : /^\d{1,2}$/.test(scoreText) ? Number(scoreText) : NaN;
      if (score !== null && !(score >= 0 && score <= 10)) {
        yield rowError(`score "${scoreText}": expected a whole number from 0 to 10, or empty`, 'score');
        continue;
      }

      yield {
        type: 'item',
        item: {
          sourceType: 'survey',
          externalId: responseId,
          customerKey: customer,
          occurredAt,
          origin: { file, line: row },
          meta: { question: value('question') || null, score },
          units: [
            {
              ref: `survey:${responseId}`,
              ordinal: 1,
              speaker: null,
              text: answer,
              occurredAt,
              offsetMs: null,
            },
          ],
        },
      };
    }
  }
}

/**
 * The line, from `start` on, where a quote opens a field and is still open at the end of the
 * line; null when none is (the quote then opened on `start` across lines already closed).
 */
async function lineOfOpenQuote(file: string, start: number, delimiter: string): Promise<number | null> {
  for await (const ev of readLines(file)) {
    if (ev.line < start) continue;
    const line = 'error' in ev ? ev.lossy : ev.text;
    let quoted = false;
    let fieldStart = true;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') i++;
        else if (ch === '"') quoted = false;
      } else if (ch === '"' && fieldStart) quoted = true;
      fieldStart = !quoted && ch === delimiter;
    }
    if (quoted) return ev.line;
  }
  return null;
}
