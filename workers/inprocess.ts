/**
 * The embedded mode's queue: the same processors, called in this process, in order. Map rebuilds
 * are held back until nothing else is waiting, and each customer's map is built once.
 */
import type { JobName, Payload } from './catalog.ts';
import { runJob, type Runtime } from './processors.ts';

export function createInProcessRuntime(base: Omit<Runtime, 'enqueue'>): Runtime & { drain(): Promise<void> } {
  const work: { name: JobName; payload: unknown }[] = [];
  const aggregates = new Set<number>();
  const rt: Runtime & { drain(): Promise<void> } = {
    ...base,
    async enqueue<N extends JobName>(name: N, payload: Payload<N>) {
      if (name === 'aggregate') aggregates.add((payload as Payload<'aggregate'>).customerId);
      else work.push({ name, payload });
    },
    async drain() {
      for (;;) {
        const next = work.shift();
        if (next) {
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
