/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON, asserted field by field */
// The sandbox's Atlas Admin API v2 driven by the real digest-fetch client (MD5 and SHA-256) over HTTPS,
// trusting the sandbox CA through an undici@6 Agent passed as the fetch dispatcher.
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import DigestClient from 'digest-fetch';
import { Agent, request } from 'undici';
import { createAtlas, type AtlasSandbox } from '../../src/sandbox/atlas.js';
import { makeCertificate, startHttpsServer, type RunningServer } from '../../src/sandbox/server.js';
import type { KeyAccessQuery, SandboxContext } from '../../src/sandbox/contract.js';

const SUB = '00000000-1111-2222-3333-444444444444';
const TENANT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const ATLAS_SP = '5b1e6c3a-7d2f-4e8a-9b0c-1d2e3f4a5b6c';
const KEY_ID = 'https://kv-ear.vault.azure.net/keys/atlas-cmk/d891821e3d364e9eb88fbd3d11807b86';
const ACCEPT = 'application/vnd.atlas.2023-01-01+json';

let server: RunningServer;
let atlas: AtlasSandbox;
let agent: Agent;
/** The emulated vault's verdict, as the ARM half would compute it: who may use which key. */
const granted = new Set<string>();
const queries: KeyAccessQuery[] = [];
const counts: Array<[string, string]> = [];

const ctx: SandboxContext = {
  tenantId: TENANT,
  subscriptionId: SUB,
  baseUrl: () => server.baseUrl,
  checkKeyAccess: (q) => {
    queries.push(q);
    const ok = granted.has(`${q.principalId}|${q.keyIdentifier}`);
    return ok ? { valid: true } : { valid: false, reason: `principal ${q.principalId} lacks get/encrypt/decrypt` };
  },
  notify: () => undefined,
  count: (op, caller) => void counts.push([op, caller]),
  timeScale: 0.001,
};

type Algorithm = 'MD5' | 'SHA-256';

/** One digest-fetch client per request, as the product does (nonce counts are per client). */
async function call(
  method: string,
  path: string,
  opts: { body?: unknown; algorithm?: Algorithm; accept?: string | null; privateKey?: string } = {},
): Promise<{ status: number; headers: Headers; json: any }> {
  const { publicKey, privateKey } = atlas.control.apiKey();
  const client = new DigestClient(publicKey, opts.privateKey ?? privateKey, { algorithm: opts.algorithm ?? 'MD5' });
  const headers: Record<string, string> = {};
  if (opts.accept !== null) headers.accept = opts.accept ?? ACCEPT;
  if (opts.body !== undefined) headers['content-type'] = ACCEPT;
  const res = (await client.fetch(`${server.baseUrl}/api/atlas/v2${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    dispatcher: agent,
  } as RequestInit)) as Response;
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

function expectApiError(json: any, status: number, errorCode?: string): void {
  expect(json).toMatchObject({ error: status, parameters: expect.any(Array), reason: expect.any(String) });
  expect(typeof json.detail).toBe('string');
  if (errorCode) expect(json.errorCode).toBe(errorCode);
}

beforeAll(async () => {
  const tls = await makeCertificate();
  atlas = createAtlas(ctx);
  server = await startHttpsServer(tls, () => [atlas.routes]);
  agent = new Agent({ connect: { ca: tls.ca } });
});

afterAll(async () => {
  await server.close();
  await agent.close();
});

beforeEach(() => {
  granted.clear();
  queries.length = 0;
  atlas.control.setAtlasFault(null);
});

describe('digest authentication', () => {
  it.each(['MD5', 'SHA-256'] as const)('accepts the real digest-fetch client with %s', async (algorithm) => {
    const { groupId } = atlas.control.createProject({ name: `digest-${algorithm}` });
    const res = await call('GET', '/groups', { algorithm });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(ACCEPT);
    expect(res.json.results.map((g: any) => g.id)).toContain(groupId);
    expect(counts.at(-1)).toEqual(['atlas.groups.list', atlas.control.apiKey().publicKey]);
  });

  it('challenges like Atlas and refuses a wrong private key with 401', async () => {
    const raw = await request(`${server.baseUrl}/api/atlas/v2/groups`, {
      headers: { accept: ACCEPT },
      dispatcher: agent,
    });
    expect(raw.statusCode).toBe(401);
    const challenge = String(raw.headers['www-authenticate']);
    expect(challenge).toMatch(
      /^Digest realm="MMS Public API", domain="", nonce="[^"]+", algorithm=MD5, qop="auth", stale=false$/,
    );
    expectApiError(await raw.body.json(), 401);

    const wrong = await call('GET', '/groups', { privateKey: randomUUID() });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toContain('stale=false');
    expectApiError(wrong.json, 401);
    expect(wrong.json.detail).toBe('You are not authorized for this resource.');
  });

  /** A hand-made digest answer, to replay it and to use an expired nonce. */
  async function answer(nonceFrom: string, nc: string): Promise<string> {
    const { publicKey, privateKey } = atlas.control.apiKey();
    const nonce = /nonce="([^"]+)"/.exec(nonceFrom)![1];
    const md5 = (s: string) => createHash('md5').update(s).digest('hex');
    const uri = '/api/atlas/v2/groups';
    const ha1 = md5(`${publicKey}:MMS Public API:${privateKey}`);
    const ha2 = md5(`GET:${uri}`);
    const cnonce = 'abcdef0123456789';
    const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
    return `Digest username="${publicKey}", realm="MMS Public API", nonce="${nonce}", uri="${uri}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}"`;
  }

  async function get(authorization: string) {
    const r = await request(`${server.baseUrl}/api/atlas/v2/groups`, {
      headers: { accept: ACCEPT, authorization },
      dispatcher: agent,
    });
    await r.body.text();
    return r;
  }

  it('refuses a replayed nonce count and says stale=true for an expired nonce', async () => {
    const first = await request(`${server.baseUrl}/api/atlas/v2/groups`, {
      headers: { accept: ACCEPT },
      dispatcher: agent,
    });
    await first.body.text();
    const challenge = String(first.headers['www-authenticate']);
    const auth1 = await answer(challenge, '00000001');
    expect((await get(auth1)).statusCode).toBe(200);
    const replay = await get(auth1);
    expect(replay.statusCode).toBe(401);
    expect(String(replay.headers['www-authenticate'])).toContain('stale=false');
    expect((await get(await answer(challenge, '00000002'))).statusCode).toBe(200);

    atlas.control.expireNonces();
    const stale = await get(await answer(challenge, '00000003'));
    expect(stale.statusCode).toBe(401);
    expect(String(stale.headers['www-authenticate'])).toContain('stale=true');
    // digest-fetch answers the fresh challenge by itself.
    expect((await call('GET', '/groups')).status).toBe(200);
  });
});

describe('versioned API and errors', () => {
  it('answers 406 INVALID_VERSION_DATE without a supported versioned Accept header', async () => {
    for (const accept of [null, 'application/json', 'application/vnd.atlas.2099-01-01+json']) {
      const res = await call('GET', '/groups', { accept });
      expect(res.status).toBe(406);
      expectApiError(res.json, 406, 'INVALID_VERSION_DATE');
    }
  });

  it('pages /groups with results, totalCount and links', async () => {
    for (let i = 0; i < 3; i++) atlas.control.createProject({ name: `paged-${i}` });
    const total = atlas.control.projects().length;
    const page = await call('GET', '/groups?itemsPerPage=2&pageNum=2');
    expect(page.status).toBe(200);
    expect(page.json.totalCount).toBe(total);
    expect(page.json.results).toHaveLength(Math.min(2, total - 2));
    expect(page.json.links.map((l: any) => l.rel)).toContain('previous');
    expect(page.json.results[0]).toMatchObject({
      id: expect.stringMatching(/^[a-f0-9]{24}$/),
      name: expect.any(String),
    });
    const bad = await call('GET', '/groups?itemsPerPage=0');
    expect(bad.status).toBe(400);
    expectApiError(bad.json, 400);
  });

  it('answers unknown groups 404 GROUP_NOT_FOUND and unknown paths 404', async () => {
    const missing = await call('GET', '/groups/0123456789abcdef01234567/encryptionAtRest');
    expect(missing.status).toBe(404);
    expectApiError(missing.json, 404, 'GROUP_NOT_FOUND');
    const nowhere = await call('GET', '/nowhere');
    expect(nowhere.status).toBe(404);
    expectApiError(nowhere.json, 404, 'RESOURCE_NOT_FOUND');
  });

  it('returns 429 RATE_LIMITED_TOKEN_BUCKET with Retry-After while the fault is set', async () => {
    atlas.control.setAtlasFault({ status: 429, retryAfterSeconds: 7, times: 1 });
    const limited = await call('GET', '/groups');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expectApiError(limited.json, 429, 'RATE_LIMITED_TOKEN_BUCKET');
    expect((await call('GET', '/groups')).status).toBe(200);
    atlas.control.setAtlasFault({ status: 503 });
    const down = await call('GET', '/groups');
    expect(down.status).toBe(503);
    expectApiError(down.json, 503, 'SERVICE_UNAVAILABLE');
  });
});

describe('cloud provider access and encryption at rest', () => {
  let groupId: string;
  beforeEach(() => {
    groupId = atlas.control.createProject({ name: `ear-${randomUUID().slice(0, 8)}` }).groupId;
  });

  const earBody = (roleId: string, keyIdentifier = KEY_ID) => ({
    azureKeyVault: {
      enabled: true,
      roleId,
      subscriptionID: SUB,
      resourceGroupName: 'rg-ear',
      keyVaultName: 'kv-ear',
      keyIdentifier,
      azureEnvironment: 'AZURE',
    },
  });

  it('registers the Atlas service principal; _id is the roleId', async () => {
    const created = await call('POST', `/groups/${groupId}/cloudProviderAccess`, {
      body: {
        providerName: 'AZURE',
        atlasAzureAppId: '9efedfcc-2eca-4b27-a613-0cad1e114cb7',
        servicePrincipalId: ATLAS_SP,
        tenantId: TENANT,
      },
    });
    expect(created.status).toBe(200);
    expect(created.json).toMatchObject({
      _id: expect.stringMatching(/^[a-f0-9]{24}$/),
      providerName: 'AZURE',
      atlasAzureAppId: '9efedfcc-2eca-4b27-a613-0cad1e114cb7',
      servicePrincipalId: ATLAS_SP,
      tenantId: TENANT,
      createdDate: expect.any(String),
      lastUpdatedDate: expect.any(String),
    });
    const list = await call('GET', `/groups/${groupId}/cloudProviderAccess`, { algorithm: 'SHA-256' });
    expect(list.json).toEqual({ awsIamRoles: [], azureServicePrincipals: [created.json], gcpServiceAccounts: [] });
    const bad = await call('POST', `/groups/${groupId}/cloudProviderAccess`, {
      body: { providerName: 'AZURE', servicePrincipalId: 'not-a-uuid', tenantId: TENANT },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.detail).toContain('servicePrincipalId');
  });

  it('PATCH validates key access like Atlas: a failing check changes nothing', async () => {
    const { roleId } = atlas.control.registerServicePrincipal(groupId, {
      servicePrincipalId: ATLAS_SP,
      tenantId: TENANT,
    });
    const refused = await call('PATCH', `/groups/${groupId}/encryptionAtRest`, { body: earBody(roleId) });
    expect(refused.status).toBe(400);
    expectApiError(refused.json, 400);
    expect(queries.at(-1)).toEqual({
      principalId: ATLAS_SP,
      tenantId: TENANT,
      subscriptionId: SUB,
      resourceGroupName: 'rg-ear',
      keyVaultName: 'kv-ear',
      keyIdentifier: KEY_ID,
      // Where Atlas connects from: the project's addresses (and the control plane's), or a private endpoint.
      projectId: groupId,
      privateNetworking: false,
    });
    const unchanged = await call('GET', `/groups/${groupId}/encryptionAtRest`);
    expect(unchanged.json.azureKeyVault).toEqual({ enabled: false, requirePrivateNetworking: false, valid: false });

    granted.add(`${ATLAS_SP}|${KEY_ID}`);
    const ok = await call('PATCH', `/groups/${groupId}/encryptionAtRest`, {
      body: earBody(roleId),
      algorithm: 'SHA-256',
    });
    expect(ok.status).toBe(200);
    expect(ok.json.azureKeyVault).toEqual({
      ...earBody(roleId).azureKeyVault,
      requirePrivateNetworking: false,
      valid: true,
    });
  });

  it('computes valid on every read, from the vault as it is now', async () => {
    const { roleId } = atlas.control.registerServicePrincipal(groupId, {
      servicePrincipalId: ATLAS_SP,
      tenantId: TENANT,
    });
    granted.add(`${ATLAS_SP}|${KEY_ID}`);
    expect((await call('PATCH', `/groups/${groupId}/encryptionAtRest`, { body: earBody(roleId) })).status).toBe(200);
    granted.clear(); // someone removed the grant
    const drifted = await call('GET', `/groups/${groupId}/encryptionAtRest`);
    expect(drifted.json.azureKeyVault).toMatchObject({ enabled: true, roleId, valid: false });
    expect(atlas.control.validate(groupId).valid).toBe(false);
    granted.add(`${ATLAS_SP}|${KEY_ID}`);
    expect((await call('GET', `/groups/${groupId}/encryptionAtRest`)).json.azureKeyVault.valid).toBe(true);
  });

  it('never returns the secret and names bad fields', async () => {
    const clientID = randomUUID();
    granted.add(`${clientID}|${KEY_ID}`);
    const withSecret = await call('PATCH', `/groups/${groupId}/encryptionAtRest`, {
      body: {
        azureKeyVault: {
          enabled: true,
          clientID,
          secret: 'super-secret-value',
          tenantID: TENANT,
          subscriptionID: SUB,
          resourceGroupName: 'rg-ear',
          keyVaultName: 'kv-ear',
          keyIdentifier: KEY_ID,
          azureEnvironment: 'AZURE',
        },
      },
    });
    expect(withSecret.status).toBe(200);
    expect(JSON.stringify(withSecret.json)).not.toContain('super-secret-value');
    expect(JSON.stringify((await call('GET', `/groups/${groupId}/encryptionAtRest`)).json)).not.toContain(
      'super-secret',
    );
    expect(JSON.stringify(atlas.control.getProject(groupId))).not.toContain('super-secret');

    const badRole = await call('PATCH', `/groups/${groupId}/encryptionAtRest`, { body: earBody('xyz') });
    expect(badRole.status).toBe(400);
    expect(badRole.json.detail).toContain('azureKeyVault.roleId');
    const unknownRole = await call('PATCH', `/groups/${groupId}/encryptionAtRest`, {
      body: earBody('0123456789abcdef01234567'),
    });
    expect(unknownRole.status).toBe(404);
    const missing = await call(
      'PATCH',
      `/groups/${atlas.control.createProject({ name: 'fresh' }).groupId}/encryptionAtRest`,
      {
        body: { azureKeyVault: { enabled: true, roleId: '0123456789abcdef01234567' } },
      },
    );
    expect(missing.status).toBe(400);
    expect(missing.json.detail).toContain('azureKeyVault.keyIdentifier');
    const notJson = await call('PATCH', `/groups/${groupId}/encryptionAtRest`, { body: undefined });
    expect(notJson.status).toBe(400);

    const off = await call('PATCH', `/groups/${groupId}/encryptionAtRest`, {
      body: { azureKeyVault: { enabled: false } },
    });
    expect(off.json.azureKeyVault).toEqual({ enabled: false, requirePrivateNetworking: false, valid: false });
  });
});
