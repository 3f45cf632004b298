import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootstrapIntervals, evaluateBundle, formatEvalReport, scoreField } from '../classifiers/eval.ts';
import { seededRandom } from '../classifiers/random.ts';
import { expectedCalibrationError, fitTemperature, reliabilityBins } from '../classifiers/calibration.ts';
import type { Classifier, Tags } from '../classifiers/types.ts';

/** A rule-based classifier: enough to check what eval reads, feeds and scores. */
function ruleClassifier(seen: {
  texts: string[];
  jobs: string[][];
  scores: (number | null | undefined)[];
}): Classifier {
  return {
    name: 'rules',
    version: '1',
    async classify(units, ctx) {
      seen.jobs.push(ctx.jobs.map((j) => `${j.key}:${j.examples.length}`));
      return units.map((u): Tags => {
        seen.texts.push(u.text);
        seen.scores.push(u.score);
        const neg = /can't|late/.test(u.text);
        return {
          job: /invoice/.test(u.text) ? 'billing' : null,
          jobConfidence: 0.9,
          kind: neg ? 'friction' : 'other',
          kindConfidence: 0.6,
          sentiment: neg ? 'negative' : 'neutral',
          sentimentConfidence: 0.8,
        };
      });
    },
  };
}

function bundle(labels: object[], customers?: object[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'gapmap-eval-'));
  writeFileSync(
    path.join(dir, 'customers.json'),
    JSON.stringify(
      customers ?? [
        {
          key: 'acme',
          name: 'Acme',
          jobs: [
            {
              key: 'billing',
              statement: 'Bill clients',
              desired_outcome: 'Minimize days to paid',
              examples: ['invoice sent'],
            },
          ],
        },
      ],
    ),
  );
  writeFileSync(path.join(dir, 'labels.jsonl'), labels.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return dir;
}

describe('scoreField', () => {
  it('computes accuracy, macro-F1, per-class precision and recall and the confusion matrix', () => {
    const r = scoreField(['a', 'a', 'b', 'b'], ['a', 'b', 'b', 'b'], [1, 1, 1, 1], ['a', 'b']);
    expect(r.accuracy).toBe(0.75);
    expect(r.per_class.a).toMatchObject({ precision: 1, recall: 0.5, support: 2 });
    expect(r.per_class.b!.precision).toBeCloseTo(2 / 3);
    expect(r.confusion).toEqual([
      [1, 1],
      [0, 2],
    ]);
    expect(r.macro_f1).toBeCloseTo((2 / 3 + 0.8) / 2);
    expect(r.ece).toBeCloseTo(0.25);
  });
});

describe('bootstrapIntervals', () => {
  /** A population of 3 classes tagged right with probability `p`, wrong ones spread over the others. */
  function population(n: number, p: number, seed: number) {
    const random = seededRandom(seed);
    const truth: string[] = [];
    const predicted: string[] = [];
    for (let i = 0; i < n; i++) {
      const t = Math.floor(random() * 3);
      truth.push(`c${t}`);
      predicted.push(random() < p ? `c${t}` : `c${(t + 1 + Math.floor(random() * 2)) % 3}`);
    }
    return { truth, predicted };
  }

  it('is [1, 1] for a classifier that is always right, and the same on every run', () => {
    const labels = ['a', 'b', 'b', 'c'];
    expect(bootstrapIntervals(labels, labels)).toMatchObject({ accuracy: [1, 1], macro_f1: [1, 1] });
    const { truth, predicted } = population(200, 0.7, 1);
    expect(bootstrapIntervals(truth, predicted)).toEqual(bootstrapIntervals(truth, predicted));
  });

  it('holds the scores scoreField gives, and narrows as the units grow', () => {
    const small = population(60, 0.7, 2);
    const large = population(6000, 0.7, 3);
    const width = ([lo, hi]: [number, number]) => hi - lo;
    for (const { truth, predicted } of [small, large]) {
      const r = scoreField(
        truth,
        predicted,
        truth.map(() => 0.5),
      );
      expect(r.interval.accuracy[0]).toBeLessThan(r.accuracy);
      expect(r.interval.accuracy[1]).toBeGreaterThan(r.accuracy);
      expect(r.interval.macro_f1[0]).toBeLessThan(r.macro_f1);
      expect(r.interval.macro_f1[1]).toBeGreaterThan(r.macro_f1);
    }
    const a = bootstrapIntervals(small.truth, small.predicted);
    const b = bootstrapIntervals(large.truth, large.predicted);
    // The spread of a mean falls with the square root of n: 10 times for 100 times the units.
    expect(width(a.accuracy) / width(b.accuracy)).toBeGreaterThan(7);
    expect(width(a.accuracy) / width(b.accuracy)).toBeLessThan(13);
    expect(width(a.macro_f1) / width(b.macro_f1)).toBeGreaterThan(7);
  });

  it('holds the population scores in about 95% of samples drawn from it', () => {
    const all = population(100_000, 0.7, 4);
    const whole = scoreField(
      all.truth,
      all.predicted,
      all.truth.map(() => 0.5),
    );
    const pick = seededRandom(5);
    const samples = 200;
    let holdsAccuracy = 0;
    let holdsMacro = 0;
    for (let s = 0; s < samples; s++) {
      const ids = Array.from({ length: 300 }, () => Math.floor(pick() * all.truth.length));
      const r = bootstrapIntervals(
        ids.map((i) => all.truth[i]!),
        ids.map((i) => all.predicted[i]!),
        400,
        0.95,
        s + 1,
      );
      if (r.accuracy[0] <= whole.accuracy && whole.accuracy <= r.accuracy[1]) holdsAccuracy++;
      if (r.macro_f1[0] <= whole.macro_f1 && whole.macro_f1 <= r.macro_f1[1]) holdsMacro++;
    }
    expect(holdsAccuracy / samples).toBeGreaterThan(0.9);
    expect(holdsAccuracy / samples).toBeLessThan(0.985);
    expect(holdsMacro / samples).toBeGreaterThan(0.9);
    expect(holdsMacro / samples).toBeLessThan(0.985);
  });
});

describe('calibration', () => {
  it('ECE is zero when confidence matches accuracy per bin', () => {
    expect(expectedCalibrationError([0.75, 0.75, 0.75, 0.75], [true, true, true, false])).toBeCloseTo(0);
    expect(expectedCalibrationError([0.95, 0.95], [false, false])).toBeCloseTo(0.95);
  });
  it('the reliability table lists the non-empty bins with their mean confidence and accuracy', () => {
    const bins = reliabilityBins([0.12, 0.18, 0.85, 0.95, 1], [false, true, true, true, false]);
    expect(bins.map(({ from, to, n }) => [from, to, n])).toEqual([
      [0.1, 0.2, 2],
      [0.8, 0.9, 1],
      [0.9, 1, 2],
    ]);
    expect(bins[0]!.confidence).toBeCloseTo(0.15);
    expect(bins[0]!.accuracy).toBe(0.5);
    expect(bins[2]).toMatchObject({ confidence: 0.975, accuracy: 0.5 });
  });
  it('temperature scaling softens over-confident logits', () => {
    // Logits say 99.99% but half are wrong: the fitted temperature must be well above 1.
    const heldOut = Array.from({ length: 20 }, (_, i) => ({ logits: [10, 0], label: i % 2 }));
    expect(fitTemperature(heldOut)).toBeGreaterThan(5);
  });
});

describe('evaluateBundle', () => {
  it('scores only the fields a label line has, job null included', async () => {
    const dir = bundle([
      {
        ref: 'survey:1',
        customer: 'acme',
        text: 'invoice was late',
        job: 'billing',
        kind: 'friction',
        sentiment: 'negative',
      },
      { ref: 'ticket:2', customer: 'acme', text: 'hello there', job: null, kind: 'other' },
      { ref: 'survey:3', customer: 'acme', text: 'nice invoice', job: null },
      { ref: 'survey:4', customer: 'acme', text: "can't log in", sentiment: 'neutral' },
    ]);
    const seen = {
      texts: [] as string[],
      jobs: [] as string[][],
      scores: [] as (number | null | undefined)[],
    };
    const progress: [number, number][] = [];
    const report = await evaluateBundle(dir, ruleClassifier(seen), {
      onProgress: (d, t) => progress.push([d, t]),
    });
    expect(report.units).toBe(4);
    expect(report.job).toMatchObject({ n: 3 });
    expect(report.job!.accuracy).toBeCloseTo(2 / 3);
    // survey:1 right, survey:3 wrong; ticket:2 right.
    expect(report.job!.by_source).toEqual({
      ticket: { n: 1, accuracy: 1, macro_f1: 1 },
      survey: { n: 2, accuracy: 0.5, macro_f1: expect.any(Number) },
    });
    expect(report.kind).toMatchObject({ n: 2, accuracy: 1 });
    expect(report.sentiment).toMatchObject({ n: 2, accuracy: 0.5 });
    expect(report.sentiment!.per_class.negative).toMatchObject({ precision: 0.5, recall: 1 });
    expect(progress.at(-1)).toEqual([4, 4]);
    expect(seen.jobs[0]).toEqual(['billing:1']);
    expect(JSON.parse(JSON.stringify(report))).toMatchObject({
      units: 4,
      job: { accuracy: expect.any(Number), macro_f1: expect.any(Number), n: 3 },
    });

    const text = formatEvalReport(report);
    expect(text).toContain('job: n=3');
    expect(text).toContain('by source (accuracy, macro-F1, n): ticket 1.000 1.000 1; survey 0.500');
    expect(text).toContain('confusion');
    expect(text).toMatch(/ECE\)=0\.\d{3}/);
    expect(text).toMatch(
      /95% bootstrap intervals \(1000 resamples of the units\): accuracy \d\.\d{3}-\d\.\d{3}, macro-F1/,
    );
  });

  it('leaves out fields nobody labelled and can ignore the job examples', async () => {
    const dir = bundle([{ ref: 'survey:1', customer: 'acme', text: 'invoice', sentiment: 'neutral' }]);
    const seen = {
      texts: [] as string[],
      jobs: [] as string[][],
      scores: [] as (number | null | undefined)[],
    };
    const report = await evaluateBundle(dir, ruleClassifier(seen), { jobNamesOnly: true });
    expect(report.job).toBeNull();
    expect(report.kind).toBeNull();
    expect(seen.jobs[0]).toEqual(['billing:0']);
    expect(formatEvalReport(report)).toContain('job: not labelled');
  });

  it('--confirm hands the first units of each job to the classifier as reviewed, and scores the rest', async () => {
    const dir = bundle([
      { ref: 'survey:1', customer: 'acme', text: 'invoice one', job: 'billing', kind: 'touchpoint' },
      { ref: 'survey:2', customer: 'acme', text: 'invoice two', job: 'billing' },
      { ref: 'survey:3', customer: 'acme', text: 'hello', job: null, sentiment: 'positive' },
      { ref: 'survey:4', customer: 'acme', text: 'invoice three', job: 'billing' },
      { ref: 'survey:5', customer: 'acme', text: 'bye', job: null },
      { ref: 'survey:6', customer: 'acme', text: 'fine', sentiment: 'neutral' },
    ]);
    const examples: unknown[] = [];
    const scored: string[] = [];
    const classifier: Classifier = {
      name: 'rules',
      version: '1',
      async classify(units, ctx) {
        examples.push(...(ctx.examples ?? []));
        scored.push(...units.map((u) => u.text));
        return ruleClassifier({ texts: [], jobs: [], scores: [] }).classify(units, ctx);
      },
    };
    const report = await evaluateBundle(dir, classifier, { confirm: 1 });
    expect(examples).toEqual([
      { text: 'invoice one', job: 'billing', kind: 'touchpoint' },
      { text: 'hello', job: null, sentiment: 'positive' },
    ]);
    expect(scored.sort()).toEqual(['bye', 'fine', 'invoice three', 'invoice two']);
    expect(report).toMatchObject({ units: 4, confirmed: 2, job: { n: 3 } });
    expect(formatEvalReport(report)).toContain(
      '4 labelled units scored, 2 more given as confirmed by a person',
    );
    // --confirm-fields: only the named labels are handed over (the same units scored).
    examples.length = 0;
    await evaluateBundle(dir, classifier, { confirm: 1, confirmFields: ['job'] });
    expect(examples).toEqual([
      { text: 'invoice one', job: 'billing' },
      { text: 'hello', job: null },
    ]);
    // Without it nothing is confirmed and every unit is scored.
    expect(await evaluateBundle(dir, classifier)).toMatchObject({ units: 6, job: { n: 5 } });
    expect((await evaluateBundle(dir, classifier)).confirmed).toBeUndefined();
  });

  it('classifies each customer in batches of the given size, in the labels’ order', async () => {
    const dir = bundle([
      { ref: 'survey:1', customer: 'acme', text: 'invoice one', job: 'billing' },
      { ref: 'survey:2', customer: 'acme', text: 'invoice two', job: 'billing' },
      { ref: 'survey:3', customer: 'acme', text: 'invoice three', job: 'billing' },
      { ref: 'survey:4', customer: 'acme', text: 'hello', job: null },
      { ref: 'survey:5', customer: 'acme', text: 'bye', job: null },
    ]);
    const batches: string[][] = [];
    const classifier: Classifier = {
      name: 'rules',
      version: '1',
      async classify(units, ctx) {
        batches.push(units.map((u) => u.text));
        return ruleClassifier({ texts: [], jobs: [], scores: [] }).classify(units, ctx);
      },
    };
    const report = await evaluateBundle(dir, classifier, { batch: 2 });
    expect(batches).toEqual([['invoice one', 'invoice two'], ['invoice three', 'hello'], ['bye']]);
    expect(report.units).toBe(5);
    batches.length = 0;
    await evaluateBundle(dir, classifier);
    expect(batches).toHaveLength(1);
  });

  it('--misses lists every field whose tag differs from its label, and only those', async () => {
    const dir = bundle([
      { ref: 'survey:1', customer: 'acme', text: 'invoice was late', job: 'billing', kind: 'friction' },
      { ref: 'survey:2', customer: 'acme', text: 'nice invoice', job: null, sentiment: 'positive' },
    ]);
    const classifier = ruleClassifier({ texts: [], jobs: [], scores: [] });
    const report = await evaluateBundle(dir, classifier, { misses: true });
    // survey:1 is right on both fields; survey:2 gets a job and a neutral sentiment.
    expect(report.misses).toEqual([
      {
        ref: 'survey:2',
        field: 'job',
        label: '(none)',
        predicted: 'billing',
        confidence: 0.9,
        text: 'nice invoice',
        context: null,
      },
      {
        ref: 'survey:2',
        field: 'sentiment',
        label: 'positive',
        predicted: 'neutral',
        confidence: 0.8,
        text: 'nice invoice',
        context: null,
      },
    ]);
    expect(formatEvalReport(report)).toContain('  job  (none) -> billing (0.90)  survey:2  nice invoice');
    expect((await evaluateBundle(dir, classifier)).misses).toBeUndefined();
  });

  it('passes survey scores from surveys.csv', async () => {
    const dir = bundle([{ ref: 'survey:R-1', customer: 'acme', text: 'fine', sentiment: 'neutral' }]);
    writeFileSync(
      path.join(dir, 'surveys.csv'),
      'response_id,customer,submitted_at,question,answer,score\nR-1,acme,2026-01-01,Why?,fine,7\n',
    );
    const seen = {
      texts: [] as string[],
      jobs: [] as string[][],
      scores: [] as (number | null | undefined)[],
    };
    await evaluateBundle(dir, ruleClassifier(seen));
    expect(seen.scores).toEqual([7]);
  });

  it('skips bad label lines with their file and line, and scores the rest', async () => {
    const dir = bundle([
      { ref: 'survey:1', customer: 'acme', text: 'x', kind: 'praise' },
      { ref: 'survey:2', customer: 'acme', text: 'invoice is late', kind: 'friction' },
      { ref: 'survey:3', customer: 'nobody', text: 'y', kind: 'other' },
      { ref: 'survey:4', customer: 'acme', text: 'invoice sent', job: 'shipping', kind: 'other' },
      { ref: 'survey:5', customer: 'acme', text: 'fine', sentiment: 'meh' },
      { ref: 'survey:6', customer: 'acme', text: 7 },
    ]);
    const file = path.join(dir, 'labels.jsonl');
    writeFileSync(file, `{"ref": "survey:0", "customer": "acme"\n` + readFileSync(file, 'utf8'));
    const seen = {
      texts: [] as string[],
      jobs: [] as string[][],
      scores: [] as (number | null | undefined)[],
    };
    const report = await evaluateBundle(dir, ruleClassifier(seen));
    expect(report.errors.map((e) => [e.file, e.line, e.field ?? null])).toEqual([
      [file, 1, null],
      [file, 2, null],
      [file, 4, null],
      [file, 5, 'job'],
      [file, 6, null],
      [file, 7, null],
    ]);
    expect(report.errors[0]!.message).toMatch(/^not JSON/);
    expect(report.errors[1]!.message).toBe(
      'kind "praise" is not one of touchpoint, high_point, friction, value_gap, other',
    );
    expect(report.errors[2]!.message).toBe('customer "nobody" is not in customers.json');
    expect(report.errors[3]!.message).toMatch(
      /^job "shipping" is not a job of customer "acme" in customers\.json \(billing\)/,
    );
    expect(report.errors[4]!.message).toMatch(/^sentiment "meh" is not one of/);
    expect(report.errors[5]!.message).toBe('expected {"ref", "customer", "text", ...}');
    // The two usable lines are classified; the one naming an unknown job is scored on its kind only.
    expect(seen.texts).toEqual(['invoice is late', 'invoice sent']);
    expect(report.units).toBe(2);
    expect(report.job).toBeNull();
    expect(report.kind).toMatchObject({ n: 2, accuracy: 1 });
    const text = formatEvalReport(report);
    expect(text).toContain('5 label lines skipped, 1 job label left unscored:');
    expect(text).toContain(`${file}:5 [job]: job "shipping"`);
  });

  it('fails with the first error when no label line is usable', async () => {
    const dir = bundle([{ ref: 'survey:1', customer: 'nobody', text: 'x' }]);
    await expect(evaluateBundle(dir, ruleClassifier({ texts: [], jobs: [], scores: [] }))).rejects.toThrow(
      /labels\.jsonl: no label line to score; 1 skipped, the first: line 1: customer "nobody" is not in customers\.json/,
    );
  });
});
