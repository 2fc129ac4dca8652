// What every ARM route family shares: the error type that becomes `{"error":{"code","message"}}`, body
// parsing, the caller identity from the bearer token, change notices, and ARM's nextLink paging.
import type { ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { ChangeNotice, KeyVaultNotice, SandboxContext, SandboxRequest } from '../contract.js';
import { sendArmError, sendJson } from '../server.js';
import type { Principal, SandboxState } from '../state.js';

/** An ARM failure: status + ARM error code + message. Thrown by handlers, sent by the router. */
export class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ArmError';
  }
}

/** Who is calling, and the request's correlation ID (ARM echoes `x-ms-correlation-request-id`). */
export interface Caller {
  actor: Principal;
  correlationId: string;
  httpMethod: string;
  requestUrl: string;
}

/** A caller for changes made through the control API ("alice deletes ..."). */
export function controlCaller(actor: Principal, what: string, method = 'PUT'): Caller {
  return { actor, correlationId: randomUUID(), httpMethod: method, requestUrl: `control:${what}` };
}

/**
 * The caller behind a bearer token. `actor:<name>` names a sandbox principal; a JWT-shaped token is
 * read for `oid`/`upn`/`name` (no signature check: the sandbox trusts any token, as the issue asks);
 * anything else is the principal `anonymous`.
 */
export function actorFromAuthorization(state: SandboxState, header: string | undefined): Principal | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S.*)$/i.exec(header.trim());
  if (!m) return undefined;
  const token = m[1].trim();
  const named = /^actor:(.+)$/i.exec(token);
  if (named) return state.actor(named[1].trim());
  const parts = token.split('.');
  if (parts.length === 3) {
    try {
      const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Record<string, unknown>;
      const oid = typeof claims.oid === 'string' ? claims.oid : undefined;
      const byId = oid ? state.principalById(oid) : undefined;
      if (byId) return byId;
      const name = String(claims.upn ?? claims.name ?? claims.appid ?? oid ?? 'anonymous');
      return state.addPrincipal({ name, ...(oid ? { objectId: oid } : {}) });
    } catch {
      // not a JWT after all: fall through
    }
  }
  return state.actor('anonymous');
}

export function parseJsonBody(req: SandboxRequest): Record<string, unknown> {
  if (req.body.length === 0) {
    throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid: the body is empty.');
  }
  let value: unknown;
  try {
    value = JSON.parse(req.body.toString('utf8'));
  } catch (err) {
    throw new ArmError(
      400,
      'InvalidRequestContent',
      `The request content was invalid and could not be deserialized: '${(err as Error).message}'.`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid: expected a JSON object.');
  }
  return value as Record<string, unknown>;
}

export function objectField(body: Record<string, unknown>, name: string): Record<string, unknown> | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new ArmError(400, 'InvalidRequestContent', `The request content was invalid: '${name}' must be an object.`);
  }
  return v as Record<string, unknown>;
}

export function stringField(obj: Record<string, unknown>, name: string, path: string, required: true): string;
export function stringField(
  obj: Record<string, unknown>,
  name: string,
  path: string,
  required?: false,
): string | undefined;
export function stringField(
  obj: Record<string, unknown>,
  name: string,
  path: string,
  required = false,
): string | undefined {
  const v = obj[name];
  if (v === undefined || v === null) {
    if (required)
      throw new ArmError(400, 'InvalidRequestContent', `The request content was invalid: '${path}' is required.`);
    return undefined;
  }
  if (typeof v !== 'string') {
    throw new ArmError(400, 'InvalidRequestContent', `The request content was invalid: '${path}' must be a string.`);
  }
  return v;
}

/** ARM requires `api-version` on every call. */
export function requireApiVersion(req: SandboxRequest): string {
  const v = req.url.searchParams.get('api-version');
  if (!v) {
    throw new ArmError(
      400,
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    );
  }
  if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(v)) {
    throw new ArmError(400, 'InvalidApiVersionParameter', `The api-version '${v}' is invalid.`);
  }
  return v;
}

export function notifyChange(
  ctx: SandboxContext,
  caller: Caller,
  kind: ChangeNotice['kind'],
  operationName: string,
  resourceUri: string,
): void {
  ctx.notify({
    kind,
    operationName,
    resourceUri,
    subscriptionId: ctx.subscriptionId,
    tenantId: ctx.tenantId,
    actor: {
      name: caller.actor.name,
      objectId: caller.actor.objectId,
      tenantId: caller.actor.tenantId,
      ...(caller.actor.upn ? { upn: caller.actor.upn } : {}),
      ...(caller.actor.appId ? { appId: caller.actor.appId } : {}),
    },
    correlationId: caller.correlationId,
    httpMethod: caller.httpMethod,
    requestUrl: caller.requestUrl,
  });
}

export function notifyKeyVault(ctx: SandboxContext, n: KeyVaultNotice): void {
  ctx.notify(n);
}

/** ARM list paging: `{value, nextLink?}` with an opaque `$skipToken` in nextLink. */
export function sendPage<T>(
  res: ServerResponse,
  req: SandboxRequest,
  baseUrl: string,
  items: T[],
  pageSize: number,
): void {
  const token = req.url.searchParams.get('$skipToken');
  let offset = 0;
  if (token) {
    const n = Number(Buffer.from(token, 'base64url').toString('utf8'));
    if (!Number.isInteger(n) || n < 0) throw new ArmError(400, 'InvalidSkipToken', 'The skip token is not valid.');
    offset = n;
  }
  const value = items.slice(offset, offset + pageSize);
  const body: { value: T[]; nextLink?: string } = { value };
  if (offset + pageSize < items.length) {
    // ARM writes `$skipToken` literally (URLSearchParams would encode the `$`).
    const kept = req.url.search
      .replace(/^\?/, '')
      .split('&')
      .filter((kv) => kv && !/^(\$|%24)skipToken=/i.test(kv));
    kept.push(`$skipToken=${Buffer.from(String(offset + pageSize)).toString('base64url')}`);
    body.nextLink = `${baseUrl}${req.url.pathname}?${kept.join('&')}`;
  }
  sendJson(res, 200, body);
}

export function sendError(res: ServerResponse, err: ArmError): void {
  sendArmError(res, err.status, err.code, err.message);
}

export function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ArmError(400, 'InvalidRequestUri', `The request URI segment '${s}' is not valid.`);
  }
}

export function nowIso(): string {
  return new Date().toISOString();
}

export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}
