// Atlas Admin API v2 with a service account (OAuth 2.0 bearer token, preferred; see token.ts) or an API key over
// HTTP digest auth (legacy). Digest: one DigestClient per request (its nonce count is per client), the algorithm the
// server's challenge asks for (SHA-256 preferred when offered, else MD5). Both: the versioned Accept header, 429
// honoured with Retry-After, a CA for the sandbox through an undici@6 dispatcher, and a 401/403 that names the
// setting or the project role to fix. Never logged or returned: the secret, the Authorization header, the token.
import DigestClient from 'digest-fetch';
import { STATUS_CODES } from 'node:http';
import { Agent, getGlobalDispatcher, request as undiciRequest, type Dispatcher } from 'undici';
import { ClassifiedError, classifyError, isTransientStatus, parseRetryAfter } from '../azure/errors.js';
import { operationRole } from './roles.js';
import { sharedTokenSource, tokenUrlFor, type ServiceAccountTokenSource } from './token.js';
import { atlasOperation } from '../observability/operations.js';
import { recordApiRequest } from '../observability/telemetry.js';

export const ATLAS_ACCEPT = 'application/vnd.atlas.2023-01-01+json';

/** The control-plane addresses endpoint exists only in this version. */
export const ATLAS_ACCEPT_2023_11_15 = 'application/vnd.atlas.2023-11-15+json';

type AddressesByRegion = Record<string, string[]>;

/** `ControlPlaneIPAddresses` (Atlas OpenAPI): per cloud provider, region -> addresses. */
export interface AtlasControlPlaneIpAddresses {
  inbound?: { aws?: AddressesByRegion; azure?: AddressesByRegion; gcp?: AddressesByRegion };
  outbound?: { aws?: AddressesByRegion; azure?: AddressesByRegion; gcp?: AddressesByRegion };
}

/** `GroupIPAddresses` (Atlas OpenAPI). */
export interface AtlasGroupIpAddresses {
  groupId?: string;
  services?: {
    clusters?: {
      clusterName?: string;
      inbound?: string[];
      outbound?: string[];
      futureInbound?: string[];
      futureOutbound?: string[];
    }[];
  };
}

export interface AtlasClientOptions {
  baseUrl: string;
  /** Service account (preferred when both are set). */
  clientId?: string;
  clientSecret?: string;
  /** API key pair (digest), used when no service account is given. */
  publicKey?: string;
  privateKey?: string;
  ca?: string;
  /** Retries on 429/5xx/network errors. Default 3. */
  maxRetries?: number;
  /** Base backoff when the server gives no Retry-After. Default 500 ms (doubles). */
  backoffMs?: number;
  /** Longest wait honoured from Retry-After. Default 30 s. */
  maxRetryAfterMs?: number;
  timeoutMs?: number;
  /** Clock for token lifetimes (tests). Default Date.now. */
  now?: () => number;
}

/** `azureKeyVault` of GET /groups/{groupId}/encryptionAtRest (fields per the Atlas OpenAPI spec). */
export interface AtlasAzureKeyVault {
  enabled?: boolean;
  roleId?: string;
  clientID?: string;
  tenantID?: string;
  subscriptionID?: string;
  resourceGroupName?: string;
  keyVaultName?: string;
  keyIdentifier?: string;
  azureEnvironment?: string;
  requirePrivateNetworking?: boolean;
  valid?: boolean;
}

export interface AtlasEncryptionAtRest {
  azureKeyVault?: AtlasAzureKeyVault;
  awsKms?: { enabled?: boolean };
  googleCloudKms?: { enabled?: boolean };
  enabledForSearchNodes?: boolean;
}

export interface AtlasAzureServicePrincipal {
  _id: string;
  atlasAzureAppId?: string;
  servicePrincipalId?: string;
  tenantId?: string;
  createdDate?: string;
  lastUpdatedDate?: string;
}

export interface AtlasCloudProviderAccess {
  azureServicePrincipals?: AtlasAzureServicePrincipal[];
  awsIamRoles?: unknown[];
  gcpServiceAccounts?: unknown[];
}

/** A webhook target of an alert configuration (GroupAlertsConfig.notifications[], typeName WEBHOOK). */
export interface AtlasAlertNotification {
  typeName: string;
  webhookUrl?: string;
  /** Write-only in effect: Atlas answers it redacted. */
  webhookSecret?: string;
  intervalMin?: number;
  delayMin?: number;
}

/** `GroupAlertsConfig` fields the alert install reads and writes. */
export interface AtlasAlertConfig {
  id?: string;
  groupId?: string;
  enabled?: boolean;
  eventTypeName: string;
  notifications: AtlasAlertNotification[];
  matchers?: unknown[];
}

/** Picks one digest challenge out of a (possibly multi-challenge) WWW-Authenticate value: SHA-256 first. */
export function pickChallenge(header: string | null): { challenge: string; algorithm: 'MD5' | 'SHA-256' } | undefined {
  if (!header) return undefined;
  const parts = header
    .split(/(?=\bDigest\s)/i)
    .map((s) => s.trim().replace(/,\s*$/, ''))
    .filter((s) => /^Digest\s/i.test(s));
  if (parts.length === 0) return undefined;
  const algo = (c: string) => /algorithm="?([A-Za-z0-9-]+)"?/i.exec(c)?.[1]?.toUpperCase() ?? 'MD5';
  const sha = parts.find((c) => algo(c) === 'SHA-256');
  const chosen = sha ?? parts.find((c) => algo(c) === 'MD5') ?? parts[0]!;
  return { challenge: chosen, algorithm: algo(chosen) === 'SHA-256' ? 'SHA-256' : 'MD5' };
}

/** Which credential the settings name, for messages: `ATLAS_CLIENT_ID / ATLAS_CLIENT_SECRET` or the key pair. */
export function credentialSettings(opts: Pick<AtlasClientOptions, 'clientId' | 'clientSecret'>): string {
  return opts.clientId && opts.clientSecret
    ? 'ATLAS_CLIENT_ID / ATLAS_CLIENT_SECRET'
    : 'ATLAS_PUBLIC_KEY / ATLAS_PRIVATE_KEY';
}

/** The message for a 401 or 403 from the Admin API: which setting or which project role to fix. */
export function deniedMessage(status: number, method: string, path: string, settings: string): string {
  if (status === 401) {
    return `Atlas rejected the credential (401): check ${settings} and that this machine is on the credential's IP access list`;
  }
  const op = operationRole(method, path);
  const project = /\/groups\/([0-9a-f]{24})/i.exec(path)?.[1];
  const need = op ? `${op.role} (${op.operationId}, per the Atlas OpenAPI spec)` : 'a project role that allows it';
  return `Atlas refused ${method} ${path.split('?')[0]} (403): the credential in ${settings} needs ${need}${project ? ` on project ${project}` : ''}`;
}

type AttemptResult<T> = { ok: true; value: T } | { ok: false; error: ClassifiedError };

/** What the client needs of an answer, from either transport (undici's request for bearer, fetch for digest). */
interface AtlasAnswer {
  status: number;
  ok: boolean;
  statusText: string;
  header(name: string): string | null;
  text(): Promise<string>;
  /** Lets the connection go without reading the body. */
  discard(): Promise<void>;
}

function fromFetch(res: Response): AtlasAnswer {
  return {
    status: res.status,
    ok: res.ok,
    statusText: res.statusText,
    header: (n) => res.headers.get(n),
    text: () => res.text(),
    discard: async () => void (await res.body?.cancel().catch(() => undefined)),
  };
}

function fromUndici(res: Dispatcher.ResponseData): AtlasAnswer {
  return {
    status: res.statusCode,
    ok: res.statusCode >= 200 && res.statusCode < 300,
    statusText: STATUS_CODES[res.statusCode] ?? '',
    header: (n) => {
      const v = res.headers[n.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
    },
    text: () => res.body.text(),
    discard: async () => void (await res.body.dump().catch(() => undefined)),
  };
}

export class AtlasClient {
  private readonly base: string;
  private readonly dispatcher?: Agent;
  private readonly tokens?: ServiceAccountTokenSource;
  /** The settings that hold this client's credential, for messages. */
  readonly credentialSettings: string;

  constructor(private readonly opts: AtlasClientOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    if (opts.ca) this.dispatcher = new Agent({ connect: { ca: opts.ca } });
    this.credentialSettings = credentialSettings(opts);
    if (opts.clientId && opts.clientSecret) {
      this.tokens = sharedTokenSource({
        tokenUrl: tokenUrlFor(this.base),
        clientId: opts.clientId,
        clientSecret: opts.clientSecret,
        ca: opts.ca,
        timeoutMs: opts.timeoutMs,
        now: opts.now,
      });
    } else if (!opts.publicKey || !opts.privateKey) {
      throw new Error('AtlasClient: give clientId and clientSecret, or publicKey and privateKey');
    }
  }

  /** The service account's token source (undefined for an API key). */
  get tokenSource(): ServiceAccountTokenSource | undefined {
    return this.tokens;
  }

  /** A fresh headers object per call: the digest client writes Authorization into it. */
  private headers(body?: unknown, bearer?: string): Record<string, string> {
    const headers: Record<string, string> = { Accept: ATLAS_ACCEPT };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (body !== undefined) headers['Content-Type'] = ATLAS_ACCEPT;
    return headers;
  }

  private init(method: string, body?: unknown): RequestInit & { dispatcher?: Agent } {
    return {
      method,
      headers: this.headers(body),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 20_000),
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    };
  }

  /**
   * One bearer request over undici's `request`: a third of fetch's CPU per call here (measured: 0.8 vs 2.3-2.7 ms
   * with the emulator), which a sweep pays once a project. A token Atlas refuses (revoked early) is dropped and
   * replaced once.
   */
  private async bearer(method: string, path: string, body?: unknown): Promise<AtlasAnswer> {
    const url = `${this.base}${path}`;
    const timeout = this.opts.timeoutMs ?? 20_000;
    for (let attempt = 0; ; attempt++) {
      const token = await this.tokens!.get();
      const res = fromUndici(
        await undiciRequest(url, {
          method: method as Dispatcher.HttpMethod,
          headers: this.headers(body, token),
          body: body === undefined ? undefined : JSON.stringify(body),
          dispatcher: this.dispatcher ?? getGlobalDispatcher(),
          headersTimeout: timeout,
          bodyTimeout: timeout,
        }),
      );
      if (res.status !== 401 || attempt > 0 || !this.tokens!.invalidate(token)) return res;
      await res.discard();
    }
  }

  /** One authenticated request: bearer, or digest (probe for the challenge, then sign with the algorithm it names). */
  private async once(method: string, path: string, body?: unknown): Promise<AtlasAnswer> {
    if (this.tokens) return this.bearer(method, path, body);
    const url = `${this.base}${path}`;
    const probe = await fetch(url, this.init(method, body) as RequestInit);
    if (probe.status !== 401) return fromFetch(probe);
    const picked = pickChallenge(probe.headers.get('www-authenticate'));
    if (!picked) return fromFetch(probe);
    await probe.body?.cancel().catch(() => undefined);
    const client = new DigestClient(this.opts.publicKey!, this.opts.privateKey!, { algorithm: picked.algorithm });
    client.parseAuth(picked.challenge);
    return fromFetch((await client.fetch(url, this.init(method, body))) as Response);
  }

  /** JSON request with bounded retries on 429 (Retry-After), 5xx and network failures; errors classified. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const max = this.opts.maxRetries ?? 3;
    let lastErr: ClassifiedError | undefined;
    for (let attempt = 0; attempt <= max; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.retryDelay(attempt, lastErr)));
      const result = await this.attempt<T>(method, path, body);
      if (result.ok) return result.value;
      lastErr = result.error;
      if (!lastErr.transient) throw lastErr;
    }
    throw lastErr!;
  }

  /** Retry-After when the server gave one, else doubling backoff; capped either way. */
  private retryDelay(attempt: number, lastErr: ClassifiedError | undefined): number {
    return Math.min(
      lastErr?.retryAfterMs ?? (this.opts.backoffMs ?? 500) * 2 ** (attempt - 1),
      this.opts.maxRetryAfterMs ?? 30_000,
    );
  }

  /** One attempt: the parsed body, or the classified error (the caller decides whether to retry). */
  private async attempt<T>(method: string, path: string, body?: unknown): Promise<AttemptResult<T>> {
    // One metric point per attempt (the digest challenge round trip is part of it), by operation and status.
    const started = performance.now();
    const metric = (status?: number, errorType?: string) =>
      recordApiRequest({
        api: 'atlas',
        operation: atlasOperation(method, path),
        method,
        status,
        errorType,
        durationSeconds: (performance.now() - started) / 1000,
      });
    let res: AtlasAnswer;
    try {
      res = await this.once(method, path, body);
    } catch (err) {
      const error = classifyError(err, 'atlas');
      metric(undefined, error.code ?? (error.transient ? 'transient' : 'terminal'));
      return { ok: false, error };
    }
    metric(res.status);
    const text = await res.text().catch(() => '');
    if (res.ok) return { ok: true, value: (text ? JSON.parse(text) : undefined) as T };
    return { ok: false, error: this.responseError(res, text, method, path) };
  }

  /** A non-2xx answer as a classified error: 401/403 name the fix, others carry Atlas's detail. */
  private responseError(res: AtlasAnswer, text: string, method: string, path: string): ClassifiedError {
    let detail: { detail?: string; errorCode?: string; reason?: string } = {};
    try {
      detail = JSON.parse(text);
    } catch {
      // not JSON (a proxy's page): keep the status only
    }
    const msg =
      res.status === 401 || res.status === 403
        ? deniedMessage(res.status, method, path, this.credentialSettings)
        : `${method} ${path}: ${detail.detail ?? detail.reason ?? res.statusText ?? 'error'}`;
    return new ClassifiedError(
      isTransientStatus(res.status) ? 'transient' : 'terminal',
      'atlas',
      msg,
      res.status,
      detail.errorCode,
      parseRetryAfter(res.header('retry-after')),
    );
  }

  getEncryptionAtRest(groupId: string): Promise<AtlasEncryptionAtRest> {
    return this.request('GET', `/groups/${encodeURIComponent(groupId)}/encryptionAtRest`);
  }

  /**
   * `GET /unauth/controlPlaneIPAddresses`: no authentication (the spec's `security: []`) and only version 2023-11-15;
   * the addresses the Atlas control plane connects from (`outbound`), per cloud and region.
   */
  async getControlPlaneIpAddresses(): Promise<AtlasControlPlaneIpAddresses> {
    const path = '/unauth/controlPlaneIPAddresses';
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        headers: { Accept: ATLAS_ACCEPT_2023_11_15 },
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 20_000),
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      } as RequestInit);
    } catch (err) {
      throw classifyError(err, 'atlas');
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) {
      const kind = isTransientStatus(res.status) ? 'transient' : 'terminal';
      throw new ClassifiedError(kind, 'atlas', `GET ${path}: ${res.statusText || 'error'}`, res.status);
    }
    return JSON.parse(text) as AtlasControlPlaneIpAddresses;
  }

  /** `GET /groups/{groupId}/ipAddresses` (Project Read Only): the project's cluster addresses. */
  getGroupIpAddresses(groupId: string): Promise<AtlasGroupIpAddresses> {
    return this.request('GET', `/groups/${encodeURIComponent(groupId)}/ipAddresses`);
  }

  getCloudProviderAccess(groupId: string): Promise<AtlasCloudProviderAccess> {
    return this.request('GET', `/groups/${encodeURIComponent(groupId)}/cloudProviderAccess`);
  }

  /** `POST /groups/{groupId}/cloudProviderAccess`: registers the Atlas app's service principal; `_id` is the roleId. */
  createCloudProviderAccess(
    groupId: string,
    body: { providerName: 'AZURE'; tenantId: string; servicePrincipalId: string; atlasAzureAppId: string },
  ): Promise<AtlasAzureServicePrincipal> {
    return this.request('POST', `/groups/${encodeURIComponent(groupId)}/cloudProviderAccess`, body);
  }

  /** `PATCH /groups/{groupId}/encryptionAtRest`: Atlas validates KMS access before it accepts the change. */
  updateEncryptionAtRest(groupId: string, body: AtlasEncryptionAtRest): Promise<AtlasEncryptionAtRest> {
    return this.request('PATCH', `/groups/${encodeURIComponent(groupId)}/encryptionAtRest`, body);
  }

  /** `GET /groups/{groupId}/alertConfigs`, every page (Project Read Only). */
  async listAlertConfigs(groupId: string): Promise<AtlasAlertConfig[]> {
    const out: AtlasAlertConfig[] = [];
    for (let page = 1; page < 1000; page++) {
      const r = await this.request<{ results?: AtlasAlertConfig[]; totalCount?: number }>(
        'GET',
        `/groups/${encodeURIComponent(groupId)}/alertConfigs?itemsPerPage=500&pageNum=${page}`,
      );
      const results = r.results ?? [];
      out.push(...results);
      if (results.length < 500 || (r.totalCount !== undefined && out.length >= r.totalCount)) break;
    }
    return out;
  }

  /** `POST /groups/{groupId}/alertConfigs` (Project Alerts Manager or Owner). */
  createAlertConfig(groupId: string, body: AtlasAlertConfig): Promise<AtlasAlertConfig> {
    return this.request('POST', `/groups/${encodeURIComponent(groupId)}/alertConfigs`, body);
  }

  /** Every project the key can see (all pages). */
  async listGroups(): Promise<{ id: string; name: string }[]> {
    const out: { id: string; name: string }[] = [];
    for (let page = 1; page < 1000; page++) {
      const r = await this.request<{ results?: { id: string; name: string }[]; totalCount?: number }>(
        'GET',
        `/groups?itemsPerPage=500&pageNum=${page}`,
      );
      const results = r.results ?? [];
      out.push(...results.map((g) => ({ id: g.id, name: g.name })));
      if (results.length < 500 || (r.totalCount !== undefined && out.length >= r.totalCount)) break;
    }
    return out;
  }

  close(): Promise<void> {
    return this.dispatcher?.close() ?? Promise.resolve();
  }
}
