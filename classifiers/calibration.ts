/**
 * Calibration: temperature scaling fit on held-out predictions (out-of-fold logits), a 1-D
 * logistic (Platt) fit for yes/no scores, and the expected calibration error used by eval.
 */
import { softmax } from './heads.ts';

/** Negative log-likelihood of held-out logits at temperature t. */
export function logLoss(heldOut: { logits: ArrayLike<number>; label: number }[], t: number): number {
  let s = 0;
  for (const h of heldOut) s -= Math.log(Math.max(softmax(h.logits, t)[h.label]!, 1e-12));
  return s;
}

/**
 * Where a unimodal f is least in [lo, hi], to within (hi - lo) x 0.618^steps: golden-section search,
 * each step keeping one of its two inner points, so it evaluates f once.
 */
export function goldenMin(f: (x: number) => number, lo: number, hi: number, steps: number): number {
  const g = (Math.sqrt(5) - 1) / 2;
  let a = hi - g * (hi - lo);
  let b = lo + g * (hi - lo);
  let fa = f(a);
  let fb = f(b);
  for (let i = 0; i < steps; i++) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - g * (hi - lo);
      fa = f(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + g * (hi - lo);
      fb = f(b);
    }
  }
  return (lo + hi) / 2;
}

/** Temperature minimising the negative log-likelihood of held-out logits (golden-section on log T). */
export function fitTemperature(heldOut: { logits: ArrayLike<number>; label: number }[]): number {
  if (heldOut.length === 0) return 1;
  return Math.exp(goldenMin((x) => logLoss(heldOut, Math.exp(x)), Math.log(0.05), Math.log(20), 60));
}

export interface Platt {
  a: number;
  b: number;
}

/** P(y=1 | s) = sigmoid(a*s + b), fit by Newton's method with class-balanced weights and a weak prior. */
export function fitPlatt(scores: number[], ys: boolean[], balance = true): Platt {
  const nPos = ys.filter(Boolean).length;
  const nNeg = ys.length - nPos;
  if (nPos === 0 || nNeg === 0) return { a: 0, b: nPos > 0 ? 4 : -4 };
  const wPos = balance ? ys.length / (2 * nPos) : 1;
  const wNeg = balance ? ys.length / (2 * nNeg) : 1;
  let a = 0;
  let b = 0;
  const ridge = 1e-3;
  for (let it = 0; it < 50; it++) {
    let ga = ridge * a;
    let gb = 0;
    let haa = ridge;
    let hab = 0;
    let hbb = 1e-9;
    scores.forEach((s, i) => {
      const p = 1 / (1 + Math.exp(-(a * s + b)));
      const w = ys[i] ? wPos : wNeg;
      const r = w * (p - (ys[i] ? 1 : 0));
      const h = w * p * (1 - p);
      ga += r * s;
      gb += r;
      haa += h * s * s;
      hab += h * s;
      hbb += h;
    });
    const det = haa * hbb - hab * hab;
    if (Math.abs(det) < 1e-12) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    a -= da;
    b -= db;
    if (Math.abs(da) + Math.abs(db) < 1e-8) break;
  }
  return { a, b };
}

export function plattProb(p: Platt, s: number): number {
  return 1 / (1 + Math.exp(-(p.a * s + p.b)));
}

/** One equal-width confidence bin: how many tags fell in it, how sure they were, how often right. */
export interface ReliabilityBin {
  from: number;
  to: number;
  n: number;
  confidence: number;
  accuracy: number;
}

/**
 * The non-empty equal-width confidence bins of a set of tags (a reliability table): a calibrated
 * classifier's tags in the 0.8-0.9 bin are right about 85% of the time.
 */
export function reliabilityBins(conf: number[], correct: boolean[], bins = 10): ReliabilityBin[] {
  const sumC = new Float64Array(bins);
  const sumA = new Float64Array(bins);
  const cnt = new Float64Array(bins);
  conf.forEach((c, i) => {
    const k = Math.min(bins - 1, Math.floor(c * bins));
    sumC[k]! += c;
    sumA[k]! += correct[i] ? 1 : 0;
    cnt[k]! += 1;
  });
  const out: ReliabilityBin[] = [];
  for (let k = 0; k < bins; k++)
    if (cnt[k]! > 0)
      out.push({
        from: k / bins,
        to: (k + 1) / bins,
        n: cnt[k]!,
        confidence: sumC[k]! / cnt[k]!,
        accuracy: sumA[k]! / cnt[k]!,
      });
  return out;
}

/** Expected calibration error over equal-width confidence bins: the gaps of reliabilityBins, weighted by size. */
export function expectedCalibrationError(conf: number[], correct: boolean[], bins = 10): number {
  if (conf.length === 0) return 0;
  const e = reliabilityBins(conf, correct, bins).reduce(
    (s, b) => s + b.n * Math.abs(b.accuracy - b.confidence),
    0,
  );
  return e / conf.length;
}

export interface Logistic {
  w: number[];
  b: number;
}

/** Class-balanced logistic regression on a few features, by Newton's method with a small ridge. */
export function fitLogistic(X: number[][], ys: boolean[], ridge = 1e-2): Logistic {
  const d = X[0]?.length ?? 0;
  const nPos = ys.filter(Boolean).length;
  const nNeg = ys.length - nPos;
  if (nPos === 0 || nNeg === 0) return { w: new Array(d).fill(0), b: nPos > 0 ? 4 : -4 };
  const wPos = ys.length / (2 * nPos);
  const wNeg = ys.length / (2 * nNeg);
  let theta = new Array(d + 1).fill(0);
  for (let it = 0; it < 50; it++) {
    const g = new Array(d + 1).fill(0);
    const H = Array.from({ length: d + 1 }, (_, i) =>
      Array.from({ length: d + 1 }, (_, j) => (i === j && i < d ? ridge : i === j ? 1e-9 : 0)),
    );
    for (let i = 0; i < d; i++) g[i] = ridge * theta[i];
    X.forEach((x, n) => {
      const z = x.reduce((s, v, i) => s + v * theta[i], theta[d]);
      const p = 1 / (1 + Math.exp(-z));
      const w = ys[n] ? wPos : wNeg;
      const r = w * (p - (ys[n] ? 1 : 0));
      const h = w * p * (1 - p);
      const xe = [...x, 1];
      for (let i = 0; i <= d; i++) {
        g[i] += r * xe[i]!;
        for (let j = 0; j <= d; j++) H[i]![j]! += h * xe[i]! * xe[j]!;
      }
    });
    const step = solve(H, g);
    if (!step) break;
    theta = theta.map((t, i) => t - step[i]!);
    if (step.reduce((s, v) => s + Math.abs(v), 0) < 1e-8) break;
  }
  return { w: theta.slice(0, d), b: theta[d] };
}

export function logisticProb(m: Logistic, x: number[]): number {
  return 1 / (1 + Math.exp(-x.reduce((s, v, i) => s + v * m.w[i]!, m.b)));
}

/** Gaussian elimination with partial pivoting; null when singular. */
function solve(A: number[][], b: number[]): number[] | null {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    if (Math.abs(M[p]![c]!) < 1e-12) return null;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  return M.map((row, i) => row[n]! / row[i]!);
}
