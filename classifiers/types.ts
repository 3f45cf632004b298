/**
 * The interface the pipeline calls: a batch of units plus the customer's jobs in, one set of tags
 * per unit out, each tag with a confidence in [0, 1].
 */
import type { JobDef, SourceType } from '../ingest/types.ts';

export const KINDS = ['touchpoint', 'high_point', 'friction', 'value_gap', 'other'] as const;
export type Kind = (typeof KINDS)[number];

export const SENTIMENTS = ['negative', 'neutral', 'positive'] as const;
export type Sentiment = (typeof SENTIMENTS)[number];

export interface UnitInput {
  /** Anything the caller uses to match results to inputs; results come back in the same order. */
  id: number | string;
  text: string;
  sourceType: SourceType;
  /** Survey score 0-10, when the unit is a survey answer with a score. */
  score?: number | null;
  /**
   * Words from the unit's source that say what it is about without being part of it: a ticket's
   * help-desk group and tags, the heading a note sits under, the interviewer's question a
   * transcript turn answers, a survey's question.
   */
  context?: string | null;
}

/** A person's decision about one unit, used as a training example for that customer. */
export interface LabelledExample {
  text: string;
  job?: string | null;
  kind?: Kind;
  sentiment?: Sentiment;
}

/** The labels a confirmed unit can give the classifier (`gapmap eval --confirm-fields`). */
export const CONFIRM_FIELDS = ['job', 'kind', 'sentiment'] as const;
export type ConfirmField = (typeof CONFIRM_FIELDS)[number];

/** Per field, the number of a customer's units people decided it for, from which it has heads of its own. */
export interface OwnHeadsFrom {
  kind: number;
  sentiment: number;
}

/**
 * A customer's own kind and sentiment heads are the shipped ones trained again with its decisions
 * (trainKindSentiment). Below these counts its decisions tag only their own units (and units
 * with the same text), and the shipped heads tag the rest. One decision says little about the
 * others: pairs of shipped sentences at cosine 0.65-0.70 share a kind 51% of the time. Trained
 * into the customer's heads, one correcting decision changed the kind or sentiment of 2.7% of its
 * other units, 11 right and 12 wrong against our dev bundle's labels (`npm run bench:retrain`;
 * with the shipped heads before 170 more notes joined their sentences, 4 right and 28 wrong).
 * Many decisions carry the customer's own way of writing: `gapmap eval --confirm n` against
 * `--confirm n --confirm-fields job` on the dev bundle, with heads trained on every decision (a
 * scratch switch; from 15 on the same as now), kind macro-F1 0.704 -> 0.706 with about 8
 * decisions per customer, 0.710 -> 0.708 with about 16 and 0.697 -> 0.737 with about 31.
 * Sentiment heads trained with every decision moved there by -0.005 / +0.007 / -0.009, and rose on
 * airline tweets, a domain the shipped sentences do not cover, from 50 decisions per airline
 * (0.718 -> 0.740; 10: 0.717 -> 0.716). Kind learns from 15 decisions, sentiment from 50: read off
 * these figures, one count per field.
 */
export const OWN_HEADS_FROM: OwnHeadsFrom = { kind: 15, sentiment: 50 };

/**
 * The decisions a customer's own kind and sentiment heads learn from: each field's only once the
 * customer has `from` of them (OWN_HEADS_FROM). None: the shipped heads.
 */
export function headsLessons(
  examples: LabelledExample[],
  from: OwnHeadsFrom = OWN_HEADS_FROM,
): LabelledExample[] {
  const kind = examples.filter((e) => e.kind).length >= from.kind;
  const sentiment = examples.filter((e) => e.sentiment).length >= from.sentiment;
  if (!kind && !sentiment) return [];
  return examples.flatMap((e) => {
    const k = kind ? e.kind : undefined;
    const s = sentiment ? e.sentiment : undefined;
    return k || s ? [{ text: e.text, ...(k ? { kind: k } : {}), ...(s ? { sentiment: s } : {}) }] : [];
  });
}

export interface CustomerContext {
  customerKey: string;
  /**
   * The customer's jobs. A classifier may keep what it makes of `jobs` and `examples` by the
   * arrays' identity: hand it new arrays when they change, never the same ones changed in place.
   */
  jobs: JobDef[];
  /** Units people have confirmed or corrected for this customer (see `jobs`). */
  examples?: LabelledExample[];
  /**
   * The job head's anchors to use instead of the batch's own (classifiers/index.ts, pickAnchors):
   * a retrain scores the few units it sends again with the anchors their import chose.
   */
  anchors?: JobAnchor[];
  /** Receives the anchors a batch chose (not called when `anchors` was given). */
  onAnchors?: (anchors: JobAnchor[]) => void;
  /**
   * Whether the job head's regressions join, as an earlier process decided it for this customer
   * (used while it still applies: same classifier and jobs, about as many job texts).
   */
  regressions?: RegressionChoice;
  /** Receives a decision made anew, for the caller to keep for the next process. */
  onRegressions?: (choice: RegressionChoice) => void;
  /**
   * Where the customer's own kind and sentiment heads (trained with its corrections) are kept
   * between processes: loaded instead of trained again when their key matches, saved after training.
   */
  headsStore?: HeadsStore;
}

/** Bytes of a customer's trained heads under a key (classifier version and corrections). */
export interface HeadsStore {
  /** The bytes saved under this key, or null (none, or saved under another key). */
  load(key: string): Promise<Uint8Array | null>;
  save(key: string, heads: Uint8Array): Promise<void>;
}

/**
 * The job head's choice for one customer between similarity alone and similarity plus its two
 * regressions (classifiers/index.ts, regressionsHelp): a cross-validation that takes seconds for a
 * customer with many jobs. `key` names the classifier version and the jobs it was made for,
 * `texts` how many job texts (with confirmed units) it saw.
 */
export interface RegressionChoice {
  key: string;
  texts: number;
  help: boolean;
}

/** A unit whose words the job head lends to its job's document, and how sure its tag was. */
export interface JobAnchor {
  text: string;
  job: string;
  confidence: number;
}

/** At most this many anchors per job, in a batch and in what a customer keeps of its batches'. */
export const ANCHOR_CAP = 32;

/**
 * Per job, the surest `take(n)` of the anchors given that job (n: how many it has), surest first
 * within each job. The one rule for a batch choosing its anchors and a customer keeping them.
 */
export function surestPerJob<A extends JobAnchor>(anchors: A[], take: (n: number) => number): A[] {
  const byJob = new Map<string, A[]>();
  for (const a of anchors) {
    const list = byJob.get(a.job);
    if (list) list.push(a);
    else byJob.set(a.job, [a]);
  }
  return [...byJob.values()].flatMap((list) =>
    list.sort((a, b) => b.confidence - a.confidence).slice(0, take(list.length)),
  );
}

export interface Tags {
  job: string | null;
  jobConfidence: number;
  kind: Kind;
  kindConfidence: number;
  sentiment: Sentiment;
  sentimentConfidence: number;
}

export interface Classifier {
  readonly name: string;
  readonly version: string;
  classify(units: UnitInput[], context: CustomerContext): Promise<Tags[]>;
  /** Release models, worker threads. */
  close?(): Promise<void>;
}
