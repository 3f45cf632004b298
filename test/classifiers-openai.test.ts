/**
 * The OpenAI-compatible embedder through the real `openai` client, against an HTTP server this
 * test starts on 127.0.0.1 that speaks POST /v1/embeddings.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbedder } from '../classifiers/embedders.ts';
import { createOpenAIEmbedder } from '../classifiers/embed-openai.ts';
import { createClassifier } from '../classifiers/index.ts';

/** Deterministic 8-d vector from the words: texts sharing words point the same way. */
function fakeVector(text: string): number[] {
  const v = new Array(8).fill(0);
  for (const w of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    let h = 0;
    for (const c of w) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    v[h % 8] += 1;
  }
  v[7] += 0.01;
  return v;
}

describe('OpenAI-compatible embedder', () => {
  let server: Server;
  let baseURL: string;
  const requests: { auth?: string; model: string; input: string[] }[] = [];
  let failNext = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
          res.writeHead(404).end();
          return;
        }
        if (failNext > 0) {
          failNext--;
          res
            .writeHead(503, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: { message: 'busy' } }));
          return;
        }
        const parsed = JSON.parse(body) as { model: string; input: string[] };
        requests.push({ auth: req.headers.authorization, ...parsed });
        // Out of order on purpose: clients must use `index`.
        const data = parsed.input
          .map((t, index) => ({ object: 'embedding', index, embedding: fakeVector(t) }))
          .reverse();
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            object: 'list',
            data,
            model: parsed.model,
            usage: { prompt_tokens: 1, total_tokens: 1 },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('embeds in order, normalised, with the configured model and key', async () => {
    const e = await createEmbedder({ embedder: 'openai:tiny-embed', openai: { apiKey: 'sk-test', baseURL } });
    expect(e.name).toBe('openai:tiny-embed');
    const out = await e.embed(['invoice paid', 'crew truck', 'invoice paid']);
    expect(out).toHaveLength(3);
    expect(e.dim).toBe(8);
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
    expect(dot(out[0]!, out[0]!)).toBeCloseTo(1, 5);
    expect(dot(out[0]!, out[2]!)).toBeCloseTo(1, 5);
    expect(dot(out[0]!, out[1]!)).toBeLessThan(0.5);
    expect(requests.at(-1)).toMatchObject({ auth: 'Bearer sk-test', model: 'tiny-embed' });
  });

  it('retries a 503 through the client and splits large inputs into batches', async () => {
    const e = await createOpenAIEmbedder({
      apiKey: 'sk-test',
      baseURL,
      embeddingModel: 'tiny-embed',
      maxRetries: 2,
    });
    failNext = 1;
    const before = requests.length;
    const texts = Array.from({ length: 300 }, (_, i) => `unit number ${i}`);
    const out = await e.embed(texts);
    expect(out).toHaveLength(300);
    expect(requests.slice(before).map((r) => r.input.length)).toEqual([256, 44]);
  });

  it('reports the endpoint and model when the service keeps failing', async () => {
    const e = await createOpenAIEmbedder({
      apiKey: 'sk-test',
      baseURL,
      embeddingModel: 'tiny-embed',
      maxRetries: 0,
    });
    failNext = 1;
    await expect(e.embed(['x'])).rejects.toThrow(
      /embeddings from http:\/\/127\.0\.0\.1:\d+\/v1 \(model tiny-embed\) failed/,
    );
  });

  it('needs an API key', async () => {
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      await expect(createOpenAIEmbedder({ baseURL })).rejects.toThrow(/OPENAI_API_KEY/);
    } finally {
      if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
    }
  });

  it('drives the whole classifier (heads trained on its vectors)', async () => {
    const classifier = await createClassifier({
      embedder: 'openai:tiny-embed',
      openai: { apiKey: 'sk-test', baseURL },
    });
    expect(classifier.name).toBe('embedding-heads:openai:tiny-embed');
    const tags = await classifier.classify(
      [{ id: 1, text: 'The invoice reminders work great', sourceType: 'survey' }],
      {
        customerKey: 'c',
        jobs: [
          {
            key: 'billing',
            statement: 'Send invoices and get paid',
            desiredOutcome: 'Minimize days to payment',
            examples: ['invoice reminders'],
          },
          {
            key: 'crews',
            statement: 'Plan the crew trucks',
            desiredOutcome: 'Minimize idle truck hours',
            examples: ['crew schedule'],
          },
        ],
      },
    );
    expect(tags).toHaveLength(1);
    expect(tags[0]!.kindConfidence).toBeGreaterThan(0);
  });
});
