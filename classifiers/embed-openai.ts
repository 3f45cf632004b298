/**
 * Embeddings from any OpenAI-compatible endpoint (`POST /v1/embeddings`) through the official
 * client, in batches, with the client's own retries for 429 and 5xx.
 */
import OpenAI from 'openai';
import { GapmapError, errorMessage } from '../app/errors.ts';
import { normalize, type Embedder } from './embedders.ts';

/** Inputs per request: well under the API's 2048, and small enough that one failure costs little. */
const BATCH = 256;

export interface OpenAIEmbedderOptions {
  apiKey?: string;
  baseURL?: string;
  embeddingModel?: string;
  maxRetries?: number;
}

export async function createOpenAIEmbedder(opts: OpenAIEmbedderOptions = {}): Promise<Embedder> {
  const apiKey = opts.apiKey ?? process.env.OPENAI_API_KEY;
  if (!apiKey) {
    throw new GapmapError(
      'config',
      'embedder "openai:<model>" needs OPENAI_API_KEY (and OPENAI_BASE_URL for other providers)',
    );
  }
  const model = opts.embeddingModel || 'text-embedding-3-small';
  const client = new OpenAI({ apiKey, baseURL: opts.baseURL, maxRetries: opts.maxRetries ?? 3 });
  let dim = 0;
  const where = opts.baseURL ?? 'api.openai.com';

  async function embed(texts: string[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let start = 0; start < texts.length; start += BATCH) {
      // The API rejects empty strings; one space embeds as "nothing".
      const input = texts.slice(start, start + BATCH).map((t) => (t.trim() ? t : ' '));
      let res: OpenAI.Embeddings.CreateEmbeddingResponse;
      try {
        res = await client.embeddings.create({ model, input, encoding_format: 'float' });
      } catch (err) {
        throw new GapmapError(
          'service_unavailable',
          `embeddings from ${where} (model ${model}) failed: ${errorMessage(err)}`,
        );
      }
      if (res.data.length !== input.length) {
        throw new GapmapError(
          'service_unavailable',
          `embeddings from ${where} returned ${res.data.length} vectors for ${input.length} texts`,
        );
      }
      const vecs = new Array<Float32Array>(input.length);
      for (const d of res.data) {
        if (!Array.isArray(d.embedding) || d.index < 0 || d.index >= input.length) {
          throw new GapmapError(
            'service_unavailable',
            `embeddings from ${where}: expected {index, embedding: number[]} per input`,
          );
        }
        vecs[d.index] = normalize(Float32Array.from(d.embedding));
      }
      dim ||= vecs[0]?.length ?? 0;
      out.push(...vecs);
    }
    return out;
  }

  return {
    name: `openai:${model}`,
    version: `openai-compatible@${where}`,
    get dim() {
      return dim;
    },
    embed,
  };
}
