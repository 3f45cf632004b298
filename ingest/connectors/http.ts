/**
 * What every remote connector shares: one JSON request function that survives a help desk's bad
 * nights (timeouts, 429 with Retry-After, 5xx, connections reset mid-body) for a bounded time and
 * then fails with a `ConnectorError` a person can act on; the page shape the connectors yield; and
 * the organization/e-mail-domain to customer mapping.
 *
 * Secrets (API tokens) travel only in request headers. Error messages and log events name the
 * service, the URL path, the status and the attempts, never a header, and any text quoted from a
 * response passes through `redact` first.
 */
import { GapmapError, errorMessage, type ErrorCode } from '../../app/errors.ts';
import type { ParsedItem } from '../types.ts';

/** One page of a connector's stream. Store `items` and `deleted`, then save `cursor`. */
export interface ConnectorPage {
  items: ParsedItem[];
  /** External ids of items deleted at the source: mark them, never erase. */
  deleted: string[];
  /** What to resume from once this page is stored (opaque to the caller). */
  cursor: string;
  /** The stream is exhausted up to now; the cursor is where the next run starts. */
  done: boolean;
}

/** Set once per connector: help-desk organization (name or id) or e-mail domain -> customer key. */
export interface CustomerMapping {
  organizations?: Record<string, string>;
  domains?: Record<string, string>;
}

export interface CustomerLookup {
  organizationId?: string | null;
  organizationName?: string | null;
  /** E-mail domains to try, most specific first (the requester's, then the organization's). */
  domains?: Array<string | null | undefined>;
}

/** The customer key, or '' with what a person should map (`unmapped`) when nothing matches. */
export function resolveCustomer(
  mapping: CustomerMapping,
  who: CustomerLookup,
): { customerKey: string; unmapped: string | null } {
  const orgs = mapping.organizations ?? {};
  const byOrg =
    (who.organizationId != null ? orgs[who.organizationId] : undefined) ??
    (who.organizationName ? lookupFolded(orgs, who.organizationName) : undefined);
  if (byOrg) return { customerKey: byOrg, unmapped: null };
  const domains = (who.domains ?? []).filter((d): d is string => !!d).map((d) => d.toLowerCase());
  for (const d of domains) {
    const key = lookupFolded(mapping.domains ?? {}, d);
    if (key) return { customerKey: key, unmapped: null };
  }
  const label =
    who.organizationName ?? (domains[0] ? `@${domains[0]}` : '(no organization or e-mail domain)');
  return { customerKey: '', unmapped: label };
}

function lookupFolded(table: Record<string, string>, key: string): string | undefined {
  if (table[key] !== undefined) return table[key];
  const folded = key.trim().toLowerCase();
  for (const [k, v] of Object.entries(table)) if (k.trim().toLowerCase() === folded) return v;
  return undefined;
}

export function emailDomain(email: string | null | undefined): string | null {
  if (!email) return null;
  const at = email.lastIndexOf('@');
  return at > 0 && at < email.length - 1 ? email.slice(at + 1).toLowerCase() : null;
}

export class ConnectorError extends GapmapError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly service: string,
    readonly path: string,
    readonly httpStatus: number | null,
    readonly attempts: number,
  ) {
    super(code, message, { service, path, status: httpStatus, attempts });
    this.name = 'ConnectorError';
  }
}

export interface RetryPolicy {
  /** Per attempt, headers and body together. */
  timeoutMs: number;
  /** Give up once retrying would go past this much time since the first attempt. */
  maxTotalMs: number;
  /** First back-off; doubles per attempt, with jitter, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  // Zendesk's incremental export can take a while for 1,000 tickets with side-loads.
  timeoutMs: 60_000,
  // A night's run may wait out a rate-limit window or a short outage, not an hour-long one.
  maxTotalMs: 10 * 60_000,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
};

export type HttpEvent =
  | {
      type: 'retry';
      service: string;
      method: string;
      path: string;
      attempt: number;
      reason: string;
      delayMs: number;
    }
  | { type: 'give_up'; service: string; method: string; path: string; attempts: number; reason: string };

/** An HttpEvent as a line for a person (its reason is already free of secrets). */
export function describeHttpEvent(e: HttpEvent): string {
  return e.type === 'retry'
    ? `${e.service} ${e.method} ${e.path}: attempt ${e.attempt} failed (${e.reason}); trying again in ${seconds(e.delayMs)}`
    : `${e.service} ${e.method} ${e.path}: giving up after ${e.attempts} attempts (${e.reason})`;
}

export interface HttpClientOptions {
  /** Named in errors: "Zendesk", "Intercom". */
  service: string;
  /** Sent with every request (auth, versions). */
  headers: Record<string, string>;
  /** Strings that must never appear in an error or log event (tokens, passwords). */
  secrets: string[];
  retry?: Partial<RetryPolicy>;
  log?: (event: HttpEvent) => void;
  /** Waits between attempts; tests pass one that records the delay and returns at once. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
  /** Seeded in tests; Math.random otherwise. */
  random?: () => number;
  /** The clock the time limit is measured on; tests pair it with `sleep` to advance it. */
  now?: () => number;
}

export interface JsonResponse<T> {
  status: number;
  headers: Headers;
  body: T;
  attempts: number;
}

export interface HttpClient {
  getJson<T = unknown>(url: string | URL): Promise<JsonResponse<T>>;
  postJson<T = unknown>(url: string | URL, body: unknown): Promise<JsonResponse<T>>;
}

export function createHttpClient(opts: HttpClientOptions): HttpClient {
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...opts.retry };
  const sleep = opts.sleep ?? abortableSleep;
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;
  const secrets = opts.secrets.filter((s) => s.length >= 4);

  async function request<T>(
    method: 'GET' | 'POST',
    target: string | URL,
    body?: unknown,
  ): Promise<JsonResponse<T>> {
    const url = new URL(target);
    const path = url.pathname;
    const started = now();
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 1; ; attempt++) {
      opts.signal?.throwIfAborted();
      let outcome = await attemptOnce(method, url, headers, payload, policy.timeoutMs, opts.signal);
      if (outcome.kind === 'ok') {
        try {
          return {
            status: outcome.status,
            headers: outcome.headers,
            body: JSON.parse(outcome.text) as T,
            attempts: attempt,
          };
        } catch {
          // A 2xx whose body is not JSON is almost always a body cut short by a proxy: retry it.
          outcome = {
            kind: 'retry',
            status: outcome.status,
            reason: `HTTP ${outcome.status} with a body that is not complete JSON`,
          };
        }
      }
      if (outcome.kind === 'fatal') {
        throw new ConnectorError(
          outcome.status === 401
            ? 'unauthorized'
            : outcome.status === 403
              ? 'forbidden'
              : outcome.status === 404
                ? 'not_found'
                : 'bad_input',
          redact(
            `${opts.service} ${method} ${path}: HTTP ${outcome.status} after ${attempt} attempt${attempt === 1 ? '' : 's'}${hintFor(outcome.status)}${quote(outcome.text)}`,
            secrets,
          ),
          opts.service,
          path,
          outcome.status,
          attempt,
        );
      }
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      // Retry-After is the server's own instruction; jitter only spreads our own back-off.
      const delayMs = outcome.retryAfterMs ?? Math.round(backoff / 2 + random() * (backoff / 2));
      const elapsed = now() - started;
      if (elapsed + delayMs > policy.maxTotalMs) {
        const reason = redact(outcome.reason, secrets);
        opts.log?.({ type: 'give_up', service: opts.service, method, path, attempts: attempt, reason });
        throw new ConnectorError(
          'service_unavailable',
          `${opts.service} ${method} ${path}: gave up after ${attempt} attempt${attempt === 1 ? '' : 's'} over ${seconds(elapsed)} ` +
            `(limit ${seconds(policy.maxTotalMs)}${outcome.retryAfterMs != null ? `, server asked to wait ${seconds(outcome.retryAfterMs)} more` : ''}); last: ${reason}. ` +
            `The run can be started again and resumes from the last stored page.`,
          opts.service,
          path,
          outcome.status,
          attempt,
        );
      }
      opts.log?.({
        type: 'retry',
        service: opts.service,
        method,
        path,
        attempt,
        reason: redact(outcome.reason, secrets),
        delayMs,
      });
      await sleep(delayMs, opts.signal);
    }
  }

  return {
    getJson: (url) => request('GET', url),
    postJson: (url, body) => request('POST', url, body),
  };
}

type Outcome =
  | { kind: 'ok'; status: number; headers: Headers; text: string }
  | { kind: 'retry'; status: number | null; reason: string; retryAfterMs?: number }
  | { kind: 'fatal'; status: number; text: string };

async function attemptOnce(
  method: string,
  url: URL,
  headers: Record<string, string>,
  payload: string | undefined,
  timeoutMs: number,
  outer: AbortSignal | undefined,
): Promise<Outcome> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new TimeoutSignal()), timeoutMs);
  const onOuter = () => ctl.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  try {
    const res = await fetch(url, { method, headers, body: payload, signal: ctl.signal });
    // The timeout covers the body too: a server that stalls mid-page must not hang the run.
    const text = await res.text();
    if (res.ok) return { kind: 'ok', status: res.status, headers: res.headers, text };
    const retryAfterMs = parseRetryAfter(res.headers);
    if (res.status === 429 || res.status === 408 || res.status >= 500) {
      return {
        kind: 'retry',
        status: res.status,
        reason: `HTTP ${res.status}${retryAfterMs != null ? ` (Retry-After ${seconds(retryAfterMs)})` : ''}`,
        retryAfterMs,
      };
    }
    return { kind: 'fatal', status: res.status, text };
  } catch (err) {
    if (outer?.aborted) throw outer.reason ?? err;
    if (ctl.signal.reason instanceof TimeoutSignal)
      return { kind: 'retry', status: null, reason: `no complete response within ${seconds(timeoutMs)}` };
    return { kind: 'retry', status: null, reason: `connection failed: ${networkReason(err)}` };
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}

class TimeoutSignal extends Error {}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  return cause?.message ?? errorMessage(err);
}

/** Retry-After in seconds or as an HTTP date; Intercom's X-RateLimit-Reset (epoch seconds) otherwise. */
export function parseRetryAfter(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get('retry-after');
  if (value) {
    const secs = Number(value);
    if (Number.isFinite(secs) && secs >= 0) return Math.ceil(secs * 1000);
    const at = Date.parse(value);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const reset = Number(headers.get('x-ratelimit-reset'));
  if (Number.isFinite(reset) && reset > 0) return Math.max(0, reset * 1000 - now);
  return undefined;
}

export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}

function hintFor(status: number): string {
  if (status === 401)
    return ': the credentials were refused; check the e-mail and API token set for this connector';
  if (status === 403) return ': the account lacks permission (the export needs an admin)';
  if (status === 404) return ': not found; check the connector URL (subdomain)';
  return '';
}

function quote(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t ? ` (server said: ${t.length > 200 ? t.slice(0, 200) + '...' : t})` : '';
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `fn` over `inputs` with at most `limit` in flight, keeping order. */
export async function mapLimit<A, B>(inputs: A[], limit: number, fn: (a: A) => Promise<B>): Promise<B[]> {
  const out = new Array<B>(inputs.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, inputs.length) }, async () => {
    while (next < inputs.length) {
      const i = next++;
      out[i] = await fn(inputs[i] as A);
    }
  });
  await Promise.all(workers);
  return out;
}

/** Plain text of an HTML fragment (Intercom bodies, Zendesk html_body): tags dropped, entities decoded. */
export function htmlToText(html: string): string {
  return html
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div|li|h[1-6])>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, '&')
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
