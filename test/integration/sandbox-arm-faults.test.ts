// Faults reach the real SDK clients as Azure's would: 429/503 with Retry-After are retried by the SDK's
// own throttling policy, 500 and connection resets by its exponential policy, and the per-subscription
// token bucket answers 429 SubscriptionRequestsThrottled with x-ms-ratelimit-remaining-* headers.
// Delays are scaled (timeScale) so nothing waits for real seconds; no assertion depends on timing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { clients, failure, rawFetch, type Clients } from './sandbox-arm.helpers.js';

let sb: Sandbox;
let c: Clients;

beforeAll(async () => {
  sb = await startSandbox({ timeScale: 0.001 });
  c = clients(sb);
  sb.control.createVault({ vault: 'kv-faults', resourceGroup: 'rg-f' });
});
afterAll(async () => {
  await sb?.close();
});

const getVault = () => c.kv.vaults.get('rg-f', 'kv-faults');
const vaultGets = () => c.wire.filter((w) => w.method === 'GET' && w.url.includes('/vaults/kv-faults'));

describe('faults, switchable per route while running', () => {
  it('429 with Retry-After: the SDK waits and retries, then succeeds', async () => {
    c.wire.length = 0;
    sb.control.setFault('vaults.get', { kind: 'error', status: 429, retryAfterSeconds: 2 }, { times: 2 });
    const v = await getVault();
    expect(v.name).toBe('kv-faults');
    const seen = vaultGets();
    expect(seen.map((w) => w.status)).toEqual([429, 429, 200]);
    // ARM's `Retry-After` in seconds, scaled by timeScale (2 s * 0.001).
    expect(seen[0].headers['retry-after']).toBe('0.002');
    expect(seen[0].body).toEqual({ error: { code: 'TooManyRequests', message: expect.any(String) } });
  });

  it('a 429 that persists past the SDK retries reaches the caller as RestError 429', async () => {
    const id = sb.control.setFault('vaults.get', { kind: 'error', status: 429, retryAfterSeconds: 1 });
    const err = await failure(getVault());
    sb.control.clearFaults(id);
    expect(err).toMatchObject({ statusCode: 429, code: 'TooManyRequests' });
  });

  it('503 with Retry-After and a bare 500 are retried; a connection reset is retried', async () => {
    c.wire.length = 0;
    sb.control.setFault(
      { operation: 'vaults.get' },
      { kind: 'error', status: 503, retryAfterSeconds: 1 },
      { times: 1 },
    );
    await getVault();
    sb.control.setFault(
      { method: 'GET', path: `/subscriptions/${sb.subscriptionId}/resourceGroups/rg-f` },
      { kind: 'error', status: 500 },
      { times: 1 },
    );
    await getVault();
    expect(vaultGets().map((w) => w.status)).toEqual([503, 200, 500, 200]);

    const before = sb.control.counts().byOperation['vaults.get'] ?? 0;
    sb.control.setFault('vaults.get', { kind: 'reset' }, { times: 1 });
    const v = await getVault();
    expect(v.name).toBe('kv-faults');
    expect(sb.control.counts().byOperation['vaults.get']).toBe(before + 2);
  });

  it('a fault on one route leaves others alone; latency is applied and counted', async () => {
    sb.control.setFault('roleAssignments.create', { kind: 'error', status: 500 });
    await getVault();
    const lat = sb.control.setFault('vaults.get', { kind: 'latency', ms: 5 });
    await getVault();
    expect(sb.control.faults().find((f) => f.id === lat)?.hits).toBe(1);
    const err = await failure(
      c.auth.roleAssignments.create(`subscriptions/${sb.subscriptionId}`, '31313131-3131-4313-8313-313131313131', {
        roleDefinitionId: `/subscriptions/${sb.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`,
        principalId: sb.atlasPrincipalId,
      }),
    );
    expect(err).toMatchObject({ statusCode: 500, code: 'InternalServerError' });
    sb.control.clearFaults();
    expect(sb.control.faults()).toEqual([]);
  });

  it('Atlas paths get Atlas-shaped errors', async () => {
    sb.control.setFault('/api/atlas', { kind: 'error', status: 429, retryAfterSeconds: 1 }, { times: 1 });
    const r = await rawFetch(sb)('/api/atlas/v2/groups');
    expect(r.status).toBe(429);
    expect(r.json).toEqual({
      detail: expect.any(String),
      error: 429,
      errorCode: 'RATE_LIMITED_TOKEN_BUCKET',
      parameters: [],
      reason: 'Too Many Requests',
    });
    expect(r.headers.get('retry-after')).toBe('0.001');
  });
});

describe("ARM's subscription token bucket", () => {
  it('counts reads down in x-ms-ratelimit-remaining-subscription-reads, then 429 SubscriptionRequestsThrottled', async () => {
    // 0.002 tokens per sandbox second = one token per 0.5 real seconds at timeScale 0.001.
    sb.control.setRateLimit({ reads: { burst: 3, perSecond: 0.002 } });
    try {
      const f = rawFetch(sb);
      const path = `/subscriptions/${sb.subscriptionId}/resourceGroups/rg-f/providers/Microsoft.KeyVault/vaults/kv-faults?api-version=2026-02-01`;
      const seen = [];
      for (let i = 0; i < 4; i++) seen.push(await f(path, { headers: { authorization: 'Bearer actor:bob' } }));
      expect(seen.slice(0, 3).map((r) => r.headers.get('x-ms-ratelimit-remaining-subscription-reads'))).toEqual([
        '2',
        '1',
        '0',
      ]);
      const throttled = seen[3];
      expect(throttled.status).toBe(429);
      expect(throttled.json).toMatchObject({ error: { code: 'SubscriptionRequestsThrottled' } });
      expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
      const write = await f(`/subscriptions/${sb.subscriptionId}/resourcegroups/rg-f?api-version=2021-04-01`, {
        method: 'PUT',
        headers: { authorization: 'Bearer actor:bob', 'content-type': 'application/json' },
        body: JSON.stringify({ location: 'eastus' }),
      });
      expect(write.headers.get('x-ms-ratelimit-remaining-subscription-writes')).toBe('199');
      // The SDK honours Retry-After and gets through once a token is back (sandbox time runs 1000x faster).
      const v = await getVault();
      expect(v.name).toBe('kv-faults');
    } finally {
      sb.control.setRateLimit({ reads: { burst: 250, perSecond: 25 } });
    }
  });
});
