/**
 * One BullMQ job scheduler per connector, on the `connector` queue: its cron pattern in its time
 * zone, producing `connector` jobs with payload {name}. `gapmap worker` keeps them in step with the
 * connectors table (at start, then every minute), and `gapmap connectors add|remove` in queue mode
 * does it at once. Upserting only what differs keeps a running schedule's next job where it is.
 *
 * Only one run of a connector at a time, whatever the schedule or how many workers: the run holds
 * an advisory lock (ingest/connectors/run.ts); a scheduled job that finds it taken ends at once.
 */
import type { Queue } from 'bullmq';
import type { Db } from '../db/client.ts';
import type { Config } from '../app/env.ts';
import { listConnectors } from '../db/connectors.ts';
import { errorMessage } from '../app/errors.ts';
import { jobOptions } from './queues.ts';

// No colon: BullMQ reads an unknown id with colons as a legacy repeatable-job key.
export const SCHEDULER_PREFIX = 'connector-';

export function schedulerId(connectorName: string): string {
  return `${SCHEDULER_PREFIX}${connectorName}`;
}

export interface ScheduleSync {
  upserted: string[];
  removed: string[];
}

/** Makes the queue's connector schedulers match the connectors table. */
export async function syncConnectorSchedules(db: Db, queue: Queue, config: Config): Promise<ScheduleSync> {
  const wanted = await listConnectors(db);
  const existing = new Map<string, { pattern?: string; tz?: string; name: string; data?: unknown }>();
  for (let start = 0; ; start += 100) {
    const page = await queue.getJobSchedulers(start, start + 99, true);
    for (const s of page) {
      if (s.key.startsWith(SCHEDULER_PREFIX))
        existing.set(s.key, { pattern: s.pattern, tz: s.tz, name: s.name, data: s.template?.data });
    }
    if (page.length < 100) break;
  }
  const upserted: string[] = [];
  for (const c of wanted) {
    const id = schedulerId(c.name);
    const had = existing.get(id);
    existing.delete(id);
    const data = { name: c.name };
    if (
      had &&
      had.pattern === c.schedule &&
      had.tz === c.timezone &&
      had.name === 'connector' &&
      JSON.stringify(had.data) === JSON.stringify(data)
    )
      continue;
    await queue.upsertJobScheduler(
      id,
      { pattern: c.schedule, tz: c.timezone },
      { name: 'connector', data, opts: jobOptions('connector', config) },
    );
    upserted.push(id);
  }
  const removed: string[] = [];
  for (const id of existing.keys()) {
    await queue.removeJobScheduler(id);
    removed.push(id);
  }
  return { upserted, removed };
}

export interface RunningScheduler {
  /** Syncs now (also done at start and every `intervalMs`). */
  sync(): Promise<ScheduleSync>;
  close(): Promise<void>;
}

export function startScheduler(
  db: Db,
  queue: Queue,
  config: Config,
  opts: { intervalMs?: number; log?: (message: string) => void } = {},
): RunningScheduler {
  const log = opts.log ?? ((m: string) => console.error(m));
  let running: Promise<ScheduleSync> | null = null;
  const sync = () =>
    (running ??= syncConnectorSchedules(db, queue, config).finally(() => {
      running = null;
    }));
  const tick = () =>
    void sync().then(
      (r) => {
        for (const id of r.upserted) log(`schedule ${id} set`);
        for (const id of r.removed) log(`schedule ${id} removed (connector gone)`);
      },
      (err) => log(`connector schedules not synced: ${errorMessage(err)}`),
    );
  tick();
  // A connector added or removed from another machine is picked up within a minute.
  const timer = setInterval(tick, opts.intervalMs ?? 60_000);
  timer.unref();
  return {
    sync,
    async close() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
