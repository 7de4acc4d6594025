/**
 * The one error type services throw for outcomes a caller should see. Each code has a fixed HTTP status.
 * Anything that is not an AppError (or an AppError with code `internal`) is shown as a generic message with
 * an event id; the real error is logged under that id.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';

export const ERROR_STATUS = {
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
  /** A dependency the request needs is down (e.g. the database listener of live updates); retry later. */
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** A problem with one input field; `path` looks like `routes[3].weightedClusters[1].weight` ('' = the whole body). */
export interface Issue {
  path: string;
  message: string;
}

export class AppError extends Error {
  override readonly name = 'AppError';
  /** Structured data the caller needs besides the issues (e.g. Rego diagnostics for editor markers); shown as `error.details`. */
  readonly details?: Record<string, unknown>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly issues?: Issue[],
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options);
    if (options?.details !== undefined) this.details = options.details;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const badRequest = (message: string, issues?: Issue[]) => new AppError('bad_request', message, issues);
export const unauthenticated = (message = 'sign in or send a valid API token') => new AppError('unauthenticated', message);
export const forbidden = (message = 'your role does not allow this') => new AppError('forbidden', message);
export const notFound = (what = 'resource') => new AppError('not_found', `${what} not found`);
export const conflict = (message: string) => new AppError('conflict', message);

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; issues?: Issue[]; details?: Record<string, unknown>; eventId?: string };
}

export const GENERIC_ERROR_MESSAGE = 'something went wrong on our side; quote the event id when reporting it';

/**
 * The HTTP status and JSON body for any thrown value. Unknown errors are logged with a fresh event id,
 * which is the only thing the caller learns about them.
 */
export function describeError(err: unknown, log?: Logger): { status: number; body: ErrorBody } {
  if (isAppError(err) && err.code !== 'internal') {
    const body: ErrorBody = { error: { code: err.code, message: err.message } };
    if (err.issues?.length) body.error.issues = err.issues;
    if (err.details !== undefined) body.error.details = err.details;
    return { status: err.status, body };
  }
  const eventId = randomUUID();
  log?.error({ err, eventId }, 'unhandled error');
  return { status: 500, body: { error: { code: 'internal', message: GENERIC_ERROR_MESSAGE, eventId } } };
}
