/**
 * `gapmap import`: a bundle folder (BUNDLE.md) or a single file of any supported format. Parsers
 * stream events; good items are stored in batches as they come, every problem is recorded with its
 * file and line on the import run, and nothing good is held back by something bad next to it.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Db } from '../db/client.ts';
import type { ImportCounts } from '../db/schema/index.ts';
import {
  addImportErrors,
  createImportRun,
  customerKeyMap,
  emptyCounts,
  updateImportRun,
  upsertCustomers,
} from '../db/queries.ts';
import { storeItems } from './store.ts';
import { GapmapError, errorMessage } from './errors.ts';
import { refused, type ImportIssue, type ParseEvent, type ParsedItem } from '../ingest/types.ts';
import { parseCustomers } from '../ingest/customers.ts';
import { parseSurveys, type SurveyColumns } from '../ingest/surveys.ts';
import { parseTickets } from '../ingest/tickets.ts';
import { MEASUREMENT_FILES, NOTES, TRANSCRIPTS, isBundleFile, type FolderReader } from '../ingest/folders.ts';
import { parseTranscript, transcriptItem, txtCues, type TranscriptEntry } from '../ingest/transcripts.ts';
import { looksLikeUtf16, readHead, readTextFile, utf16Message } from '../ingest/text.ts';
import { parseNotes } from '../ingest/notes.ts';
import { parseDocxTranscript } from '../ingest/docx-transcript.ts';
import { detectFormat } from '../ingest/detect.ts';

export interface ImportOptions {
  path: string;
  /** Customer for files that do not name one (a transcript, a notes file, an export without a customer column). */
  customer?: string;
  /** Customer speakers of a single transcript file. */
  speakers?: string[];
  /** Author of a single notes file. */
  author?: string;
  /** Survey export columns named differently from BUNDLE.md's. */
  columns?: SurveyColumns;
  /** An import run created beforehand (by `gapmap import` with queues, or the dashboard's upload). */
  runId?: number;
  /** Called after each stored batch with the number of items read so far. */
  onProgress?: (itemsRead: number) => void;
}

export interface ImportResult {
  runId: number;
  counts: ImportCounts;
  errors: ImportIssue[];
  /** Customers whose units changed: their units need classifying and their maps rebuilding. */
  touchedCustomers: number[];
  /** The same customers by key, as stored on the import run. */
  customerKeys: string[];
}

const ITEMS_PER_BATCH = 2000;
const ERRORS_KEPT_IN_MEMORY = 1000;
const ERRORS_PER_WRITE = 1000;

/** Sets the run's state around the import, so a crash still leaves a failed run with its error. */
export async function runImport(db: Db, opts: ImportOptions): Promise<ImportResult> {
  const source = path.resolve(opts.path);
  const runId = opts.runId ?? (await createImportRun(db, { source, kind: 'file' })).id;
  await updateImportRun(db, runId, { status: 'running' });
  const session = new ImportSession(db, runId, opts.onProgress);
  try {
    await importPath(session, source, opts);
    await session.flush();
    const customerKeys = await session.customerKeys();
    await updateImportRun(db, runId, {
      status: 'done',
      counts: session.counts,
      customerKeys,
      finishedAt: new Date(),
    });
    return {
      runId,
      counts: session.counts,
      errors: session.errors,
      touchedCustomers: [...session.touched],
      customerKeys,
    };
  } catch (err) {
    await session.flush().catch(() => {});
    await updateImportRun(db, runId, {
      status: 'failed',
      counts: session.counts,
      error: errorMessage(err),
      finishedAt: new Date(),
    });
    throw err;
  }
}

class ImportSession {
  counts = emptyCounts();
  errors: ImportIssue[] = [];
  touched = new Set<number>();
  private pendingItems: ParsedItem[] = [];
  private pendingErrors: ImportIssue[] = [];
  private customers: Map<string, number> | null = null;
  private itemsRead = 0;
  private seenFile: string | null = null;
  private seen = new Map<string, number | null>();
  private inflight: { keys: Set<string>; done: Promise<void> }[] = [];
  // node-postgres pools connections; PGlite is a single connection that cannot interleave transactions.
  private readonly parallel: number;

  constructor(
    readonly db: Db,
    readonly runId: number,
    private onProgress?: (itemsRead: number) => void,
  ) {
    this.parallel = (db as unknown as { $client?: unknown }).$client instanceof pg.Pool ? 2 : 1;
  }

  async refreshCustomers() {
    this.customers = await customerKeyMap(this.db);
  }

  error(e: ImportIssue) {
    this.counts.errors++;
    if (this.errors.length < ERRORS_KEPT_IN_MEMORY) this.errors.push(e);
    this.pendingErrors.push(e);
  }

  async add(item: ParsedItem) {
    this.noteRepeat(item);
    this.pendingItems.push(item);
    this.itemsRead++;
    if (this.pendingItems.length >= ITEMS_PER_BATCH) await this.startStore();
  }

  /**
   * An id repeated within one file: the later copy wins (an export's later line is the newer
   * state; storing batches in order sees to it), and the run says which copy was left out. Only
   * the file being read is remembered: its items come one after another.
   */
  private noteRepeat(item: ParsedItem) {
    if (item.origin.file !== this.seenFile) {
      this.seenFile = item.origin.file;
      this.seen.clear();
    }
    const key = `${item.sourceType}\u0000${item.externalId}`;
    const earlier = this.seen.get(key);
    this.seen.set(key, item.origin.line);
    if (earlier === undefined) return;
    const what = item.sourceType === 'survey' ? 'row' : 'line';
    const at = (line: number | null) => (line === null ? 'an earlier entry' : `${what} ${line}`);
    this.error({
      file: item.origin.file,
      line: earlier,
      field: item.sourceType === 'survey' ? 'response_id' : 'id',
      message: `${item.sourceType} ${item.externalId} appears again on ${at(item.origin.line)} (first on ${at(earlier)}): the later copy, ${at(item.origin.line)}, is the one kept`,
    });
  }

  /**
   * Stores the batch read so far while the parser goes on reading the next one. On PostgreSQL two
   * batches are stored at once, on two connections (the database is the slow side, and it has
   * cores to spare); a batch that shares an item with one in flight waits for it, so a ticket
   * repeated later in a file still wins. PGlite has one connection: one batch at a time.
   */
  private async startStore() {
    if (this.pendingItems.length === 0) return;
    const batch = this.pendingItems;
    this.pendingItems = [];
    const keys = new Set(batch.map((i) => `${i.sourceType}\u0000${i.externalId}`));
    const overlaps = (other: Set<string>) => [...keys].some((k) => other.has(k));
    while (this.inflight.length >= this.parallel || this.inflight.some((f) => overlaps(f.keys))) {
      const oldest = this.inflight.shift()!;
      await oldest.done;
    }
    if (!this.customers) await this.refreshCustomers();
    const done = storeItems(this.db, {
      runId: this.runId,
      customers: this.customers!,
      items: batch,
      counts: this.counts,
    }).then((res) => {
      for (const c of res.touchedCustomers) this.touched.add(c);
      for (const e of res.errors) this.error(e);
      this.onProgress?.(this.itemsRead);
    });
    // Marked as handled here; a failure still surfaces where this batch is awaited.
    done.catch(() => {});
    this.inflight.push({ keys, done });
  }

  private async settle() {
    while (this.inflight.length) await this.inflight.shift()!.done;
  }

  async consume(events: AsyncIterable<ParseEvent> | Iterable<ParseEvent>) {
    for await (const ev of events) {
      if (ev.type === 'item') await this.add(ev.item);
      else {
        this.error(ev.error);
        // A file of nothing but bad lines must not pile its errors up in memory.
        if (this.pendingErrors.length >= ERRORS_PER_WRITE) await this.writeErrors();
      }
    }
  }

  async flush() {
    await this.startStore();
    await this.settle();
    await this.writeErrors();
  }

  private async writeErrors() {
    if (this.pendingErrors.length === 0) return;
    const errs = this.pendingErrors;
    this.pendingErrors = [];
    await addImportErrors(this.db, this.runId, errs);
  }

  async customerKeys(): Promise<string[]> {
    if (!this.customers) await this.refreshCustomers();
    return [...this.customers!]
      .filter(([, id]) => this.touched.has(id))
      .map(([k]) => k)
      .sort();
  }
}

async function importPath(s: ImportSession, source: string, opts: ImportOptions) {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(source);
  } catch {
    throw new GapmapError('not_found', `${source}: no such file or folder`);
  }
  if (stat.isDirectory()) await importBundle(s, source, opts);
  else await importFile(s, source, opts, true);
}

/** What a bundle folder holds, for the messages about what it holds besides. */
const BUNDLE_LAYOUT =
  'a bundle folder holds customers.json, survey CSVs, tickets JSONL or a Zendesk JSON export, ' +
  'and the folders transcripts/ and notes/, each with an index.json';

/**
 * A bundle folder (BUNDLE.md). Whatever in it Gapmap does not read is reported, so a folder
 * uploaded with a wrong layout (transcripts without their index.json, a spreadsheet) does not
 * import nothing in silence.
 */
async function importBundle(s: ImportSession, dir: string, opts: ImportOptions) {
  const customersFile = path.join(dir, 'customers.json');
  if (fs.existsSync(customersFile)) await importCustomers(s, customersFile);
  await s.refreshCustomers();

  const notRead = (file: string, message: string) => s.error({ file, line: null, message });
  const names = (await fs.promises.readdir(dir)).sort();
  for (const name of names) {
    const file = path.join(dir, name);
    if (MEASUREMENT_FILES.has(name) || name.startsWith('.')) continue;
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(file);
    } catch (err) {
      notRead(file, `not read: ${await unreadable(file, err)}`);
      continue;
    }
    if (name === 'customers.json') continue;
    if (stat.isDirectory()) {
      if (name !== TRANSCRIPTS.name && name !== NOTES.name) notRead(file, `not read: ${BUNDLE_LAYOUT}`);
    } else if (isBundleFile(name)) {
      await importFile(s, file, opts);
    } else notRead(file, `not read: ${BUNDLE_LAYOUT}`);
  }
  for (const reader of [TRANSCRIPTS, NOTES] as FolderReader<{ file: string }>[]) {
    const folder = path.join(dir, reader.name);
    if (!fs.existsSync(folder)) continue;
    if (fs.existsSync(path.join(folder, 'index.json'))) {
      await importIndexedFolder(s, folder, reader);
    } else {
      notRead(
        folder,
        `no index.json, so none of its files were read: expected ${reader.name}/index.json, ` +
          `${reader.indexShape} (one file alone imports with ${reader.single})`,
      );
    }
  }
  // Nothing but hidden files and eval's files: nothing above was read or reported.
  if (names.every((n) => n.startsWith('.') || MEASUREMENT_FILES.has(n)))
    notRead(dir, `nothing to import: ${BUNDLE_LAYOUT}`);
}

/** Why a folder entry cannot be read: a link whose target is gone says where it points. */
async function unreadable(file: string, err: unknown): Promise<string> {
  const target = await fs.promises.readlink(file).catch(() => null);
  return target !== null && (err as NodeJS.ErrnoException).code === 'ENOENT'
    ? `a link to ${target}, which does not exist: expected a file or folder`
    : `cannot read it (${errorMessage(err)})`;
}

async function importCustomers(s: ImportSession, file: string) {
  const { customers, errors } = await parseCustomers(file);
  for (const e of errors) s.error(e);
  // A customer whose jobs changed has all its units tagged again: the run touched it.
  if (customers.length) for (const id of await upsertCustomers(s.db, customers)) s.touched.add(id);
  await s.refreshCustomers();
}

async function importIndexedFolder<E extends { file: string }>(
  s: ImportSession,
  dir: string,
  reader: FolderReader<E>,
) {
  const indexFile = path.join(dir, 'index.json');
  const what = reader.name;
  const { entries, errors } = await reader.index(indexFile);
  for (const e of errors) s.error(e);
  // An entry the index reader refused (a bad date, speakers as a string) still lists its file:
  // its error is already on the run, and "not listed" would be a second, wrong one.
  const listed = await namesIn(indexFile);
  for (const entry of entries) {
    listed.add(entry.file);
    const file = path.join(dir, entry.file);
    if (!fs.existsSync(file)) {
      s.error({
        file: indexFile,
        line: null,
        field: 'file',
        message: `lists "${entry.file}", which is not in ${dir}`,
      });
      continue;
    }
    await addResult(s, await reader.parse(file, entry));
  }
  for (const name of (await fs.promises.readdir(dir)).sort()) {
    if (name === 'index.json' || name.startsWith('.') || listed.has(name)) continue;
    s.error({
      file: path.join(dir, name),
      line: null,
      message: `not listed in ${what}/index.json: expected ${reader.expected}`,
    });
  }
}

/** Every `file` named in an index.json, valid entry or not; empty when the index cannot be read. */
async function namesIn(indexFile: string): Promise<Set<string>> {
  const names = new Set<string>();
  try {
    const data: unknown = JSON.parse((await fs.promises.readFile(indexFile, 'utf8')).replace(/^\uFEFF/, ''));
    if (Array.isArray(data)) {
      for (const entry of data as unknown[]) {
        const file = entry && typeof entry === 'object' ? (entry as { file?: unknown }).file : null;
        if (typeof file === 'string') names.add(file.trim());
      }
    }
  } catch {
    // The index reader reports why it cannot be read.
  }
  return names;
}

/** `alone`: the file is the whole import, so one that holds nothing to import says so. */
async function importFile(s: ImportSession, file: string, opts: ImportOptions, alone = false) {
  const format = await detectFormat(file);
  const needCustomer = (what: string) => {
    if (!opts.customer) {
      throw new GapmapError(
        'bad_input',
        `${file}: a single ${what} needs --customer KEY (the customer it is about)`,
      );
    }
    return opts.customer;
  };
  switch (format) {
    case 'customers':
      return importCustomers(s, file);
    case 'surveys':
      return s.consume(
        parseSurveys(file, { columns: opts.columns, defaultCustomer: opts.customer, requireRows: alone }),
      );
    case 'tickets':
    case 'zendesk-export':
      return s.consume(parseTickets(file, { defaultCustomer: opts.customer }));
    case 'transcript-index':
      return importIndexedFolder(s, path.dirname(file), TRANSCRIPTS);
    case 'notes-index':
      return importIndexedFolder(s, path.dirname(file), NOTES);
    case 'vtt':
    case 'srt':
    case 'txt-transcript':
    case 'docx': {
      const customer = needCustomer('transcript or notes file');
      if (format === 'docx' && !opts.speakers?.length) {
        return addResult(
          s,
          await parseNotes(file, {
            file: path.basename(file),
            customer,
            interviewedAt: null,
            author: opts.author ?? null,
          }),
        );
      }
      if (!opts.speakers?.length) {
        throw new GapmapError(
          'bad_input',
          `${file}: a single transcript needs --speakers "Name, Name" (the customer's speakers)`,
        );
      }
      const entry = {
        file: path.basename(file),
        customer,
        interviewedAt: null,
        customerSpeakers: opts.speakers,
      };
      return addResult(
        s,
        format === 'docx' ? await parseDocxTranscript(file, entry) : await parseTranscript(file, entry),
      );
    }
    case 'notes': {
      const customer = needCustomer('notes file');
      if (opts.speakers?.length) {
        const entry = {
          file: path.basename(file),
          customer,
          interviewedAt: null,
          customerSpeakers: opts.speakers,
        };
        return addResult(s, await textTranscript(file, entry));
      }
      return addResult(
        s,
        await parseNotes(file, {
          file: path.basename(file),
          customer,
          interviewedAt: null,
          author: opts.author ?? null,
        }),
      );
    }
    default:
      if (looksLikeUtf16(await readHead(file, 1024).catch(() => Buffer.alloc(0)))) {
        return s.error({ file, line: null, message: utf16Message('a format Gapmap reads, in UTF-8') });
      }
      s.error({
        file,
        line: null,
        message:
          'not a format Gapmap reads: expected customers.json, a survey CSV, tickets JSONL, a Zendesk JSON export, ' +
          'a transcript (.vtt, .srt, .txt, .docx) or interview notes (.md, .txt, .docx)',
      });
  }
}

/**
 * A text file given --speakers is a transcript, even where it reads like notes (detection wants
 * most paragraphs to be turns). Without one `Name: words` line it says so, not imports notes.
 */
async function textTranscript(
  file: string,
  entry: TranscriptEntry,
): Promise<{ item: ParsedItem | null; errors: ImportIssue[] }> {
  const read = await readTextFile(file);
  if ('error' in read) return { item: null, errors: [read.error] };
  const { cues, errors } = txtCues(file, read.text, entry.customerSpeakers);
  if (!cues.some((c) => c.speaker)) {
    // Otter and similar tools put the speaker and the time on a line of their own: read when two
    // spaces or a tab part them, or the name is one of --speakers (ingest/transcripts.ts headingOf).
    const heading = /^(.{1,40}?)[ \t]+\d{1,2}:\d{2}(?::\d{2})?[ \t]*$/m.exec(read.text);
    return refused(
      file,
      `--speakers was given, but the file has no speaker lines: expected a transcript with one ` +
        `"Name: words" turn per paragraph (a timestamp like [00:12:03] may lead the line)` +
        (heading
          ? `; a line like "${heading[0].trim()}" (a name and a time alone) is read as a speaker's heading ` +
            `when two spaces or a tab part the name from the time, or the name is one of --speakers`
          : ''),
      'customer_speakers',
    );
  }
  const built = transcriptItem(file, entry, cues);
  return { item: built.item, errors: [...errors, ...built.errors] };
}

async function addResult(s: ImportSession, res: { item: ParsedItem | null; errors: ImportIssue[] }) {
  for (const e of res.errors) s.error(e);
  if (res.item) await s.add(res.item);
}
