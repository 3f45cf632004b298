/**
 * One closed set of error codes. Anything that reaches a person (CLI, HTTP) goes through
 * `GapmapError`, so the message says what to do, and `errorMessage` replaces the usual
 * `err instanceof Error ? err.message : String(err)` copies.
 */
import type { ImportIssue } from '../ingest/types.ts';

export const ERROR_CODES = {
  bad_input: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported: 415,
  config: 500,
  service_unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class GapmapError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'GapmapError';
  }
  get status(): number {
    return ERROR_CODES[this.code];
  }
}

/**
 * A server's failure to listen, as what to do about it: a port in use (`whoElse` guesses by whom),
 * or one this user may not open. Anything else is passed on as it came.
 */
export function listenError(err: unknown, host: string, port: number, whoElse: string): unknown {
  const code = (err as { code?: string }).code;
  if (code === 'EADDRINUSE')
    return new GapmapError(
      'config',
      `cannot listen on ${host}:${port}: the port is in use (${whoElse}); choose another with --port`,
    );
  if (code === 'EACCES')
    return new GapmapError(
      'config',
      `cannot listen on ${host}:${port}: not allowed (ports below 1024 need privileges); choose another with --port`,
    );
  return err;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  // Some libraries throw plain objects (PGlite's wasm side did): "[object Object]" says nothing.
  if (err && typeof err === 'object') {
    const { message } = err as { message?: unknown };
    if (typeof message === 'string') return message;
    try {
      return JSON.stringify(err);
    } catch {
      // A cycle: fall through.
    }
  }
  return String(err);
}

/**
 * Bad rows of an input (ImportIssue: an import's, eval's label lines) as lines for a person, one
 * per issue up to `limit`, then how many more there are and where to see them all.
 */
export function issueLines(issues: ImportIssue[], more: string, limit = 50): string[] {
  const lines = issues
    .slice(0, limit)
    .map((e) => `  ${e.file}${e.line ? `:${e.line}` : ''}${e.field ? ` [${e.field}]` : ''}: ${e.message}`);
  if (issues.length > limit) lines.push(`  ... and ${issues.length - limit} more (${more})`);
  return lines;
}

/**
 * A log that says a repeated message once per `windowMs`, and how often it came meanwhile: while
 * Redis is away every worker reports each of ioredis's reconnection attempts (3,220 lines in about
 * 20 s of one outage, measured).
 */
export function quietRepeats(
  log: (msg: string) => void,
  windowMs = 60_000,
  now: () => number = Date.now,
): (msg: string) => void {
  const said = new Map<string, { at: number; since: number }>();
  return (msg) => {
    const t = now();
    const last = said.get(msg);
    if (last && t - last.at < windowMs) {
      last.since++;
      return;
    }
    log(last?.since ? `${msg} (${last.since} more since ${new Date(last.at).toISOString()})` : msg);
    said.set(msg, { at: t, since: 0 });
  };
}
