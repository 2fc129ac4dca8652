// The Atlas Admin API v2 routes the emulator serves, as a table of small handlers, and the steps every request
// takes before one runs: authentication (bearer or digest), accounting, injected faults, the versioned Accept header
// (406 INVALID_VERSION_DATE otherwise), 404/405, then the operation's x-rolesRequirements (atlas/roles.ts).
import type { ServerResponse } from 'node:http';
import type { RouteHandler, SandboxContext, SandboxRequest } from '../contract.js';
import { groupIpAddresses } from './addresses.js';
import { alertConfigView, createAlertConfig } from './alertConfigs.js';
import type { DigestAuthority } from './digest.js';
import { patchEncryptionAtRest } from './encryptionAtRest.js';
import { acceptedVersions, AtlasError, parseBody, sendAtlasError, sendAtlasJson } from './http.js';
import type { ServiceAccountAuthority } from './oauth.js';
import { paginate } from './paging.js';
import { BASE, createCloudProviderAccess, type AtlasProjects } from './projects.js';
import { REQUIRED_ROLE, satisfies, type RoleBook } from './roles.js';
import type { AtlasFault } from './types.js';
import type { AtlasValidator } from './validation.js';

/** The resource version the spec lists for every endpoint served here. */
export const ATLAS_API_VERSIONS = ['2023-01-01'] as const;
export const OAUTH_TOKEN_PATH = '/api/oauth/token';

/** An injected fault: the next `remaining` requests (to `operations`, when given) fail with it. */
export class AtlasFaultBox {
  private fault: (AtlasFault & { remaining: number }) | null = null;

  set(f: AtlasFault | null): void {
    this.fault = f ? { ...f, remaining: f.times ?? Number.POSITIVE_INFINITY } : null;
  }

  /** The error this request gets (counting the fault down), or undefined when no fault applies to `op`. */
  take(op: string): AtlasError | undefined {
    const f = this.fault;
    if (!f || (f.operations && !f.operations.includes(op))) return undefined;
    f.remaining -= 1;
    if (f.remaining <= 0) this.fault = null;
    if (f.status === 429) {
      return new AtlasError(
        429,
        'RATE_LIMITED_TOKEN_BUCKET',
        'You have exceeded the rate limit for this API key. Wait and retry the request.',
        [],
        { 'retry-after': String(f.retryAfterSeconds ?? 1), 'ratelimit-limit': '100', 'ratelimit-remaining': '0' },
      );
    }
    return f.status === 503
      ? new AtlasError(503, 'SERVICE_UNAVAILABLE', 'The service is temporarily unavailable.')
      : new AtlasError(500, 'UNEXPECTED_ERROR', 'Unexpected error.');
  }
}

/** What the handlers and the request steps share. */
export interface AtlasDeps {
  ctx: SandboxContext;
  store: AtlasProjects;
  roles: RoleBook;
  digest: DigestAuthority;
  oauth: ServiceAccountAuthority;
  validator: AtlasValidator;
  faults: AtlasFaultBox;
  /** errorCode of a PATCH whose key access check fails. */
  validationErrorCode: string;
}

type Answer = { status: number; body: unknown };
type Handler = (d: AtlasDeps, req: SandboxRequest, m: RegExpExecArray, who: string) => Answer;
interface AtlasRoute {
  method: string;
  pattern: RegExp;
  /** The operation name counted and checked against REQUIRED_ROLE. */
  op: string;
  handler: Handler;
}

const ok = (body: unknown): Answer => ({ status: 200, body });

function listGroups(d: AtlasDeps, req: SandboxRequest, _m: RegExpExecArray, who: string): Answer {
  // listGroups lists no role requirement: it answers the projects the caller holds any role in.
  const visible = [...d.store.projects.values()].filter((p) => d.roles.roles(who, p.id).size > 0);
  return ok(paginate(d.ctx.baseUrl(), req, '/groups', visible, (p) => d.store.groupView(p)));
}

function getGroup(d: AtlasDeps, _r: SandboxRequest, m: RegExpExecArray): Answer {
  return ok(d.store.groupView(d.store.find(m[1])));
}

function getGroupIpAddresses(d: AtlasDeps, _r: SandboxRequest, m: RegExpExecArray): Answer {
  return ok(groupIpAddresses(d.store.find(m[1]).id));
}

function getEncryptionAtRest(d: AtlasDeps, _r: SandboxRequest, m: RegExpExecArray): Answer {
  // Asking for the configuration is Atlas's documented on-demand validation.
  const p = d.store.find(m[1]);
  if (p.azureKeyVault?.enabled) d.validator.onDemand(p.id);
  return ok(d.store.earView(p));
}

function updateEncryptionAtRest(d: AtlasDeps, req: SandboxRequest, m: RegExpExecArray): Answer {
  const p = d.store.find(m[1]);
  return ok(patchEncryptionAtRest(d.store, p, parseBody(req), d.validationErrorCode));
}

function listCloudProviderAccess(d: AtlasDeps, _r: SandboxRequest, m: RegExpExecArray): Answer {
  const servicePrincipals = d.store.find(m[1]).servicePrincipals;
  return ok({ awsIamRoles: [], azureServicePrincipals: servicePrincipals, gcpServiceAccounts: [] });
}

function postCloudProviderAccess(d: AtlasDeps, req: SandboxRequest, m: RegExpExecArray): Answer {
  const p = d.store.find(m[1]);
  return ok(createCloudProviderAccess(d.store, p, parseBody(req)));
}

function listAlertConfigs(d: AtlasDeps, req: SandboxRequest, m: RegExpExecArray): Answer {
  const p = d.store.find(m[1]);
  const base = d.ctx.baseUrl();
  const all = d.store.alertConfigs.get(p.id) ?? [];
  return ok(paginate(base, req, `/groups/${p.id}/alertConfigs`, all, (c) => alertConfigView(base, c)));
}

function postAlertConfig(d: AtlasDeps, req: SandboxRequest, m: RegExpExecArray): Answer {
  return ok(createAlertConfig(d.store, d.ctx.baseUrl(), d.store.find(m[1]), parseBody(req)));
}

/** Route table: method, path under /api/atlas/v2, operation name, handler. */
const ROUTES: readonly AtlasRoute[] = [
  { method: 'GET', pattern: /^\/groups$/, op: 'atlas.groups.list', handler: listGroups },
  { method: 'GET', pattern: /^\/groups\/([^/]+)$/, op: 'atlas.groups.get', handler: getGroup },
  {
    method: 'GET',
    pattern: /^\/groups\/([^/]+)\/ipAddresses$/,
    op: 'atlas.groups.ipAddresses',
    handler: getGroupIpAddresses,
  },
  {
    method: 'GET',
    pattern: /^\/groups\/([^/]+)\/encryptionAtRest$/,
    op: 'atlas.encryptionAtRest.get',
    handler: getEncryptionAtRest,
  },
  {
    method: 'PATCH',
    pattern: /^\/groups\/([^/]+)\/encryptionAtRest$/,
    op: 'atlas.encryptionAtRest.update',
    handler: updateEncryptionAtRest,
  },
  {
    method: 'GET',
    pattern: /^\/groups\/([^/]+)\/cloudProviderAccess$/,
    op: 'atlas.cloudProviderAccess.list',
    handler: listCloudProviderAccess,
  },
  {
    method: 'POST',
    pattern: /^\/groups\/([^/]+)\/cloudProviderAccess$/,
    op: 'atlas.cloudProviderAccess.create',
    handler: postCloudProviderAccess,
  },
  {
    method: 'GET',
    pattern: /^\/groups\/([^/]+)\/alertConfigs$/,
    op: 'atlas.alertConfigs.list',
    handler: listAlertConfigs,
  },
  {
    method: 'POST',
    pattern: /^\/groups\/([^/]+)\/alertConfigs$/,
    op: 'atlas.alertConfigs.create',
    handler: postAlertConfig,
  },
];

interface RouteMatch {
  route?: { op: string; handler: Handler; m: RegExpExecArray };
  /** Some route serves this path with another method (405 rather than 404). */
  pathKnown: boolean;
}

function matchRoute(method: string, rel: string): RouteMatch {
  const found: RouteMatch = { pathKnown: false };
  for (const r of ROUTES) {
    const m = r.pattern.exec(rel);
    if (!m) continue;
    found.pathKnown = true;
    if (r.method === method) found.route = { op: r.op, handler: r.handler, m };
  }
  return found;
}

/** Bearer (service account) or digest (API key): the credential's name, or a 401 as Atlas answers it. */
function authenticate(d: AtlasDeps, req: SandboxRequest, path: string): string {
  const header = req.headers.authorization;
  if (header && /^Bearer\s/i.test(header)) {
    const v = d.oauth.verifyBearer(header);
    if (v.ok) return v.clientId;
    d.ctx.count('atlas.bearerRejected', 'anonymous');
    throw new AtlasError(401, undefined, 'You are not authorized for this resource.', [], {
      'www-authenticate': d.digest.challenge(false),
    });
  }
  const verdict = d.digest.verify(req.method, req.raw.url ?? path, header);
  if (!verdict.ok) {
    d.ctx.count('atlas.digestChallenge', 'anonymous');
    throw new AtlasError(401, undefined, 'You are not authorized for this resource.', [], {
      'www-authenticate': d.digest.challenge(verdict.stale),
    });
  }
  return verdict.user;
}

/** The served version the caller accepts, else 406. */
function negotiateVersion(req: SandboxRequest): string {
  const version = acceptedVersions(req.headers.accept).find((v) =>
    (ATLAS_API_VERSIONS as readonly string[]).includes(v),
  );
  if (!version) throw new AtlasError(406, 'INVALID_VERSION_DATE', 'Invalid accept header or version date.');
  return version;
}

/** The matched route, or 405 (path served with another method) / 404. */
function requireRoute(req: SandboxRequest, path: string, match: RouteMatch): NonNullable<RouteMatch['route']> {
  if (match.route) return match.route;
  if (match.pathKnown) {
    throw new AtlasError(405, 'METHOD_NOT_ALLOWED', `Method ${req.method} is not allowed on ${path}.`);
  }
  throw new AtlasError(404, 'RESOURCE_NOT_FOUND', `Cannot find resource ${path}.`, [path]);
}

/** Raises 403 as Atlas does when the caller lacks the operation's role on the project. */
function authorize(d: AtlasDeps, who: string, op: string, groupId: string | undefined): void {
  const required = REQUIRED_ROLE[op];
  if (!required || !groupId || !d.store.projects.has(groupId)) return;
  if (satisfies(d.roles.roles(who, groupId), required)) return;
  d.ctx.count('atlas.forbidden', who);
  throw new AtlasError(403, 'USER_UNAUTHORIZED', 'Current user is not authorized to perform this action.');
}

/** One request under /api/atlas/v2, through every step; an AtlasError is the answer. */
function serveApi(d: AtlasDeps, req: SandboxRequest, res: ServerResponse, path: string): void {
  const rel = path.slice(BASE.length).replace(/\/+$/, '') || '/';
  const match = matchRoute(req.method, rel);
  const who = authenticate(d, req, path);
  d.ctx.count(match.route?.op ?? 'atlas.unknown', who);
  const fault = d.faults.take(match.route?.op ?? '');
  if (fault) throw fault;
  const version = negotiateVersion(req);
  const route = requireRoute(req, path, match);
  authorize(d, who, route.op, route.m[1]);
  const { status, body } = route.handler(d, req, route.m, who);
  sendAtlasJson(res, status, version, body);
}

/** `POST /api/oauth/token`: OAuth 2.0 client credentials (atlas/oauth.ts). */
function serveToken(d: AtlasDeps, req: SandboxRequest, res: ServerResponse): void {
  const answer =
    req.method === 'POST'
      ? d.oauth.mint(req.headers.authorization, req.headers['content-type'], req.body.toString('utf8'))
      : ({ status: 400, body: { error: 'invalid_request', error_description: 'Use POST.' } } as const);
  d.ctx.count(answer.status === 200 ? 'atlas.oauth.token' : `atlas.oauth.token.${answer.status}`, 'anonymous');
  const text = JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...('headers' in answer ? answer.headers : {}),
  });
  res.end(text);
}

/** The token endpoint and everything under /api/atlas/v2; other paths pass. */
export function atlasRoutes(d: AtlasDeps): RouteHandler {
  return async (req, res) => {
    const path = req.url.pathname;
    if (path === OAUTH_TOKEN_PATH) {
      serveToken(d, req, res);
      return true;
    }
    if (path !== BASE && !path.startsWith(`${BASE}/`)) return false;
    try {
      serveApi(d, req, res, path);
    } catch (err) {
      sendAtlasError(
        res,
        err instanceof AtlasError ? err : new AtlasError(500, 'UNEXPECTED_ERROR', 'Unexpected error.'),
      );
    }
    return true;
  };
}
