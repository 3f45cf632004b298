import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { looksLikeZendeskExport, scanFolder } from '../ingest/connectors/folder.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gapmap-folder-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const old = new Date(Date.now() - 3_600_000);
async function write(rel: string, text: string, mtime: Date = old) {
  const abs = path.join(dir, rel);
  await fs.mkdir(path.dirname(abs), { recursive: true });
  await fs.writeFile(abs, text);
  await fs.utimes(abs, mtime, mtime);
}

const ticketLine = (id: number) =>
  JSON.stringify({
    id,
    subject: `Rota export ${id}`,
    description: 'The export button does nothing.',
    comments: [],
  });

async function seed() {
  await write('nightly/customers.json', '[{"key":"acme","name":"Acme","jobs":[]}]');
  await write('nightly/tickets.jsonl', ticketLine(1) + '\n');
  await write('nightly/transcripts/index.json', '[]');
  await write('nightly/transcripts/call.vtt', 'WEBVTT\n');
  await write('nightly/labels.jsonl', '{}\n'); // measuring only: not a feedback file
  await write('zendesk/export-2026-11.json', [ticketLine(2), ticketLine(3)].join('\n') + '\n');
  await write(
    'zendesk/api-dump.json',
    JSON.stringify({ tickets: [JSON.parse(ticketLine(4))], end_of_stream: true }),
  );
  await write('zendesk/settings.json', '{"theme":"dark"}');
  await write('readme.txt', 'drop exports here');
}

describe('scanFolder', () => {
  it('finds bundles and Zendesk exports, then reports only what changed since the saved state', async () => {
    await seed();
    const first = await scanFolder(dir, {});
    expect(first.entries.map((e) => [e.kind, e.path, e.status])).toEqual([
      ['bundle', 'nightly', 'new'],
      ['zendesk-json', 'zendesk/api-dump.json', 'new'],
      ['zendesk-json', 'zendesk/export-2026-11.json', 'new'],
    ]);
    expect(first.entries[0]!.files.sort()).toEqual([
      'nightly/customers.json',
      'nightly/tickets.jsonl',
      'nightly/transcripts/call.vtt',
      'nightly/transcripts/index.json',
    ]);
    expect(first.ignored.sort()).toEqual(['readme.txt', 'zendesk/settings.json']);
    expect(Object.keys(first.state).sort()).toEqual([
      'nightly/customers.json',
      'nightly/tickets.jsonl',
      'nightly/transcripts/call.vtt',
      'nightly/transcripts/index.json',
      'zendesk/api-dump.json',
      'zendesk/export-2026-11.json',
    ]);

    const second = await scanFolder(dir, first.state);
    expect(second.entries).toEqual([]);
    expect(second.unchanged.sort()).toEqual([
      'nightly',
      'zendesk/api-dump.json',
      'zendesk/export-2026-11.json',
    ]);
    expect(second.state).toEqual(first.state);

    // Touched but identical: not re-imported, the new mtime is remembered.
    const later = new Date(Date.now() - 1_800_000);
    await fs.utimes(path.join(dir, 'zendesk/export-2026-11.json'), later, later);
    // A transcript of the bundle changed (same size, so only the hash can tell).
    await write('nightly/transcripts/call.vtt', 'WEBVTX\n', later);
    await fs.rm(path.join(dir, 'zendesk/api-dump.json'));
    const third = await scanFolder(dir, second.state);
    expect(third.entries.map((e) => [e.path, e.status])).toEqual([['nightly', 'changed']]);
    expect(third.unchanged).toEqual(['zendesk/export-2026-11.json']);
    expect(third.removed).toEqual(['zendesk/api-dump.json']);
    expect(third.state['zendesk/export-2026-11.json']!.mtimeMs).toBe(
      (await fs.stat(path.join(dir, 'zendesk/export-2026-11.json'))).mtimeMs,
    );
    expect(third.state['zendesk/export-2026-11.json']!.mtimeMs).not.toBe(
      second.state['zendesk/export-2026-11.json']!.mtimeMs,
    );
    expect(third.state['zendesk/export-2026-11.json']!.sha256).toBe(
      second.state['zendesk/export-2026-11.json']!.sha256,
    );

    // A bundle file removed changes the bundle.
    await fs.rm(path.join(dir, 'nightly/transcripts/call.vtt'));
    const fourth = await scanFolder(dir, third.state);
    expect(fourth.entries.map((e) => [e.path, e.status])).toEqual([['nightly', 'changed']]);
  });

  it('follows every survey CSV and tickets file of a bundle the importer reads, whatever its name', async () => {
    await write('drop/customers.json', '[{"key":"acme","name":"Acme","jobs":[]}]');
    await write(
      'drop/nps-march.csv',
      'response_id,customer,submitted_at,question,answer,score\nw1,acme,2026-03-01,Q,Fine,9\n',
    );
    await write('drop/helpdesk-export.jsonl', ticketLine(7) + '\n');
    await write('drop/gaps.json', '[]'); // measuring only
    const first = await scanFolder(dir, {});
    expect(first.entries[0]!.files.sort()).toEqual([
      'drop/customers.json',
      'drop/helpdesk-export.jsonl',
      'drop/nps-march.csv',
    ]);
    // A row added to the survey export: the bundle changed.
    await write(
      'drop/nps-march.csv',
      'response_id,customer,submitted_at,question,answer,score\nw1,acme,2026-03-01,Q,Fine,9\nw2,acme,2026-03-02,Q,Slow,4\n',
      new Date(Date.now() - 1_800_000),
    );
    const second = await scanFolder(dir, first.state);
    expect(second.entries.map((e) => [e.path, e.status])).toEqual([['drop', 'changed']]);
    // And one removed.
    await fs.rm(path.join(dir, 'drop/helpdesk-export.jsonl'));
    const third = await scanFolder(dir, second.state);
    expect(third.entries.map((e) => [e.path, e.status])).toEqual([['drop', 'changed']]);
  });

  it('leaves a file that is still being written for the next scan', async () => {
    await write('zendesk/export.json', ticketLine(5) + '\n', new Date());
    const scan = await scanFolder(dir, {}, { settleMs: 60_000 });
    expect(scan.entries).toEqual([]);
    expect(scan.pending).toEqual(['zendesk/export.json']);
    expect(scan.state).toEqual({});
    const later = await scanFolder(dir, scan.state, { settleMs: 60_000, now: Date.now() + 120_000 });
    expect(later.entries.map((e) => e.path)).toEqual(['zendesk/export.json']);
  });

  it('tells a Zendesk export from other JSON', async () => {
    await write(
      'a.json',
      '[\n  {\n    "id": 7,\n    "subject": "Shift swap",\n    "description": "x"\n  }\n]',
    );
    await write('b.json', '{"customers": []}');
    await write('c.jsonl', '{"id": 1, "customer": "acme", "subject": "s", "description": "d"}\n');
    expect(await looksLikeZendeskExport(path.join(dir, 'a.json'))).toBe(true);
    expect(await looksLikeZendeskExport(path.join(dir, 'b.json'))).toBe(false);
    expect(await looksLikeZendeskExport(path.join(dir, 'c.jsonl'))).toBe(true);
  });

  it('names the folder when it cannot be read', async () => {
    await expect(scanFolder(path.join(dir, 'missing'), {})).rejects.toThrow(
      /Watched folder .*missing cannot be read/,
    );
  });
});
