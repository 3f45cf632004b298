/**
 * A small OpenAI-compatible HTTP server for tests: a real node:http server on 127.0.0.1 with a
 * random port, driven through the real `openai` client.
 *
 * ```ts
 * const fake = await startFakeOpenAI({ chat: (body) => ({ results: [] }) });
 * const client = new OpenAI({ apiKey: 'test', baseURL: fake.url });   // fake.url ends in /v1
 * fake.failNext(429, { 'retry-after': '1' });                          // next request answered 429
 * ...
 * expect(fake.requests[0]!.body).toMatchObject({ model: 'm' });      // every request is recorded
 * await fake.close();
 * ```
 *
 * Endpoints:
 * - `POST /v1/chat/completions`: the `chat` rule gets the parsed request body and the JSON schema
 *   of `response_format` (or null) and returns the assistant's message content: a string is sent
 *   as is (so a test can send broken JSON), anything else is JSON-encoded. The default rule
 *   answers with the smallest value that follows the schema (`answerFromSchema`).
 *   Usage is reported as about one token per four characters.
 * - `POST /v1/embeddings`: `input` as a string or an array of strings; each text gets a
 *   deterministic unit vector from a hash of the text (`hashVector`), `dimensions` long
 *   (default 32); `encoding_format: "base64"` (the client's default) and `"float"` both work.
 *   The `embed` rule replaces the vector function.
 *
 * Faults: `failNext(status, headers, count)` answers the next `count` requests (any endpoint)
 * with that status, those headers and an OpenAI-style error body; `hangNext(count)` never answers
 * the next `count` requests, so the client's timeout fires. Faults are used up in order.
 * A rule that throws answers 400 with the error message, which the client does not retry.
 *
 * Helpers for rules: `userJson(body)` parses the first JSON user message, `answerFromSchema`
 * builds a value that follows a schema, `hashVector` is the default embedding.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type JsonSchema = { [key: string]: unknown };

export interface ChatRequestBody {
  model: string;
  messages: { role: string; content: string }[];
  response_format?: { type: string; json_schema?: { name: string; schema: JsonSchema; strict?: boolean } };
  [key: string]: unknown;
}

export type ChatRule = (body: ChatRequestBody, schema: JsonSchema | null) => unknown;
export type EmbedRule = (text: string, dimensions: number) => number[];

export interface FakeOpenAIHandlers {
  chat?: ChatRule;
  embed?: EmbedRule;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (the raw string if it was not JSON). */
  body: unknown;
  /** Date.now() when the request arrived. */
  receivedAt: number;
  /** The status answered; 0 while hanging. */
  status: number;
  /** The JSON body answered, for 2xx answers. */
  response?: unknown;
}

export interface FakeOpenAI {
  /** Base URL for the client, ending in `/v1`. */
  url: string;
  requests: ReceivedRequest[];
  failNext(status: number, headers?: Record<string, string>, count?: number): void;
  hangNext(count?: number): void;
  close(): Promise<void>;
}

type Fault = { kind: 'fail'; status: number; headers: Record<string, string> } | { kind: 'hang' };

export async function startFakeOpenAI(handlers: FakeOpenAIHandlers = {}): Promise<FakeOpenAI> {
  const chat = handlers.chat ?? ((_body, schema) => (schema ? answerFromSchema(schema) : 'ok'));
  const embed = handlers.embed ?? hashVector;
  const requests: ReceivedRequest[] = [];
  const faults: Fault[] = [];

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = raw;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        // keep the raw string
      }
      const record: ReceivedRequest = {
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0] ?? '',
        headers: req.headers,
        body,
        receivedAt: Date.now(),
        status: 0,
      };
      requests.push(record);
      const send = (status: number, json: unknown, headers: Record<string, string> = {}) => {
        record.status = status;
        if (status < 300) record.response = json;
        reply(res, status, json, headers);
      };

      const fault = faults.shift();
      if (fault?.kind === 'hang') return;
      if (fault?.kind === 'fail') {
        return send(fault.status, errorBody(fault.status, 'injected by failNext'), fault.headers);
      }
      try {
        if (record.method === 'POST' && record.path === '/v1/chat/completions') {
          return send(200, chatCompletion(body as ChatRequestBody, chat));
        }
        if (record.method === 'POST' && record.path === '/v1/embeddings') {
          return send(200, embeddings(body as EmbeddingsBody, embed));
        }
        send(404, errorBody(404, `no route ${record.method} ${record.path}`));
      } catch (err) {
        send(400, errorBody(400, `fake rule failed: ${err instanceof Error ? err.message : String(err)}`));
      }
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    failNext(status, headers = {}, count = 1) {
      for (let i = 0; i < count; i++) faults.push({ kind: 'fail', status, headers });
    },
    hangNext(count = 1) {
      for (let i = 0; i < count; i++) faults.push({ kind: 'hang' });
    },
    /** Stops the server and drops open connections (hanging requests); safe to call twice. */
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function reply(res: ServerResponse, status: number, json: unknown, headers: Record<string, string>) {
  const text = JSON.stringify(json);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function errorBody(status: number, message: string) {
  return { error: { message: `${status}: ${message}`, type: 'fake_error', code: String(status) } };
}

const tokens = (s: string) => Math.ceil(s.length / 4);

function chatCompletion(body: ChatRequestBody, rule: ChatRule) {
  const schema =
    body.response_format?.type === 'json_schema' ? (body.response_format.json_schema?.schema ?? null) : null;
  const answer = rule(body, schema);
  const content = typeof answer === 'string' ? answer : JSON.stringify(answer);
  const promptTokens = tokens(JSON.stringify(body.messages));
  const completionTokens = tokens(content);
  return {
    id: `chatcmpl-fake-${Date.now()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, refusal: null },
        finish_reason: 'stop',
        logprobs: null,
      },
    ],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
  };
}

interface EmbeddingsBody {
  model: string;
  input: string | string[];
  dimensions?: number;
  encoding_format?: 'float' | 'base64';
}

function embeddings(body: EmbeddingsBody, embed: EmbedRule) {
  const inputs = Array.isArray(body.input) ? body.input : [body.input];
  const dims = body.dimensions ?? 32;
  const data = inputs.map((text, index) => {
    const vector = embed(String(text), dims);
    const embedding =
      body.encoding_format === 'base64'
        ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
        : vector;
    return { object: 'embedding', index, embedding };
  });
  const promptTokens = inputs.reduce((n, t) => n + tokens(String(t)), 0);
  return {
    object: 'list',
    data,
    model: body.model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

/** A deterministic unit vector for a text: sha256 blocks of `text#i` mapped to [-1, 1]. */
export function hashVector(text: string, dimensions: number): number[] {
  const values: number[] = [];
  for (let block = 0; values.length < dimensions; block++) {
    const digest = createHash('sha256').update(`${text}#${block}`).digest();
    for (let i = 0; i + 1 < digest.length && values.length < dimensions; i += 2) {
      values.push(digest.readUInt16LE(i) / 32767.5 - 1);
    }
  }
  const norm = Math.hypot(...values) || 1;
  return values.map((v) => v / norm);
}

/**
 * The smallest value that follows a JSON schema (objects get every property, arrays are empty,
 * enums give their first value, nullable gives null): the default "model" of the fake server.
 */
export function answerFromSchema(schema: JsonSchema, root: JsonSchema = schema): unknown {
  const ref = schema['$ref'];
  if (typeof ref === 'string') {
    const target = ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((node, key) => (node as JsonSchema | undefined)?.[decodeURIComponent(key)], root);
    return answerFromSchema((target ?? {}) as JsonSchema, root);
  }
  const options = (schema['anyOf'] ?? schema['oneOf']) as JsonSchema[] | undefined;
  if (options) {
    const nullable = options.find((o) => o['type'] === 'null');
    return nullable ? null : answerFromSchema(options[0] ?? {}, root);
  }
  if ('const' in schema) return schema['const'];
  const enumValues = schema['enum'] as unknown[] | undefined;
  if (enumValues) return enumValues[0];
  const type = Array.isArray(schema['type']) ? (schema['type'] as string[])[0] : schema['type'];
  switch (type) {
    case 'object': {
      const props = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
      return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, answerFromSchema(v, root)]));
    }
    case 'array':
      return [];
    case 'string':
      return 'x'.repeat(Number(schema['minLength'] ?? 1));
    case 'number':
    case 'integer':
      return Number(schema['minimum'] ?? 0);
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return null;
  }
}

/** For chat rules: the first user message parsed as JSON (where callers put their data), or null. */
export function userJson(body: ChatRequestBody): unknown {
  for (const m of body.messages) {
    if (m.role !== 'user') continue;
    try {
      return JSON.parse(m.content);
    } catch {
      // not a JSON message: keep looking
    }
  }
  return null;
}
