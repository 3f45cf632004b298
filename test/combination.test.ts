/**
 * fitCombination: the word head's weight next to the embedding head's, and the temperature, come
 * from held-out pairs of their probabilities; the head that knows the answer gets the weight.
 */
import { describe, expect, it } from 'vitest';
import { fitCombination, softmax } from '../classifiers/index.ts';
import { fitTemperature } from '../classifiers/calibration.ts';

/** A small deterministic generator (the test must not depend on Math.random's seed). */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const CLASSES = 4;

/** Probabilities that put `signal` logits on the label plus noise of spread `noise`. */
function probabilities(rand: () => number, label: number, signal: number, noise: number): Float64Array {
  const z = new Float64Array(CLASSES);
  for (let c = 0; c < CLASSES; c++) z[c] = (c === label ? signal : 0) + noise * (rand() - 0.5);
  return softmax(z);
}

function pairs(pSignal: number, qSignal: number, n = 600) {
  const rand = lcg(pSignal * 1000 + qSignal * 10 + n);
  return Array.from({ length: n }, (_, i) => {
    const label = i % CLASSES;
    return {
      p: probabilities(rand, label, pSignal, 4),
      q: probabilities(rand, label, qSignal, 4),
      label,
    };
  });
}

/** Log loss of the combination at a given weight, with the temperature fit for that weight. */
function lossAt(heldOut: ReturnType<typeof pairs>, w: number): number {
  const rows = heldOut.map((h) => ({
    logits: h.p.map((v, c) => Math.log(v) + w * Math.log(h.q[c]!)),
    label: h.label,
  }));
  const t = fitTemperature(rows);
  return rows.reduce((s, r) => s - Math.log(softmax(r.logits, t)[r.label]!), 0);
}

describe('fitCombination', () => {
  it('weighs the word head up when it knows the labels and the embedding head does not', () => {
    const heldOut = pairs(0, 3);
    const c = fitCombination(heldOut);
    expect(c.wordWeight).toBeGreaterThan(2);
    expect(c.temperature).toBeGreaterThan(0);
  });

  it('weighs the word head down to almost nothing when it is noise', () => {
    const c = fitCombination(pairs(3, 0));
    expect(c.wordWeight).toBeLessThan(0.2);
  });

  it('finds the least log loss over the weights, with that weight’s temperature', () => {
    const heldOut = pairs(2, 1.5);
    const c = fitCombination(heldOut);
    expect(c.wordWeight).toBeGreaterThan(0.2);
    expect(c.wordWeight).toBeLessThan(2.5);
    const best = lossAt(heldOut, c.wordWeight);
    for (const w of [0, 0.25, 0.5, 1, 1.5, 2, 3]) expect(best).toBeLessThanOrEqual(lossAt(heldOut, w) + 1e-6);
    const rows = heldOut.map((h) => ({
      logits: h.p.map((v, cl) => Math.log(v) + c.wordWeight * Math.log(h.q[cl]!)),
      label: h.label,
    }));
    expect(c.temperature).toBeCloseTo(fitTemperature(rows), 6);
  });
});
