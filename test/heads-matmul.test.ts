/**
 * The heads' matrix products (classifiers/heads.ts, dotRows) run on onnxruntime's native kernels:
 * they must give the products a plain double-precision loop gives, for any shape the classifier
 * uses and for inputs that are views into larger buffers.
 */
import { describe, expect, it } from 'vitest';
import { dotMatrix, dotRows, matMulKernels, rowsOf } from '../classifiers/heads.ts';

/** A reproducible pseudo-random matrix (a linear congruential sequence in [-0.5, 0.5)). */
function matrix(n: number, seed: number): Float32Array {
  let x = seed;
  return Float32Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  });
}

function reference(a: Float32Array, rows: number, b: Float32Array, dim: number): Float64Array {
  const cols = b.length / dim;
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += a[r * dim + d]! * b[d * cols + c]!;
      out[r * cols + c] = s;
    }
  return out;
}

function expectClose(got: Float32Array, want: Float64Array) {
  expect(got).toHaveLength(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  expect(worst).toBeLessThan(1e-4);
}

describe('dotRows', () => {
  it("runs on onnxruntime's kernels here", async () => {
    expect(await matMulKernels()).toBe('onnxruntime');
  });

  it.each([
    [1, 5, 1],
    [3, 5, 7],
    [256, 524, 8],
    [256, 512, 1001],
  ])('gives the products of a [%i, %i] matrix and a [%i-column] one', async (rows, dim, cols) => {
    const a = matrix(rows * dim, rows + dim);
    const b = matrix(dim * cols, cols);
    expectClose(await dotRows(a, rows, b, dim), reference(a, rows, b, dim));
  });

  it('reads views into larger buffers from their own offset', async () => {
    const dim = 16;
    const big = matrix(10 * dim, 7);
    const b = matrix(dim * 40, 9).subarray(dim * 3, dim * 8);
    const rows = big.subarray(2 * dim, 6 * dim);
    expectClose(await dotRows(rows, 4, b, dim), reference(rows, 4, b, dim));
    const vectors = [big.subarray(0, dim), big.subarray(5 * dim, 6 * dim)];
    expectClose(await dotMatrix(vectors, b, dim), reference(rowsOf(vectors, dim), 2, b, dim));
  });

  it("gives a row's products the same bits alone as in any batch", async () => {
    const dim = 524;
    const a = matrix(64 * dim, 3);
    const b = matrix(dim * 13, 5);
    const all = await dotRows(a, 64, b, dim);
    for (const rows of [1, 2, 3, 8, 17]) {
      const some = await dotRows(a.subarray(0, rows * dim), rows, b, dim);
      expect(some).toEqual(all.subarray(0, rows * 13));
    }
  });

  it('gives empty products for no rows or no columns', async () => {
    expect(await dotRows(new Float32Array(0), 0, matrix(12, 1), 4)).toHaveLength(0);
    expect(await dotRows(matrix(8, 1), 2, new Float32Array(0), 4)).toHaveLength(0);
  });
});
