import { afterEach, describe, expect, it } from 'vitest';
import { createCascade } from '../classifiers/cascade.ts';
import { LlmUnavailableError, createLlmClassifier } from '../classifiers/llm.ts';
import type { Classifier, CustomerContext, Tags, UnitInput } from '../classifiers/types.ts';
import { startFakeOpenAI, userJson, type ChatRequestBody, type FakeOpenAI } from './helpers/fake-openai.ts';

const context: CustomerContext = {
  customerKey: 'tilewerk',
  jobs: [
    {
      key: 'quotes',
      statement: 'Send a tiling quote on the day of the site visit',
      desiredOutcome: 'Minimize hours from site visit to quote sent',
      examples: [],
    },
  ],
};

/** A local classifier whose confidence is written in the unit text: "... (conf 0.3)". */
const local: Classifier = {
  name: 'stub-local',
  version: '7',
  async classify(units: UnitInput[]): Promise<Tags[]> {
    return units.map((u) => {
      const conf = Number(u.text.match(/\(conf ([\d.]+)\)/)?.[1] ?? 1);
      return {
        job: null,
        jobConfidence: 0.95,
        kind: 'touchpoint',
        kindConfidence: conf,
        sentiment: 'neutral',
        sentimentConfidence: 0.9,
      };
    });
  },
};

interface SentUnit {
  id: string;
  text: string;
}

/** The fake model tags everything as a quotes friction, except texts with "garble" it answers badly. */
function chat(body: ChatRequestBody) {
  const units = (userJson(body) as { units: SentUnit[] }).units;
  return {
    results: units.map((u) => ({
      id: u.id,
      job: 'quotes',
      job_confidence: 0.9,
      kind: 'friction',
      kind_confidence: 0.9,
      sentiment: 'negative',
      sentiment_confidence: 0.9,
      span: u.text.includes('garble') ? 'not in the text' : u.text,
    })),
  };
}

let fake: FakeOpenAI;
afterEach(async () => {
  await fake?.close();
});

const units: UnitInput[] = [
  { id: 'a', text: 'Quoting from the van is slow (conf 0.3)', sourceType: 'survey' },
  { id: 'b', text: 'I use the mobile app (conf 0.9)', sourceType: 'survey' },
  { id: 'c', text: 'garble quote export (conf 0.2)', sourceType: 'ticket' },
  { id: 'd', text: 'Site visit notes sync (conf 0.59)', sourceType: 'ticket' },
];

function llm() {
  return createLlmClassifier({ apiKey: 'sk-test', baseURL: fake.url, model: 'gpt-4.1-mini', maxRetries: 0 });
}

describe('cascade', () => {
  it('sends only units under the threshold, keeps local tags for the rest and for flagged units', async () => {
    fake = await startFakeOpenAI({ chat });
    const cascade = createCascade(local, llm(), { threshold: 0.6 });
    const tags = await cascade.classify(units, context);

    expect(fake.requests).toHaveLength(2); // the first answer for "c" fails validation and is retried once
    const sent = (userJson(fake.requests[0]!.body as ChatRequestBody) as { units: SentUnit[] }).units;
    expect(sent.map((u) => u.text)).toEqual([units[0]!.text, units[2]!.text, units[3]!.text]);

    expect(tags.map((t) => [t.source, t.kind])).toEqual([
      ['llm', 'friction'],
      ['local', 'touchpoint'],
      ['local', 'touchpoint'],
      ['llm', 'friction'],
    ]);
    expect(tags[0]).toMatchObject({ job: 'quotes', span: units[0]!.text });
    expect(tags[1]!.flagged).toBeUndefined();
    expect(tags[2]).toMatchObject({
      kindConfidence: 0.2,
      flagged: expect.stringMatching(/not an exact substring/),
    });
    expect(cascade.usage().requests).toBe(2);
  });

  it('sends every unit with all, and none when all are confident', async () => {
    fake = await startFakeOpenAI({ chat });
    const everything = await createCascade(local, llm(), { threshold: 0.6, all: true }).classify(
      units.slice(0, 2),
      context,
    );
    expect(everything.map((t) => t.source)).toEqual(['llm', 'llm']);
    expect(fake.requests).toHaveLength(1);

    const none = await createCascade(local, llm(), { threshold: 0.1 }).classify(units, context);
    expect(none.every((t) => t.source === 'local')).toBe(true);
    expect(fake.requests).toHaveLength(1);
  });

  it('names itself after both classifiers and the routing', () => {
    fake = undefined as unknown as FakeOpenAI;
    const classifier = createLlmClassifier({
      apiKey: 'k',
      baseURL: 'http://127.0.0.1:9/v1',
      model: 'gpt-4.1-mini',
    });
    const cascade = createCascade(local, classifier, { threshold: 0.6 });
    expect(cascade.name).toBe('stub-local+llm');
    expect(cascade.version).toMatch(/^7\+gpt-4\.1-mini\+p\d+@<0\.6$/);
    expect(createCascade(local, classifier, { threshold: 0.6, all: true }).version).toMatch(/@all$/);
    expect(() => createCascade(local, classifier, { threshold: 1.5 })).toThrow(
      /threshold must be a number from 0 to 1/,
    );
  });

  it('lets LlmUnavailableError through so the stage can pause', async () => {
    fake = await startFakeOpenAI({ chat });
    fake.failNext(503);
    const err = await createCascade(local, llm(), { threshold: 0.6 })
      .classify(units, context)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LlmUnavailableError);
  });
});
