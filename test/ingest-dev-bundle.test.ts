/**
 * Measures the parsers against the labelled dev bundle (../shared/data, never copied into the
 * project): every ticket, survey and transcript unit that labels.jsonl lists must come out with
 * the same reference and exactly the same text. Skipped where the data is not present.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleLayout } from '../ingest/detect.ts';
import { parseCustomers } from '../ingest/customers.ts';
import { parseSurveys } from '../ingest/surveys.ts';
import { parseTickets } from '../ingest/tickets.ts';
import { parseTranscript, parseTranscriptIndex } from '../ingest/transcripts.ts';
import type { ImportIssue } from '../ingest/types.ts';

const bundle = [
  resolve(import.meta.dirname, '../../shared/data/dev-bundle'),
  '/work/shared/data/dev-bundle',
].find((d) => existsSync(join(d, 'labels.jsonl')));

describe.skipIf(!bundle)('parsers on the dev bundle', () => {
  it('produce every labelled ticket, survey and transcript unit with the same ref and text', async () => {
    const dir = bundle!;
    const layout = await bundleLayout(dir);
    const produced = new Map<string, string>();
    const errors: ImportIssue[] = [];
    for (const events of [
      ...layout.tickets.map((f) => parseTickets(f)),
      ...layout.surveys.map((f) => parseSurveys(f)),
    ]) {
      for await (const ev of events) {
        if (ev.type === 'item') for (const u of ev.item.units) produced.set(u.ref, u.text);
        else errors.push(ev.error);
      }
    }
    const index = await parseTranscriptIndex(layout.transcripts!.index!);
    errors.push(...index.errors);
    for (const entry of index.entries) {
      const res = await parseTranscript(join(dir, 'transcripts', entry.file), entry);
      errors.push(...res.errors);
      for (const u of res.item?.units ?? []) produced.set(u.ref, u.text);
    }
    errors.push(...(await parseCustomers(layout.customers!)).errors);

    const labels = readFileSync(join(dir, 'labels.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { ref: string; text: string })
      .filter((l) => /^(ticket|survey|transcript):/.test(l.ref));
    const matched = labels.filter((l) => produced.get(l.ref) === l.text).length;
    const unmatched = labels.filter((l) => produced.get(l.ref) !== l.text).map((l) => l.ref);
    console.log(
      `dev bundle: ${matched} of ${labels.length} labelled ticket/survey/transcript units matched (ref and text); ${produced.size} produced`,
    );

    expect(errors).toEqual([]);
    expect(labels.length).toBeGreaterThan(0);
    expect(unmatched).toEqual([]);
    expect([...produced.keys()].filter((r) => !labels.some((l) => l.ref === r))).toEqual([]);
  });
});
