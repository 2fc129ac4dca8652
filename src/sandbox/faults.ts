// Fault injection and ARM's subscription rate limit. Faults are switchable per route while running: a
// matcher (operation name, method, path pattern) and a fault (latency, an HTTP error, a connection reset),
// optionally for the next N matching requests only. Errors are shaped like the service the path belongs
// to: ARM `{"error":{"code","message"}}` with `Retry-After` on 429/503, Atlas
// `{detail, error, errorCode, parameters, reason}` under /api/atlas.
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { SandboxRequest } from './contract.js';
import { sendArmError, sendJson } from './server.js';

/** Which requests a fault applies to; every given field must match. A string is an operation name or a path prefix. */
export type RouteMatcher =
  | string
  | {
      /** e.g. `roleAssignments.create`, `vaults.get`, `atlas.encryptionAtRest.get`. */
      operation?: string;
      method?: string;
      /** A RegExp, or a string the path must start with (case-insensitive). */
      path?: string | RegExp;
    };

export type Fault =
  | { kind: 'latency'; ms: number }
  /** 429/500/503 etc. `retryAfterSeconds` (sandbox seconds, scaled by timeScale) adds `Retry-After`. */
  | { kind: 'error'; status: number; code?: string; message?: string; retryAfterSeconds?: number }
  | { kind: 'reset' };

export interface FaultRule {
  id: number;
  matcher: RouteMatcher;
  fault: Fault;
  /** Remaining matching requests to affect; undefined = until cleared. */
  remaining?: number;
  hits: number;
}

export interface RateLimitConfig {
  enabled: boolean;
  reads: { burst: number; perSecond: number };
  writes: { burst: number; perSecond: number };
}

/** ARM's published per-subscription token bucket (learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling). */
export const ARM_RATE_LIMITS: RateLimitConfig = {
  enabled: true,
  reads: { burst: 250, perSecond: 25 },
  writes: { burst: 200, perSecond: 10 },
};

export interface RequestInfo {
  operation?: string;
  /** `arm` | `atlas` | `eventgrid` | `control` | `other`: picks the error shape. */
  family: string;
}

/** An Atlas-shaped error body (Atlas Admin API v2 `ApiError`). Exported for the Atlas half. */
export function atlasErrorBody(status: number, errorCode: string, detail: string): Record<string, unknown> {
  return { detail, error: status, errorCode, parameters: [], reason: STATUS_CODES[status] ?? 'Error' };
}

const ARM_CODES: Record<number, [string, string]> = {
  429: ['TooManyRequests', 'The request was throttled. Please retry after the time given in Retry-After.'],
  500: ['InternalServerError', 'Encountered internal server error. Please try again.'],
  502: ['BadGateway', 'The gateway did not receive a response from the service.'],
  503: ['ServiceUnavailable', 'The service is temporarily unavailable. Please try again later.'],
  504: ['GatewayTimeout', 'The gateway did not receive a response within the specified time period.'],
};

const ATLAS_CODES: Record<number, [string, string]> = {
  429: ['RATE_LIMITED_TOKEN_BUCKET', 'You have exceeded the rate limit for this API. Retry after the interval given.'],
  500: ['UNEXPECTED_ERROR', 'Unexpected error.'],
  503: ['SERVICE_UNAVAILABLE', 'The service is temporarily unavailable.'],
};

export function familyOf(pathname: string): string {
  const p = pathname.toLowerCase();
  if (p.startsWith('/api/atlas')) return 'atlas';
  if (p.startsWith('/_sandbox')) return 'control';
  if (p.startsWith('/subscriptions/') || p.startsWith('/providers/')) return 'arm';
  return 'other';
}

function matches(m: RouteMatcher, req: SandboxRequest, info: RequestInfo): boolean {
  const path = req.url.pathname;
  if (typeof m === 'string') {
    return info.operation === m || path.toLowerCase().startsWith(m.toLowerCase());
  }
  if (m.operation && m.operation !== info.operation) return false;
  if (m.method && m.method.toUpperCase() !== req.method.toUpperCase()) return false;
  if (m.path !== undefined) {
    if (m.path instanceof RegExp ? !m.path.test(path) : !path.toLowerCase().startsWith(m.path.toLowerCase()))
      return false;
  }
  return true;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class Faults {
  private rules: FaultRule[] = [];
  private nextId = 1;
  rateLimit: RateLimitConfig = structuredClone(ARM_RATE_LIMITS);
  private buckets = new Map<string, Bucket>();

  /** @param timeScale sandbox seconds -> real seconds (Retry-After values and token refill are scaled by it). */
  constructor(private readonly timeScale: number) {}

  set(matcher: RouteMatcher, fault: Fault, opts: { times?: number } = {}): number {
    const rule: FaultRule = {
      id: this.nextId++,
      matcher,
      fault,
      hits: 0,
      ...(opts.times !== undefined ? { remaining: opts.times } : {}),
    };
    this.rules.push(rule);
    return rule.id;
  }

  /** Clears one rule by id, or all rules. */
  clear(id?: number): void {
    this.rules = id === undefined ? [] : this.rules.filter((r) => r.id !== id);
  }

  list(): FaultRule[] {
    return this.rules.map((r) => ({ ...r }));
  }

  setRateLimit(cfg: Partial<RateLimitConfig>): void {
    this.rateLimit = {
      enabled: cfg.enabled ?? this.rateLimit.enabled,
      reads: { ...this.rateLimit.reads, ...cfg.reads },
      writes: { ...this.rateLimit.writes, ...cfg.writes },
    };
    this.buckets.clear();
  }

  /** Formats Retry-After: sandbox seconds scaled to real seconds (fractions allowed: the SDK parses Number()). */
  retryAfter(seconds: number): string {
    const v = seconds * this.timeScale;
    return String(Number.isInteger(v) ? v : Number(v.toFixed(3)));
  }

  /**
   * Applies the first matching fault. Returns true when the request was answered (error or reset);
   * latency delays and lets it through.
   */
  async intercept(req: SandboxRequest, res: ServerResponse, info: RequestInfo): Promise<boolean> {
    for (const rule of this.rules) {
      if (!matches(rule.matcher, req, info)) continue;
      if (rule.remaining !== undefined) {
        if (rule.remaining <= 0) continue;
        rule.remaining -= 1;
      }
      rule.hits += 1;
      const f = rule.fault;
      if (f.kind === 'latency') {
        await new Promise((r) => setTimeout(r, f.ms));
        continue;
      }
      if (f.kind === 'reset') {
        req.raw.socket.destroy();
        return true;
      }
      this.sendError(res, info.family, f.status, f.code, f.message, f.retryAfterSeconds);
      return true;
    }
    this.rules = this.rules.filter((r) => r.remaining === undefined || r.remaining > 0);
    return false;
  }

  sendError(
    res: ServerResponse,
    family: string,
    status: number,
    code?: string,
    message?: string,
    retryAfterSeconds?: number,
  ): void {
    const headers: Record<string, string> = {};
    if (retryAfterSeconds !== undefined) headers['retry-after'] = this.retryAfter(retryAfterSeconds);
    if (family === 'atlas') {
      const [c, m] = ATLAS_CODES[status] ?? ['UNEXPECTED_ERROR', 'Unexpected error.'];
      sendJson(res, status, atlasErrorBody(status, code ?? c, message ?? m), headers);
      return;
    }
    const [c, m] = ARM_CODES[status] ?? ['InternalServerError', 'The sandbox was told to fail this request.'];
    sendArmError(res, status, code ?? c, message ?? m, headers);
  }

  /**
   * ARM's token bucket per subscription: GETs spend read tokens, other methods write tokens. Sets the
   * `x-ms-ratelimit-remaining-subscription-{reads|writes}` header, or answers 429 with Retry-After.
   */
  takeToken(subscriptionId: string, method: string, res: ServerResponse): boolean {
    if (!this.rateLimit.enabled) return true;
    const kind = method === 'GET' || method === 'HEAD' ? 'reads' : 'writes';
    const cfg = this.rateLimit[kind];
    const key = `${subscriptionId.toLowerCase()}/${kind}`;
    const now = Date.now();
    const b = this.buckets.get(key) ?? { tokens: cfg.burst, at: now };
    // Refill in sandbox time: real elapsed / timeScale.
    const elapsed = (now - b.at) / 1000 / this.timeScale;
    b.tokens = Math.min(cfg.burst, b.tokens + elapsed * cfg.perSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens < 1) {
      const wait = Math.max(1, Math.ceil((1 - b.tokens) / cfg.perSecond));
      const op = kind === 'reads' ? 'read' : 'write';
      sendArmError(
        res,
        429,
        'SubscriptionRequestsThrottled',
        `Number of '${op}' requests for subscription '${subscriptionId}' exceeded. Please try again after '${wait}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling`,
        { 'retry-after': this.retryAfter(wait), [`x-ms-ratelimit-remaining-subscription-${kind}`]: '0' },
      );
      return false;
    }
    b.tokens -= 1;
    res.setHeader(`x-ms-ratelimit-remaining-subscription-${kind}`, String(Math.floor(b.tokens)));
    return true;
  }
}
