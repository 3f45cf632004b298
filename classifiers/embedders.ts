/**
 * Embedders turn texts into unit-length vectors. Every embedder is wrapped in a per-process LRU
 * cache keyed by text, so re-classifying units (after a correction, a retry, the job texts of a
 * customer) costs no model time.
 */
import { GapmapError } from '../app/errors.ts';

export interface Embedder {
  /** Recorded with every classification this embedder produced. */
  readonly name: string;
  readonly version: string;
  readonly dim: number;
  /** One L2-normalised vector per text, in order. */
  embed(texts: string[]): Promise<Float32Array[]>;
  close?(): Promise<void>;
}

export interface EmbedderConfig {
  embedder?: string;
  modelDir?: string;
  openai?: { apiKey?: string; baseURL?: string; embeddingModel?: string };
}

export function normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const n = Math.sqrt(s) || 1;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / n;
  return v;
}

/** Least-recently-used map: a Map iterates in insertion order, so re-inserting marks use. */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(
    readonly capacity: number,
    /** Called with each value that leaves (evicted or replaced). */
    private readonly onLeave?: (value: V) => void,
  ) {}
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  /** The value without making it the most recently used. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }
  set(key: K, value: V): void {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      this.onLeave?.(old);
    }
    this.map.set(key, value);
    while (this.map.size > this.capacity) this.evictOldest();
  }
  /** Drops the least recently used entry. */
  evictOldest(): void {
    const [oldest, v] = this.map.entries().next().value as [K, V];
    this.map.delete(oldest);
    this.onLeave?.(v);
  }
  get size(): number {
    return this.map.size;
  }
}

/**
 * An LRU of values that each belong to one owner (a customer) and are made for one key (its jobs
 * and people's decisions), keeping only each owner's latest: after a correction, a customer's new
 * heads replace the ones before instead of staying until the LRU evicts them (kind and sentiment
 * heads with their word heads are about 12 MB, a 77-job model about 11 MB). With a byte budget,
 * owners are evicted (least recently used first) while the sizes given to `weigh` exceed it.
 */
export class OwnedLru<V> {
  private readonly lru: Lru<string, { key: string; value: V; bytes: number }>;
  private bytes = 0;
  constructor(
    capacity: number,
    private readonly budget = Infinity,
  ) {
    this.lru = new Lru(capacity, (e) => (this.bytes -= e.bytes));
  }
  get(owner: string, key: string): V | undefined {
    const e = this.lru.get(owner);
    return e?.key === key ? e.value : undefined;
  }
  set(owner: string, key: string, value: V): void {
    this.lru.set(owner, { key, value, bytes: 0 });
  }
  /** Records the size of an owner's value (known once it is built) and evicts down to the budget. */
  weigh(owner: string, key: string, bytes: number): void {
    const e = this.lru.peek(owner);
    if (!e || e.key !== key) return;
    this.bytes += bytes - e.bytes;
    e.bytes = bytes;
    while (this.bytes > this.budget && this.lru.size > 1) this.lru.evictOldest();
  }
  /** How many owners have a value. */
  get size(): number {
    return this.lru.size;
  }
  /** The sizes recorded with `weigh`, in all. */
  get weight(): number {
    return this.bytes;
  }
}

/** Wraps an embedder with a text-keyed LRU; duplicate texts within one call are embedded once. */
export class CachedEmbedder implements Embedder {
  readonly name: string;
  readonly version: string;
  private readonly cache: Lru<string, Float32Array>;
  hits = 0;
  misses = 0;
  constructor(
    readonly inner: Embedder,
    capacity = 50_000,
  ) {
    this.name = inner.name;
    this.version = inner.version;
    this.cache = new Lru(capacity);
  }
  /** The inner embedder's, read each time: an endpoint's embedder learns it from its first answer. */
  get dim(): number {
    return this.inner.dim;
  }
  /** Seeds the cache with vectors computed elsewhere (a benchmark's warm-up, a stored run). */
  prime(texts: string[], vecs: Float32Array[]): void {
    texts.forEach((t, i) => this.cache.set(t, vecs[i]!));
  }
  async embed(texts: string[]): Promise<Float32Array[]> {
    const out: (Float32Array | undefined)[] = texts.map((t) => this.cache.get(t));
    const missing = [...new Set(texts.filter((_, i) => out[i] === undefined))];
    this.hits += texts.length - missing.length;
    this.misses += missing.length;
    if (missing.length > 0) {
      const vecs = await this.inner.embed(missing);
      const fresh = new Map<string, Float32Array>();
      missing.forEach((t, i) => {
        const v = vecs[i];
        if (!v)
          throw new GapmapError(
            'internal',
            `embedder ${this.name} returned ${vecs.length} vectors for ${missing.length} texts`,
          );
        fresh.set(t, v);
        this.cache.set(t, v);
      });
      for (let i = 0; i < texts.length; i++) if (out[i] === undefined) out[i] = fresh.get(texts[i]!);
    }
    return out as Float32Array[];
  }
  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}

/**
 * `bundled` (default: USE-lite on onnxruntime) | `bundled-tfjs` (the same model on TensorFlow.js
 * wasm, same vectors, about a quarter of the speed) | `hf:<model id>` | `openai:<model>`.
 */
export async function createEmbedder(config: EmbedderConfig = {}): Promise<Embedder> {
  const spec = (config.embedder ?? '').trim() || 'bundled';
  if (spec === 'bundled') {
    const { UseOnnxEmbedder } = await import('./embed-use-onnx.ts');
    return UseOnnxEmbedder.create();
  }
  if (spec === 'bundled-tfjs') {
    const { createBundledEmbedder } = await import('./embed-bundled.ts');
    return createBundledEmbedder();
  }
  if (spec.startsWith('hf:')) {
    const { createHfEmbedder } = await import('./embed-hf.ts');
    return createHfEmbedder(spec.slice(3), { modelDir: config.modelDir });
  }
  if (spec.startsWith('openai:') || spec === 'openai') {
    const { createOpenAIEmbedder } = await import('./embed-openai.ts');
    const model = spec.slice('openai:'.length) || config.openai?.embeddingModel || 'text-embedding-3-small';
    return createOpenAIEmbedder({ ...config.openai, embeddingModel: model });
  }
  throw new GapmapError(
    'config',
    `unknown embedder "${spec}": expected "bundled", "bundled-tfjs", "hf:<model id>" or "openai:<model>"`,
  );
}
