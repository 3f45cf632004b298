/**
 * Softmax-regression heads on top of embeddings (plus hand-made features). Training runs on the
 * TensorFlow.js wasm backend (seconds even for 77 classes); a batch's predictions are matrix
 * products on onnxruntime's native kernels (dotRows), one unit's plain JavaScript.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ensureTfBackend } from './embed-bundled.ts';
import { DataType, graph, model, node, valueInfo } from './onnx-proto.ts';

export interface SoftmaxHead {
  classes: string[];
  dim: number;
  /** Row-major [dim, classes]. */
  W: Float32Array;
  b: Float32Array;
  /** Temperature from calibration; logits are divided by it. */
  temperature: number;
}

export interface TrainOptions {
  l2?: number;
  steps?: number;
  learningRate?: number;
  /** Per-example weights (corrections count more than shipped examples). */
  weights?: number[];
  /** Re-weight so every class carries the same total weight. */
  balance?: boolean;
}

/** Adam steps between two turns of the event loop in trainSoftmax (about 50 ms of work on a 2,000-row head). */
const YIELD_EVERY = 16;

export async function trainSoftmax(
  X: Float32Array[],
  labels: string[],
  classes: string[],
  opts: TrainOptions = {},
): Promise<SoftmaxHead> {
  await ensureTfBackend();
  const n = X.length;
  const dim = X[0]?.length ?? 0;
  const C = classes.length;
  const index = new Map(classes.map((c, i) => [c, i]));
  const flat = new Float32Array(n * dim);
  X.forEach((x, i) => flat.set(x, i * dim));
  const onehot = new Float32Array(n * C);
  const w = new Float32Array(n);
  const perClass = new Float32Array(C);
  labels.forEach((l, i) => {
    const c = index.get(l)!;
    onehot[i * C + c] = 1;
    w[i] = opts.weights?.[i] ?? 1;
    perClass[c]! += w[i]!;
  });
  if (opts.balance) {
    const present = perClass.filter((v) => v > 0).length;
    labels.forEach((l, i) => {
      const c = index.get(l)!;
      w[i] = (w[i]! * n) / (present * perClass[c]!);
    });
  }
  const totalW = w.reduce((s, v) => s + v, 0);
  const l2 = opts.l2 ?? 1e-3;
  const steps = opts.steps ?? 300;
  const lr = opts.learningRate ?? 0.05;

  const xs = tf.tensor2d(flat, [n, dim]);
  const ys = tf.tensor2d(onehot, [n, C]);
  const ws = tf.tensor1d(w.map((v) => v / totalW));
  // Softmax regression's gradient is X^T (P - Y) by example weight: written out, no autodiff tape.
  // Adam keeps the step size sane for 5 classes and 77 alike.
  let Wt = tf.zeros([dim, C]) as tf.Tensor2D;
  let bt = tf.zeros([C]) as tf.Tensor1D;
  let mW = tf.zerosLike(Wt);
  let vW = tf.zerosLike(Wt);
  let mb = tf.zerosLike(bt);
  let vb = tf.zerosLike(bt);
  const beta1 = 0.9;
  const beta2 = 0.999;
  const xsT = tf.transpose(xs);
  const resid = tf.reshape(ws, [n, 1]);
  for (let s = 1; s <= steps; s++) {
    // The steps run on this thread's event loop (the wasm kernels are synchronous): let it answer
    // other work between every few of them (a server retraining a customer's heads).
    if (s % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
    const next = tf.tidy(() => {
      const p = tf.softmax(tf.add(tf.matMul(xs, Wt), bt));
      const g = tf.mul(tf.sub(p, ys), resid);
      const gW = tf.add(tf.matMul(xsT, g), tf.mul(2 * l2, Wt));
      const gb = tf.sum(g, 0);
      const m1 = tf.add(tf.mul(beta1, mW), tf.mul(1 - beta1, gW));
      const v1 = tf.add(tf.mul(beta2, vW), tf.mul(1 - beta2, tf.square(gW)));
      const m2 = tf.add(tf.mul(beta1, mb), tf.mul(1 - beta1, gb));
      const v2 = tf.add(tf.mul(beta2, vb), tf.mul(1 - beta2, tf.square(gb)));
      const c1 = 1 - beta1 ** s;
      const c2 = 1 - beta2 ** s;
      const step = (m: tf.Tensor, v: tf.Tensor) =>
        tf.div(tf.mul(lr / c1, m), tf.add(tf.sqrt(tf.div(v, c2)), 1e-8));
      return [tf.sub(Wt, step(m1, v1)), tf.sub(bt, step(m2, v2)), m1, v1, m2, v2] as const;
    });
    tf.dispose([Wt, bt, mW, vW, mb, vb]);
    [Wt, bt, mW, vW, mb, vb] = next as unknown as [
      tf.Tensor2D,
      tf.Tensor1D,
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor1D,
      tf.Tensor1D,
    ];
  }
  const Wv = Wt;
  const bv = bt;
  const W = (await Wv.data()) as Float32Array;
  const b = (await bv.data()) as Float32Array;
  tf.dispose([xs, ys, ws, xsT, resid, Wt, bt, mW, vW, mb, vb]);
  return { classes, dim, W: Float32Array.from(W), b: Float32Array.from(b), temperature: 1 };
}

/**
 * Row-major [a.length, cols] dot products of every vector of `a` with every column of `bT`, a
 * [dim, cols] row-major matrix (see `columns`): one matrix product (dotRows) instead of a
 * JavaScript loop per pair (a batch of units against a customer's job texts).
 */
export async function dotMatrix(a: Float32Array[], bT: Float32Array, dim: number): Promise<Float32Array> {
  return dotRows(rowsOf(a, dim), a.length, bT, dim);
}

/** Vectors as the rows of one [vectors.length, dim] row-major matrix. */
export function rowsOf(vectors: Float32Array[], dim: number): Float32Array {
  const flat = new Float32Array(vectors.length * dim);
  vectors.forEach((v, i) => flat.set(v, i * dim));
  return flat;
}

/**
 * dotMatrix of `rows` vectors given as one [rows, dim] row-major matrix (rowsOf): a batch's
 * vectors copied once for the products that read them.
 */
export async function dotRows(
  flat: Float32Array,
  rows: number,
  bT: Float32Array,
  dim: number,
): Promise<Float32Array> {
  const cols = bT.length / dim;
  if (rows === 0 || cols === 0) return new Float32Array(rows * cols);
  const native = await nativeMatMul();
  if (native) return native(flat, rows, bT, dim, cols);
  await ensureTfBackend();
  const out = tf.tidy(() => tf.matMul(tf.tensor2d(flat, [rows, dim]), tf.tensor2d(bT, [dim, cols])));
  const data = (await out.data()) as Float32Array;
  out.dispose();
  return data;
}

/** Which kernels dotRows runs on in this process: onnxruntime's, or the wasm backend where it does not load. */
export async function matMulKernels(): Promise<'onnxruntime' | 'tfjs-wasm'> {
  return (await nativeMatMul()) ? 'onnxruntime' : 'tfjs-wasm';
}

type MatMul = (
  a: Float32Array,
  rows: number,
  b: Float32Array,
  dim: number,
  cols: number,
) => Promise<Float32Array>;
let matMul: Promise<MatMul | null> | undefined;

/**
 * One MatMul on onnxruntime's native CPU kernels, on one thread: a batch of 256 units against a
 * 77-job customer's 1,001 columns took 3.3 ms of CPU instead of 11 on the wasm backend (the
 * kernels use the CPU's widest vectors). Null where onnxruntime-node does not load.
 */
function nativeMatMul(): Promise<MatMul | null> {
  return (matMul ??= (async () => {
    try {
      const ort = await import('onnxruntime-node');
      const session = await ort.InferenceSession.create(
        model(
          graph({
            name: 'matmul',
            nodes: [node('MatMul', ['a', 'b'], ['c'])],
            inputs: [
              valueInfo('a', DataType.FLOAT, ['rows', 'dim']),
              valueInfo('b', DataType.FLOAT, ['dim', 'cols']),
            ],
            outputs: [valueInfo('c', DataType.FLOAT, ['rows', 'cols'])],
          }),
        ),
        { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' },
      );
      return async (a, rows, b, dim, cols) => {
        // A single row takes another kernel (matrix times vector), whose sums differ in the last
        // bits: two rows, so that a unit's scores are the same bits alone as in any batch.
        const one = rows === 1;
        const input = one ? new Float32Array(2 * dim) : a;
        if (one) {
          input.set(a.subarray(0, dim));
          input.set(a.subarray(0, dim), dim);
        }
        const out = await session.run({
          a: new ort.Tensor('float32', input, [one ? 2 : rows, dim]),
          b: new ort.Tensor('float32', b, [dim, cols]),
        });
        const data = out.c!.data as Float32Array;
        return one ? data.slice(0, cols) : data;
      };
    } catch {
      return null;
    }
  })());
}

/**
 * [dim, c] row-major matrices side by side, as one [dim, c1 + c2 + ...] matrix: one product
 * (dotRows) gives each one's columns, in this order, for the cost of about one.
 */
export function sideBySide(matrices: Float32Array[], dim: number): Float32Array {
  const widths = matrices.map((m) => m.length / dim);
  const cols = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(dim * cols);
  for (let d = 0; d < dim; d++) {
    let at = d * cols;
    matrices.forEach((m, k) => {
      const w = widths[k]!;
      out.set(m.subarray(d * w, (d + 1) * w), at);
      at += w;
    });
  }
  return out;
}

/**
 * A head's probabilities for each row of a product whose columns `from` to `from + classes` are
 * the head's (dotRows over `sideBySide` with head.W among the matrices; `cols` columns in all).
 */
export function headProbabilities(
  head: SoftmaxHead,
  z: Float32Array,
  cols: number,
  from: number,
): Float64Array[] {
  const C = head.classes.length;
  const rows = z.length / cols;
  const out = new Array<Float64Array>(rows);
  for (let i = 0; i < rows; i++) {
    const row = new Float64Array(C);
    for (let c = 0; c < C; c++) row[c] = z[i * cols + from + c]! + head.b[c]!;
    out[i] = softmax(row, head.temperature);
  }
  return out;
}

/** Vectors as the columns of a [dim, vectors.length] row-major matrix, for `dotMatrix`. */
export function columns(vectors: Float32Array[], dim: number): Float32Array {
  const n = vectors.length;
  const out = new Float32Array(dim * n);
  vectors.forEach((v, j) => {
    for (let d = 0; d < dim; d++) out[d * n + j] = v[d]!;
  });
  return out;
}

/**
 * Probabilities of a head for a batch of inputs: the head's W is already [dim, classes] row-major,
 * so one `dotMatrix` gives every input's logits.
 */
export async function predictBatch(head: SoftmaxHead, xs: Float32Array[]): Promise<Float64Array[]> {
  const C = head.classes.length;
  return headProbabilities(head, await dotMatrix(xs, head.W, head.dim), C, 0);
}

export function logits(head: SoftmaxHead, x: Float32Array): Float64Array {
  const C = head.classes.length;
  const out = new Float64Array(C);
  for (let c = 0; c < C; c++) out[c] = head.b[c]!;
  for (let d = 0; d < head.dim; d++) {
    const v = x[d]!;
    if (v === 0) continue;
    const row = d * C;
    for (let c = 0; c < C; c++) out[c]! += v * head.W[row + c]!;
  }
  return out;
}

export function softmax(z: ArrayLike<number>, temperature = 1): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < z.length; i++) max = Math.max(max, z[i]!);
  const out = new Float64Array(z.length);
  let s = 0;
  for (let i = 0; i < z.length; i++) {
    out[i] = Math.exp((z[i]! - max) / temperature);
    s += out[i]!;
  }
  for (let i = 0; i < z.length; i++) out[i]! /= s;
  return out;
}

export function predict(head: SoftmaxHead, x: Float32Array): Float64Array {
  return softmax(logits(head, x), head.temperature);
}

export function argmax(p: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[best]!) best = i;
  return best;
}

/** Softmax regression over sparse TF-IDF vectors, trained by SGD in plain JavaScript. */
export interface SparseSoftmaxHead {
  classes: number;
  W: Map<string, Float64Array>;
  b: Float64Array;
}

/** Runs a training generator to its end at once. */
export function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * Runs a training generator, giving the event loop a turn at each of its yields: the same
 * computation as runSteps, for a process that serves requests meanwhile (the embedded server
 * retraining a customer's heads held every request for over a second without it).
 */
export async function runStepsYielding<T>(steps: Generator<void, T>): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export function trainSparseSoftmax(
  X: Map<string, number>[],
  labels: number[],
  classes: number,
  opts: { epochs?: number; learningRate?: number; l2?: number } = {},
): SparseSoftmaxHead {
  return runSteps(sparseSoftmaxSteps(X, labels, classes, opts));
}

/** trainSparseSoftmax's training, yielding after each epoch (runSteps, runStepsYielding). */
export function* sparseSoftmaxSteps(
  X: Map<string, number>[],
  labels: number[],
  classes: number,
  opts: { epochs?: number; learningRate?: number; l2?: number } = {},
): Generator<void, SparseSoftmaxHead> {
  const epochs = opts.epochs ?? 30;
  const lr0 = opts.learningRate ?? 0.5;
  const l2 = opts.l2 ?? 1e-4;
  // Terms become row numbers of one flat weight array: the inner loops index arrays instead of
  // hashing strings (tens of times faster; a retrain after a correction waits on this).
  const rowOf = new Map<string, number>();
  const rows = X.map((x) => {
    const idx = new Int32Array(x.size);
    const val = new Float64Array(x.size);
    let j = 0;
    for (const [f, v] of x) {
      let r = rowOf.get(f);
      if (r === undefined) rowOf.set(f, (r = rowOf.size));
      idx[j] = r;
      val[j++] = v;
    }
    return { idx, val };
  });
  const W = new Float64Array(rowOf.size * classes);
  const b = new Float64Array(classes);
  const z = new Float64Array(classes);
  const order = X.map((_, i) => i);
  for (let ep = 0; ep < epochs; ep++) {
    // Deterministic shuffle, so the same texts always train the same head.
    for (let i = order.length - 1; i > 0; i--) {
      const j = (i * 7919 + ep * 31) % (i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const lr = lr0 / (1 + ep * 0.2);
    for (const i of order) {
      const { idx, val } = rows[i]!;
      z.set(b);
      for (let j = 0; j < idx.length; j++) {
        const base = idx[j]! * classes;
        for (let k = 0; k < classes; k++) z[k]! += val[j]! * W[base + k]!;
      }
      const g = softmax(z);
      g[labels[i]!]! -= 1;
      for (let k = 0; k < classes; k++) b[k]! -= lr * g[k]!;
      // Each class's weights move on their own.
      for (let j = 0; j < idx.length; j++) {
        const base = idx[j]! * classes;
        for (let k = 0; k < classes; k++) W[base + k]! -= lr * (g[k]! * val[j]! + l2 * W[base + k]!);
      }
    }
    yield;
  }
  const head: SparseSoftmaxHead = { classes, W: new Map(), b };
  for (const [f, r] of rowOf) head.W.set(f, W.subarray(r * classes, (r + 1) * classes));
  return head;
}

export function sparseLogits(head: SparseSoftmaxHead, x: Map<string, number>): Float64Array {
  const z = Float64Array.from(head.b);
  for (const [f, v] of x) {
    const row = head.W.get(f);
    if (row) for (let k = 0; k < head.classes; k++) z[k]! += v * row[k]!;
  }
  return z;
}
