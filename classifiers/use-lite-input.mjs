// USE-lite takes its input as a sparse tensor: one (row, position) index and one piece id per
// word piece. Shared by the in-process embedder (embed-bundled.ts) and its worker threads.

/** @param {number[][]} rows piece ids per text @returns {{ n: number, indices: Int32Array, values: Int32Array }} */
export function sparseInput(rows) {
  let n = 0;
  for (const r of rows) n += r.length;
  const indices = new Int32Array(n * 2);
  const values = new Int32Array(n);
  let k = 0;
  rows.forEach((r, row) => {
    r.forEach((piece, pos) => {
      indices[k * 2] = row;
      indices[k * 2 + 1] = pos;
      values[k] = piece;
      k++;
    });
  });
  return { n, indices, values };
}
