// Atlas Admin API v2 over HTTP digest auth. One DigestClient per request (its nonce count is per client), the
// algorithm the server's challenge asks for (SHA-256 preferred when offered, else MD5), the versioned Accept
// header, 429 honoured with Retry-After, and a CA for the sandbox through an undici@6 dispatcher.
// Never logged or returned: the private key, the Authorization header, the challenge.
import DigestClient from 'digest-fetch';
import { Agent } from 'undici';
import { ClassifiedError, classifyError, isTransientStatus, parseRetryAfter } from '../azure/errors.js';
import { atlasOperation } from '../observability/operations.js';
import { recordApiRequest } from '../observability/telemetry.js';

export const ATLAS_ACCEPT = 'application/vnd.atlas.2023-01-01+json';

export interface AtlasClientOptions {
  baseUrl: string;
  publicKey: string;
  privateKey: string;
  ca?: string;
  /** Retries on 429/5xx/network errors. Default 3. */
  maxRetries?: number;
  /** Base backoff when the server gives no Retry-After. Default 500 ms (doubles). */
  backoffMs?: number;
  /** Longest wait honoured from Retry-After. Default 30 s. */
  maxRetryAfterMs?: number;
  timeoutMs?: number;
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

type Attempt<T> = { ok: true; value: T } | { ok: false; error: ClassifiedError };

/** An Atlas error response, classified; its message names the fix for a rejected key. */
function responseError(method: string, path: string, res: Response, text: string): ClassifiedError {
  let detail: { detail?: string; errorCode?: string; reason?: string } = {};
  try {
    detail = JSON.parse(text);
  } catch {
    // not JSON (a proxy's page): keep the status only
  }
  const msg =
    res.status === 401
      ? 'the Atlas API key was rejected (check ATLAS_PUBLIC_KEY / ATLAS_PRIVATE_KEY and the key access list)'
      : `${method} ${path}: ${detail.detail ?? detail.reason ?? res.statusText ?? 'error'}`;
  return new ClassifiedError(
    isTransientStatus(res.status) ? 'transient' : 'terminal',
    'atlas',
    msg,
    res.status,
    detail.errorCode,
    parseRetryAfter(res.headers.get('retry-after')),
  );
}

export class AtlasClient {
  private readonly base: string;
  private readonly dispatcher?: Agent;

  constructor(private readonly opts: AtlasClientOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    if (opts.ca) this.dispatcher = new Agent({ connect: { ca: opts.ca } });
  }

  private init(method: string, body?: unknown): RequestInit & { dispatcher?: Agent } {
    // A fresh headers object per call: the digest client writes Authorization into it.
    const headers: Record<string, string> = { Accept: ATLAS_ACCEPT };
    if (body !== undefined) headers['Content-Type'] = ATLAS_ACCEPT;
    return {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 20_000),
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    };
  }

  /** One authenticated request: probe for the challenge, then sign with the algorithm it names. */
  private async once(method: string, path: string, body?: unknown): Promise<Response> {
    const url = `${this.base}${path}`;
    const probe = await fetch(url, this.init(method, body) as RequestInit);
    if (probe.status !== 401) return probe;
    const picked = pickChallenge(probe.headers.get('www-authenticate'));
    await probe.body?.cancel().catch(() => undefined);
    if (!picked) return probe;
    const client = new DigestClient(this.opts.publicKey, this.opts.privateKey, { algorithm: picked.algorithm });
    client.parseAuth(picked.challenge);
    return (await client.fetch(url, this.init(method, body))) as Response;
  }

  private backoff(attempt: number, lastErr: ClassifiedError | undefined): Promise<void> {
    const wait = Math.min(
      lastErr?.retryAfterMs ?? (this.opts.backoffMs ?? 500) * 2 ** (attempt - 1),
      this.opts.maxRetryAfterMs ?? 30_000,
    );
    return new Promise((r) => setTimeout(r, wait));
  }

  /** One attempt: the value, or a transient error to retry; a terminal error is thrown. */
  private async attempt<T>(method: string, path: string, body?: unknown): Promise<Attempt<T>> {
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
    let res: Response;
    try {
      res = await this.once(method, path, body);
    } catch (err) {
      const error = classifyError(err, 'atlas');
      metric(undefined, error.code ?? (error.transient ? 'transient' : 'terminal'));
      if (error.transient) return { ok: false, error };
      throw error;
    }
    metric(res.status);
    const text = await res.text().catch(() => '');
    if (res.ok) return { ok: true, value: (text ? JSON.parse(text) : undefined) as T };
    const error = responseError(method, path, res, text);
    if (!error.transient) throw error;
    return { ok: false, error };
  }

  /** JSON request with bounded retries on 429 (Retry-After), 5xx and network failures; errors classified. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const max = this.opts.maxRetries ?? 3;
    let lastErr: ClassifiedError | undefined;
    for (let attempt = 0; attempt <= max; attempt++) {
      if (attempt > 0) await this.backoff(attempt, lastErr);
      const r = await this.attempt<T>(method, path, body);
      if (r.ok) return r.value;
      lastErr = r.error;
    }
    throw lastErr!;
  }

  getEncryptionAtRest(groupId: string): Promise<AtlasEncryptionAtRest> {
    return this.request('GET', `/groups/${encodeURIComponent(groupId)}/encryptionAtRest`);
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
