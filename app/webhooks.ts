/**
 * GAPMAP_WEBHOOK_URL: a JSON POST when a connector run fails, and when a new value gap appears in a
 * customer's map after a run. The body is Slack-compatible (`text`, which Slack and its look-alikes
 * show) with the same facts as fields, for anything else that reads it.
 *
 * A webhook that cannot be delivered never fails the run it reports on: it is tried a few times,
 * then the failure is logged. The URL itself is never logged (Slack's carry their secret in the
 * path): only its host.
 */
import type { Db } from '../db/client.ts';
import { customerKeyMap } from '../db/queries.ts';
import { mapJson } from './map.ts';
import { errorMessage } from './errors.ts';

export interface NewValueGap {
  key: string;
  job: string | null;
  label: string;
  count: number;
  quote: string;
  quote_ref: string | null;
}

export type WebhookEvent =
  | {
      event: 'connector_run_failed';
      connector: string;
      run_id: number | null;
      error: string;
      counts: { new: number; updated: number; unchanged: number; failed: number } | null;
    }
  | {
      event: 'new_value_gaps';
      connector: string;
      run_id: number;
      customer: { key: string; name: string };
      entries: NewValueGap[];
    };

export function webhookText(e: WebhookEvent): string {
  if (e.event === 'connector_run_failed') {
    return `Gapmap: connector "${e.connector}" failed${e.run_id !== null ? ` (import run ${e.run_id})` : ''}: ${e.error}`;
  }
  const list = e.entries.map(
    (g) => `• ${g.label} (${g.count} ${g.count === 1 ? 'unit' : 'units'}${g.job ? `, job ${g.job}` : ''})`,
  );
  return (
    `Gapmap: ${e.entries.length === 1 ? 'a new value gap' : `${e.entries.length} new value gaps`} in the map of ` +
    `${e.customer.name} after connector "${e.connector}" ran (import run ${e.run_id}):\n${list.join('\n')}`
  );
}

export interface WebhookOptions {
  /** Attempts in all (network errors, 429 and 5xx are tried again). */
  attempts?: number;
  timeoutMs?: number;
  log?: (message: string) => void;
}

/** Posts the event; resolves to whether it was delivered. Never throws. */
export async function postWebhook(
  url: string | undefined,
  e: WebhookEvent,
  opts: WebhookOptions = {},
): Promise<boolean> {
  if (!url) return false;
  const body = JSON.stringify({ text: webhookText(e), ...e });
  const attempts = opts.attempts ?? 3;
  let host = '(unparseable URL)';
  try {
    host = new URL(url).host;
  } catch {
    // loadConfig already refused such a URL; this keeps the function total.
  }
  let reason = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return true;
      reason = `HTTP ${res.status}`;
      if (res.status !== 429 && res.status < 500) break;
    } catch (err) {
      reason = errorMessage(err);
    }
    if (attempt < attempts) await new Promise((r) => setTimeout(r, 500 * 2 ** (attempt - 1)));
  }
  (opts.log ?? ((m: string) => console.error(m)))(
    `webhook to ${host} (GAPMAP_WEBHOOK_URL) for ${e.event} not delivered: ${reason}`,
  );
  return false;
}

/** Each customer's value-gap entries as they are in the map now (customer id -> entry key -> entry). */
export type ValueGapSnapshot = Map<number, Map<string, NewValueGap>>;

export async function valueGapSnapshot(db: Db, customerIds?: Iterable<number>): Promise<ValueGapSnapshot> {
  const ids = customerIds ? [...customerIds] : [...(await customerKeyMap(db)).values()];
  const out: ValueGapSnapshot = new Map();
  for (const id of ids) {
    const map = await mapJson(db, id);
    const gaps = new Map<string, NewValueGap>();
    for (const column of map.columns) {
      for (const e of column.cells.value_gaps ?? []) {
        gaps.set(e.key, {
          key: e.key,
          job: column.job,
          label: e.label,
          count: e.count,
          quote: e.quote,
          quote_ref: e.quote_ref,
        });
      }
    }
    out.set(id, gaps);
  }
  return out;
}

/** Entries in `after` whose key was not in the customer's map `before`, per customer. */
export function newValueGaps(before: ValueGapSnapshot, after: ValueGapSnapshot): Map<number, NewValueGap[]> {
  const out = new Map<number, NewValueGap[]>();
  for (const [customerId, gaps] of after) {
    const had = before.get(customerId) ?? new Map<string, NewValueGap>();
    const fresh = [...gaps.values()].filter((g) => !had.has(g.key));
    if (fresh.length) out.set(customerId, fresh);
  }
  return out;
}
