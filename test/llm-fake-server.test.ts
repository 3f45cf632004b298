import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { answerFromSchema, hashVector, startFakeOpenAI, type FakeOpenAI } from './helpers/fake-openai.ts';

let fake: FakeOpenAI;
afterEach(async () => {
  await fake?.close();
});

const openai = (maxRetries = 0) => new OpenAI({ apiKey: 'sk-test', baseURL: fake.url, maxRetries });

describe('fake OpenAI server', () => {
  it('serves deterministic unit embeddings in base64 (the client default) and as floats', async () => {
    fake = await startFakeOpenAI();
    const a = await openai().embeddings.create({
      model: 'text-embedding-3-small',
      input: ['kettle', 'oven'],
    });
    const b = await openai().embeddings.create({
      model: 'text-embedding-3-small',
      input: 'kettle',
      encoding_format: 'float',
      dimensions: 8,
    });
    expect(fake.requests.map((r) => (r.body as { encoding_format: string }).encoding_format)).toEqual([
      'base64',
      'float',
    ]);
    const kettle = Array.from(a.data[0]!.embedding);
    expect(kettle).toHaveLength(32);
    expect(Math.hypot(...kettle)).toBeCloseTo(1, 5);
    expect(kettle[0]).toBeCloseTo(hashVector('kettle', 32)[0]!, 6);
    expect(Array.from(a.data[1]!.embedding)).not.toEqual(kettle);
    expect(b.data[0]!.embedding).toEqual(hashVector('kettle', 8));
    expect(a.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it('answers chat completions with a value that follows the requested schema by default', async () => {
    fake = await startFakeOpenAI();
    const schema = {
      type: 'object',
      properties: {
        job: { anyOf: [{ type: 'string', enum: ['a', 'b'] }, { type: 'null' }] },
        kind: { type: 'string', enum: ['friction', 'other'] },
        items: { type: 'array', items: { type: 'string' } },
        score: { type: 'number' },
      },
      required: ['job', 'kind', 'items', 'score'],
      additionalProperties: false,
    };
    const res = await openai().chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      response_format: { type: 'json_schema', json_schema: { name: 's', schema, strict: true } },
    });
    expect(JSON.parse(res.choices[0]!.message.content!)).toEqual({
      job: null,
      kind: 'friction',
      items: [],
      score: 0,
    });
    expect(answerFromSchema(schema)).toEqual({ job: null, kind: 'friction', items: [], score: 0 });
  });

  it('injects failures in order and records what it answered', async () => {
    fake = await startFakeOpenAI();
    fake.failNext(429, { 'retry-after': '0' });
    fake.failNext(502);
    const res = await openai(2).embeddings.create({ model: 'e', input: 'x', encoding_format: 'float' });
    expect(res.data).toHaveLength(1);
    expect(fake.requests.map((r) => r.status)).toEqual([429, 502, 200]);
    const unknown = await fetch(`${fake.url}/models`);
    expect(unknown.status).toBe(404);
    expect(fake.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v1/models', status: 404 });
  });
});
