/**
 * A unit's context (ingest/context.ts): the interviewer's question before a transcript turn and the
 * heading above a note, from the real parsers, through the classify stage to the classifier, and
 * into `gapmap eval`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unitContext } from '../ingest/context.ts';
import { parseTranscript } from '../ingest/transcripts.ts';
import { parseNotes } from '../ingest/notes.ts';
import { runImport } from '../app/importer.ts';
import { createInProcessRuntime } from '../workers/inprocess.ts';
import { enqueueClassification } from '../workers/processors.ts';
import { evaluateBundle } from '../classifiers/eval.ts';
import type { Classifier, Tags, UnitInput } from '../classifiers/types.ts';
import { createTestDb, tempDir, testConfig, type TestDb } from './helpers/db.ts';

// An invented interview with a bakery: two customer speakers answer one question in a row.
const VTT = `WEBVTT

00:00:01.000 --> 00:00:04.000
<v Ines>Thanks for having me. How do the cafes send you their bread orders?

00:00:05.000 --> 00:00:09.000
<v Ada Brook>By text, at five in the morning, and I copy them into a notebook.

00:00:10.000 --> 00:00:12.000
<v Ola Brook>And half of them change it again at six.

00:00:13.000 --> 00:00:15.000
<v Ines>And the rota?

00:00:16.000 --> 00:00:20.000
<v Ola Brook>A mess most weeks, honestly.
`;

const NOTES = `# Crumb & Co: shop visit

Spent the morning behind the counter.

## Weekly rota

- Ada redoes the whole week when a baker calls in sick.
`;

function writeBundle(): string {
  const dir = tempDir('gapmap-context-');
  fs.mkdirSync(path.join(dir, 'transcripts'));
  fs.mkdirSync(path.join(dir, 'notes'));
  fs.writeFileSync(
    path.join(dir, 'customers.json'),
    JSON.stringify([
      {
        key: 'crumb',
        name: 'Crumb & Co',
        jobs: [
          {
            key: 'wholesale-orders',
            statement: 'Take bread orders from cafes',
            desired_outcome: 'Minimize the time it takes',
            examples: [],
          },
          {
            key: 'staff-rota',
            statement: 'Plan the weekly rota',
            desired_outcome: 'Minimize the time it takes',
            examples: [],
          },
        ],
      },
    ]),
  );
  fs.writeFileSync(path.join(dir, 'transcripts', 'crumb.vtt'), VTT);
  fs.writeFileSync(
    path.join(dir, 'transcripts', 'index.json'),
    JSON.stringify([{ file: 'crumb.vtt', customer: 'crumb', customer_speakers: ['Ada Brook', 'Ola Brook'] }]),
  );
  fs.writeFileSync(path.join(dir, 'notes', 'visit.md'), NOTES);
  fs.writeFileSync(
    path.join(dir, 'notes', 'index.json'),
    JSON.stringify([{ file: 'visit.md', customer: 'crumb' }]),
  );
  return dir;
}

const EXPECTED: Record<string, string | null> = {
  'transcript:crumb.vtt#1': 'Thanks for having me. How do the cafes send you their bread orders?',
  // The second customer speaker answers the same question.
  'transcript:crumb.vtt#2': 'Thanks for having me. How do the cafes send you their bread orders?',
  'transcript:crumb.vtt#3': 'And the rota?',
  'note:visit.md#1': 'Crumb & Co: shop visit',
  'note:visit.md#2': 'Weekly rota',
};

/** Records what it is given; tags every unit alike. */
function recordingClassifier(seen: UnitInput[]): Classifier {
  return {
    name: 'recording',
    version: '1',
    async classify(units) {
      seen.push(...units);
      return units.map((): Tags => ({
        job: null,
        jobConfidence: 1,
        kind: 'other',
        kindConfidence: 1,
        sentiment: 'neutral',
        sentimentConfidence: 1,
      }));
    },
  };
}

describe('unitContext', () => {
  let dir: string;
  beforeAll(() => {
    dir = writeBundle();
  });

  it("gives a transcript turn the interviewer's question it answers and a note unit its heading", async () => {
    const entry = {
      file: 'crumb.vtt',
      customer: 'crumb',
      interviewedAt: null,
      customerSpeakers: ['Ada Brook', 'Ola Brook'],
    };
    const transcript = await parseTranscript(path.join(dir, 'transcripts', 'crumb.vtt'), entry);
    const notes = await parseNotes(path.join(dir, 'notes', 'visit.md'), {
      file: 'visit.md',
      customer: 'crumb',
      interviewedAt: null,
      author: null,
    });
    const got: Record<string, string | null> = {};
    for (const item of [transcript.item!, notes.item!])
      for (const u of item.units) got[u.ref] = unitContext(item.sourceType, item.meta, u);
    expect(got).toEqual(EXPECTED);
  });

  it('gives tickets and survey answers none, and a turn with no question before it none', () => {
    expect(unitContext('ticket', { group: 'Billing', tags: ['how_to'] }, { ordinal: 1 })).toBeNull();
    expect(unitContext('survey', { question: 'What would you improve?' }, { ordinal: 1 })).toBeNull();
    const turns = [
      { speaker: 'Ada', text: 'We start at four.', unit: 1 },
      { speaker: 'Ines', text: 'Why so early?', unit: null },
      { speaker: 'Ada', text: 'The cafes open at seven.', unit: 2 },
    ];
    expect(unitContext('transcript', { turns }, { ordinal: 1 })).toBeNull();
    expect(unitContext('transcript', { turns }, { ordinal: 2 })).toBe('Why so early?');
  });
});

describe('the classify stage and gapmap eval pass the context on', () => {
  let t: TestDb;
  let dir: string;
  beforeAll(async () => {
    t = await createTestDb();
    dir = writeBundle();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('hands the classifier each unit with its context', async () => {
    const result = await runImport(t.handle.db, { path: dir });
    expect(result.errors).toEqual([]);
    const seen: UnitInput[] = [];
    const classifier = recordingClassifier(seen);
    const rt = createInProcessRuntime({
      db: t.handle.db,
      config: testConfig(),
      classifier: async () => classifier,
    });
    await enqueueClassification(rt, result.touchedCustomers);
    await rt.drain();
    const byText = new Map(seen.map((u) => [u.text, u.context ?? null]));
    expect(byText.get('A mess most weeks, honestly.')).toBe('And the rota?');
    expect(byText.get('Ada redoes the whole week when a baker calls in sick.')).toBe('Weekly rota');
    expect(seen).toHaveLength(Object.keys(EXPECTED).length);
  });

  it('eval reads the same context from the bundle for each labelled unit', async () => {
    fs.writeFileSync(
      path.join(dir, 'labels.jsonl'),
      Object.keys(EXPECTED)
        .map((ref) => JSON.stringify({ ref, customer: 'crumb', text: `unit ${ref}`, job: null }))
        .join('\n'),
    );
    const seen: UnitInput[] = [];
    await evaluateBundle(dir, recordingClassifier(seen));
    const got = Object.fromEntries(seen.map((u) => [u.text.replace('unit ', ''), u.context ?? null]));
    expect(got).toEqual(EXPECTED);
  });
});
