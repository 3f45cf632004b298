// Worker thread for the ONNX USE-lite embedder (embed-use-onnx.ts): one onnxruntime session over
// the model bytes the main thread converted. onnxruntime-node runs a session on the calling
// thread, so sessions only run side by side on separate threads. Plain JavaScript so it starts
// without the TypeScript loader. The first message carries the model and the session options;
// then each message carries padded piece ids and is answered with one 512-d vector per row.
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';

let ready;
let input;
let output;

parentPort.on('message', async (msg) => {
  if (msg.init) {
    ({ input, output } = msg.init);
    // The bytes are not kept: onnxruntime holds its own copy of the weights.
    ready = ort.InferenceSession.create(msg.init.bytes, msg.init.options);
    return;
  }
  const { id, ids, rows, length } = msg;
  try {
    const session = await ready;
    const out = await session.run({ [input]: new ort.Tensor('int32', ids, [rows, length]) });
    const data = new Float32Array(out[output].data);
    parentPort.postMessage({ id, data }, [data.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
