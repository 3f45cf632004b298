/**
 * The folder connector: finds export files dropped into a folder and tells which are new or changed
 * since the state saved after the last run. It reads no feedback itself: what it finds goes to the
 * importer (`gapmap import` takes the same bundle folders and files).
 *
 * Two kinds of export are recognised:
 * - a bundle (../shared/data/BUNDLE.md): a folder holding customers.json; its feedback files
 *   (customers.json, every survey CSV and tickets JSONL/JSON the importer reads there, whatever its
 *   name, transcripts/, notes/) are imported together, so a change to any of them reports the
 *   whole bundle;
 * - a Zendesk JSON export outside a bundle: newline-delimited tickets (the admin "JSON export"),
 *   or an API response `{"tickets": [...]}`, as .json, .jsonl or .ndjson.
 *
 * A file is unchanged when its size and mtime match the saved state; when they differ its SHA-256
 * decides (a copy that only touched the mtime is not re-imported). A file modified within the last
 * `settleMs` may still be being written: it is reported as pending and left out of the new state,
 * so the next scan looks at it again.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { GapmapError, errorMessage } from '../../app/errors.ts';
import { isBundleFile } from '../folders.ts';

export interface FileState {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/** Relative path (with forward slashes) -> what the file was when last imported. */
export type FolderState = Record<string, FileState>;

export type ExportKind = 'bundle' | 'zendesk-json';

export interface FolderEntry {
  kind: ExportKind;
  /** Relative to the watched folder: the bundle's folder ('.' for the folder itself) or the file. */
  path: string;
  absolutePath: string;
  status: 'new' | 'changed';
  /** The files behind this entry (relative paths); for a bundle, its feedback files. */
  files: string[];
}

export interface FolderScan {
  /** New or changed exports, to import. */
  entries: FolderEntry[];
  /** Exports seen before and unchanged. */
  unchanged: string[];
  /** Files in the saved state that are gone. */
  removed: string[];
  /** Files still being written (modified within settleMs); looked at again next time. */
  pending: string[];
  /** Files that are neither part of a bundle nor a Zendesk export. */
  ignored: string[];
  /** The state to save once the entries are imported. */
  state: FolderState;
}

export interface ScanOptions {
  /** Files modified more recently than this are left for the next scan (default 10 s). */
  settleMs?: number;
  now?: number;
  /** How deep to look below the folder (default 4). */
  maxDepth?: number;
}

const BUNDLE_DIRS = new Set(['transcripts', 'notes']);
const ZENDESK_EXT = new Set(['.json', '.jsonl', '.ndjson']);

export async function scanFolder(
  root: string,
  previous: FolderState,
  opts: ScanOptions = {},
): Promise<FolderScan> {
  const settleMs = opts.settleMs ?? 10_000;
  const now = opts.now ?? Date.now();
  let stat;
  try {
    stat = await fs.stat(root);
  } catch (err) {
    throw new GapmapError('not_found', `Watched folder ${root} cannot be read: ${errorMessage(err)}`);
  }
  if (!stat.isDirectory())
    throw new GapmapError(
      'bad_input',
      `Watched folder ${root} is not a folder (expected a folder of export files)`,
    );

  const groups: Array<{ kind: ExportKind; rel: string; files: string[] }> = [];
  const ignored: string[] = [];
  await walk(root, '.', 0, opts.maxDepth ?? 4, groups, ignored);

  const state: FolderState = {};
  const entries: FolderEntry[] = [];
  const unchanged: string[] = [];
  const pending: string[] = [];
  for (const g of groups) {
    let anyNew = true;
    let anyChanged = false;
    let settled = true;
    const states: FolderState = {};
    for (const rel of g.files) {
      const abs = path.join(root, rel);
      const st = await fs.stat(abs);
      if (now - st.mtimeMs < settleMs) {
        settled = false;
        pending.push(rel);
        continue;
      }
      const before = previous[rel];
      if (before) anyNew = false;
      if (before && before.size === st.size && before.mtimeMs === st.mtimeMs) {
        states[rel] = before;
        continue;
      }
      const sha256 = await hashFile(abs);
      states[rel] = { size: st.size, mtimeMs: st.mtimeMs, sha256 };
      if (!before || before.sha256 !== sha256) anyChanged = true;
    }
    // A bundle whose file was deleted changed too (the importer decides what that means).
    const prefix = g.rel === '.' ? '' : g.rel + '/';
    if (
      g.kind === 'bundle' &&
      Object.keys(previous).some(
        (p) => p.startsWith(prefix) && isBundleMember(p.slice(prefix.length)) && !g.files.includes(p),
      )
    ) {
      anyChanged = true;
    }
    if (!settled) {
      // Keep what was stored for its files, so the half-written export is judged again next scan.
      for (const rel of g.files) if (previous[rel]) state[rel] = previous[rel];
      continue;
    }
    Object.assign(state, states);
    if (anyChanged)
      entries.push({
        kind: g.kind,
        path: g.rel,
        absolutePath: path.join(root, g.rel),
        status: anyNew ? 'new' : 'changed',
        files: g.files,
      });
    else unchanged.push(g.rel);
  }
  const seen = new Set(groups.flatMap((g) => g.files));
  const removed = Object.keys(previous).filter((p) => !seen.has(p));
  return { entries, unchanged, removed, pending, ignored, state };
}

async function walk(
  root: string,
  rel: string,
  depth: number,
  maxDepth: number,
  groups: Array<{ kind: ExportKind; rel: string; files: string[] }>,
  ignored: string[],
) {
  const dir = path.join(root, rel);
  const names = (await fs.readdir(dir, { withFileTypes: true }))
    .filter((d) => !d.name.startsWith('.') && !d.name.endsWith('~'))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const join = (name: string) => (rel === '.' ? name : `${rel}/${name}`);
  if (names.some((d) => d.isFile() && d.name === 'customers.json')) {
    const files: string[] = [];
    for (const d of names) {
      if (d.isFile() && isBundleFile(d.name)) files.push(join(d.name));
      else if (d.isDirectory() && BUNDLE_DIRS.has(d.name)) await listFiles(root, join(d.name), files);
    }
    groups.push({ kind: 'bundle', rel, files });
    return;
  }
  for (const d of names) {
    const r = join(d.name);
    if (d.isDirectory()) {
      if (depth < maxDepth && d.name !== 'node_modules')
        await walk(root, r, depth + 1, maxDepth, groups, ignored);
    } else if (d.isFile()) {
      if (
        ZENDESK_EXT.has(path.extname(d.name).toLowerCase()) &&
        (await looksLikeZendeskExport(path.join(root, r)))
      )
        groups.push({ kind: 'zendesk-json', rel: r, files: [r] });
      else ignored.push(r);
    }
  }
}

async function listFiles(root: string, rel: string, out: string[]) {
  for (const d of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
    if (d.name.startsWith('.') || d.name.endsWith('~')) continue;
    if (d.isDirectory()) await listFiles(root, `${rel}/${d.name}`, out);
    else if (d.isFile()) out.push(`${rel}/${d.name}`);
  }
}

function isBundleMember(rel: string): boolean {
  const first = rel.split('/')[0] ?? '';
  return rel.includes('/') ? BUNDLE_DIRS.has(first) : isBundleFile(rel);
}

/**
 * Reads the start of the file: a Zendesk export is a ticket object per line (id, subject or
 * description), an array of them, or an object with a "tickets" array.
 */
export async function looksLikeZendeskExport(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const head = buf
      .subarray(0, bytesRead)
      .toString('utf8')
      .replace(/^\uFEFF/, '')
      .trimStart();
    if (/^\{\s*"tickets"\s*:\s*\[/.test(head)) return true;
    const firstLine = head.startsWith('[') ? head.slice(1).trimStart() : head;
    const nl = firstLine.indexOf('\n');
    const candidate = nl >= 0 ? firstLine.slice(0, nl) : firstLine;
    try {
      const obj = JSON.parse(candidate.replace(/,\s*$/, '')) as Record<string, unknown>;
      return isTicketLike(obj);
    } catch {
      // A pretty-printed array or object: fall back to the keys near the start.
      return /"id"\s*:/.test(head) && /"subject"\s*:/.test(head) && /"(description|comments)"\s*:/.test(head);
    }
  } finally {
    await handle.close();
  }
}

function isTicketLike(obj: Record<string, unknown>): boolean {
  return obj !== null && typeof obj === 'object' && 'id' in obj && ('subject' in obj || 'description' in obj);
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
