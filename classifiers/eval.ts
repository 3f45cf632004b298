/**
 * `gapmap eval`: classify the units of a bundle's labels.jsonl with the jobs of its customers.json
 * and score every labelled field (a field a label line leaves out is not scored).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { GapmapError, errorMessage, issueLines } from '../app/errors.ts';
import type { ImportIssue, JobDef, SourceType } from '../ingest/types.ts';
import { NOTES, TRANSCRIPTS, type FolderReader } from '../ingest/folders.ts';
import { unitContext } from '../ingest/context.ts';
import { expectedCalibrationError, reliabilityBins, type ReliabilityBin } from './calibration.ts';
import { seededRandom } from './random.ts';
import {
  CONFIRM_FIELDS,
  KINDS,
  SENTIMENTS,
  type Classifier,
  type ConfirmField,
  type CustomerContext,
  type Kind,
  type Sentiment,
  type Tags,
  type UnitInput,
} from './types.ts';

export interface ClassScore {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/** Where accuracy and macro-F1 would fall on other draws of as many units (bootstrapIntervals). */
export interface Interval {
  /** The share of the resamples' scores each interval holds (0.95). */
  level: number;
  resamples: number;
  accuracy: [number, number];
  macro_f1: [number, number];
}

export interface FieldReport {
  n: number;
  accuracy: number;
  macro_f1: number;
  interval: Interval;
  /** Expected calibration error of the confidences (10 bins). */
  ece: number;
  /** The non-empty ones of those bins: how many tags, their mean confidence, how many were right. */
  calibration: ReliabilityBin[];
  per_class: Record<string, ClassScore>;
  /** labels in order; matrix[true][predicted]. */
  labels: string[];
  confusion: number[][];
  /** The same scores per kind of source (ticket, survey, transcript, note), for the kinds present. */
  by_source?: Partial<Record<SourceType, { n: number; accuracy: number; macro_f1: number }>>;
}

export interface EvalReport {
  /** Units scored (with `confirm`, the units left after the confirmed ones). */
  units: number;
  /** With `confirm`: how many labelled units were handed to the classifier as people's decisions. */
  confirmed?: number;
  classifier: { name: string; version: string };
  job: FieldReport | null;
  kind: FieldReport | null;
  sentiment: FieldReport | null;
  /** With `misses`: every scored field of a unit whose tag differs from its label. */
  misses?: Miss[];
  /** Label lines skipped, or a field of them left unscored, and why (empty when all were usable). */
  errors: ImportIssue[];
}

export interface Miss {
  ref: string;
  field: 'job' | 'kind' | 'sentiment';
  label: string;
  predicted: string;
  confidence: number;
  text: string;
  /** What the classifier was given besides the text (the interviewer's question, the note's heading). */
  context: string | null;
}

export interface LabelLine {
  ref: string;
  customer: string;
  text: string;
  job?: string | null;
  kind?: string;
  sentiment?: string;
}

const NO_JOB = '(none)';
const SOURCE_TYPES: SourceType[] = ['ticket', 'survey', 'transcript', 'note'];

/** A unit's kind of source from its ref (`ticket:...`); anything else counts as a survey answer. */
export function sourceOf(ref: string): SourceType {
  const prefix = ref.split(':', 1)[0]!;
  return (SOURCE_TYPES as string[]).includes(prefix) ? (prefix as SourceType) : 'survey';
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new GapmapError('bad_input', `${file}: expected a JSON file (${errorMessage(err)})`);
  }
}

export function readCustomers(dir: string, jobNamesOnly: boolean): Map<string, JobDef[]> {
  const file = path.join(dir, 'customers.json');
  if (!existsSync(file))
    throw new GapmapError(
      'bad_input',
      `${file}: not found; a bundle folder holds customers.json and labels.jsonl`,
    );
  const raw = readJson(file);
  if (!Array.isArray(raw)) throw new GapmapError('bad_input', `${file}: expected an array of customers`);
  const out = new Map<string, JobDef[]>();
  raw.forEach((c: { key?: unknown; jobs?: unknown }, i) => {
    if (typeof c?.key !== 'string' || !Array.isArray(c.jobs)) {
      throw new GapmapError(
        'bad_input',
        `${file}: customer ${i + 1}: expected {"key", "name", "jobs": [...]}`,
      );
    }
    out.set(
      c.key,
      (c.jobs as { key?: unknown; statement?: unknown; desired_outcome?: unknown; examples?: unknown }[]).map(
        (j, k) => {
          if (typeof j?.key !== 'string' || typeof j.statement !== 'string') {
            throw new GapmapError(
              'bad_input',
              `${file}: customer ${String(c.key)}, job ${k + 1}: expected {"key", "statement", ...}`,
            );
          }
          return {
            key: j.key,
            statement: j.statement,
            desiredOutcome: typeof j.desired_outcome === 'string' ? j.desired_outcome : '',
            examples:
              !jobNamesOnly && Array.isArray(j.examples)
                ? j.examples.filter((e): e is string => typeof e === 'string')
                : [],
          };
        },
      ),
    );
  });
  return out;
}

/**
 * The usable lines of a bundle's labels.jsonl, and an ImportIssue for each one that is not (as
 * `gapmap import` reports its bad rows: the rest is scored). A line is skipped when it is not JSON,
 * lacks ref, customer or text, has a kind or sentiment outside the labels, or names a customer
 * customers.json lacks. A job label naming a job its customer does not have is dropped (field
 * "job"): it could never be predicted, and a typo would pass for a miss.
 */
export function readLabels(
  file: string,
  customers: Map<string, JobDef[]>,
): { labels: LabelLine[]; errors: ImportIssue[] } {
  if (!existsSync(file))
    throw new GapmapError(
      'bad_input',
      `${file}: not found; a bundle folder holds customers.json and labels.jsonl`,
    );
  const labels: LabelLine[] = [];
  const errors: ImportIssue[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      if (!text.trim()) return;
      const bad = (message: string, field?: string) => errors.push({ file, line: i + 1, field, message });
      let r: LabelLine;
      try {
        r = JSON.parse(text) as LabelLine;
      } catch (err) {
        return bad(`not JSON (${errorMessage(err)})`);
      }
      if (
        typeof r !== 'object' ||
        r === null ||
        typeof r.ref !== 'string' ||
        typeof r.customer !== 'string' ||
        typeof r.text !== 'string'
      )
        return bad('expected {"ref", "customer", "text", ...}');
      if (r.kind !== undefined && !(KINDS as readonly string[]).includes(r.kind))
        return bad(`kind "${r.kind}" is not one of ${KINDS.join(', ')}`);
      if (r.sentiment !== undefined && !(SENTIMENTS as readonly string[]).includes(r.sentiment))
        return bad(`sentiment "${r.sentiment}" is not one of ${SENTIMENTS.join(', ')}`);
      if (r.job !== undefined && r.job !== null && typeof r.job !== 'string')
        return bad(`job: expected a job key or null, got ${JSON.stringify(r.job)}`);
      const jobs = customers.get(r.customer);
      if (!jobs) return bad(`customer "${r.customer}" is not in customers.json`);
      if (typeof r.job === 'string' && !jobs.some((j) => j.key === r.job)) {
        bad(
          `job "${r.job}" is not a job of customer "${r.customer}" in customers.json (${jobs.map((j) => j.key).join(', ') || 'it has none'}); the line's other fields are scored`,
          'job',
        );
        const { job: _dropped, ...rest } = r;
        labels.push(rest);
      } else labels.push(r);
    });
  return { labels, errors };
}

/** Survey scores by response id, when the bundle has surveys.csv: the pipeline has them too. */
function readScores(dir: string): Map<string, number> {
  const file = path.join(dir, 'surveys.csv');
  const out = new Map<string, number>();
  if (!existsSync(file)) return out;
  const rows = parseCsv(readFileSync(file, 'utf8'), { columns: true, skip_empty_lines: true }) as Record<
    string,
    string
  >[];
  for (const r of rows) {
    const score = Number(r.score);
    if (r.response_id && r.score !== undefined && r.score !== '' && Number.isFinite(score))
      out.set(r.response_id, score);
  }
  return out;
}

/**
 * Each transcript turn's and note unit's context (ingest/context.ts), by ref, from the bundle's
 * transcripts/ and notes/ folders: the pipeline classifies units with it, so eval does too. A file
 * that does not parse gives its units no context (`gapmap import` reports it).
 */
async function readContexts(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const read = async <E extends { file: string }>(reader: FolderReader<E>) => {
    const index = path.join(dir, reader.name, 'index.json');
    if (!existsSync(index)) return;
    for (const entry of (await reader.index(index)).entries) {
      const file = path.join(dir, reader.name, entry.file);
      if (!existsSync(file)) continue;
      const { item } = await reader.parse(file, entry);
      for (const u of item?.units ?? []) {
        const context = unitContext(item!.sourceType, item!.meta, u);
        if (context) out.set(u.ref, context);
      }
    }
  };
  await read(TRANSCRIPTS);
  await read(NOTES);
  return out;
}

/** The first `n` labelled units per customer and job (null included) as confirmed; the rest scored. */
function splitConfirmed(all: LabelLine[], n: number): { confirmed: LabelLine[]; labels: LabelLine[] } {
  if (n <= 0) return { confirmed: [], labels: all };
  const taken = new Map<string, number>();
  const confirmed: LabelLine[] = [];
  const labels: LabelLine[] = [];
  for (const l of all) {
    // Only units with a job label can be confirmed for a job.
    const key = l.job === undefined ? null : `${l.customer}\u0000${l.job ?? ''}`;
    const count = key === null ? n : (taken.get(key) ?? 0);
    if (key !== null && count < n) {
      taken.set(key, count + 1);
      confirmed.push(l);
    } else labels.push(l);
  }
  return { confirmed, labels };
}

/** eval's bootstrap: resamples, the share of their scores an interval holds, and the seed. */
const RESAMPLES = 1000;
const LEVEL = 0.95;
const SEED = 20261207;

/**
 * Percentile bootstrap intervals of accuracy and macro-F1 (macro-F1 as scoreField takes it, over
 * the classes present in the labels, here of each resample): the units are drawn again with
 * replacement `resamples` times, each draw scored, and each interval is the middle `level` of
 * those scores. The seed is fixed, so a report is the same every run. Units are drawn one by one,
 * though the units of one ticket or interview are not independent: the true spread is, if
 * anything, wider.
 */
export function bootstrapIntervals(
  truth: string[],
  predicted: string[],
  resamples = RESAMPLES,
  level = LEVEL,
  seed = SEED,
): Interval {
  const n = truth.length;
  if (n === 0) return { level, resamples, accuracy: [0, 0], macro_f1: [0, 0] };
  const codes = new Map<string, number>();
  const code = (label: string) => {
    let c = codes.get(label);
    if (c === undefined) codes.set(label, (c = codes.size));
    return c;
  };
  const t = Int32Array.from(truth, code);
  const p = Int32Array.from(predicted, code);
  const tp = new Int32Array(codes.size);
  const support = new Int32Array(codes.size);
  const chosen = new Int32Array(codes.size);
  const accuracy = new Float64Array(resamples);
  const macro = new Float64Array(resamples);
  const random = seededRandom(seed);
  for (let r = 0; r < resamples; r++) {
    tp.fill(0);
    support.fill(0);
    chosen.fill(0);
    let right = 0;
    for (let i = 0; i < n; i++) {
      const j = Math.floor(random() * n);
      support[t[j]!]!++;
      chosen[p[j]!]!++;
      if (t[j] === p[j]) {
        tp[t[j]!]!++;
        right++;
      }
    }
    // A class's F1 is 2 TP / (its labels + its predictions).
    let f1Sum = 0;
    let classes = 0;
    for (let c = 0; c < codes.size; c++) {
      if (support[c] === 0) continue;
      f1Sum += (2 * tp[c]!) / (support[c]! + chosen[c]!);
      classes++;
    }
    accuracy[r] = right / n;
    macro[r] = f1Sum / classes;
  }
  const middle = (xs: Float64Array): [number, number] => {
    xs.sort();
    const tail = ((1 - level) / 2) * resamples;
    return [xs[Math.floor(tail)]!, xs[Math.ceil(resamples - tail) - 1]!];
  };
  return { level, resamples, accuracy: middle(accuracy), macro_f1: middle(macro) };
}

/** A field's scores with their bootstrap intervals (bootstrapIntervals). */
export function scoreField(
  truth: string[],
  predicted: string[],
  confidence: number[],
  labelOrder?: readonly string[],
): FieldReport {
  return {
    ...pointScores(truth, predicted, confidence, labelOrder),
    interval: bootstrapIntervals(truth, predicted),
  };
}

/** scoreField without the intervals: what the per-source lines keep (n, accuracy, macro-F1). */
function pointScores(
  truth: string[],
  predicted: string[],
  confidence: number[],
  labelOrder?: readonly string[],
): Omit<FieldReport, 'interval'> {
  const labels = [...new Set([...(labelOrder ?? []), ...truth, ...predicted])].filter(
    (l) => truth.includes(l) || predicted.includes(l),
  );
  const idx = new Map(labels.map((l, i) => [l, i]));
  const confusion = labels.map(() => labels.map(() => 0));
  truth.forEach((t, i) => (confusion[idx.get(t)!]![idx.get(predicted[i]!)!]! += 1));
  const per_class: Record<string, ClassScore> = {};
  let f1Sum = 0;
  let f1Count = 0;
  labels.forEach((l, i) => {
    const tp = confusion[i]![i]!;
    const support = confusion[i]!.reduce((s, v) => s + v, 0);
    const predictedCount = confusion.reduce((s, row) => s + row[i]!, 0);
    const precision = predictedCount ? tp / predictedCount : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    per_class[l] = { precision, recall, f1, support };
    // Macro-F1 averages over the classes that occur in the labels.
    if (support > 0) {
      f1Sum += f1;
      f1Count++;
    }
  });
  const correct = truth.map((t, i) => t === predicted[i]);
  return {
    n: truth.length,
    accuracy: truth.length ? correct.filter(Boolean).length / truth.length : 0,
    macro_f1: f1Count ? f1Sum / f1Count : 0,
    ece: expectedCalibrationError(confidence, correct),
    calibration: reliabilityBins(confidence, correct),
    per_class,
    labels,
    confusion,
  };
}

export async function evaluateBundle(
  dir: string,
  classifier: Classifier,
  opts: {
    jobNamesOnly?: boolean;
    /**
     * The learning loop: per customer, the first `confirm` labelled units of each job (and of "no
     * job") are given to the classifier as units a person reviewed (their labels as the decision),
     * and only the other units are scored.
     */
    confirm?: number;
    /** Which labels of the confirmed units the classifier is given (default: all). */
    confirmFields?: ConfirmField[];
    /** List every unit whose tag differs from its label (EvalReport.misses). */
    misses?: boolean;
    /**
     * Units per classify call, per customer in the labels' order: the classify stage's batch
     * (GAPMAP_CLASSIFY_BATCH, 256 by default). The job head learns from the surest units of a batch
     * (anchors), so smaller batches score lower.
     */
    batch?: number;
    onProgress?: (done: number, total: number) => void;
  } = {},
): Promise<EvalReport> {
  const customers = readCustomers(dir, opts.jobNamesOnly ?? false);
  const file = path.join(dir, 'labels.jsonl');
  const { labels: all, errors } = readLabels(file, customers);
  if (all.length === 0) {
    throw new GapmapError(
      'bad_input',
      `${file}: no label line to score${errors.length ? `; ${errors.length} skipped, the first: line ${errors[0]!.line}: ${errors[0]!.message}` : ''}`,
    );
  }
  const { confirmed, labels } = splitConfirmed(all, opts.confirm ?? 0);
  const given = new Set(opts.confirmFields ?? CONFIRM_FIELDS);
  const scores = readScores(dir);
  const contexts = await readContexts(dir);
  const byCustomer = new Map<string, number[]>();
  labels.forEach((l, i) => {
    const list = byCustomer.get(l.customer) ?? [];
    list.push(i);
    byCustomer.set(l.customer, list);
  });
  const tags: Tags[] = new Array(labels.length);
  let done = 0;
  opts.onProgress?.(0, labels.length);
  const BATCH = opts.batch ?? 256;
  for (const [customerKey, indices] of byCustomer) {
    const examples = confirmed
      .filter((l) => l.customer === customerKey)
      .map((l) => ({
        text: l.text,
        ...(l.job !== undefined && given.has('job') ? { job: l.job } : {}),
        ...(l.kind && given.has('kind') ? { kind: l.kind as Kind } : {}),
        ...(l.sentiment && given.has('sentiment') ? { sentiment: l.sentiment as Sentiment } : {}),
      }));
    const context: CustomerContext = {
      customerKey,
      jobs: customers.get(customerKey)!,
      ...(examples.length > 0 ? { examples } : {}),
    };
    for (let start = 0; start < indices.length; start += BATCH) {
      const batch = indices.slice(start, start + BATCH);
      const units: UnitInput[] = batch.map((i) => {
        const l = labels[i]!;
        const rest = l.ref.split(':', 2)[1] ?? '';
        const sourceType = sourceOf(l.ref);
        const score = sourceType === 'survey' ? scores.get(rest) : undefined;
        return {
          id: i,
          text: l.text,
          sourceType,
          score: score ?? null,
          context: contexts.get(l.ref) ?? null,
        };
      });
      const out = await classifier.classify(units, context);
      batch.forEach((i, k) => (tags[i] = out[k]!));
      done += batch.length;
      opts.onProgress?.(done, labels.length);
    }
  }

  const misses: Miss[] = [];
  const field = (
    name: Miss['field'],
    has: (l: LabelLine) => boolean,
    truthOf: (l: LabelLine) => string,
    predOf: (t: Tags) => [string, number],
    order?: readonly string[],
  ): FieldReport | null => {
    const idx = labels.map((_, i) => i).filter((i) => has(labels[i]!));
    if (idx.length === 0) return null;
    const preds = idx.map((i) => predOf(tags[i]!));
    idx.forEach((i, k) => {
      const l = labels[i]!;
      const [predicted, confidence] = preds[k]!;
      if (opts.misses && predicted !== truthOf(l)) {
        const context = contexts.get(l.ref) ?? null;
        misses.push({
          ref: l.ref,
          field: name,
          label: truthOf(l),
          predicted,
          confidence,
          text: l.text,
          context,
        });
      }
    });
    const report = scoreField(
      idx.map((i) => truthOf(labels[i]!)),
      preds.map((p) => p[0]),
      preds.map((p) => p[1]),
      order,
    );
    const bySource: FieldReport['by_source'] = {};
    for (const source of SOURCE_TYPES) {
      const ks = idx.map((i, k) => [i, k] as const).filter(([i]) => sourceOf(labels[i]!.ref) === source);
      if (ks.length === 0) continue;
      const r = pointScores(
        ks.map(([i]) => truthOf(labels[i]!)),
        ks.map(([, k]) => preds[k]![0]),
        ks.map(([, k]) => preds[k]![1]),
        order,
      );
      bySource[source] = { n: r.n, accuracy: r.accuracy, macro_f1: r.macro_f1 };
    }
    return { ...report, by_source: bySource };
  };
  return {
    units: labels.length,
    ...(opts.confirm ? { confirmed: confirmed.length } : {}),
    classifier: { name: classifier.name, version: classifier.version },
    job: field(
      'job',
      (l) => l.job !== undefined,
      (l) => l.job ?? NO_JOB,
      (t) => [t.job ?? NO_JOB, t.jobConfidence],
    ),
    kind: field(
      'kind',
      (l) => l.kind !== undefined,
      (l) => l.kind!,
      (t) => [t.kind, t.kindConfidence],
      KINDS,
    ),
    sentiment: field(
      'sentiment',
      (l) => l.sentiment !== undefined,
      (l) => l.sentiment!,
      (t) => [t.sentiment, t.sentimentConfidence],
      SENTIMENTS,
    ),
    ...(opts.misses ? { misses } : {}),
    errors,
  };
}

const pct = (x: number) => x.toFixed(3);
const range = ([lo, hi]: [number, number]) => `${pct(lo)}-${pct(hi)}`;

function formatField(name: string, f: FieldReport): string {
  const lines = [
    `${name}: n=${f.n}  accuracy=${pct(f.accuracy)}  macro-F1=${pct(f.macro_f1)}  calibration error (ECE)=${pct(f.ece)}`,
    `  ${Math.round(f.interval.level * 100)}% bootstrap intervals (${f.interval.resamples} resamples of the units): accuracy ${range(f.interval.accuracy)}, macro-F1 ${range(f.interval.macro_f1)}`,
  ];
  const width = Math.min(32, Math.max(8, ...f.labels.map((l) => l.length)));
  const cut = (s: string) => (s.length > width ? s.slice(0, width - 1) + '…' : s.padEnd(width));
  const sources = Object.entries(f.by_source ?? {});
  if (sources.length > 1)
    lines.push(
      `  by source (accuracy, macro-F1, n): ${sources.map(([s, r]) => `${s} ${pct(r.accuracy)} ${pct(r.macro_f1)} ${r.n}`).join('; ')}`,
    );
  lines.push(
    `  calibration (confidence bin: tags, mean confidence, right): ${f.calibration
      .map(
        (b) =>
          `${b.from.toFixed(1)}-${b.to.toFixed(1)}: ${b.n}, ${b.confidence.toFixed(2)}, ${b.accuracy.toFixed(2)}`,
      )
      .join('; ')}`,
  );
  lines.push(`  ${cut('class')}  precision  recall  f1     support`);
  for (const l of f.labels) {
    const c = f.per_class[l]!;
    lines.push(
      `  ${cut(l)}  ${pct(c.precision).padStart(9)}  ${pct(c.recall).padStart(6)}  ${pct(c.f1)}  ${String(c.support).padStart(7)}`,
    );
  }
  if (f.labels.length <= 12) {
    const short = f.labels.map((l) => l.slice(0, 10).padStart(10));
    lines.push(`  confusion (rows: labelled, columns: predicted)`);
    lines.push(`  ${''.padEnd(width)}  ${short.join(' ')}`);
    f.labels.forEach((l, i) =>
      lines.push(`  ${cut(l)}  ${f.confusion[i]!.map((v) => String(v).padStart(10)).join(' ')}`),
    );
  } else {
    // 77 jobs do not fit on a screen: list the most frequent confusions instead.
    const pairs: [number, string, string][] = [];
    f.confusion.forEach((row, i) =>
      row.forEach((v, j) => i !== j && v > 0 && pairs.push([v, f.labels[i]!, f.labels[j]!])),
    );
    pairs.sort((a, b) => b[0] - a[0]);
    lines.push(`  most frequent confusions (labelled -> predicted):`);
    for (const [v, a, b] of pairs.slice(0, 15)) lines.push(`    ${String(v).padStart(4)}  ${a} -> ${b}`);
  }
  return lines.join('\n');
}

export function formatEvalReport(report: EvalReport): string {
  const parts = [
    `${report.units} labelled units${report.confirmed ? ` scored, ${report.confirmed} more given as confirmed by a person` : ''}, classifier ${report.classifier.name} ${report.classifier.version}`,
  ];
  const errors = report.errors;
  if (errors.length > 0) {
    const skipped = errors.filter((e) => !e.field).length;
    parts.push(
      [
        `${skipped} label line${skipped === 1 ? '' : 's'} skipped, ${errors.length - skipped} job label${errors.length - skipped === 1 ? '' : 's'} left unscored:`,
        ...issueLines(errors, '--json lists them all'),
      ].join('\n'),
    );
  }
  for (const name of ['job', 'kind', 'sentiment'] as const) {
    const f = report[name];
    parts.push(f ? formatField(name, f) : `${name}: not labelled`);
  }
  if (report.misses) {
    const one = (s: string) => s.replace(/\s+/g, ' ').trim();
    parts.push(
      [
        `misses (${report.misses.length}): field, labelled -> predicted (confidence), ref, text [context]`,
        ...report.misses.map(
          (m) =>
            `  ${m.field}  ${m.label} -> ${m.predicted} (${m.confidence.toFixed(2)})  ${m.ref}  ${one(m.text).slice(0, 160)}` +
            (m.context ? `  [${one(m.context).slice(0, 80)}]` : ''),
        ),
      ].join('\n'),
    );
  }
  return parts.join('\n\n');
}
