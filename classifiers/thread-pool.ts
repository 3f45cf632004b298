/**
 * The plumbing both USE-lite runtimes share for their worker threads: a request/answer channel to
 * one worker (requests carry an id, answers carry the id and a Float32Array or an error), and a
 * pool that hands each batch to the next idle runner.
 */
import { Worker } from 'node:worker_threads';
import { GapmapError, errorMessage } from '../app/errors.ts';

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

/** Runs each task on the next idle runner; tasks wait while every runner is busy. */
export class IdlePool<R> {
  private readonly idle: R[];
  private readonly waiting: (() => void)[] = [];
  constructor(readonly runners: R[]) {
    this.idle = [...runners];
  }
  async use<T>(task: (runner: R) => Promise<T>): Promise<T> {
    while (this.idle.length === 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
    const runner = this.idle.pop()!;
    try {
      return await task(runner);
    } finally {
      this.idle.push(runner);
      this.waiting.shift()?.();
    }
  }
}
