/**
 * A plain lexical baseline, kept as the fallback the pipeline can always run: job by TF-IDF cosine
 * against the job's statement, outcome and examples; kind and sentiment by cue words. It knows
 * nothing of meaning beyond shared words, and its confidences are rough. The embedding classifier
 * (classifiers/index.ts) is the default; this one is for tests of the plumbing and for machines
 * where the model cannot load.
 */
import type { Classifier, CustomerContext, Kind, Sentiment, Tags, UnitInput } from './types.ts';
import { countWeight } from './features.ts';

const STOP = new Set(
  'a an the and or but if of to in on at for with by from as is are was were be been being it its this that these those i we you he she they me us our your my their them there here so do does did have has had not no can could would should will just than then too very also all any each about into out up down over under again more most some such only own same what which who whom when where why how'.split(
    ' ',
  ),
);

export function tokens(text: string): string[] {
  return (text.toLowerCase().match(/[a-z0-9']+/g) ?? [])
    .map((w) => w.replace(/'s$/, '').replace(/'/g, ''))
    .filter((w) => w.length > 1 && !STOP.has(w))
    .map(stem);
}

function stem(w: string): string {
  if (w.length > 5 && w.endsWith('ing')) return w.slice(0, -3);
  if (w.length > 4 && w.endsWith('ed')) return w.slice(0, -2);
  if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss')) return w.slice(0, -1);
  return w;
}

type Vec = Map<string, number>;

function tfidf(toks: string[], idf: Map<string, number>): Vec {
  const v: Vec = new Map();
  for (const t of toks) v.set(t, (v.get(t) ?? 0) + 1);
  let norm = 0;
  for (const [t, c] of v) {
    const w = countWeight(c) * (idf.get(t) ?? 1);
    v.set(t, w);
    norm += w * w;
  }
  norm = Math.sqrt(norm) || 1;
  for (const [t, w] of v) v.set(t, w / norm);
  return v;
}

export function cosine(a: Vec, b: Vec): number {
  let s = 0;
  const [small, big] = a.size < b.size ? [a, b] : [b, a];
  for (const [t, w] of small) s += w * (big.get(t) ?? 0);
  return s;
}

const VALUE_GAP = [
  /\b(can ?not|can't|cant|unable to|no way to|isn't possible|not possible|doesn't (let|allow|support))\b/i,
  /\b(other tools?|switch(ing)?|cancel(l?ing)?|leav(e|ing)|alternatives?|competitor)\b/i,
  /\bis there (a|any) way\b/i,
  /\b(wish|missing|would love|need a way)\b/i,
];
const FRICTION = [
  /\b(slow|takes? (ages|forever|hours|too long)|hours|manual(ly)?|by hand|annoying|confus(ing|ed)|every (time|month|week)|have to|workaround|re-?enter|twice|chase|chasing|stuck|error|fail(s|ed)?)\b/i,
];
const HIGH_POINT = [
  /\b(love|loved|great|easy|easier|saved?|saves|amazing|finally|brilliant|fantastic|perfect|smooth|quick(ly)?|works? (well|great))\b/i,
];
const POSITIVE =
  /\b(love|loved|great|easy|easier|saved?|saves|amazing|brilliant|fantastic|perfect|smooth|happy|thanks?|thank you|good|nice|helpful|excellent|awesome|best|quick)\b/gi;
const NEGATIVE =
  /\b(bad|worst|terrible|awful|annoying|frustrat\w*|slow|broken|hate|angry|disappoint\w*|useless|problem|issue|wrong|error|fail\w*|late|delay\w*|can't|cannot|never|confus\w*|painful|stuck|lost|missing)\b/gi;

export function createLexicalClassifier(): Classifier {
  return {
    name: 'lexical-baseline',
    version: '1',
    async classify(units: UnitInput[], context: CustomerContext): Promise<Tags[]> {
      const jobDocs = context.jobs.map((j) => {
        const confirmed = (context.examples ?? []).filter((e) => e.job === j.key).map((e) => e.text);
        return {
          key: j.key,
          toks: tokens([j.statement, j.desiredOutcome, ...j.examples, ...confirmed].join(' ')),
        };
      });
      const df = new Map<string, number>();
      for (const d of jobDocs) for (const t of new Set(d.toks)) df.set(t, (df.get(t) ?? 0) + 1);
      const n = Math.max(1, jobDocs.length);
      const idf = new Map([...df].map(([t, c]) => [t, Math.log((1 + n) / (1 + c)) + 1]));
      const jobVecs = jobDocs.map((d) => ({ key: d.key, vec: tfidf(d.toks, idf) }));

      return units.map((u) => {
        const vec = tfidf(tokens(u.text), idf);
        let best: { key: string; score: number } | null = null;
        for (const j of jobVecs) {
          const s = cosine(vec, j.vec);
          if (!best || s > best.score) best = { key: j.key, score: s };
        }
        const job = best && best.score >= 0.12 ? best.key : null;
        const jobConfidence = best
          ? job
            ? Math.min(0.9, 0.4 + best.score)
            : Math.max(0.3, 0.7 - best.score * 2)
          : 0.5;

        const kind = kindOf(u.text, job !== null);
        const sentiment = sentimentOf(u.text, u.score ?? null);
        return {
          job,
          jobConfidence,
          kind: kind.kind,
          kindConfidence: kind.confidence,
          sentiment: sentiment.sentiment,
          sentimentConfidence: sentiment.confidence,
        };
      });
    },
  };
}

function kindOf(text: string, hasJob: boolean): { kind: Kind; confidence: number } {
  if (VALUE_GAP.some((r) => r.test(text))) return { kind: 'value_gap', confidence: 0.5 };
  if (FRICTION.some((r) => r.test(text))) return { kind: 'friction', confidence: 0.45 };
  if (HIGH_POINT.some((r) => r.test(text))) return { kind: 'high_point', confidence: 0.45 };
  return hasJob ? { kind: 'touchpoint', confidence: 0.4 } : { kind: 'other', confidence: 0.4 };
}

function sentimentOf(text: string, score: number | null): { sentiment: Sentiment; confidence: number } {
  const pos = text.match(POSITIVE)?.length ?? 0;
  const neg = text.match(NEGATIVE)?.length ?? 0;
  let balance = pos - neg;
  if (score !== null) balance += score >= 9 ? 1.5 : score <= 6 ? -1.5 : 0;
  if (balance > 0) return { sentiment: 'positive', confidence: Math.min(0.85, 0.5 + 0.1 * balance) };
  if (balance < 0) return { sentiment: 'negative', confidence: Math.min(0.85, 0.5 - 0.1 * balance) };
  return { sentiment: 'neutral', confidence: 0.45 };
}
