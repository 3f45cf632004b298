/**
 * One closed set of error codes. Anything that reaches a person (CLI, HTTP) goes through
 * `GapmapError`, so the message says what to do, and `errorMessage` replaces the usual
 * `err instanceof Error ? err.message : String(err)` copies.
 */
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

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
