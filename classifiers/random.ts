/**
 * A seeded source of numbers in [0, 1) (mulberry32: a 32-bit state, one multiply-xorshift step per
 * number), for what must come out the same on every run: benchmark texts, eval's bootstrap.
 * Not for anything secret.
 */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
