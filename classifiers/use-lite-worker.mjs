// Worker thread for the bundled embedder: runs USE-lite on its own TensorFlow.js wasm backend.
// Plain JavaScript so it starts without the TypeScript loader. The main thread tokenizes; this
// thread receives piece ids per row and answers with one 512-d vector per row.
import { createRequire } from 'node:module';
import path from 'node:path';
import { parentPort } from 'node:worker_threads';
import { sparseInput } from './use-lite-input.mjs';
import { readUseLiteGraph } from './use-lite-files.mjs';

const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs-core');
const { setWasmPaths } = require('@tensorflow/tfjs-backend-wasm');
const { loadGraphModel } = require('@tensorflow/tfjs-converter');

async function load() {
  setWasmPaths(
    path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep,
  );
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  if (!(await tf.setBackend('wasm'))) throw new Error('could not start the TensorFlow.js wasm backend');
  await tf.ready();
  const { modelJson, weightSpecs, weights } = readUseLiteGraph();
  return loadGraphModel({
    load: async () => ({
      modelTopology: modelJson.modelTopology,
      weightSpecs,
      weightData: weights.buffer,
      format: 'graph-model',
    }),
  });
}

const ready = load();

parentPort.on('message', async ({ id, rows }) => {
  try {
    const model = await ready;
    const { n, indices: idx, values: vals } = sparseInput(rows);
    const indices = tf.tensor2d(idx, [n, 2], 'int32');
    const values = tf.tensor1d(vals, 'int32');
    const out = await model.executeAsync({ indices, values });
    const data = new Float32Array(await out.data());
    tf.dispose([indices, values, out]);
    parentPort.postMessage({ id, data }, [data.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
