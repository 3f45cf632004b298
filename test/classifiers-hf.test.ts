/**
 * The transformers.js path for real, on a BERT-shaped model this test writes: ONNX protobuf bytes
 * by hand (with classifiers/onnx-proto.ts), random weights, a WordPiece tokenizer with a tiny vocabulary.
 * It checks loading from a local folder, batching with padding, mean pooling over the attention
 * mask and normalisation, and `downloadModel` against a hub-like HTTP server on 127.0.0.1.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHfEmbedder, downloadModel } from '../classifiers/embed-hf.ts';
import { GapmapError } from '../app/errors.ts';
import { createEmbedder, type Embedder } from '../classifiers/embedders.ts';
import { DataType, graph, model, node, tensor, valueInfo } from '../classifiers/onnx-proto.ts';

function random(seed: number) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
}

const VOCAB = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  'the',
  'invoice',
  'is',
  'late',
  'paid',
  'client',
  'crew',
  'truck',
  '##s',
  'bread',
  'oven',
];
const HIDDEN = 16;

/** token embeddings + token-type embeddings -> linear -> tanh -> tanh; attention_mask is an input only. */
function tinyBertOnnx(): Uint8Array {
  const rnd = random(7);
  const fill = (n: number) => Float32Array.from({ length: n }, rnd);
  const { FLOAT, INT64 } = DataType;
  return model(
    graph({
      name: 'tiny-bert',
      nodes: [
        node('Gather', ['word_embeddings', 'input_ids'], ['words']),
        node('Gather', ['type_embeddings', 'token_type_ids'], ['types']),
        node('Add', ['words', 'types'], ['embedded']),
        node('MatMul', ['embedded', 'dense'], ['projected']),
        node('Tanh', ['projected'], ['activated']),
        // Padding positions get real, non-zero outputs (no masking inside the model), so only pooling
        // that honours attention_mask makes a padded text embed like the same text alone.
        node('Tanh', ['activated'], ['last_hidden_state']),
      ],
      initializers: [
        tensor('word_embeddings', [VOCAB.length, HIDDEN], fill(VOCAB.length * HIDDEN)),
        tensor('type_embeddings', [2, HIDDEN], fill(2 * HIDDEN)),
        tensor('dense', [HIDDEN, HIDDEN], fill(HIDDEN * HIDDEN)),
      ],
      inputs: [
        valueInfo('input_ids', INT64, ['batch', 'sequence']),
        valueInfo('attention_mask', INT64, ['batch', 'sequence']),
        valueInfo('token_type_ids', INT64, ['batch', 'sequence']),
      ],
      outputs: [valueInfo('last_hidden_state', FLOAT, ['batch', 'sequence', HIDDEN])],
    }),
    { opset: 13, producer: 'gapmap-test' },
  );
}

function writeTinyBert(folder: string): void {
  mkdirSync(path.join(folder, 'onnx'), { recursive: true });
  writeFileSync(path.join(folder, 'onnx', 'model.onnx'), tinyBertOnnx());
  writeFileSync(
    path.join(folder, 'config.json'),
    JSON.stringify({
      model_type: 'bert',
      architectures: ['BertModel'],
      hidden_size: HIDDEN,
      vocab_size: VOCAB.length,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      intermediate_size: 32,
      max_position_embeddings: 64,
      type_vocab_size: 2,
      pad_token_id: 0,
    }),
  );
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  writeFileSync(
    path.join(folder, 'tokenizer.json'),
    JSON.stringify({
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [special(0, '[PAD]'), special(1, '[UNK]'), special(2, '[CLS]'), special(3, '[SEP]')],
      normalizer: {
        type: 'BertNormalizer',
        clean_text: true,
        handle_chinese_chars: true,
        strip_accents: null,
        lowercase: true,
      },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: {
        type: 'TemplateProcessing',
        single: [
          { SpecialToken: { id: '[CLS]', type_id: 0 } },
          { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: '[SEP]', type_id: 0 } },
        ],
        pair: [
          { SpecialToken: { id: '[CLS]', type_id: 0 } },
          { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: '[SEP]', type_id: 0 } },
          { Sequence: { id: 'B', type_id: 1 } },
          { SpecialToken: { id: '[SEP]', type_id: 1 } },
        ],
        special_tokens: {
          '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] },
          '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] },
        },
      },
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      model: {
        type: 'WordPiece',
        unk_token: '[UNK]',
        continuing_subword_prefix: '##',
        max_input_chars_per_word: 100,
        vocab: Object.fromEntries(VOCAB.map((w, i) => [w, i])),
      },
    }),
  );
  writeFileSync(
    path.join(folder, 'tokenizer_config.json'),
    JSON.stringify({
      tokenizer_class: 'BertTokenizer',
      do_lower_case: true,
      model_max_length: 64,
      pad_token: '[PAD]',
      unk_token: '[UNK]',
      cls_token: '[CLS]',
      sep_token: '[SEP]',
    }),
  );
}

const MODEL_ID = 'gapmap-test/tiny-bert';
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);

describe('transformers.js embedder on a generated tiny BERT', () => {
  let root: string;
  let embedder: Embedder;
  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'gapmap-hf-'));
    writeTinyBert(path.join(root, MODEL_ID));
    embedder = await createEmbedder({ embedder: `hf:${MODEL_ID}`, modelDir: root });
  });
  afterAll(async () => {
    await embedder?.close?.();
    rmSync(root, { recursive: true, force: true });
  });

  it('loads from the local folder and returns unit vectors of the hidden size', async () => {
    expect(embedder.name).toBe(`hf:${MODEL_ID}`);
    expect(embedder.dim).toBe(HIDDEN);
    const [v] = await embedder.embed(['the invoice is late']);
    expect(v).toHaveLength(HIDDEN);
    expect(Math.sqrt(dot(v!, v!))).toBeCloseTo(1, 5);
  });

  it('mean-pools over real tokens only: a text embeds the same alone and in a padded batch', async () => {
    const [alone] = await embedder.embed(['the client paid']);
    const batch = await embedder.embed([
      'the crew trucks the bread oven the invoice is late the client paid the invoice',
      'the client paid',
      'oven',
    ]);
    expect(dot(alone!, batch[1]!)).toBeCloseTo(1, 5);
    expect(dot(batch[0]!, batch[2]!)).toBeLessThan(0.999);
  });

  it('keeps the order of the inputs across batches of different lengths', async () => {
    const texts = Array.from({ length: 70 }, (_, i) =>
      i % 2 ? 'the invoice is late '.repeat(1 + (i % 5)) : 'bread oven',
    );
    const many = await embedder.embed(texts);
    const [short] = await embedder.embed(['bread oven']);
    expect(many).toHaveLength(70);
    for (let i = 0; i < 70; i += 2) expect(dot(many[i]!, short!)).toBeCloseTo(1, 5);
  });

  it('says how to get a model that is not in the folder', async () => {
    await expect(createHfEmbedder('nobody/missing', { modelDir: root })).rejects.toThrow(
      /gapmap models download nobody\/missing/,
    );
  });
});

describe('downloadModel', () => {
  let server: Server;
  let source: string;
  let target: string;
  const requested: string[] = [];
  beforeAll(async () => {
    source = mkdtempSync(path.join(tmpdir(), 'gapmap-hub-'));
    target = mkdtempSync(path.join(tmpdir(), 'gapmap-models-'));
    writeTinyBert(path.join(source, MODEL_ID));
    // Hub layout: /<model id>/resolve/<revision>/<file>
    server = createServer((req, res) => {
      const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      requested.push(url);
      const m = url.match(/^\/(.+?)\/resolve\/[^/]+\/(.+)$/);
      const file = m ? path.join(source, m[1]!, m[2]!) : '';
      if (!m || !existsSync(file)) {
        res.writeHead(404).end('not found');
        return;
      }
      const body = readFileSync(file);
      res
        .writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' })
        .end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(source, { recursive: true, force: true });
    rmSync(target, { recursive: true, force: true });
  });

  it('fetches config, tokenizer and weights into <dir>/<id>, which then loads offline', async () => {
    const { port } = server.address() as AddressInfo;
    await downloadModel(MODEL_ID, target, { remoteHost: `http://127.0.0.1:${port}/` });
    expect(requested.some((u) => u.endsWith('onnx/model.onnx'))).toBe(true);
    expect(existsSync(path.join(target, MODEL_ID, 'onnx', 'model.onnx'))).toBe(true);
    const offline = await createHfEmbedder(MODEL_ID, { modelDir: target });
    const [v] = await offline.embed(['the crew paid']);
    expect(Math.sqrt(dot(v!, v!))).toBeCloseTo(1, 5);
    await offline.close?.();
  });

  it('names the model, the hub and the folder when a download fails', async () => {
    const { port } = server.address() as AddressInfo;
    await expect(
      downloadModel('nobody/missing', target, { remoteHost: `http://127.0.0.1:${port}/` }),
    ).rejects.toThrow(`could not download nobody/missing from http://127.0.0.1:${port}/ into ${target}`);
  });

  it('without a model folder and without the hub, says how to bring a copy', async () => {
    // A port nothing listens on: the hub is unreachable, as on a machine without internet.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const err = await createHfEmbedder(MODEL_ID, { remoteHost: `http://127.0.0.1:${port}/` }).catch((e) => e);
    expect(err).toBeInstanceOf(GapmapError);
    expect(err.message).toContain(
      `could not load the model ${MODEL_ID} from the Hugging Face hub (http://127.0.0.1:${port}/)`,
    );
    expect(err.message).toContain(`gapmap models download ${MODEL_ID} --dir <folder>`);
    expect(err.message).toContain('GAPMAP_MODEL_DIR');
  });
});
