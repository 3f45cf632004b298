/**
 * transformers.js embedder: any Hugging Face feature-extraction model (ONNX), mean-pooled and
 * L2-normalised. With a model folder (`GAPMAP_MODEL_DIR`, laid out `<dir>/<model id>/...` as
 * `gapmap models download` leaves it) remote loading is switched off, for air-gapped machines;
 * without one the model comes from the hub and is cached by transformers.js.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { GapmapError, errorMessage } from '../app/errors.ts';
import type { Embedder } from './embedders.ts';

const BATCH = 32;

export interface HfOptions {
  modelDir?: string;
  /**
   * Where `downloadModel`, and `createHfEmbedder` without a model folder, fetch from: the hub unless
   * a test or a mirror says otherwise.
   */
  remoteHost?: string;
}

type Transformers = typeof import('@huggingface/transformers');

async function loadTransformers(): Promise<Transformers> {
  return import('@huggingface/transformers');
}

export async function createHfEmbedder(id: string, opts: HfOptions = {}): Promise<Embedder> {
  if (!id.trim())
    throw new GapmapError('config', 'embedder "hf:" needs a model id, e.g. hf:Xenova/all-MiniLM-L6-v2');
  const { env, pipeline } = await loadTransformers();
  const dir = opts.modelDir ?? (process.env.GAPMAP_MODEL_DIR?.trim() || undefined);
  if (dir) {
    const folder = path.join(dir, id);
    if (!existsSync(folder)) {
      throw new GapmapError(
        'config',
        `${folder}: no such model folder; download it first with \`gapmap models download ${id}\` (GAPMAP_MODEL_DIR=${dir})`,
      );
    }
    env.localModelPath = dir;
    env.allowLocalModels = true;
    env.allowRemoteModels = false;
  } else {
    // The hub (through transformers.js's own cache), not a model folder an earlier call named.
    env.allowLocalModels = false;
    env.allowRemoteModels = true;
  }
  let extractor: Awaited<ReturnType<typeof pipeline<'feature-extraction'>>>;
  const hub = env.remoteHost;
  if (!dir && opts.remoteHost) env.remoteHost = opts.remoteHost;
  const host = env.remoteHost;
  try {
    extractor = await pipeline('feature-extraction', id, { dtype: 'fp32' });
  } catch (err) {
    throw new GapmapError(
      'config',
      dir
        ? `could not load the model ${id} from ${path.join(dir, id)}: ${errorMessage(err)}`
        : `could not load the model ${id} from the Hugging Face hub (${host}): ${errorMessage(err)}. ` +
            `A machine without access to it can use a copy: \`gapmap models download ${id} --dir <folder>\` ` +
            `where there is access, then the folder here as GAPMAP_MODEL_DIR`,
    );
  } finally {
    env.remoteHost = hub;
  }
  const dim = Number((extractor.model.config as { hidden_size?: number }).hidden_size ?? 0);

  return {
    name: `hf:${id}`,
    version: `transformers.js-4+${dir ? 'local' : 'hub'}`,
    dim,
    async embed(texts) {
      // Similar lengths share a batch, so little padding is computed.
      const order = texts.map((_, i) => i).sort((a, b) => texts[a]!.length - texts[b]!.length);
      const out: Float32Array[] = new Array(texts.length);
      for (let start = 0; start < order.length; start += BATCH) {
        const batch = order.slice(start, start + BATCH);
        const result = await extractor(
          batch.map((i) => texts[i]!),
          { pooling: 'mean', normalize: true },
        );
        const data = result.data as Float32Array;
        const width = data.length / batch.length;
        batch.forEach((i, k) => (out[i] = Float32Array.from(data.subarray(k * width, (k + 1) * width))));
        result.dispose();
      }
      return out;
    },
    async close() {
      await extractor.dispose();
    },
  };
}

/**
 * Fetches a model's config, tokenizer and ONNX weights into `<dir>/<id>/`, the layout
 * `createHfEmbedder` reads with `GAPMAP_MODEL_DIR`.
 */
export async function downloadModel(id: string, dir: string, opts: HfOptions = {}): Promise<void> {
  const { env, pipeline } = await loadTransformers();
  const saved = {
    cacheDir: env.cacheDir,
    allowRemoteModels: env.allowRemoteModels,
    allowLocalModels: env.allowLocalModels,
    remoteHost: env.remoteHost,
  };
  env.cacheDir = dir;
  env.allowRemoteModels = true;
  // Only the network counts: a copy already in a local model path must not stand in for the download.
  env.allowLocalModels = false;
  if (opts.remoteHost) env.remoteHost = opts.remoteHost;
  try {
    const extractor = await pipeline('feature-extraction', id, { dtype: 'fp32' });
    await extractor.dispose();
  } catch (err) {
    throw new GapmapError(
      'service_unavailable',
      `could not download ${id} from ${env.remoteHost} into ${dir}: ${errorMessage(err)}`,
    );
  } finally {
    Object.assign(env, saved);
  }
  if (!existsSync(path.join(dir, id))) {
    throw new GapmapError('internal', `downloaded ${id}, but ${path.join(dir, id)} was not written`);
  }
}
