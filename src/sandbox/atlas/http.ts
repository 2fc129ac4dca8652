// The Atlas emulator's wire helpers: ApiError bodies ({detail, error, errorCode, parameters, reason}), request
// bodies, the versioned Accept header, and the ids and dates Atlas answers with.
import { randomBytes } from 'node:crypto';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { SandboxRequest } from '../contract.js';

/** An answer Atlas gives as an ApiError; thrown by handlers and sent by the router. */
export class AtlasError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string | undefined,
    readonly detail: string,
    readonly parameters: unknown[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

/** A 24-hex id shaped like a MongoDB ObjectId (4-byte time + 8 random bytes). */
export function objectId(): string {
  const t = Math.floor(Date.now() / 1000)
    .toString(16)
    .padStart(8, '0');
  return t + randomBytes(8).toString('hex');
}

export function atlasDate(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function sendAtlasError(res: ServerResponse, err: AtlasError, extraHeaders: Record<string, string> = {}): void {
  const body = JSON.stringify({
    detail: err.detail,
    error: err.status,
    ...(err.errorCode !== undefined ? { errorCode: err.errorCode } : {}),
    parameters: err.parameters,
    reason: STATUS_CODES[err.status] ?? 'Error',
  });
  res.writeHead(err.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...err.headers,
    ...extraHeaders,
  });
  res.end(body);
}

/** A successful answer in the version the caller accepted. */
export function sendAtlasJson(res: ServerResponse, status: number, version: string, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': `application/vnd.atlas.${version}+json`,
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The version dates named in `Accept: application/vnd.atlas.YYYY-MM-DD+json` (several types may be listed). */
export function acceptedVersions(accept: string | undefined): string[] {
  if (!accept) return [];
  return [...accept.matchAll(/application\/vnd\.atlas\.(\d{4}-\d{2}-\d{2})\+json/gi)].map((m) => m[1]);
}

/** A JSON object body (Atlas or plain JSON content type), else 415 / 400 as Atlas answers them. */
export function parseBody(req: SandboxRequest): Record<string, unknown> {
  const ct = String(req.headers['content-type'] ?? '').toLowerCase();
  if (ct && !/^application\/(vnd\.atlas\.\d{4}-\d{2}-\d{2}\+)?json/.test(ct)) {
    throw new AtlasError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `Content type ${ct} is not supported; send application/vnd.atlas.2023-01-01+json.`,
    );
  }
  let v: unknown;
  try {
    v = JSON.parse(req.body.toString('utf8'));
  } catch {
    throw new AtlasError(400, 'INVALID_JSON', 'The request body is not valid JSON.');
  }
  if (!isObject(v)) throw new AtlasError(400, 'INVALID_JSON', 'The request body must be a JSON object.');
  return v;
}

/** 400 INVALID_ATTRIBUTE naming the field, what was expected and what came. */
export function validationError(field: string, expected: string, got: unknown): AtlasError {
  return new AtlasError(
    400,
    'INVALID_ATTRIBUTE',
    `Invalid attribute ${field} specified: expected ${expected}; got ${JSON.stringify(got)}.`,
    [field],
  );
}
