// Atlas service accounts as the emulator serves them: `POST /api/oauth/token` (OAuth 2.0 client credentials, HTTP
// Basic with the client ID and secret, `grant_type=client_credentials`, answering `{access_token, expires_in,
// token_type: "Bearer"}` as MongoDB's "Generate Service Account Token" page shows), one-hour tokens, a mint rate
// limit per service account (10 a minute by default: the figure terraform-provider-mongodbatlas cites from the
// Atlas limits page) and a cap on active tokens. Token-endpoint errors use the OAuth 2.0 body of RFC 6749 section
// 5.2 (`{error, error_description}`): MongoDB publishes no other shape for them.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface ServiceAccount {
  clientId: string;
  name: string;
  /** sha-256 of the secret: the secret itself is shown once, at creation, as Atlas does. */
  secretHash: Buffer;
}

export interface TokenPolicy {
  /** Seconds a token lives. Default 3600. */
  ttlSeconds: number;
  /** Mints per service account per rolling minute. Default 10. */
  mintsPerMinute: number;
  /** Unexpired tokens one service account may hold. Default 100. */
  maxActiveTokens: number;
}

export const DEFAULT_TOKEN_POLICY: TokenPolicy = { ttlSeconds: 3600, mintsPerMinute: 10, maxActiveTokens: 100 };

interface IssuedToken {
  clientId: string;
  expiresAt: number;
}

export type TokenAnswer =
  | { status: 200; body: { access_token: string; expires_in: number; token_type: 'Bearer' } }
  | {
      status: 400 | 401 | 429;
      body: { error: string; error_description: string };
      headers?: Record<string, string>;
    };

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** `Basic base64(id:secret)` with both halves form-encoded (RFC 6749 section 2.3.1). */
export function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const raw = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = raw.indexOf(':');
  if (i < 0) return undefined;
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return { id: dec(raw.slice(0, i)), secret: dec(raw.slice(i + 1)) };
}

export class ServiceAccountAuthority {
  private readonly accounts = new Map<string, ServiceAccount>();
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly mintTimes = new Map<string, number[]>();
  policy: TokenPolicy;

  constructor(
    policy: Partial<TokenPolicy> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.policy = { ...DEFAULT_TOKEN_POLICY, ...policy };
  }

  /** A new service account; the secret is returned once. IDs and secrets look like Atlas's (`mdb_sa_id_...`). */
  create(name: string): { clientId: string; clientSecret: string } {
    const clientId = `mdb_sa_id_${randomBytes(12).toString('hex')}`;
    const clientSecret = `mdb_sa_sk_${randomBytes(24).toString('base64url')}`;
    this.accounts.set(clientId, { clientId, name, secretHash: sha(clientSecret) });
    return { clientId, clientSecret };
  }

  /** Revoke every token of one account (or of all): the next API call with one gets 401. */
  revokeTokens(clientId?: string): number {
    let n = 0;
    for (const [t, v] of this.tokens) {
      if (!clientId || v.clientId === clientId) {
        this.tokens.delete(t);
        n++;
      }
    }
    return n;
  }

  mintCount(clientId: string): number {
    return this.mintTimes.get(clientId)?.length ?? 0;
  }

  activeTokens(clientId: string): number {
    const now = this.now();
    return [...this.tokens.values()].filter((t) => t.clientId === clientId && t.expiresAt > now).length;
  }

  private knownClient(id: string, secret: string): boolean {
    const a = this.accounts.get(id);
    if (!a) return false;
    const h = sha(secret);
    return h.length === a.secretHash.length && timingSafeEqual(h, a.secretHash);
  }

  /** `POST /api/oauth/token`. */
  mint(authorization: string | undefined, contentType: string | undefined, body: string): TokenAnswer {
    const fail = (status: 400 | 401 | 429, error: string, description: string, headers?: Record<string, string>) =>
      ({ status, body: { error, error_description: description }, ...(headers ? { headers } : {}) }) as TokenAnswer;
    if (!/^application\/x-www-form-urlencoded/i.test(contentType ?? '')) {
      return fail(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded.');
    }
    const grant = new URLSearchParams(body).get('grant_type');
    if (grant !== 'client_credentials') {
      return fail(400, 'unsupported_grant_type', 'Only grant_type=client_credentials is supported.');
    }
    const basic = parseBasic(authorization);
    if (!basic || !this.knownClient(basic.id, basic.secret)) {
      return fail(401, 'invalid_client', 'Invalid client credentials.');
    }
    const now = this.now();
    const recent = (this.mintTimes.get(basic.id) ?? []).filter((t) => t > now - 60_000);
    this.mintTimes.set(basic.id, recent);
    if (recent.length >= this.policy.mintsPerMinute) {
      const retry = Math.max(1, Math.ceil((recent[0]! + 60_000 - now) / 1000));
      return fail(429, 'rate_limit_exceeded', 'Too many token requests for this service account.', {
        'retry-after': String(retry),
      });
    }
    if (this.activeTokens(basic.id) >= this.policy.maxActiveTokens) {
      return fail(400, 'invalid_request', 'This service account holds the maximum number of active access tokens.');
    }
    recent.push(now);
    this.pruneExpired(now);
    const token = randomBytes(32).toString('base64url');
    this.tokens.set(token, { clientId: basic.id, expiresAt: now + this.policy.ttlSeconds * 1000 });
    return { status: 200, body: { access_token: token, expires_in: this.policy.ttlSeconds, token_type: 'Bearer' } };
  }

  private pruneExpired(now: number): void {
    if (this.tokens.size < 1000) return;
    for (const [t, v] of this.tokens) if (v.expiresAt <= now) this.tokens.delete(t);
  }

  /** The service account a `Bearer` header authenticates, or why not. */
  verifyBearer(header: string | undefined): { ok: true; clientId: string } | { ok: false; reason: string } {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) return { ok: false, reason: 'malformed' };
    const t = this.tokens.get(m[1]!);
    if (!t) return { ok: false, reason: 'unknown-token' };
    if (t.expiresAt <= this.now()) return { ok: false, reason: 'expired' };
    return { ok: true, clientId: t.clientId };
  }
}
