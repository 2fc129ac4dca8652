// Errors are classified once, here at the adapter edge, and travel as a ClassifiedError from then on.
// transient: worth retrying later (429, 408, 5xx, timeouts, resets, DNS/connection failures);
// terminal: retrying will not help (400, 401, 403, 404, 409 other than the ones callers treat as done).
// The service's own error code (ARM `error.code`, Atlas `errorCode`) is kept so state and alerts can name it.

export type ErrorClass = 'transient' | 'terminal';
export type ErrorSource = 'arm' | 'atlas' | 'state' | 'alerts';

export class ClassifiedError extends Error {
  constructor(
    public readonly kind: ErrorClass,
    public readonly source: ErrorSource,
    message: string,
    public readonly status?: number,
    /** The service's error code, e.g. `AuthorizationFailed`, `RoleAssignmentExists`, `RATE_LIMITED_TOKEN_BUCKET`. */
    public readonly code?: string,
    /** From `Retry-After` when the service sent one. */
    public readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ClassifiedError';
  }

  get transient(): boolean {
    return this.kind === 'transient';
  }

  /** One line for state and alerts: `arm 403 AuthorizationFailed: ...`. Never contains headers or secrets. */
  describe(): string {
    return `${this.source}${this.status ? ` ${this.status}` : ''}${this.code ? ` ${this.code}` : ''}: ${this.message}`;
  }
}

const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'REQUEST_SEND_ERROR',
]);

export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** `Retry-After` as seconds or an HTTP date; milliseconds, or undefined. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return Math.round(s * 1000);
  const t = Date.parse(value);
  return Number.isFinite(t) ? Math.max(0, t - now) : undefined;
}

interface ErrorLike {
  name?: string;
  message?: string;
  code?: string;
  statusCode?: number;
  status?: number;
  cause?: unknown;
  details?: unknown;
  response?: { status?: number; headers?: { get(name: string): string | undefined | null } };
}

function findNetworkCode(err: unknown, depth = 0): string | undefined {
  if (!err || typeof err !== 'object' || depth > 4) return undefined;
  const e = err as ErrorLike;
  if (e.code && TRANSIENT_NETWORK_CODES.has(e.code)) return e.code;
  return findNetworkCode(e.cause, depth + 1);
}

function serviceCode(e: ErrorLike): string | undefined {
  // core-client puts ARM's `error.code` into `code`; data-tables keeps the OData error in `details`.
  const d = e.details as { errorCode?: string; odataError?: { code?: string }; error?: { code?: string } } | undefined;
  if (d?.odataError?.code) return d.odataError.code;
  if (d?.errorCode) return d.errorCode;
  if (d?.error?.code) return d.error.code;
  if (e.code && !TRANSIENT_NETWORK_CODES.has(e.code)) return e.code;
  return undefined;
}

function errorStatus(e: ErrorLike): number | undefined {
  const status = e.statusCode ?? e.status ?? e.response?.status;
  return typeof status === 'number' && status > 0 ? status : undefined;
}

/** A failure without an HTTP status: a network code or a timeout is transient; anything else terminal. */
function classifyWithoutStatus(err: unknown, e: ErrorLike, source: ErrorSource, message: string): ClassifiedError {
  const net = findNetworkCode(err);
  if (net) return new ClassifiedError('transient', source, message, undefined, net);
  if (e.name === 'AbortError' || e.name === 'TimeoutError') {
    return new ClassifiedError('transient', source, message, undefined, e.name);
  }
  // Unknown failures are not known to be fixable by waiting, but must never read as healthy either.
  return new ClassifiedError('terminal', source, message, undefined, e.code ?? e.name);
}

/** Classifies anything thrown by an SDK call or fetch. Already classified errors pass through unchanged. */
export function classifyError(err: unknown, source: ErrorSource): ClassifiedError {
  if (err instanceof ClassifiedError) return err;
  const e = (err && typeof err === 'object' ? err : { message: String(err) }) as ErrorLike;
  const message = (e.message ?? 'unknown error').split('\n')[0]!.slice(0, 500);
  const status = errorStatus(e);
  if (status === undefined) return classifyWithoutStatus(err, e, source, message);
  return new ClassifiedError(
    isTransientStatus(status) ? 'transient' : 'terminal',
    source,
    message,
    status,
    serviceCode(e),
    parseRetryAfter(e.response?.headers?.get('retry-after')),
  );
}
