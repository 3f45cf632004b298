/**
 * npm run bench:retrain [-- <bundle folder>] [-- --trials N]
 *
 * What one person's decision changes, and what the retrain's choice of units (likelyToChange in
 * app/retrain.ts) catches of it. Per customer of a labelled bundle (../shared/data/dev-bundle by
 * default): every unit is classified; then, N times (4 by default), one unit is given as a
 * person's decision with its labels, every other unit is classified again with it, and the units
 * whose tags changed are counted next to the ones likelyToChange picks. Twice: with decisions that
 * correct a wrong tag, and with decisions that accept right ones. Units are classified in the
 * classify stage's batches, in the same order each time.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../app/env.ts';
import { loadClassifier } from '../app/classifier.ts';
import { likelyToChange, movableAfter, termVector } from '../app/retrain.ts';
import { seededRandom } from '../classifiers/random.ts';
import { readCustomers, readLabels, sourceOf, type LabelLine } from '../classifiers/eval.ts';
import {
  headsLessons,
  type Kind,
  type LabelledExample,
  type Sentiment,
  type Tags,
} from '../classifiers/types.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { trials: { type: 'string', default: '4' } },
});
const dir = path.resolve(positionals[0] ?? path.join(import.meta.dirname, '../../shared/data/dev-bundle'));
const trials = Number(values.trials);

const customers = readCustomers(dir, false);
const { labels } = readLabels(path.join(dir, 'labels.jsonl'), customers);
const config = loadConfig();
const classifier = await loadClassifier(config);

const changed = (a: Tags, b: Tags) => a.job !== b.job || a.kind !== b.kind || a.sentiment !== b.sentiment;
const agrees = (l: LabelLine, t: Tags) =>
  (l.job === undefined || l.job === t.job) &&
  (l.kind === undefined || l.kind === t.kind) &&
  (l.sentiment === undefined || l.sentiment === t.sentiment);

for (const decision of ['correcting', 'accepting'] as const) {
  const rand = seededRandom(7);
  const n = { units: 0, changed: 0, job: 0, kind: 0, sentiment: 0, picked: 0, caught: 0, fixed: 0, broke: 0 };
  const by = { job: [0, 0], kind: [0, 0], sentiment: [0, 0] };
  for (const [customerKey, jobs] of customers) {
    const mine = labels.filter((l) => l.customer === customerKey);
    if (mine.length === 0) continue;
    const classify = async (examples?: LabelledExample[]) => {
      const out: Tags[] = [];
      for (let i = 0; i < mine.length; i += config.classifyBatch) {
        const batch = mine.slice(i, i + config.classifyBatch);
        const units = batch.map((l, k) => ({ id: i + k, text: l.text, sourceType: sourceOf(l.ref) }));
        out.push(
          ...(await classifier.classify(units, { customerKey, jobs, ...(examples ? { examples } : {}) })),
        );
      }
      return out;
    };
    const before = await classify();
    const pool = mine
      .map((_, i) => i)
      .filter((i) => (decision === 'accepting') === agrees(mine[i]!, before[i]!));
    for (let t = 0; t < trials && pool.length > 0; t++) {
      const d = pool[Math.floor(rand() * pool.length)]!;
      const l = mine[d]!;
      const example: LabelledExample = {
        text: l.text,
        ...(l.job !== undefined ? { job: l.job } : {}),
        ...(l.kind ? { kind: l.kind as Kind } : {}),
        ...(l.sentiment ? { sentiment: l.sentiment as Sentiment } : {}),
      };
      const after = await classify([example]);
      const corrected = [termVector(l.text)];
      // What the customer's own heads learn from this one decision (headsLessons): which fields can move.
      const lessons = headsLessons([example]);
      const movable = movableAfter({
        job: example.job !== undefined,
        kind: lessons.some((e) => e.kind),
        sentiment: lessons.some((e) => e.sentiment),
      });
      mine.forEach((u, i) => {
        if (i === d) return;
        const b = before[i]!;
        const a = after[i]!;
        const picked = likelyToChange(
          { text: u.text, job: b.jobConfidence, kind: b.kindConfidence, sentiment: b.sentimentConfidence },
          corrected,
          movable,
        );
        n.units++;
        if (picked) n.picked++;
        if (!changed(a, b)) return;
        n.changed++;
        if (picked) n.caught++;
        // Against the unit's labels, field by field: a change that made a tag right, or wrong.
        for (const f of ['job', 'kind', 'sentiment'] as const) {
          if (u[f] === undefined || a[f] === b[f]) continue;
          if (a[f] === u[f]) {
            n.fixed++;
            by[f][0]!++;
          } else if (b[f] === u[f]) {
            n.broke++;
            by[f][1]!++;
          }
        }
        if (a.job !== b.job) n.job++;
        if (a.kind !== b.kind) n.kind++;
        if (a.sentiment !== b.sentiment) n.sentiment++;
      });
    }
  }
  const pct = (a: number, b: number) => `${((100 * a) / Math.max(1, b)).toFixed(1)}%`;
  console.log(
    `${decision} decisions: ${n.units} unit-trials; tags changed on ${n.changed} (${pct(n.changed, n.units)}: ` +
      `job ${n.job}, kind ${n.kind}, sentiment ${n.sentiment}); likelyToChange picked ${n.picked} ` +
      `(${pct(n.picked, n.units)}) and caught ${n.caught} of the changes (${pct(n.caught, n.changed)}); ` +
      `against the labels the changes made ${n.fixed} tags right and ${n.broke} wrong ` +
      `(job ${by.job.join(' / ')}, kind ${by.kind.join(' / ')}, sentiment ${by.sentiment.join(' / ')})`,
  );
}
await classifier.close?.();
