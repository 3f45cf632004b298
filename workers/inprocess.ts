/**
 * The embedded mode's queue: the same processors, called in this process, in order (classify
 * batches a few at a time, as a worker takes them). Map rebuilds are held back until nothing else
 * is waiting, and each customer's map is built once.
 */
import type { JobName, Payload } from './catalog.ts';
import { CLASSIFY_CONCURRENCY, runJob, type Runtime } from './processors.ts';

export function createInProcessRuntime(
  base: Omit<Runtime, 'enqueue'>,
  opts: {
    /**
     * Work that must not wait for a long drain (the dashboard's map rebuild after a decision): while
     * it is waiting, no new job starts; once the running ones are done it runs, then the drain goes on.
     */
    priority?: { waiting(): boolean; run(): Promise<void> };
  } = {},
): Runtime & { drain(): Promise<void> } {
  const work: { name: JobName; payload: unknown }[] = [];
  const aggregates = new Set<number>();
  const rt: Runtime & { drain(): Promise<void> } = {
    ...base,
    async enqueue<N extends JobName>(name: N, payload: Payload<N>) {
      if (name === 'aggregate') aggregates.add((payload as Payload<'aggregate'>).customerId);
      else work.push({ name, payload });
    },
    async drain() {
      // Classify batches next to each other in the queue run CLASSIFY_CONCURRENCY at a time, as a
      // worker runs them; any other job waits until they are done, and so keeps its order.
      const running = new Set<Promise<void>>();
      const failed: unknown[] = [];
      for (;;) {
        if (failed.length > 0) {
          await Promise.all(running);
          throw failed[0];
        }
        const next = work[0];
        const priority = opts.priority?.waiting() ?? false;
        if (next?.name === 'classify' && running.size < CLASSIFY_CONCURRENCY && !priority) {
          work.shift();
          const job: Promise<void> = runJob(next.name, next.payload, rt)
            .catch((err: unknown) => void failed.push(err))
            .finally(() => running.delete(job));
          running.add(job);
          continue;
        }
        if (running.size > 0) {
          await Promise.race(running);
          continue;
        }
        if (priority) {
          await opts.priority!.run();
          continue;
        }
        if (next) {
          work.shift();
          await runJob(next.name, next.payload, rt);
          continue;
        }
        const customerId = aggregates.values().next().value;
        if (customerId === undefined) return;
        aggregates.delete(customerId);
        await runJob('aggregate', { customerId }, rt);
      }
    },
  };
  return rt;
}
