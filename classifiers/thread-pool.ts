/**
 * The plumbing both USE-lite runtimes share for their worker threads: a request/answer channel to
 * one worker (requests carry an id, answers carry the id and a Float32Array or an error), and a
 * pool that hands each batch to the least busy runner.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { GapmapError, errorMessage } from '../app/errors.ts';

/** A whole number of at least 1 from the environment variable `name`; undefined when unset or not one. */
export function countFromEnv(name: string): number | undefined {
  const n = Number(process.env[name]);
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}

/** Threads for the bundled model: GAPMAP_EMBED_THREADS, else one per core up to 2. */
export function embedThreads(): number {
  return countFromEnv('GAPMAP_EMBED_THREADS') ?? Math.max(1, Math.min(2, availableParallelism()));
}

export interface WorkerChannel {
  call(message: object, transfer?: ArrayBuffer[]): Promise<Float32Array>;
  close(): Promise<void>;
}

/**
 * A worker thread running `file`, named `label` in errors. It is referenced only while a request is
 * out, so an idle embedder does not keep the process alive; when it fails or exits, every request
 * in flight is rejected.
 */
export function workerChannel(
  file: string,
  label: string,
  /** A first message that sets the worker up (it is not answered). */
  init?: { message: object; transfer?: ArrayBuffer[] },
): WorkerChannel {
  const worker = new Worker(file);
  if (init) worker.postMessage(init.message, init.transfer ?? []);
  const pending = new Map<number, { resolve: (d: Float32Array) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  worker.on('message', (msg: { id: number; data?: Float32Array; error?: string }) => {
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (pending.size === 0) worker.unref();
    if (msg.error !== undefined) p?.reject(new GapmapError('internal', `${label}: ${msg.error}`));
    else p?.resolve(msg.data!);
  });
  const failAll = (why: string) => {
    for (const p of pending.values()) p.reject(new GapmapError('internal', `${label}: ${why}`));
    pending.clear();
  };
  worker.on('error', (err) => failAll(errorMessage(err)));
  worker.on('exit', (code) => failAll(`exited with code ${code}`));
  worker.unref();
  return {
    call(message, transfer = []) {
      const id = nextId++;
      worker.ref();
      return new Promise<Float32Array>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ ...message, id }, transfer);
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}

/**
 * Runs each task on the runner with the fewest tasks in flight, up to `depth` per runner; tasks
 * wait while every runner has `depth`. With a depth of 2 a worker thread has its next batch in
 * its queue when it finishes one, and starts it without waiting for this thread's event loop,
 * which may be busy for tens of milliseconds (tokenizing a call, a batch's heads, a query's rows).
 */
export class RunnerPool<R> {
  private readonly inFlight: number[];
  private readonly waiting: (() => void)[] = [];
  constructor(
    readonly runners: R[],
    readonly depth = 1,
  ) {
    this.inFlight = runners.map(() => 0);
  }
  /** The index of the least busy runner with room for a task, or -1. */
  private free(): number {
    let best = -1;
    for (let i = 0; i < this.runners.length; i++)
      if (this.inFlight[i]! < this.depth && (best < 0 || this.inFlight[i]! < this.inFlight[best]!)) best = i;
    return best;
  }
  async use<T>(task: (runner: R) => Promise<T>): Promise<T> {
    let i: number;
    while ((i = this.free()) < 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight[i]!++;
    try {
      return await task(this.runners[i]!);
    } finally {
      this.inFlight[i]!--;
      this.waiting.shift()?.();
    }
  }
}
