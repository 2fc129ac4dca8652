// Atlas service-account tokens: OAuth 2.0 client credentials at `{origin}/api/oauth/token` (HTTP Basic with the
// client ID and secret, body `grant_type=client_credentials`; the answer is `{access_token, token_type, expires_in}`
// per MongoDB's "Generate Service Account Token" page and atlas-sdk-go's auth/credentials). Atlas rate-limits minting
// per service account and caps its active tokens, so a process keeps ONE token per account (sharedTokenSource) and
// mints the next one shortly before expiry; concurrent first use waits on the same in-flight mint.
// A plain fetch, not an OAuth library: one form POST and three fields do not justify a dependency, and undici is
// already here for the sandbox CA. Never logged or returned: the secret, the Basic header, the token.
import { createHash } from 'node:crypto';
import { Agent } from 'undici';
import { ClassifiedError, classifyError, isTransientStatus, parseRetryAfter } from '../azure/errors.js';

export const TOKEN_PATH = '/api/oauth/token';

export interface TokenSourceOptions {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  ca?: string;
  timeoutMs?: number;
  now?: () => number;
}

interface CachedToken {
  value: string;
  mintedAt: number;
  expiresAt: number;
  refreshAt: number;
}

/** `{origin}/api/oauth/token` for an Admin API base such as `https://cloud.mongodb.com/api/atlas/v2`. */
export function tokenUrlFor(baseUrl: string): string {
  return new URL(TOKEN_PATH, baseUrl).toString();
}

/** How early to refresh: a quarter of the lifetime, at most five minutes (one-hour tokens refresh at 55 min). */
export function refreshMarginMs(lifetimeMs: number): number {
  return Math.min(300_000, Math.floor(lifetimeMs / 4));
}

/** RFC 6749 section 2.3.1: the ID and secret are form-encoded before they are joined for Basic auth. */
function basicAuth(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

function mintError(status: number, body: { error?: string; error_description?: string }, retryAfter: string | null) {
  const code = body.error;
  if (status === 400 || status === 401) {
    return new ClassifiedError(
      'terminal',
      'atlas',
      `Atlas rejected the service account at ${TOKEN_PATH} (${status}${code ? ` ${code}` : ''}): check ATLAS_CLIENT_ID / ATLAS_CLIENT_SECRET (the secret may have expired or been revoked)`,
      401,
      code ?? 'invalid_client',
    );
  }
  return new ClassifiedError(
    isTransientStatus(status) ? 'transient' : 'terminal',
    'atlas',
    `${TOKEN_PATH}: ${body.error_description ?? code ?? `HTTP ${status}`}`,
    status,
    code,
    parseRetryAfter(retryAfter),
  );
}

export class ServiceAccountTokenSource {
  private token?: CachedToken;
  private inflight?: Promise<CachedToken>;
  /** Tokens minted by this process for this account (tests, telemetry). */
  mints = 0;

  constructor(private readonly opts: TokenSourceOptions) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** A bearer token valid for a while yet: the cached one, or the one being minted, or a new one. */
  async get(): Promise<string> {
    const t = this.token;
    if (t && this.now() < t.refreshAt) return t.value;
    this.inflight ??= this.mint().finally(() => (this.inflight = undefined));
    return (await this.inflight).value;
  }

  /**
   * Drops `value` when Atlas refused it (revoked early) so the next get() mints; returns whether it did. A token
   * minted in the last minute is kept: a refusal then is about the account (IP access list, role), and minting again
   * on every request would spend the account's mint rate limit.
   */
  invalidate(value: string): boolean {
    const t = this.token;
    if (t?.value !== value || this.now() - t.mintedAt < 60_000) return false;
    this.token = undefined;
    return true;
  }

  private async mint(): Promise<CachedToken> {
    // A dispatcher per mint (one an hour): nothing long-lived to close when clients come and go.
    const dispatcher = this.opts.ca ? new Agent({ connect: { ca: this.opts.ca } }) : undefined;
    const started = this.now();
    let res: Response;
    try {
      res = await fetch(this.opts.tokenUrl, {
        method: 'POST',
        headers: {
          Authorization: basicAuth(this.opts.clientId, this.opts.clientSecret),
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
        },
        body: 'grant_type=client_credentials',
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 20_000),
        ...(dispatcher ? { dispatcher } : {}),
      } as RequestInit);
    } catch (err) {
      await dispatcher?.close();
      throw classifyError(err, 'atlas');
    }
    const text = await res.text().catch(() => '');
    await dispatcher?.close();
    let body: { access_token?: unknown; expires_in?: unknown; token_type?: unknown; error?: string } = {};
    try {
      body = JSON.parse(text);
    } catch {
      // a proxy's page: the status decides
    }
    if (!res.ok) throw mintError(res.status, body, res.headers.get('retry-after'));
    if (typeof body.access_token !== 'string' || !body.access_token || typeof body.expires_in !== 'number') {
      throw new ClassifiedError('terminal', 'atlas', `${TOKEN_PATH}: the answer has no access_token / expires_in`);
    }
    if (typeof body.token_type === 'string' && body.token_type.toLowerCase() !== 'bearer') {
      throw new ClassifiedError('terminal', 'atlas', `${TOKEN_PATH}: token_type ${body.token_type} is not Bearer`);
    }
    const lifetime = body.expires_in * 1000;
    this.mints += 1;
    this.token = {
      value: body.access_token,
      mintedAt: started,
      expiresAt: started + lifetime,
      refreshAt: started + lifetime - refreshMarginMs(lifetime),
    };
    return this.token;
  }
}

const sources = new Map<string, ServiceAccountTokenSource>();

/** The process's one token source for this account at this token URL (keyed without keeping the secret in a key). */
export function sharedTokenSource(opts: TokenSourceOptions): ServiceAccountTokenSource {
  const key = `${opts.tokenUrl}\n${opts.clientId}\n${createHash('sha256').update(opts.clientSecret).digest('hex')}`;
  let s = sources.get(key);
  if (!s) {
    s = new ServiceAccountTokenSource(opts);
    sources.set(key, s);
  }
  return s;
}
