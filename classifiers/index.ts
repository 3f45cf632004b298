/**
 * The embedding classifier: one embedder (bundled USE-lite by default) and three heads.
 * - kind and sentiment: softmax regression over embedding + hand-made features, trained on the
 *   sentences we ship in classifiers/training/ plus a customer's corrections, combined with a
 *   word/character TF-IDF regression (WordHeads); the word head's weight and the combination's
 *   temperature are fit on held-out folds of the shipped sentences (fitCombination);
 * - job: per customer, from the job statements, desired outcomes, examples and confirmed units:
 *   score = mean embedding similarity to the job's texts + TF-IDF similarity to the job's texts
 *   (terms weighted by how few of the customer's jobs use them, jobContrast) + a little of two
 *   softmax regressions (embedding, TF-IDF) once jobs average MIN_TEXTS_PER_JOB texts and
 *   cross-validation on the customer's texts says they help, + half the TF-IDF similarity of the
 *   unit's context (the interviewer's question, the note's heading) to the job's texts; softmax with
 *   a temperature fit by leave-one-out over the job texts. "No job" comes from a gate fit per
 *   customer on two cues (nearest-job-text similarity and the kind head's P(other)): the
 *   customer's job texts against the shipped no-job sentences and the units people marked as no job.
 *   A unit goes without a job only when its kind is "other" too, so job and kind never disagree.
 * A batch is scored with matrix products (job-text similarities, the dense heads); the word-level
 * parts run while the embedder's threads work. Heads are cached by what they were trained on, so a
 * correction retrains one customer's heads (seconds) and embeddings come from the per-process cache.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GapmapError } from '../app/errors.ts';
import {
  fitLogistic,
  fitTemperature,
  goldenMin,
  logisticProb,
  logLoss,
  type Logistic,
} from './calibration.ts';
import {
  CachedEmbedder,
  createEmbedder,
  Lru,
  OwnedLru,
  type Embedder,
  type EmbedderConfig,
} from './embedders.ts';
import {
  concat,
  countWeight,
  sparseDot,
  termCounts,
  TermCounter,
  terms,
  TfIdf,
  unitFeatures,
  type SparseVec,
  type TermTally,
} from './features.ts';
import {
  argmax,
  columns,
  dotMatrix,
  dotRows,
  headProbabilities,
  logits,
  predictBatch,
  rowsOf,
  sideBySide,
  predict,
  softmax,
  sparseLogits,
  trainSoftmax,
  trainSparseSoftmax,
  runSteps,
  runStepsYielding,
  sparseSoftmaxSteps,
  type SoftmaxHead,
  type SparseSoftmaxHead,
} from './heads.ts';
import {
  ANCHOR_CAP,
  KINDS,
  SENTIMENTS,
  type Classifier,
  type CustomerContext,
  type Kind,
  type LabelledExample,
  type RegressionChoice,
  type JobAnchor,
  type Sentiment,
  type Tags,
  type UnitInput,
  type OwnHeadsFrom,
  OWN_HEADS_FROM,
  headsLessons,
  surestPerJob,
} from './types.ts';

export type ClassifierConfig = EmbedderConfig & {
  /** Heap for customers' own heads and job models (default DEFAULT_CACHE_BYTES). */
  cacheBytes?: number;
  /** From how many decisions on a field a customer's own head for it is trained (OWN_HEADS_FROM). */
  ownHeadsFrom?: OwnHeadsFrom;
};

interface TrainingRow {
  text: string;
  kind: Kind;
  sentiment: Sentiment;
  group: string;
  score?: number | null;
}

const TRAINING_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'training');
/** A person's correction weighs as much as this many shipped sentences. */
const CORRECTION_WEIGHT = 5;
const FOLDS = 5;

/** The shipped sentences: generated from templates (generate.ts) and written one by one. */
export const TRAINING_FILES = [
  'kind-sentiment.jsonl',
  'handwritten.jsonl',
  'handwritten-notes.jsonl',
  'handwritten-tickets.jsonl',
  'handwritten-interviews.jsonl',
];

export function loadTrainingRows(dir = TRAINING_DIR): TrainingRow[] {
  const rows: TrainingRow[] = [];
  for (const name of TRAINING_FILES) {
    const file = path.join(dir, name);
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (!line.trim()) return;
        const r = JSON.parse(line) as Partial<TrainingRow>;
        if (
          typeof r.text !== 'string' ||
          !KINDS.includes(r.kind as Kind) ||
          !SENTIMENTS.includes(r.sentiment as Sentiment)
        ) {
          throw new GapmapError(
            'config',
            `${file}:${i + 1}: expected {"text", "kind", "sentiment", "group"}`,
          );
        }
        rows.push({
          text: r.text,
          kind: r.kind as Kind,
          sentiment: r.sentiment as Sentiment,
          group: `${name}:${r.group ?? i}`,
        });
      });
  }
  return rows;
}

/**
 * Survey answers carry a 0-10 score, the shipped sentences do not: give a share of them the score
 * a person with that sentiment would plausibly have given, so the heads learn what a score means.
 */
function withSyntheticScores(rows: TrainingRow[]): TrainingRow[] {
  const out: TrainingRow[] = [];
  rows.forEach((r, i) => {
    out.push(r);
    if (i % 3 !== 0) return;
    // Positive 8, neutral 6, negative 2 to 6. Spreading them (positive 8-10, neutral 6-8) was
    // measured and not kept: on the dev bundle's surveys sentiment macro-F1 0.740 -> 0.731 and kind
    // 0.728 -> 0.753, kind ECE overall 0.071 -> 0.081, sentiment ECE 0.028 -> 0.037.
    const score = r.sentiment === 'positive' ? 8 : r.sentiment === 'negative' ? [2, 4, 5, 6][i % 4]! : 6;
    out.push({ ...r, score });
  });
  return out;
}

/**
 * L2 penalty of the kind and sentiment embedding heads. Chosen, like the word weights
 * (fitCombination), by held-out log loss over the folds by file of the combined probabilities:
 * per sentence, kind 0.664 / 0.655 / 0.665 / 0.685 and sentiment 0.457 / 0.443 / 0.446 / 0.455 at
 * 1e-5 / 1e-4 / 3e-4 / 1e-3 (3e-4 before).
 */
const HEAD_L2 = 1e-4;

/** Sentences written one by one vary more than template output: they count double. */
const rowWeight = (r: TrainingRow) => (r.group.startsWith('handwritten') ? 2 : 1);

interface KindSentimentHeads {
  kind: SoftmaxHead;
  sentiment: SoftmaxHead;
  /** Held-out P(other) of the shipped no-job sentences, by text: negatives for the job gate. */
  noJob: { text: string; pOther: number }[];
  words: WordHeads;
  /** How the embedding head and the word head are combined, per field (fitCombined). */
  combined: { kind: Combination; sentiment: Combination };
}

/**
 * Combined probabilities: softmax((log p + wordWeight * log q) / temperature), p the embedding
 * head's, q the word head's. Both numbers are fit on held-out folds (fitCombined): the product of
 * two calibrated heads is sharper than either and needs its own temperature.
 */
interface Combination {
  wordWeight: number;
  temperature: number;
}

/**
 * Softmax regressions over the words and character n-grams of a text (TF-IDF), next to the
 * embedding heads: "is there a way", "can't", "thanks" are cues a sentence encoder blurs. Trained
 * in well under a second, so they are not stored but trained with the embedding heads.
 */
interface WordHeads {
  tfidf: TfIdf;
  kind: SparseSoftmaxHead;
  sentiment: SparseSoftmaxHead;
  /**
   * Per term, its row in `rows`: the term's IDF, then the kind head's weights, then the sentiment
   * head's (zeros where a head has none), so a unit is scored with one lookup per term and one
   * contiguous read (a Map of small objects and typed arrays costs several cache misses per term).
   */
  index: Map<string, number>;
  rows: Float64Array;
  /** Per row, in how many shipped sentences the term occurs (a job model's base frequencies). */
  frequencies: Int32Array;
}

/**
 * The word heads' kind and sentiment probabilities for one text: the same numbers as
 * softmax(sparseLogits(head, tfidf.vectorOf(terms))) for each head, in one pass over the terms
 * (the classify stage runs this for every unit, on the thread the embedder shares the cores with).
 */
export function wordProbabilities(
  words: WordHeads,
  /** The text's `terms`, their termCounts, or their TermTally over `words.index`. */
  textTerms: string[] | Map<string, number> | TermTally,
  /** wordRows of those counts, when the caller has them. */
  termRows?: Int32Array,
): { kind: Float64Array; sentiment: Float64Array } {
  let at: ArrayLike<number>;
  let cs: ArrayLike<number>;
  if (Array.isArray(textTerms) || textTerms instanceof Map) {
    const counts = Array.isArray(textTerms) ? termCounts(textTerms) : textTerms;
    at = termRows ?? wordRows(words, counts);
    cs = [...counts.values()];
  } else {
    at = textTerms.rows;
    cs = textTerms.counts;
  }
  const K = words.kind.classes;
  const S = words.sentiment.classes;
  const zk = new Float64Array(K);
  const zs = new Float64Array(S);
  const { rows } = words;
  let norm = 0;
  for (let j = 0; j < cs.length; j++) {
    const row = at[j]!;
    const c = cs[j]!;
    if (row < 0) continue;
    const o = row * (1 + K + S);
    const w = countWeight(c) * rows[o]!;
    norm += w * w;
    for (let k = 0; k < K; k++) zk[k]! += w * rows[o + 1 + k]!;
    for (let k = 0; k < S; k++) zs[k]! += w * rows[o + 1 + K + k]!;
  }
  norm = Math.sqrt(norm) || 1;
  for (let k = 0; k < zk.length; k++) zk[k] = zk[k]! / norm + words.kind.b[k]!;
  for (let k = 0; k < zs.length; k++) zs[k] = zs[k]! / norm + words.sentiment.b[k]!;
  return { kind: softmax(zk), sentiment: softmax(zs) };
}

/**
 * Word heads over the shipped sentences and a customer's corrections, each correction counted
 * CORRECTION_WEIGHT times as in the embedding heads. Over the shipped sentences' terms only, each
 * at its row of the shipped word heads: the shipped TermCounter's tally of a text reads both. A
 * generator (wordHeadsSteps): the classifier runs it with runStepsYielding, so a server stays
 * responsive; runSteps runs it at once.
 */
export function wordHeadsWithSteps(training: TrainingRow[], corrections: LabelledExample[]) {
  const extra = corrections.flatMap((c) => Array.from({ length: CORRECTION_WEIGHT }, () => c));
  return wordHeadsSteps(
    [...training.map((r) => r.text), ...extra.map((c) => c.text)],
    [...training.map((r) => r.kind), ...extra.map((c) => c.kind)],
    [...training.map((r) => r.sentiment), ...extra.map((c) => c.sentiment)],
    training.length,
  );
}

/**
 * The row in the word heads of each of a text's distinct terms (termCounts order; -1: none): one
 * lookup per term for the word heads and a job model over the same shipped sentences.
 */
export function wordRows(words: WordHeads, counts: Map<string, number>): Int32Array {
  const out = new Int32Array(counts.size);
  let j = 0;
  for (const t of counts.keys()) out[j++] = words.index.get(t) ?? -1;
  return out;
}

export function trainWordHeads(
  texts: string[],
  kinds: (Kind | undefined)[],
  sentiments: (Sentiment | undefined)[],
  /**
   * The first this many texts are the TF-IDF's corpus (default: all). A customer's word heads
   * keep the shipped sentences' terms and weights, so a head its decisions do not label stays the
   * shipped one exactly (with the customer's texts in the corpus, their IDFs moved every unit's
   * sentiment a little when only kind learnt). What that costs: words only the customer uses no
   * longer count, dev bundle kind macro-F1 with the first 4 / 8 units per job decided 0.708 /
   * 0.724 with them, 0.698 / 0.714 without (`gapmap eval --confirm 4`, the shipped heads before
   * 170 more notes joined their sentences).
   */
  corpus = texts.length,
): WordHeads {
  return runSteps(wordHeadsSteps(texts, kinds, sentiments, corpus));
}

/** trainWordHeads' training, yielding between its parts (runSteps, runStepsYielding). */
function* wordHeadsSteps(
  texts: string[],
  kinds: (Kind | undefined)[],
  sentiments: (Sentiment | undefined)[],
  corpus: number,
): Generator<void, WordHeads> {
  const tfidf = new TfIdf(texts.slice(0, corpus));
  yield;
  const X: Map<string, number>[] = [];
  for (let i = 0; i < texts.length; i++) {
    X.push(tfidf.vector(texts[i]!));
    if (i % 500 === 499) yield;
  }
  const fit = <C extends string>(labels: (C | undefined)[], classes: readonly C[]) => {
    const idx = labels.map((_, i) => i).filter((i) => labels[i] !== undefined);
    return sparseSoftmaxSteps(
      idx.map((i) => X[i]!),
      idx.map((i) => classes.indexOf(labels[i]!)),
      classes.length,
    );
  };
  const kind = yield* fit(kinds, KINDS);
  const sentiment = yield* fit(sentiments, SENTIMENTS);
  const vocabulary = [...tfidf.vocabulary()];
  const stride = 1 + kind.classes + sentiment.classes;
  const index = new Map<string, number>();
  const rows = new Float64Array(vocabulary.length * stride);
  const frequencies = new Int32Array(vocabulary.length);
  vocabulary.forEach((t, i) => {
    index.set(t, i);
    frequencies[i] = tfidf.frequency(t);
    rows[i * stride] = tfidf.idf(t)!;
    const k = kind.W.get(t);
    if (k) rows.set(k, i * stride + 1);
    const st = sentiment.W.get(t);
    if (st) rows.set(st, i * stride + 1 + kind.classes);
  });
  return { tfidf, kind, sentiment, index, rows, frequencies };
}

/** Embedding head's log-probabilities plus wordWeight times the word head's (`q`). */
function combinedLogits(p: Float64Array, q: Float64Array, wordWeight: number): Float64Array {
  return p.map((v, c) => Math.log(Math.max(v, 1e-12)) + wordWeight * Math.log(Math.max(q[c]!, 1e-12)));
}

/** The largest word weight fitCombination tries. */
const MAX_WORD_WEIGHT = 3;

/**
 * The word weight and temperature with the least log loss on held-out pairs of embedding-head and
 * word-head probabilities: a golden-section search over the weight, each weight with its own
 * fitted temperature. On our shipped sentences, folds by file, the loss falls from weight 0 to
 * about 1 for kind and 0.5-0.75 for sentiment and rises after (see fitCombined).
 */
export function fitCombination(heldOut: { p: Float64Array; q: Float64Array; label: number }[]): Combination {
  const fitAt = (w: number) => {
    const pairs = heldOut.map((h) => ({ logits: combinedLogits(h.p, h.q, w), label: h.label }));
    const temperature = fitTemperature(pairs);
    return { wordWeight: w, temperature, loss: logLoss(pairs, temperature) };
  };
  // 20 steps narrow the weight to within 0.0003 (3 x 0.618^20).
  const { wordWeight, temperature } = fitAt(goldenMin((w) => fitAt(w).loss, 0, MAX_WORD_WEIGHT, 20));
  return { wordWeight, temperature };
}

/**
 * Folds by the file a shipped sentence comes from (templates, handwritten sentences, notes, tickets,
 * interviews: one file a fold), so the held-out logits that set the temperatures and the gate's
 * no-job cues come from heads that never saw that kind of writing, as a customer's feedback is new
 * to them. Folds by group (a template, a sentence) left each file's style in every fold, and the
 * heads were surer on real feedback than they were right: kind ECE on our dev bundle 0.086 ->
 * 0.071, with 1 / 2 / 4 confirmed units per job 0.095 / 0.102 / 0.076 -> 0.053 / 0.064 / 0.051, on
 * our demo bundle 0.151 -> 0.121; sentiment ECE dev 0.040 -> 0.028, airline-dev 0.046 -> 0.033,
 * demo 0.139 -> 0.128. A group without a file (a person's correction) is a file of its own.
 */
function foldsOf(groups: string[]): Map<string, number> {
  const files = [...new Set(groups.map(fileOf))];
  return new Map([...new Set(groups)].map((g) => [g, files.indexOf(fileOf(g)) % FOLDS]));
}
const fileOf = (group: string) => group.split(':', 1)[0]!;

async function trainCalibrated(
  X: Float32Array[],
  labels: string[],
  classes: string[],
  groups: string[],
  weights: number[],
  l2: number,
  /** Reuse this temperature instead of fitting one (retraining after a correction stays fast). */
  knownTemperature?: number,
): Promise<SoftmaxHead & { heldOut: Map<number, Float64Array> }> {
  if (knownTemperature !== undefined) {
    const head = await trainSoftmax(X, labels, classes, { l2, weights, balance: true });
    return { ...head, temperature: knownTemperature, heldOut: new Map() };
  }
  // Held-out logits by file (foldsOf), so calibration sees writing it has not trained on.
  const foldOf = foldsOf(groups);
  const heldOut: { logits: Float64Array; label: number }[] = [];
  const byRow = new Map<number, Float64Array>();
  for (let f = 0; f < FOLDS; f++) {
    const tr = X.map((_, i) => i).filter((i) => foldOf.get(groups[i]!) !== f);
    const te = X.map((_, i) => i).filter((i) => foldOf.get(groups[i]!) === f);
    if (te.length === 0 || new Set(tr.map((i) => labels[i])).size < 2) continue;
    const h = await trainSoftmax(
      tr.map((i) => X[i]!),
      tr.map((i) => labels[i]!),
      classes,
      { l2, weights: tr.map((i) => weights[i]!), balance: true },
    );
    for (const i of te) {
      const z = logits(h, X[i]!);
      heldOut.push({ logits: z, label: classes.indexOf(labels[i]!) });
      byRow.set(i, z);
    }
  }
  const head = await trainSoftmax(X, labels, classes, { l2, weights, balance: true });
  head.temperature = fitTemperature(heldOut);
  return { ...head, heldOut: byRow };
}

interface JobModel {
  jobs: string[];
  /** Softmax regression over the embeddings of the job texts, when there are enough of them. */
  head: SoftmaxHead | null;
  /** The same over their TF-IDF vectors (words and character n-grams). */
  sparseHead: SparseSoftmaxHead | null;
  items: { vec: Float32Array; job: string }[];
  /**
   * The items' vectors as columns and, when there is one, the embedding regression's weights side
   * by side (sideBySide): one matrix product per batch of units gives both.
   */
  unitMatrix: Float32Array;
  /** Per term of the job documents, the jobs that have it and its weight there. */
  postings: Map<string, { job: number; weight: number }[]>;
  /** Index into `jobs` of each item's job. */
  jobIndex: Int32Array;
  tfidf: TfIdf;
  /** The word heads whose TF-IDF is `tfidf`'s base (the shipped ones). */
  baseWords: WordHeads;
  /**
   * Per term of the customer's own texts or of the job documents: in how many of those texts it
   * occurs, the jobs whose documents have it with its weight there (as in `postings`), and its row
   * of the sparse head. What a unit's terms are scored with (unitJobTerms), one lookup per term.
   */
  terms: JobTerms;
  /**
   * Per job, its document in the term table's indices (jobCounts order): each term's index, count
   * and weight in jobDocs. What anchorDelta builds an anchored job's document again from.
   */
  docTables: { terms: Int32Array; counts: Int32Array; weights: Float64Array }[];
  /** Per row of `baseWords`, the term's index in `terms` (-1: none), so a unit's terms need no second lookup. */
  baseTerms: Int32Array;
  temperature: number;
  /** P(bears on one of these jobs | nearest job text's similarity). */
  gate: Logistic;
}

/**
 * JobModel.terms: per term of the customer's own texts or of the job documents (term -> i in
 * `index`), in how many of those texts it occurs (`df[i]`), the jobs whose documents have it with
 * its weight there (`jobs` and `weights` from `start[i]` to `start[i + 1]`, as in `postings`), and
 * its row of the sparse head (`w[i]`). Flat arrays: a customer with 77 jobs has some 20,000 terms.
 */
interface JobTerms {
  index: Map<string, number>;
  /** The terms themselves, by index. */
  keys: string[];
  df: Int32Array;
  start: Int32Array;
  jobs: Int32Array;
  weights: Float64Array;
  w: (Float64Array | undefined)[];
  /** The term's IDF in the model's TF-IDF (tfidf.idf; 0 where it has none). */
  idf: Float64Array;
  /**
   * jobContrast's factor for the term, Math.log((1 + jobs) / (jdf || 1)), with the jobs' own jdf
   * (how many postings the term has): what anchorDelta weighs a job document's terms with.
   */
  contrast: Float64Array;
}

/** A unit's terms that a job model's documents or sparse head know (indices into JobTerms), with their weights in the unit's vector. */
interface JobHits {
  terms: number[];
  weights: number[];
}

export function jobTerms(
  tfidf: TfIdf,
  postings: JobModel['postings'],
  sparseHead: SparseSoftmaxHead | null,
  /** How many jobs the postings are of (for `contrast`). */
  jobCount = 0,
): JobTerms {
  const df = new Map<string, number>(tfidf.ownFrequencies());
  // A job's document also has the word pairs across two of its texts (they are counted joined),
  // which only the shipped sentences may have.
  for (const t of postings.keys()) if (!df.has(t)) df.set(t, 0);
  for (const t of sparseHead?.W.keys() ?? []) if (!df.has(t)) df.set(t, 0);
  const n = df.size;
  let entries = 0;
  for (const list of postings.values()) entries += list.length;
  const out: JobTerms = {
    index: new Map(),
    keys: new Array<string>(n),
    df: new Int32Array(n),
    start: new Int32Array(n + 1),
    jobs: new Int32Array(entries),
    weights: new Float64Array(entries),
    w: new Array<Float64Array | undefined>(n),
    idf: new Float64Array(n),
    contrast: new Float64Array(n),
  };
  let i = 0;
  let at = 0;
  for (const [t, f] of df) {
    out.index.set(t, i);
    out.keys[i] = t;
    out.df[i] = f;
    out.start[i] = at;
    const list = postings.get(t) ?? [];
    for (const p of list) {
      out.jobs[at] = p.job;
      out.weights[at++] = p.weight;
    }
    out.idf[i] = tfidf.idf(t) ?? 0;
    out.contrast[i] = Math.log((1 + jobCount) / (list.length || 1));
    out.w[i++] = sparseHead?.W.get(t);
  }
  out.start[n] = at;
  return out;
}

/** JobModel.docTables from each job's term counts and document (the same terms in the same order). */
export function docTables(
  jobCounts: Map<string, number>[],
  jobDocs: SparseVec[],
  terms: JobTerms,
): JobModel['docTables'] {
  return jobCounts.map((c, k) => ({
    terms: Int32Array.from(c.keys(), (t) => terms.index.get(t)!),
    counts: Int32Array.from(c.values()),
    weights: Float64Array.from(jobDocs[k]!.values()),
  }));
}

/** JobModel.baseTerms: each shipped word heads' row's index in the term table (-1: none). */
export function baseTerms(words: WordHeads, terms: JobTerms): Int32Array {
  const out = new Int32Array(words.frequencies.length).fill(-1);
  terms.keys.forEach((t, i) => {
    const row = words.index.get(t);
    if (row !== undefined) out[row] = i;
  });
  return out;
}

/**
 * A unit's TF-IDF vector under a job model by term key (its index in the model's term table, or the
 * table's size plus its row in the shipped word heads for a term only they have), in the vector's
 * order, with its `hits`: what KeyedPostings and addKeyScores read.
 */
export interface UnitTerms {
  keys: number[];
  weights: number[];
  /** How often the unit has each key's term (what anchorDelta adds to a job's counts). */
  counts: number[];
  hits: JobHits;
}

/**
 * A unit's TF-IDF vector under a job model, from a TermTally over the model's base word heads: the
 * same numbers as model.tfidf.weighCounts of its term counts, in the same order, by key (one array
 * read per term the shipped sentences have, baseTerms, and the table's IDF for the terms it has);
 * plus the terms the model's documents or sparse head have (`hits`, in the vector's order), so
 * jobScores need not look every term up again.
 */
export function unitJobTerms(
  model: Pick<JobModel, 'baseWords' | 'terms' | 'tfidf' | 'baseTerms'>,
  tally: TermTally,
): UnitTerms {
  const out: UnitTerms = { keys: [], weights: [], counts: [], hits: { terms: [], weights: [] } };
  const { hits } = out;
  const { frequencies } = model.baseWords;
  const own = model.terms;
  const n = own.keys.length;
  const docs = model.tfidf.docs;
  let norm = 0;
  for (let j = 0; j < tally.rows.length; j++) {
    const row = tally.rows[j]!;
    const i = row >= 0 ? model.baseTerms[row]! : (own.index.get(tally.unknown[j]!) ?? -1);
    const df = (i < 0 ? 0 : own.df[i]!) + (row < 0 ? 0 : frequencies[row]!);
    if (df === 0) continue;
    // The table's IDF is tfidf.idf of the same term: Math.log(1 + docs / df) with this df.
    const count = tally.counts[j]!;
    const w = countWeight(count) * (i < 0 ? Math.log(1 + docs / df) : own.idf[i]!);
    out.keys.push(i < 0 ? n + row : i);
    out.weights.push(w);
    out.counts.push(count);
    norm += w * w;
    if (i >= 0 && (own.start[i + 1]! > own.start[i]! || own.w[i])) {
      hits.terms.push(i);
      hits.weights.push(w);
    }
  }
  norm = Math.sqrt(norm) || 1;
  for (let k = 0; k < out.weights.length; k++) out.weights[k] = out.weights[k]! / norm;
  for (let h = 0; h < hits.weights.length; h++) hits.weights[h] = hits.weights[h]! / norm;
  return out;
}

/**
 * Postings by term key (UnitTerms): CSR over the term table's indices (`jobs` and `weights` from
 * `start[i]` to `start[i + 1]`), and a list per key for the terms only the shipped sentences have.
 */
export interface KeyedPostings {
  start: Int32Array;
  jobs: Int32Array;
  weights: Float64Array;
  extra: Map<number, { job: number; weight: number }[]>;
}

/** addTermScores over a vector by key and postings by key: the same sums, in the same order. */
export function addKeyScores(
  out: Float64Array,
  postings: KeyedPostings,
  v: Pick<UnitTerms, 'keys' | 'weights'>,
  weight = 1,
) {
  const { start, jobs, weights, extra } = postings;
  const n = start.length - 1;
  for (let j = 0; j < v.keys.length; j++) {
    const key = v.keys[j]!;
    const w = v.weights[j]!;
    if (key < n) {
      for (let p = start[key]!; p < start[key + 1]!; p++) out[jobs[p]!]! += weight * w * weights[p]!;
    } else {
      for (const p of extra.get(key) ?? []) out[p.job]! += weight * w * p.weight;
    }
  }
}

/** addTermScores from a unit's hits (unitJobTerms): the same sums, in the same order. */
export function addHitScores(out: Float64Array, terms: JobTerms, hits: JobHits) {
  const { start, jobs, weights } = terms;
  const { terms: hitTerms, weights: hitWeights } = hits;
  for (let h = 0; h < hitTerms.length; h++) {
    const i = hitTerms[h]!;
    const w = hitWeights[h]!;
    for (let p = start[i]!, end = start[i + 1]!; p < end; p++) out[jobs[p]!]! += w * weights[p]!;
  }
}

/**
 * A unit's context (unitJobTerms of it) against the job documents, at CONTEXT_WEIGHT:
 * addTermScores(out, postings, tfidf.vector(context), CONTEXT_WEIGHT) by the context's hits.
 */
export function addContextScores(out: Float64Array, terms: JobTerms, context: UnitTerms) {
  const { terms: hitTerms, weights } = context.hits;
  addHitScores(out, terms, { terms: hitTerms, weights: weights.map((w) => CONTEXT_WEIGHT * w) });
}

/** sparseLogits(head, tf) from a unit's hits: the same sums, in the same order. */
export function hitLogits(head: SparseSoftmaxHead, terms: JobTerms, hits: JobHits): Float64Array {
  const z = Float64Array.from(head.b);
  const classes = head.classes;
  const { terms: hitTerms, weights } = hits;
  for (let h = 0; h < hitTerms.length; h++) {
    const row = terms.w[hitTerms[h]!];
    if (!row) continue;
    const w = weights[h]!;
    for (let k = 0; k < classes; k++) z[k]! += w * row[k]!;
  }
  return z;
}

/** jobScores' vector when it is handed the unit's hits instead (it reads no terms of its own). */
const NO_TERMS: SparseVec = new Map();

/** Bytes of heap per entry of a Map with small keys and values, as V8 keeps them (about). */
const MAP_ENTRY_BYTES = 48;

/**
 * Heap for customers' own heads and job models in one process (GAPMAP_MODEL_CACHE_MB): with the
 * model, its sessions and the shipped heads (about 580 MB of RSS in bench:classify), a worker
 * stays under 1 GB. A customer evicted for others has its heads or job model built again on its
 * next batch (seconds).
 */
export const DEFAULT_CACHE_BYTES = 384 * 1024 * 1024;

/** About how much heap a customer's own kind and sentiment heads hold, mostly their word heads. */
function headsBytes(h: KindSentimentHeads): number {
  const w = h.words;
  return (
    h.kind.W.byteLength +
    h.sentiment.W.byteLength +
    3 * w.index.size * MAP_ENTRY_BYTES + // the index, the TF-IDF's counts, the terms themselves
    w.rows.byteLength +
    w.frequencies.byteLength +
    (w.kind.W.size + w.sentiment.W.size) * 2 * MAP_ENTRY_BYTES +
    w.kind.W.size * w.kind.classes * 8 +
    w.sentiment.W.size * w.sentiment.classes * 8
  );
}

/**
 * About how much heap a job model holds (what the job-model cache's budget counts): its vectors,
 * regressions, TF-IDF tables and job documents.
 */
function jobModelBytes(m: JobModel): number {
  let bytes = m.unitMatrix.byteLength;
  for (const it of m.items) bytes += it.vec.byteLength + MAP_ENTRY_BYTES;
  if (m.head) bytes += m.head.W.byteLength;
  if (m.sparseHead) bytes += m.sparseHead.W.size * (m.sparseHead.classes * 8 + 2 * MAP_ENTRY_BYTES);
  let postings = 0;
  for (const list of m.postings.values()) postings += list.length;
  bytes += m.postings.size * MAP_ENTRY_BYTES + postings * 48;
  const t = m.terms;
  bytes += 2 * t.index.size * MAP_ENTRY_BYTES; // the table's index and the TF-IDF's own counts
  bytes += t.df.byteLength + t.start.byteLength + t.jobs.byteLength + t.weights.byteLength + 8 * t.w.length;
  bytes += 8 * t.keys.length + t.idf.byteLength + t.contrast.byteLength;
  for (const d of m.docTables) bytes += d.terms.byteLength + d.counts.byteLength + d.weights.byteLength;
  bytes += m.baseTerms.byteLength;
  return bytes;
}

const LOO_SAMPLE = 200;

/**
 * The job scores' temperature for a customer none of whose jobs has two texts (a statement and no
 * desired outcome, examples or confirmed units), where leave-one-out has nothing to hold out.
 * Fit on our demo bundle's customers given their job statements alone: the calibration error is
 * least at 0.07 (0.032; 0.100 / 0.050 / 0.037 / 0.086 at 0.04 / 0.06 / 0.08 / 0.1). The temperature
 * used to stay at 1 there, which spread every unit's confidence over all the jobs: on that demo
 * run job accuracy 0.753 and calibration error 0.365, now 0.856 and 0.032; banking77-dev with job
 * names only 0.446 and 0.527, now 0.436 and 0.154. Customers with more texts fit their own (about
 * 0.05-0.08 on our dev sets).
 */
export const STATEMENTS_ONLY_TEMPERATURE = 0.07;

/**
 * Weight of the TF-IDF similarity between a unit's context (the interviewer's question, the
 * note's heading: UnitInput.context) and each job's texts, next to the unit's own (weight 1). Half:
 * the question says what the talk is about, the answer says more. On our dev bundle transcript
 * turns went from 0.667 to 0.722 job accuracy and note units from 0.690 to 0.759, flat between
 * weights 0.4 and 0.7; the context's embedding as well added nothing and would double the
 * embedder's work for transcripts.
 */
export const CONTEXT_WEIGHT = 0.5;

/** Weight of each regression's log-probability (embedding, TF-IDF) next to the two similarities. */
const LR_WEIGHT = 0.1;
/**
 * The two regressions join in only when every job has about this many texts on average. With a
 * statement, an outcome and two examples per job (four texts), a regression fits them perfectly and
 * speaks with a confidence it has not earned: on our dev bundle job accuracy rose from 0.667 to 0.686
 * and the calibration error fell from 0.22 to 0.12 without them, while 77 jobs with twelve texts each
 * (banking) keep them. Above it, cross-validation over the customer's own texts decides
 * (regressionsHelp).
 */
const MIN_TEXTS_PER_JOB = 8;

interface SavedHead {
  classes: string[];
  dim: number;
  W: number[];
  b: number[];
  temperature: number;
}
interface SavedHeads {
  key: string;
  kind: SavedHead;
  sentiment: SavedHead;
  noJob: { text: string; pOther: number }[];
  combined: { kind: Combination; sentiment: Combination };
}
const saveHead = (h: SoftmaxHead): SavedHead => ({
  classes: h.classes,
  dim: h.dim,
  W: [...h.W],
  b: [...h.b],
  temperature: h.temperature,
});
const loadHead = (h: SavedHead): SoftmaxHead => ({
  ...h,
  W: Float32Array.from(h.W),
  b: Float32Array.from(h.b),
});
const toSaved = (key: string, h: KindSentimentHeads): SavedHeads => ({
  key,
  kind: saveHead(h.kind),
  sentiment: saveHead(h.sentiment),
  noJob: h.noJob,
  combined: h.combined,
});
const fromSaved = (s: SavedHeads, words: WordHeads): KindSentimentHeads => ({
  kind: loadHead(s.kind),
  sentiment: loadHead(s.sentiment),
  noJob: s.noJob,
  words,
  combined: s.combined,
});

/** The layout of encodeCustomerHeads' bytes: bytes of another layout are trained again. */
const CUSTOMER_HEADS_FORMAT = 1;

interface SavedCustomerHeads {
  format: number;
  kind: SavedHead;
  sentiment: SavedHead;
  words: {
    docs: number;
    /** The terms past the shipped word heads', in row order (each shipped term keeps its row). */
    extra: string[];
    kind: { classes: number; b: number[] };
    sentiment: { classes: number; b: number[] };
  };
}

/**
 * A customer's own kind and sentiment heads (trained with its corrections) as bytes, for a store
 * that outlives the process (customer_heads): a 4-byte length, a JSON header (the embedding heads,
 * the word heads' terms past the shipped ones and their biases), padding to 8 bytes, then the word
 * heads' rows (float64) and frequencies (int32), little-endian as the typed arrays hold them.
 */
export function encodeCustomerHeads(h: KindSentimentHeads, shipped: WordHeads): Uint8Array {
  const w = h.words;
  // wordHeadsWithSteps lists the shipped sentences first, so the shipped terms are the first rows.
  for (const [t, row] of shipped.index)
    if (w.index.get(t) !== row)
      throw new GapmapError('internal', `customer word heads: shipped term "${t}" is not at row ${row}`);
  const header: SavedCustomerHeads = {
    format: CUSTOMER_HEADS_FORMAT,
    kind: saveHead(h.kind),
    sentiment: saveHead(h.sentiment),
    words: {
      docs: w.tfidf.docs,
      extra: [...w.index.keys()].slice(shipped.index.size),
      kind: { classes: w.kind.classes, b: [...w.kind.b] },
      sentiment: { classes: w.sentiment.classes, b: [...w.sentiment.b] },
    },
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const at = Math.ceil((4 + json.length) / 8) * 8;
  const out = new Uint8Array(at + w.rows.byteLength + w.frequencies.byteLength);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  out.set(new Uint8Array(w.rows.buffer, w.rows.byteOffset, w.rows.byteLength), at);
  out.set(
    new Uint8Array(w.frequencies.buffer, w.frequencies.byteOffset, w.frequencies.byteLength),
    at + w.rows.byteLength,
  );
  return out;
}

/**
 * encodeCustomerHeads' bytes as heads over the shipped ones; null for bytes it cannot read (another
 * layout, cut short), which the caller trains again: they are a cache.
 */
export function decodeCustomerHeads(
  bytes: Uint8Array,
  shipped: KindSentimentHeads,
): KindSentimentHeads | null {
  if (bytes.byteLength < 4) return null;
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  let header: SavedCustomerHeads;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length))) as SavedCustomerHeads;
  } catch {
    return null;
  }
  if (header?.format !== CUSTOMER_HEADS_FORMAT) return null;
  const { words: saved } = header;
  const index = new Map(shipped.words.index);
  for (const t of saved.extra) index.set(t, index.size);
  const stride = 1 + saved.kind.classes + saved.sentiment.classes;
  const at = Math.ceil((4 + length) / 8) * 8;
  const rowBytes = index.size * stride * 8;
  if (bytes.byteLength !== at + rowBytes + index.size * 4) return null;
  // Copies, so the typed arrays are aligned whatever buffer the bytes came in.
  const rows = new Float64Array(bytes.slice(at, at + rowBytes).buffer);
  const frequencies = new Int32Array(bytes.slice(at + rowBytes).buffer);
  const K = saved.kind.classes;
  const kindW = new Map<string, Float64Array>();
  const sentimentW = new Map<string, Float64Array>();
  const df: [string, number][] = [];
  // The sparse heads' weights as views of the rows (which nothing writes): copying each term's
  // weights into arrays of its own took two to three times as long, for state classify never reads.
  const nonZero = (from: number, to: number) => {
    for (let j = from; j < to; j++) if (rows[j] !== 0) return true;
    return false;
  };
  for (const [t, row] of index) {
    const o = row * stride;
    if (nonZero(o + 1, o + 1 + K)) kindW.set(t, rows.subarray(o + 1, o + 1 + K));
    if (nonZero(o + 1 + K, o + stride)) sentimentW.set(t, rows.subarray(o + 1 + K, o + stride));
    df.push([t, frequencies[row]!]);
  }
  return {
    kind: loadHead(header.kind),
    sentiment: loadHead(header.sentiment),
    noJob: shipped.noJob,
    combined: shipped.combined,
    words: {
      tfidf: TfIdf.fromFrequencies(df, saved.docs),
      kind: { classes: K, W: kindW, b: Float64Array.from(saved.kind.b) },
      sentiment: { classes: saved.sentiment.classes, W: sentimentW, b: Float64Array.from(saved.sentiment.b) },
      index,
      rows,
      frequencies,
    },
  };
}

function gateFeatures(sim: number, pOther: number): number[] {
  const p = Math.min(Math.max(pOther, 1e-4), 1 - 1e-4);
  return [sim, Math.log(p / (1 - p))];
}

function pOtherOf(heads: KindSentimentHeads, vec: Float32Array, text: string): number {
  return predict(heads.kind, concat(vec, unitFeatures({ text })))[KINDS.indexOf('other')]!;
}

function signature(value: unknown): string {
  return createHash('sha1').update(JSON.stringify(value)).digest('hex');
}

/** A context without people's decisions. */
const NO_EXAMPLES: LabelledExample[] = [];

/**
 * Signatures of what a customer's context holds, made once per pair of objects: the classify stage
 * hands every batch of a customer the same jobs and examples arrays while they do not change
 * (db/queries.ts, classifyStateKept), and hashing them for every batch took a large customer's
 * worker tenths of a millisecond each time, more with many decisions.
 */
class PairKeys {
  private readonly kept = new Map<string, WeakMap<object, WeakMap<object, string>>>();
  of(name: string, a: object, b: object, make: () => string): string {
    let byA = this.kept.get(name);
    if (!byA) this.kept.set(name, (byA = new WeakMap()));
    let byB = byA.get(a);
    if (!byB) byA.set(a, (byB = new WeakMap()));
    let key = byB.get(b);
    if (key === undefined) byB.set(b, (key = make()));
    return key;
  }
}

function rowOf(matrix: Float32Array, row: number, cols: number): Float32Array {
  return matrix.subarray(row * cols, (row + 1) * cols);
}

/** The kind and sentiment heads' weights side by side ([dim, kinds + sentiments]), made once per heads. */
const headsMatrices = new WeakMap<KindSentimentHeads, Float32Array>();
function headsMatrix(heads: KindSentimentHeads): Float32Array {
  let m = headsMatrices.get(heads);
  if (!m) headsMatrices.set(heads, (m = sideBySide([heads.kind.W, heads.sentiment.W], heads.kind.dim)));
  return m;
}

/** Largest entry of a row of similarities (among the columns `keep` allows), -1 when none is. */
function rowMax(row: Float32Array, keep?: (column: number) => boolean): number {
  let best = -1;
  for (let k = 0; k < row.length; k++) if ((!keep || keep(k)) && row[k]! > best) best = row[k]!;
  return best;
}

export class EmbeddingClassifier implements Classifier {
  readonly name: string;
  readonly version: string;
  private readonly globalHeads: Promise<KindSentimentHeads>;
  /**
   * Per customer, the heads of its latest corrections and the job model of its latest jobs and
   * decisions, each cache within half of the cache budget.
   */
  private readonly customerHeads: OwnedLru<Promise<KindSentimentHeads>>;
  private readonly jobModels: OwnedLru<Promise<JobModel>>;
  private readonly regressionChoices = new Lru<string, RegressionChoice>(256);
  private counter: TermCounter | null = null;
  /** The jobs and heads keys of the contexts this classifier was handed (see PairKeys). */
  private readonly keys = new PairKeys();
  /** Customers' own kind and sentiment heads trained (not loaded from a HeadsStore) by this classifier. */
  customerHeadsTrained = 0;

  constructor(
    readonly embedder: CachedEmbedder,
    private readonly training: TrainingRow[],
    /** Where trained shipped heads are kept between processes; none: train at start-up. */
    private readonly headsFile?: string,
    /** Heap for customers' own heads and job models, about (ClassifierConfig.cacheBytes). */
    cacheBytes = DEFAULT_CACHE_BYTES,
    private readonly ownHeadsFrom = OWN_HEADS_FROM,
  ) {
    this.customerHeads = new OwnedLru(64, cacheBytes / 2);
    this.jobModels = new OwnedLru(256, cacheBytes / 2);
    this.name = `embedding-heads:${embedder.name}`;
    this.version = `9+${embedder.version}+data-${signature(training.map((r) => [r.text, r.kind, r.sentiment])).slice(0, 8)}`;
    this.globalHeads = this.loadOrTrainGlobalHeads();
  }

  /**
   * The shipped heads, and the vectors of the shipped sentences next to them (`.vectors.bin`,
   * float32 in the order of the unique texts): with those, the first correction in a process
   * retrains in about a second instead of first embedding a thousand sentences.
   */
  private async loadOrTrainGlobalHeads(): Promise<KindSentimentHeads> {
    const key = `${this.version}`;
    const texts = [...new Set(this.training.map((r) => r.text))];
    const vectorsFile = this.headsFile?.replace(/\.json$/, '.vectors.bin');
    if (this.headsFile && existsSync(this.headsFile)) {
      try {
        const saved = JSON.parse(readFileSync(this.headsFile, 'utf8')) as SavedHeads;
        if (saved.key === key) {
          if (vectorsFile && existsSync(vectorsFile)) {
            const raw = readFileSync(vectorsFile);
            const all = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
            const dim = all.length / texts.length;
            if (Number.isInteger(dim) && dim === this.embedder.dim) {
              this.embedder.prime(
                texts,
                texts.map((_, i) => all.subarray(i * dim, (i + 1) * dim)),
              );
            }
          }
          return fromSaved(saved, await runStepsYielding(wordHeadsWithSteps(this.training, [])));
        }
      } catch {
        // A damaged cache file is retrained and rewritten below.
      }
    }
    const heads = await this.trainKindSentiment([]);
    if (this.headsFile) {
      try {
        mkdirSync(path.dirname(this.headsFile), { recursive: true });
        writeFileSync(this.headsFile, JSON.stringify(toSaved(key, heads)));
        if (vectorsFile) {
          const vecs = await this.embedder.embed(texts);
          const all = new Float32Array(texts.length * (vecs[0]?.length ?? 0));
          vecs.forEach((v, i) => all.set(v, i * v.length));
          writeFileSync(vectorsFile, Buffer.from(all.buffer));
        }
      } catch {
        // Read-only install: the heads are trained again by the next process, nothing is lost.
      }
    }
    return heads;
  }

  /** How many customers this process keeps heads of its own and a job model for, and their heap (about). */
  cached(): { heads: number; jobModels: number; bytes: number } {
    return {
      heads: this.customerHeads.size,
      jobModels: this.jobModels.size,
      bytes: this.customerHeads.weight + this.jobModels.weight,
    };
  }

  /** The shipped word heads' TermCounter (one per process: its cache of words is shared by all customers). */
  private termCounter(shipped: WordHeads): TermCounter {
    return (this.counter ??= new TermCounter(shipped.index, shipped.frequencies.length));
  }

  /** Resolves when the shipped heads are trained (the pipeline may await it at start-up). */
  ready(): Promise<void> {
    return this.globalHeads.then(() => undefined);
  }

  private async trainKindSentiment(
    corrections: LabelledExample[],
    shipped?: KindSentimentHeads,
  ): Promise<KindSentimentHeads> {
    const base = withSyntheticScores(this.training);
    const vecs = await this.embedder.embed(base.map((r) => r.text));
    const X = base.map((r, i) => concat(vecs[i]!, unitFeatures(r)));
    const corrVecs = await this.embedder.embed(corrections.map((c) => c.text));
    const corrX = corrections.map((c, i) => concat(corrVecs[i]!, unitFeatures({ text: c.text })));
    // One field's head over the shipped sentences and the decisions that label it. A field without
    // decisions to learn from keeps the shipped head (training it again with no rows of the
    // customer's gives the same weights, in a second).
    const headFor = async (field: 'kind' | 'sentiment', classes: readonly string[]) => {
      const rows = corrections.map((c, i) => ({ label: c[field], x: corrX[i]! })).filter((r) => r.label);
      if (shipped && rows.length === 0)
        return { ...shipped[field], heldOut: new Map<number, Float64Array>() };
      return trainCalibrated(
        [...X, ...rows.map((r) => r.x)],
        [...base.map((r) => r[field]), ...rows.map((r) => r.label!)],
        [...classes],
        [...base.map((r) => r.group), ...rows.map((_, i) => `correction${i}`)],
        [...base.map(rowWeight), ...rows.map(() => CORRECTION_WEIGHT)],
        HEAD_L2,
        shipped?.[field].temperature,
      );
    };
    const kind = await headFor('kind', KINDS);
    const sentiment = await headFor('sentiment', SENTIMENTS);
    const other = KINDS.indexOf('other');
    const noJob = base
      .map((r, i) => ({ r, z: kind.heldOut.get(i) }))
      .filter(({ r, z }) => r.kind === 'other' && r.score == null && z)
      .map(({ r, z }) => ({ text: r.text, pOther: softmax(z!, kind.temperature)[other]! }));
    const combined = shipped?.combined ?? this.fitCombined(base, kind, sentiment);
    return {
      kind,
      sentiment,
      noJob: shipped?.noJob ?? noJob,
      words: await runStepsYielding(wordHeadsWithSteps(this.training, corrections)),
      combined,
    };
  }

  /**
   * How to combine the embedding and word heads (fitCombination): word heads trained on four folds
   * score the fifth, next to the embedding heads' held-out logits of the same rows. The folds are
   * by file (foldsOf), as for the temperatures. The word weight used to be one number for both
   * fields, 0.5, chosen by cross-validation over folds by template or sentence; under folds by
   * file the log loss is least at about 1 for kind (0.665 per sentence at 1, 0.688 at 0.5; held-out
   * macro-F1 0.758 and 0.744) and at 0.5-0.75 for sentiment (0.447 at both, 0.453 at 1), measured
   * with the embedding heads' earlier L2 penalty (HEAD_L2); now 0.98 and 0.63 are fit.
   */
  private fitCombined(
    base: TrainingRow[],
    kind: { heldOut: Map<number, Float64Array>; temperature: number },
    sentiment: { heldOut: Map<number, Float64Array>; temperature: number },
  ): { kind: Combination; sentiment: Combination } {
    const foldOf = foldsOf(this.training.map((r) => r.group));
    const kindOut: { p: Float64Array; q: Float64Array; label: number }[] = [];
    const sentOut: { p: Float64Array; q: Float64Array; label: number }[] = [];
    for (let f = 0; f < FOLDS; f++) {
      const train = this.training.filter((r) => foldOf.get(r.group) !== f);
      const words = trainWordHeads(
        train.map((r) => r.text),
        train.map((r) => r.kind),
        train.map((r) => r.sentiment),
      );
      base.forEach((r, i) => {
        if (foldOf.get(r.group) !== f) return;
        const x = words.tfidf.vector(r.text);
        const zk = kind.heldOut.get(i);
        const zs = sentiment.heldOut.get(i);
        if (zk)
          kindOut.push({
            p: softmax(zk, kind.temperature),
            q: softmax(sparseLogits(words.kind, x)),
            label: KINDS.indexOf(r.kind),
          });
        if (zs)
          sentOut.push({
            p: softmax(zs, sentiment.temperature),
            q: softmax(sparseLogits(words.sentiment, x)),
            label: SENTIMENTS.indexOf(r.sentiment),
          });
      });
    }
    return { kind: fitCombination(kindOut), sentiment: fitCombination(sentOut) };
  }

  private kindSentimentHeads(ctx: CustomerContext): Promise<KindSentimentHeads> {
    const examples = ctx.examples ?? NO_EXAMPLES;
    const correctionsOf = () => headsLessons(examples, this.ownHeadsFrom);
    const key = this.keys.of('heads', examples, NO_EXAMPLES, () => {
      const corrections = correctionsOf();
      return corrections.length ? signature(corrections.map((c) => [c.text, c.kind, c.sentiment])) : '';
    });
    if (!key) return this.globalHeads;
    let heads = this.customerHeads.get(ctx.customerKey, key);
    if (!heads) {
      const corrections = correctionsOf();
      const store = ctx.headsStore;
      const stored = `${this.version}:${key}`;
      heads = this.globalHeads.then(async (shipped) => {
        // Kept by an earlier process: loading them takes milliseconds, training them seconds. The
        // store is a cache: when it fails, the heads are trained (and tags still written).
        const bytes = store ? await store.load(stored).catch(() => null) : null;
        const kept = bytes ? decodeCustomerHeads(bytes, shipped) : null;
        if (kept) return kept;
        const trained = await this.trainKindSentiment(corrections, shipped);
        this.customerHeadsTrained++;
        if (store) await store.save(stored, encodeCustomerHeads(trained, shipped.words)).catch(() => {});
        return trained;
      });
      this.customerHeads.set(ctx.customerKey, key, heads);
      heads.then(
        (h) => this.customerHeads.weigh(ctx.customerKey, key, headsBytes(h)),
        () => {},
      );
    }
    return heads;
  }

  private jobModel(ctx: CustomerContext): Promise<JobModel> {
    const examples = ctx.examples ?? NO_EXAMPLES;
    const confirmedOf = () => examples.filter((e) => e.job !== undefined);
    const key = this.keys.of('jobs', ctx.jobs, examples, () =>
      signature([ctx.jobs, confirmedOf().map((e) => [e.text, e.job])]),
    );
    let model = this.jobModels.get(ctx.customerKey, key);
    if (!model) {
      model = this.trainJobModel(ctx, confirmedOf());
      this.jobModels.set(ctx.customerKey, key, model);
      model.then(
        (m) => this.jobModels.weigh(ctx.customerKey, key, jobModelBytes(m)),
        () => {},
      );
    }
    return model;
  }

  /**
   * regressionsHelp for a customer, kept while its job texts grow by less than a quarter: the
   * cross-validation costs seconds for many jobs, and one more confirmed unit rarely changes it.
   * Kept in this process, and by the caller across processes (ctx.regressions, ctx.onRegressions).
   */
  private async regressionsDecision(
    ctx: CustomerContext,
    texts: { text: string; job: string; weight: number }[],
    vecs: Float32Array[],
    tfs: SparseVec[],
    jobs: string[],
    tfidf: TfIdf,
  ): Promise<boolean> {
    const key = signature([this.version, ctx.customerKey, jobs]);
    const applies = (c: RegressionChoice | undefined): c is RegressionChoice =>
      c !== undefined && c.key === key && texts.length >= c.texts && texts.length < c.texts * 1.25;
    const known = this.regressionChoices.get(key);
    if (applies(known)) return known.help;
    if (applies(ctx.regressions)) {
      this.regressionChoices.set(key, ctx.regressions);
      return ctx.regressions.help;
    }
    const help = await regressionsHelp(texts, vecs, tfs, jobs, tfidf);
    const choice = { key, texts: texts.length, help };
    this.regressionChoices.set(key, choice);
    ctx.onRegressions?.(choice);
    return help;
  }

  private async trainJobModel(ctx: CustomerContext, confirmed: LabelledExample[]): Promise<JobModel> {
    const jobs = ctx.jobs.map((j) => j.key);
    const known = new Set(jobs);
    const texts: { text: string; job: string; weight: number }[] = [];
    for (const j of ctx.jobs) {
      texts.push({ text: j.statement, job: j.key, weight: 1 });
      if (j.desiredOutcome.trim()) texts.push({ text: j.desiredOutcome, job: j.key, weight: 1 });
      for (const e of j.examples) if (e.trim()) texts.push({ text: e, job: j.key, weight: 1 });
    }
    for (const e of confirmed)
      if (e.job && known.has(e.job)) texts.push({ text: e.text, job: e.job, weight: 2 });
    const vecs = await this.embedder.embed(texts.map((t) => t.text));
    // Over the shipped sentences' document frequencies, which the shipped word heads counted already.
    const baseWords = (await this.globalHeads).words;
    const tfidf = new TfIdf(
      texts.map((t) => t.text),
      baseWords.tfidf,
    );
    const tfs = texts.map((t) => tfidf.vector(t.text));
    // A regression needs several texts per job (with a statement, an outcome and a couple of
    // examples, similarity decides), and then joins only where it helps this customer's own texts.
    const regressions =
      jobs.length >= 2 &&
      texts.length >= MIN_TEXTS_PER_JOB * jobs.length &&
      (await this.regressionsDecision(ctx, texts, vecs, tfs, jobs, tfidf));
    const scoring = await fitScoring(texts, vecs, tfs, jobs, tfidf, regressions);
    const { items, head, itemMatrix, jobDocs, discriminate } = scoring;
    const dim = itemMatrix.length / items.length;
    // Every job text against every job text: the gate's positives and the temperature's held-out scores.
    const sims = await dotMatrix(vecs, itemMatrix, dim);
    const nearestTo = async (vs: Float32Array[]) => {
      const m = await dotMatrix(vs, itemMatrix, dim);
      return vs.map((_, r) => rowMax(rowOf(m, r, items.length)));
    };
    // Gate on two cues, fit per customer: how near the unit comes to a job text, and the kind head's
    // P(other). Positives: each job text against the other texts of its job. Negatives: the shipped
    // no-job sentences (held-out P(other)) and units people marked as bearing on no job. Where a
    // customer's own job texts read like "other" (a bank's "close my account"), the fit learns to
    // trust similarity instead.
    const heads = await this.kindSentimentHeads(ctx);
    const gateX: number[][] = [];
    const gateY: boolean[] = [];
    items.forEach((it, i) => {
      const nearest = rowMax(rowOf(sims, i, items.length), (k) => k !== i && items[k]!.job === it.job);
      if (nearest === -1) return;
      gateX.push(gateFeatures(nearest, pOtherOf(heads, it.vec, texts[i]!.text)));
      gateY.push(true);
    });
    const positives = gateX.length;
    const noJobNearest = await nearestTo(await this.embedder.embed(heads.noJob.map((r) => r.text)));
    heads.noJob.forEach((r, i) => {
      gateX.push(gateFeatures(noJobNearest[i]!, r.pOther));
      gateY.push(false);
    });
    const rejected = confirmed.filter((e) => e.job === null).map((e) => e.text);
    if (rejected.length > 0) {
      const rejectedVecs = await this.embedder.embed(rejected);
      const nearest = await nearestTo(rejectedVecs);
      rejectedVecs.forEach((v, i) => {
        gateX.push(gateFeatures(nearest[i]!, pOtherOf(heads, v, rejected[i]!)));
        gateY.push(false);
      });
    }
    // Too few job texts to learn from: P(has a job) is just 1 - P(other).
    const gate = positives >= 2 ? fitLogistic(gateX, gateY) : { w: [0, -1], b: 0 };
    const terms = jobTerms(tfidf, scoring.postings, scoring.sparseHead, jobs.length);
    const model: JobModel = {
      items,
      unitMatrix: head ? sideBySide([itemMatrix, head.W], dim) : itemMatrix,
      jobIndex: scoring.jobIndex,
      postings: scoring.postings,
      head,
      sparseHead: scoring.sparseHead,
      jobs,
      tfidf,
      baseWords,
      terms,
      docTables: docTables(scoring.jobCounts, jobDocs, terms),
      baseTerms: baseTerms(baseWords, terms),
      temperature: 1,
      gate,
    };
    // Temperature from leave-one-out: a job text scored against the other texts of its job. A
    // spread-out sample of at most LOO_SAMPLE texts keeps this to a fraction of a second for 77 jobs.
    if (jobs.length >= 2) {
      const heldOut: { logits: Float64Array; label: number }[] = [];
      const stride = Math.max(1, Math.ceil(texts.length / LOO_SAMPLE));
      const headPs = head ? await predictBatch(head, vecs) : null;
      texts.forEach((t, i) => {
        const label = jobs.indexOf(t.job);
        if (i % stride !== 0 || texts.filter((o) => o.job === t.job).length < 2) return;
        const docs = jobs.map((j, k) =>
          j === t.job
            ? discriminate(
                tfidf.vector(
                  texts
                    .filter((o, m) => o.job === j && m !== i)
                    .map((o) => o.text)
                    .join('\n'),
                ),
              )
            : jobDocs[k]!,
        );
        heldOut.push({
          // The regressions stay in (trained on this text too): the scores are calibrated as they are used.
          logits: jobScores(
            model,
            rowOf(sims, i, items.length),
            headPs?.[i] ?? null,
            tfs[i]!,
            i,
            undefined,
            docs,
          ),
          label,
        });
      });
      model.temperature = heldOut.length > 0 ? fitTemperature(heldOut) : STATEMENTS_ONLY_TEMPERATURE;
    }
    return model;
  }

  async classify(units: UnitInput[], context: CustomerContext): Promise<Tags[]> {
    if (units.length === 0) return [];
    const embedding = this.embedder.embed(units.map((u) => u.text));
    const [heads, jobModel] = await Promise.all([
      this.kindSentimentHeads(context),
      context.jobs.length > 0 ? this.jobModel(context) : Promise.resolve(null),
    ]);
    // While the model threads embed, the parts that need no embedding: words, character n-grams,
    // cue features. A slice at a time, so the event loop keeps handing the threads their batches.
    // A text's terms are counted once, through the shipped word heads' TermCounter, for the word
    // heads and the job model (whose base is the shipped word heads). A customer's own word heads
    // (trained with its corrections) have the shipped terms at the shipped rows (wordHeadsWithSteps).
    const counter = this.termCounter((await this.globalHeads).words);
    const wordParts: {
      kind: Float64Array;
      sentiment: Float64Array;
      job: UnitTerms | null;
      /** The unit's context (a transcript's question, a note's heading) under the job model. */
      context: UnitTerms | null;
    }[] = [];
    const features: Float32Array[] = [];
    // A note's heading is the context of every unit under it: counted once per batch.
    const contexts = new Map<string, UnitTerms>();
    const contextOf = (model: JobModel, text: string) => {
      let terms = contexts.get(text);
      if (!terms) contexts.set(text, (terms = unitJobTerms(model, counter.count(text))));
      return terms;
    };
    for (let i = 0; i < units.length; i++) {
      if (i % 32 === 31) await new Promise((resolve) => setImmediate(resolve));
      const unit = units[i]!;
      const tally = counter.count(unit.text);
      wordParts.push({
        ...wordProbabilities(heads.words, tally),
        job: jobModel ? unitJobTerms(jobModel, tally) : null,
        context: jobModel && unit.context ? contextOf(jobModel, unit.context) : null,
      });
      features.push(unitFeatures(unit));
    }
    const vecs = await embedding;
    const exact = new Map((context.examples ?? []).map((e) => [e.text, e]));
    // The dense parts as two matrix products over the whole batch: the embeddings with their cue
    // features against the kind and sentiment heads side by side, and the embeddings against the
    // job texts and the job regression side by side.
    // The vectors' own length: an endpoint's embedder learns its dimension from its first answer.
    const dim = vecs[0]!.length;
    const xDim = heads.kind.dim;
    const xs = new Float32Array(units.length * xDim);
    for (let i = 0; i < units.length; i++) {
      xs.set(vecs[i]!, i * xDim);
      xs.set(features[i]!, i * xDim + dim);
    }
    const kindCols = heads.kind.classes.length;
    const headCols = kindCols + heads.sentiment.classes.length;
    const itemCount = jobModel?.items.length ?? 0;
    const jobCols = jobModel ? jobModel.unitMatrix.length / dim : 0;
    const [z, jz] = await Promise.all([
      dotRows(xs, units.length, headsMatrix(heads), xDim),
      jobModel ? dotRows(rowsOf(vecs, dim), units.length, jobModel.unitMatrix, dim) : null,
    ]);
    const kindDense = headProbabilities(heads.kind, z, headCols, 0);
    const sentimentDense = headProbabilities(heads.sentiment, z, headCols, kindCols);
    const jobDense = jobModel?.head ? headProbabilities(jobModel.head, jz!, jobCols, itemCount) : null;
    const other = KINDS.indexOf('other');
    // The unit's context against the job documents (its own words are jobScores' part).
    const addContext = (scores: Float64Array, terms: JobTerms, i: number) => {
      const context = wordParts[i]!.context;
      if (context) addContextScores(scores, terms, context);
    };
    const jobScoresOf: Float64Array[] = [];
    const pNones: number[] = [];
    const pOthers: number[] = [];
    const { kind: ck, sentiment: cs } = heads.combined;
    const batchTags = units.map((_, i) => {
      const pkDense = kindDense[i]!;
      const pk = softmax(combinedLogits(pkDense, wordParts[i]!.kind, ck.wordWeight), ck.temperature);
      const ps = softmax(
        combinedLogits(sentimentDense[i]!, wordParts[i]!.sentiment, cs.wordWeight),
        cs.temperature,
      );
      const k = argmax(pk);
      const s = argmax(ps);
      const tags: Tags = {
        job: null,
        jobConfidence: 1,
        kind: KINDS[k]!,
        kindConfidence: pk[k]!,
        sentiment: SENTIMENTS[s]!,
        sentimentConfidence: ps[s]!,
      };
      if (jobModel) {
        const nearest = { sim: -1 };
        const row = jz!.subarray(i * jobCols, i * jobCols + itemCount);
        const { hits } = wordParts[i]!.job!;
        const scores = jobScores(jobModel, row, jobDense?.[i] ?? null, NO_TERMS, -1, nearest, undefined, {
          terms: jobModel.terms,
          hits,
        });
        addContext(scores, jobModel.terms, i);
        jobScoresOf[i] = scores;
        pNones[i] = 1 - logisticProb(jobModel.gate, gateFeatures(nearest.sim, pkDense[other]!));
        pOthers[i] = pk[other]!;
        decideJob(tags, jobModel, scores, pNones[i]!, pOthers[i]!);
      }
      return tags;
    });
    if (jobModel) {
      // Second pass: the units the first pass was surest of lend their words to their jobs'
      // documents (ANCHOR_SHARE), and every other unit of the batch is scored again. The gate's
      // no-job cue stays the first pass's: it was calibrated on the job texts alone.
      const anchors = context.anchors
        ? givenAnchors(context.anchors, units, jobModel.jobs)
        : pickAnchors(
            batchTags.map((t, i) =>
              t.job === null || exact.has(units[i]!.text)
                ? null
                : { text: units[i]!.text, job: t.job, confidence: t.jobConfidence },
            ),
          );
      if (!context.anchors)
        context.onAnchors?.(anchors.map(({ text, job, confidence }) => ({ text, job, confidence })));
      if (anchors.length > 0) {
        // Only the words' part changes: the first pass's scores plus what the anchors change.
        // The anchors' terms as the first pass counted them; an anchor the caller gave that is not
        // a unit of this batch is counted here.
        const delta = anchorDelta(
          jobModel,
          anchors.map((a) => ({
            job: a.job,
            terms: a.unit >= 0 ? wordParts[a.unit]!.job! : unitJobTerms(jobModel, counter.count(a.text)),
          })),
        );
        const isAnchor = new Set(anchors.map((a) => a.unit));
        units.forEach((_, i) => {
          if (isAnchor.has(i)) return;
          const scores = jobScoresOf[i]!;
          addKeyScores(scores, delta, wordParts[i]!.job!);
          const context = wordParts[i]!.context;
          if (context) addKeyScores(scores, delta, context, CONTEXT_WEIGHT);
          decideJob(batchTags[i]!, jobModel, scores, pNones[i]!, pOthers[i]!);
        });
      }
    }
    return units.map((u, i) => {
      const unitTags = batchTags[i]!;
      // A person's decision about this exact text is the answer.
      const known = exact.get(u.text);
      if (known) {
        if (known.job !== undefined) Object.assign(unitTags, { job: known.job, jobConfidence: 1 });
        if (known.kind) Object.assign(unitTags, { kind: known.kind, kindConfidence: 1 });
        if (known.sentiment) Object.assign(unitTags, { sentiment: known.sentiment, sentimentConfidence: 1 });
      }
      return unitTags;
    });
  }

  close(): Promise<void> {
    return this.embedder.close();
  }
}

type JobScoring = Pick<JobModel, 'head' | 'sparseHead' | 'items' | 'postings' | 'jobIndex'> & {
  /** The items' vectors as columns (`columns`). */
  itemMatrix: Float32Array;
  /** One TF-IDF vector per job: all its texts together. */
  jobDocs: SparseVec[];
  /** Each job's term counts (its texts together), before weighting. */
  jobCounts: Map<string, number>[];
  /** Per term, how many of the jobs' documents have it (jobContrast). */
  jdf: Map<string, number>;
};

/** What jobScores reads, from a set of job texts: prototypes, job documents, the regressions. */
async function fitScoring(
  texts: { text: string; job: string; weight: number }[],
  vecs: Float32Array[],
  /** Each text's TF-IDF vector. */
  tfs: SparseVec[],
  jobs: string[],
  tfidf: TfIdf,
  regressions: boolean,
  effort: { steps?: number; epochs?: number } = {},
): Promise<JobScoring & { discriminate: (v: SparseVec) => SparseVec }> {
  const items = texts.map((t, i) => ({ vec: vecs[i]!, job: t.job }));
  const jobCounts = jobs.map((j) =>
    tfidf.countsOf(
      terms(
        texts
          .filter((t) => t.job === j)
          .map((t) => t.text)
          .join('\n'),
      ),
    ),
  );
  const { jobDocs, postings, jdf, discriminate } = jobDocuments(jobCounts, tfidf);
  const head = regressions
    ? await trainSoftmax(
        vecs,
        texts.map((t) => t.job),
        jobs,
        { l2: 1e-4, weights: texts.map((t) => t.weight), balance: true, steps: effort.steps },
      )
    : null;
  const sparseHead = regressions
    ? trainSparseSoftmax(
        tfs,
        texts.map((t) => jobs.indexOf(t.job)),
        jobs.length,
        { epochs: effort.epochs },
      )
    : null;
  // The vectors' own length: a remote embedder's declared dimension may not match what it returns.
  const dim = vecs[0]?.length ?? 0;
  return {
    items,
    itemMatrix: columns(vecs, dim),
    jobIndex: Int32Array.from(items.map((it) => jobs.indexOf(it.job))),
    jobDocs,
    jobCounts,
    jdf,
    postings,
    head,
    sparseHead,
    discriminate,
  };
}

/**
 * How hard the regressions are fit inside regressionsHelp: a third of the final fit's Adam steps
 * and epochs (300 and 30). The folds only decide whether the regressions join, and they rank the
 * two ways the same at this effort: on banking77-dev (77 jobs) 631 against 599 held-out job texts
 * right, 639 against 599 at full effort; the customer's first set-up took 13 s instead of 24 s.
 */
const CV_EFFORT = { steps: 100, epochs: 10 };

/**
 * Whether the two regressions improve on similarity alone for this customer: 4-fold
 * cross-validation over its own job texts (a job's texts spread over the folds), counting the
 * held-out texts each way puts under their job. Broad jobs with varied texts often do better on
 * prototypes alone; many narrow jobs (a bank's 77 intents) gain from the regressions.
 */
async function regressionsHelp(
  texts: { text: string; job: string; weight: number }[],
  vecs: Float32Array[],
  tfs: SparseVec[],
  jobs: string[],
  tfidf: TfIdf,
): Promise<boolean> {
  const K = 4;
  const seen = new Map<string, number>();
  const fold = texts.map((t) => {
    const k = seen.get(t.job) ?? 0;
    seen.set(t.job, k + 1);
    return k % K;
  });
  let withRegressions = 0;
  let without = 0;
  for (let f = 0; f < K; f++) {
    const train = texts.map((_, i) => i).filter((i) => fold[i] !== f);
    const test = texts.map((_, i) => i).filter((i) => fold[i] === f);
    if (test.length === 0) continue;
    const fit = await fitScoring(
      train.map((i) => texts[i]!),
      train.map((i) => vecs[i]!),
      train.map((i) => tfs[i]!),
      jobs,
      tfidf,
      true,
      CV_EFFORT,
    );
    const testVecs = test.map((i) => vecs[i]!);
    const sims = await dotMatrix(testVecs, fit.itemMatrix, fit.itemMatrix.length / fit.items.length);
    const headPs = await predictBatch(fit.head!, testVecs);
    const model = { ...fit, jobs };
    test.forEach((i, r) => {
      const tf = tfs[i]!;
      const row = rowOf(sims, r, fit.items.length);
      const label = jobs.indexOf(texts[i]!.job);
      if (argmax(jobScores(model, row, headPs[r]!, tf)) === label) withRegressions++;
      if (argmax(jobScores({ ...model, sparseHead: null }, row, null, tf)) === label) without++;
    });
  }
  return withRegressions > without;
}

/** Each job's TF-IDF document (its texts' term counts, weighted by jobContrast) and their postings. */
function jobDocuments(
  jobCounts: Map<string, number>[],
  tfidf: TfIdf,
): Pick<JobScoring, 'jobDocs' | 'postings' | 'jdf'> & { discriminate: (v: SparseVec) => SparseVec } {
  const jdf = new Map<string, number>();
  for (const c of jobCounts) for (const t of c.keys()) jdf.set(t, (jdf.get(t) ?? 0) + 1);
  const discriminate = (v: SparseVec) => jobContrast(v, (t) => jdf.get(t), jobCounts.length);
  const jobDocs = jobCounts.map((c) => discriminate(tfidf.weigh(new Map(c))));
  const postings: JobModel['postings'] = new Map();
  jobDocs.forEach((doc, job) => {
    for (const [term, weight] of doc) addPosting(postings, term, job, weight);
  });
  return { jobDocs, postings, jdf, discriminate };
}

function addPosting(postings: JobModel['postings'], term: string, job: number, weight: number) {
  const list = postings.get(term);
  if (list) list.push({ job, weight });
  else postings.set(term, [{ job, weight }]);
}

/**
 * A customer's jobs often share their words ("invoice", "payment" in every job of a billing
 * product): such a word says a unit is about the product, not which job. Each term of a job's
 * TF-IDF vector is weighted again by how few of the customer's `jobs` use it (`jdf`: an inverse
 * document frequency over the jobs), so the words that tell the jobs apart decide the TF-IDF
 * similarity.
 */
function jobContrast(v: SparseVec, jdf: (term: string) => number | undefined, jobs: number): SparseVec {
  const out: SparseVec = new Map();
  let norm = 0;
  for (const [t, w] of v) {
    const x = w * Math.log((1 + jobs) / (jdf(t) || 1));
    out.set(t, x);
    norm += x * x;
  }
  norm = Math.sqrt(norm) || 1;
  for (const [t, x] of out) out.set(t, x / norm);
  return out;
}

/**
 * Adds `weight` times the TF-IDF similarity of `tf` to each job's document, in one pass over the
 * vector's terms and the jobs that have each.
 */
export function addTermScores(out: Float64Array, postings: JobModel['postings'], tf: SparseVec, weight = 1) {
  for (const [term, w] of tf) for (const p of postings.get(term) ?? []) out[p.job]! += weight * w * p.weight;
}

/**
 * Score of each job for one unit: mean embedding similarity to the job's texts, plus TF-IDF
 * similarity to the job's texts together, plus (when trained) a little of the two regressions' log-probabilities.
 * `skip` leaves one job text out (for calibration).
 */
function jobScores(
  model: Pick<JobModel, 'jobs' | 'jobIndex' | 'postings' | 'sparseHead'>,
  /** The unit's similarity to each job text (a row of dotMatrix). */
  sims: Float32Array,
  /** The embedding regression's probabilities for the unit (when the model has one). */
  headP: Float64Array | null,
  tf: SparseVec,
  skip = -1,
  /** Receives the similarity of the nearest job text (the gate's cue), saving a second pass. */
  nearest?: { sim: number },
  /** Job documents other than the model's (leave-one-out calibration). */
  docs?: SparseVec[],
  /**
   * `tf`'s terms the model knows (unitJobTerms' hits) and the model's term table: the same scores
   * without a lookup per term.
   */
  known?: { terms: JobTerms; hits: JobHits },
): Float64Array {
  // The mean similarity per job (its prototype; a job's nearest text alone lets one loosely worded
  // example pull in units of other jobs) and the nearest text overall.
  const out = new Float64Array(model.jobs.length);
  const count = new Float64Array(model.jobs.length);
  const jobIndex = model.jobIndex;
  for (let i = 0; i < sims.length; i++) {
    if (i === skip) continue;
    const s = sims[i]!;
    const k = jobIndex[i]!;
    out[k]! += s;
    count[k]! += 1;
    if (nearest && s > nearest.sim) nearest.sim = s;
  }
  for (let k = 0; k < out.length; k++) if (count[k]) out[k]! /= count[k]!;
  if (docs) {
    for (let k = 0; k < out.length; k++) out[k]! += sparseDot(tf, docs[k]!);
  } else if (known) {
    addHitScores(out, known.terms, known.hits);
  } else {
    addTermScores(out, model.postings, tf);
  }
  if (headP) {
    for (let k = 0; k < out.length; k++) out[k]! += LR_WEIGHT * Math.log(Math.max(headP[k]!, 1e-9));
  }
  if (model.sparseHead) {
    const head = model.sparseHead;
    const p = softmax(known ? hitLogits(head, known.terms, known.hits) : sparseLogits(head, tf));
    for (let k = 0; k < out.length; k++) out[k]! += LR_WEIGHT * Math.log(Math.max(p[k]!, 1e-9));
  }
  return out;
}

/**
 * A unit's job from its job scores and the two no-job cues (the gate's P(no job), the kind head's
 * P(other)), with the confidence of that decision.
 */
function decideJob(tags: Tags, model: JobModel, scores: Float64Array, pNone: number, pOther: number) {
  const pj = softmax(scores, model.temperature);
  const j = argmax(pj);
  // "other" is the kind of a unit with no bearing on a job (BUNDLE.md): a unit the kind head
  // reads as a touchpoint, friction, gap or high point keeps its nearest job even when the
  // gate doubts it, so the job and kind tags never contradict each other.
  if (pNone < 0.5 || tags.kind !== 'other') {
    tags.job = model.jobs[j]!;
    // It gets a job when either the gate or the kind head says it bears on one, so the
    // confidence that it has one is the larger of the two.
    tags.jobConfidence = Math.max(1 - pNone, 1 - pOther) * pj[j]!;
  } else {
    // And it goes without one only when both say so.
    tags.job = null;
    tags.jobConfidence = Math.min(pNone, pOther);
  }
}

/**
 * The share of each job's units in a batch that become anchors: the surest third by the first pass
 * (each at least ANCHOR_MIN_CONFIDENCE sure). Only the batch's own units, so a unit's tags depend on
 * the units it was classified with (the classify stage's batches are one customer's units, in the
 * order they were imported) and not on what other workers finished first.
 * A customer's units speak of its jobs in words the job texts lack (a clinic's "Riverside reader",
 * a crew's "no signal in the hills"); the surest units carry those words to the others. Job accuracy
 * on our dev bundle (each customer's units in one batch), with 0 / 1 / 2 / 3 confirmed units per
 * job: 0.731 / 0.798 / 0.807 / 0.832 without anchors, 0.803 / 0.815 / 0.828 / 0.857 with a third
 * (`gapmap eval --confirm N`); with a fifth 0.767-0.850, with half 0.783-0.842 (measured with a cap
 * of 16). banking77-dev 0.789-0.790 either way, our demo bundle 0.866 either way.
 */
const ANCHOR_SHARE = 1 / 3;
const ANCHOR_MIN_CONFIDENCE = 0.5;

export interface Anchor extends JobAnchor {
  /** Index in the batch; -1 for an anchor the caller gave. */
  unit: number;
}

/**
 * Per job, the surest ANCHOR_SHARE (at most ANCHOR_CAP) of the batch's units given it by the first
 * pass (null: no job, or decided by a person).
 */
function pickAnchors(batch: (JobAnchor | null)[]): Anchor[] {
  const candidates = batch.flatMap((b, unit) => (b ? [{ ...b, unit }] : []));
  return surestPerJob(candidates, (n) => Math.min(ANCHOR_CAP, Math.floor(ANCHOR_SHARE * n))).filter(
    (a) => a.confidence >= ANCHOR_MIN_CONFIDENCE,
  );
}

/**
 * Anchors a caller gave, for the model's jobs; a unit of the batch with an anchor's text is that
 * anchor (it keeps its first-pass tags, as it did in the batch that chose it).
 */
function givenAnchors(given: JobAnchor[], units: UnitInput[], jobs: string[]): Anchor[] {
  const known = new Set(jobs);
  const at = new Map(units.map((u, i) => [u.text, i]));
  return given.filter((a) => known.has(a.job)).map((a) => ({ ...a, unit: at.get(a.text) ?? -1 }));
}

/**
 * What the anchors change in the job documents, as postings to add to the model's: each anchored
 * job's document is built again from its texts' and its anchors' term counts (a term new to the
 * job counts as one more job using it), less its document before. The other jobs' documents stay as
 * they were, so the cost follows the anchored jobs' texts, not all the customer's jobs. The
 * documents are rebuilt from the model's docTables and the term table's IDF and jobContrast
 * factors (one array read per term, where looking each term up again cost a fifth of the classify
 * stage's main thread), with the same sums in the same order as TfIdf.weigh and jobContrast.
 *
 * Only words: the similarity of embeddings and the regressions stay as they were trained. Anchors'
 * embeddings in the jobs' mean similarity pulled units towards wrong jobs (dev bundle with one
 * confirmed unit per job 0.798 -> 0.771); their words alone gained with 0 to 3 confirmed units per
 * job (see ANCHOR_SHARE).
 */
export function anchorDelta(
  model: Pick<JobModel, 'jobs' | 'terms' | 'docTables' | 'baseWords' | 'tfidf'>,
  /**
   * Each anchor's job and its terms under the model (unitJobTerms: by key, the terms neither the
   * table nor the shipped sentences have left out, as TfIdf.countsOf leaves them out).
   */
  anchors: { job: string; terms: Pick<UnitTerms, 'keys' | 'counts'> }[],
): KeyedPostings {
  const table = model.terms;
  const n = table.keys.length;
  const { frequencies } = model.baseWords;
  // Per anchored job, in the order of its first anchor: its anchors' counts by key, in the order
  // their terms first occur (TfIdf.countsOf on a copy of the job's counts).
  const byJob = new Map<number, Map<number, number>>();
  for (const a of anchors) {
    const k = model.jobs.indexOf(a.job);
    let add = byJob.get(k);
    if (!add) byJob.set(k, (add = new Map()));
    const { keys, counts } = a.terms;
    for (let j = 0; j < keys.length; j++) add.set(keys[j]!, (add.get(keys[j]!) ?? 0) + counts[j]!);
  }
  // Whether job k's document has the term of table index i (its postings are the jobs that do).
  const hasTerm = (i: number, k: number) => {
    for (let p = table.start[i]!; p < table.start[i + 1]!; p++) if (table.jobs[p] === k) return true;
    return false;
  };
  // The jobs that use a term now: the model's count (its postings), plus the anchored jobs new to it.
  const grown = new Int32Array(n);
  const grownExtra = new Map<number, number>();
  const fresh = new Map<number, number[]>();
  for (const [k, add] of byJob) {
    const list: number[] = [];
    for (const key of add.keys()) {
      if (key < n) {
        if (hasTerm(key, k)) continue;
        grown[key] = (grown[key] || table.start[key + 1]! - table.start[key]!) + 1;
      } else grownExtra.set(key, (grownExtra.get(key) ?? 0) + 1);
      list.push(key);
    }
    fresh.set(k, list);
  }
  const jobs = model.jobs.length;
  const docs = model.tfidf.docs;
  const contrastOf = (key: number) => {
    const g = key < n ? grown[key]! : grownExtra.get(key)!;
    return g ? Math.log((1 + jobs) / g) : table.contrast[key]!;
  };
  // Each anchored job's document built again from its texts' and its anchors' counts
  // (TfIdf.weigh, then jobContrast), the same sums in the same order, less its document before.
  // The postings in the order they come (per term, the anchored jobs in order), then by key: one
  // per term of each anchored job's document, old or new.
  let postings = 0;
  for (const k of byJob.keys()) postings += model.docTables[k]!.terms.length + fresh.get(k)!.length;
  const pKey = new Int32Array(postings);
  const pJob = new Int32Array(postings);
  const pWeight = new Float64Array(postings);
  let p = 0;
  const addCount = new Int32Array(n);
  for (const [k, add] of byJob) {
    const doc = model.docTables[k]!;
    const list = fresh.get(k)!;
    for (const [key, c] of add) if (key < n) addCount[key] = c;
    const m = doc.terms.length;
    const w = new Float64Array(m + list.length);
    let norm = 0;
    for (let j = 0; j < m; j++) {
      const i = doc.terms[j]!;
      const x = countWeight(doc.counts[j]! + addCount[i]!) * table.idf[i]!;
      w[j] = x;
      norm += x * x;
    }
    list.forEach((key, j) => {
      const idf = key < n ? table.idf[key]! : Math.log(1 + docs / frequencies[key - n]!);
      const x = countWeight(add.get(key)!) * idf;
      w[m + j] = x;
      norm += x * x;
    });
    norm = Math.sqrt(norm) || 1;
    let contrasted = 0;
    for (let j = 0; j < w.length; j++) {
      const x = (w[j]! / norm) * contrastOf(j < m ? doc.terms[j]! : list[j - m]!);
      w[j] = x;
      contrasted += x * x;
    }
    contrasted = Math.sqrt(contrasted) || 1;
    for (let j = 0; j < m; j++, p++) {
      pKey[p] = doc.terms[j]!;
      pJob[p] = k;
      pWeight[p] = w[j]! / contrasted - doc.weights[j]!;
    }
    for (let j = 0; j < list.length; j++, p++) {
      pKey[p] = list[j]!;
      pJob[p] = k;
      pWeight[p] = w[m + j]! / contrasted;
    }
    for (const key of add.keys()) if (key < n) addCount[key] = 0;
  }
  const start = new Int32Array(n + 1);
  for (const key of pKey) if (key < n) start[key + 1]!++;
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const delta: KeyedPostings = {
    start,
    jobs: new Int32Array(start[n]!),
    weights: new Float64Array(start[n]!),
    extra: new Map(),
  };
  const fill = start.slice(0, n);
  for (let q = 0; q < postings; q++) {
    const key = pKey[q]!;
    if (key < n) {
      delta.jobs[fill[key]!] = pJob[q]!;
      delta.weights[fill[key]!++] = pWeight[q]!;
    } else {
      const list = delta.extra.get(key);
      if (list) list.push({ job: pJob[q]!, weight: pWeight[q]! });
      else delta.extra.set(key, [{ job: pJob[q]!, weight: pWeight[q]! }]);
    }
  }
  return delta;
}

/**
 * Trained shipped heads are stored per embedder: for the bundled model next to the training data
 * (generated by `node bin/run-ts.js classifiers/training/train.ts`), for others in the model
 * folder or the system's temporary folder. A file whose key (embedder version + training data)
 * does not match is retrained.
 */
export function headsFileFor(embedder: Pick<Embedder, 'name'>, modelDir?: string): string {
  const slug = embedder.name.replace(/[^a-zA-Z0-9._-]+/g, '_');
  if (embedder.name.startsWith('bundled:')) return path.join(TRAINING_DIR, `heads.${slug}.json`);
  return path.join(modelDir ?? path.join(tmpdir(), 'gapmap'), `heads.${slug}.json`);
}

export async function createClassifier(
  config: ClassifierConfig = {},
  embedder?: Embedder,
): Promise<EmbeddingClassifier> {
  const inner = embedder ?? (await createEmbedder(config));
  const classifier = new EmbeddingClassifier(
    new CachedEmbedder(inner),
    loadTrainingRows(),
    headsFileFor(inner, config.modelDir),
    config.cacheBytes,
    config.ownHeadsFrom,
  );
  await classifier.ready();
  return classifier;
}

export { softmax };
