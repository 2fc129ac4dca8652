// The Atlas client (digest-fetch, versioned Accept, 429 honoured, CA via undici) against the sandbox's Atlas half.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtlasClient, ATLAS_ACCEPT } from '../../src/atlas/client.js';
import { AtlasAdapter } from '../../src/atlas/target.js';
import { createAtlas, type AtlasSandbox } from '../../src/sandbox/atlas.js';
import type { SandboxContext } from '../../src/sandbox/contract.js';
import { makeCertificate, startHttpsServer, type RunningServer } from '../../src/sandbox/server.js';

let server: RunningServer;
let atlas: AtlasSandbox;
let ca: string;
const counts: Record<string, number> = {};
const TENANT = '7f000000-0000-0000-0000-000000000001';
const SUB = '7f000000-0000-0000-0000-000000000002';
const SP = '7f000000-0000-0000-0000-0000000000aa';
let groupId: string;
let keyValid = true;

function client(extra: Partial<ConstructorParameters<typeof AtlasClient>[0]> = {}): AtlasClient {
  const key = atlas.control.apiKey();
  return new AtlasClient({
    baseUrl: `${server.baseUrl}/api/atlas/v2`,
    publicKey: key.publicKey,
    privateKey: key.privateKey,
    ca,
    maxRetries: 3,
    backoffMs: 5,
    maxRetryAfterMs: 50,
    ...extra,
  });
}

beforeAll(async () => {
  const tls = await makeCertificate();
  ca = tls.ca;
  let base = '';
  const ctx: SandboxContext = {
    tenantId: TENANT,
    subscriptionId: SUB,
    baseUrl: () => base,
    checkKeyAccess: () => ({ valid: keyValid }),
    notify: () => undefined,
    count: (op) => void (counts[op] = (counts[op] ?? 0) + 1),
    timeScale: 0.001,
  };
  atlas = createAtlas(ctx);
  server = await startHttpsServer(tls, () => [atlas.routes]);
  base = server.baseUrl;
  groupId = atlas.control.createProject({ name: 'ear-test' }).groupId;
  const { roleId } = atlas.control.registerServicePrincipal(groupId, { servicePrincipalId: SP, tenantId: TENANT });
  atlas.control.setEncryptionAtRest(groupId, {
    enabled: true,
    roleId,
    tenantID: TENANT,
    subscriptionID: SUB,
    resourceGroupName: 'rg-ear',
    keyVaultName: 'kv-ear',
    keyIdentifier: 'https://kv-ear.vault.azure.net/keys/atlas-ear/00112233445566778899aabbccddeeff',
    azureEnvironment: 'AZURE',
    requirePrivateNetworking: false,
  });
});
afterAll(async () => {
  await server?.close();
});

describe('AtlasClient', () => {
  it('reads encryptionAtRest and cloudProviderAccess over digest auth with the versioned Accept header', async () => {
    const c = client();
    const ear = await c.getEncryptionAtRest(groupId);
    expect(ear.azureKeyVault).toMatchObject({ enabled: true, keyVaultName: 'kv-ear', valid: true });
    const cpa = await c.getCloudProviderAccess(groupId);
    expect(cpa.azureServicePrincipals?.[0]).toMatchObject({ servicePrincipalId: SP });
    expect(ATLAS_ACCEPT).toBe('application/vnd.atlas.2023-01-01+json');
    await c.close();
  });

  it('maps the project to its target through the adapter (roleId -> servicePrincipalId)', async () => {
    keyValid = false;
    const r = await new AtlasAdapter(client()).loadTarget(groupId);
    keyValid = true;
    expect(r).toMatchObject({
      kind: 'target',
      target: {
        projectId: groupId,
        principalObjectId: SP,
        tenantId: TENANT,
        subscriptionId: SUB,
        resourceGroup: 'rg-ear',
        vaultName: 'kv-ear',
        keyName: 'atlas-ear',
        keyVersion: '00112233445566778899aabbccddeeff',
        atlasValid: false,
        credentials: 'secretless',
      },
    });
  });

  it('lists the projects the key can see', async () => {
    expect((await client().listGroups()).map((g) => g.id)).toContain(groupId);
  });

  it('honours 429 RATE_LIMITED_TOKEN_BUCKET and succeeds after the retry-after', async () => {
    atlas.control.setAtlasFault({ status: 429, retryAfterSeconds: 0, times: 2 });
    const ear = await client().getEncryptionAtRest(groupId);
    expect(ear.azureKeyVault?.enabled).toBe(true);
  });

  it('Atlas down beyond the retries: a transient error naming the status, never a result', async () => {
    atlas.control.setAtlasFault({ status: 503 });
    const err = await client({ maxRetries: 1 })
      .getEncryptionAtRest(groupId)
      .catch((e) => e);
    atlas.control.setAtlasFault(null);
    expect(err).toMatchObject({ kind: 'transient', status: 503, source: 'atlas', code: 'SERVICE_UNAVAILABLE' });
  });

  it('a wrong key is terminal 401 with a message that names the settings, and never echoes the secret', async () => {
    const err = await client({ privateKey: 'definitely-wrong-secret' })
      .getEncryptionAtRest(groupId)
      .catch((e) => e);
    expect(err).toMatchObject({ kind: 'terminal', status: 401 });
    expect(err.message).toMatch(/ATLAS_PUBLIC_KEY/);
    expect(JSON.stringify(err)).not.toContain('definitely-wrong-secret');
    expect(err.describe()).not.toContain('definitely-wrong-secret');
  });

  it("an unknown project is terminal 404 with Atlas's errorCode", async () => {
    const err = await client()
      .getEncryptionAtRest('65a000000000000000000fff')
      .catch((e) => e);
    expect(err).toMatchObject({ kind: 'terminal', status: 404, code: 'GROUP_NOT_FOUND' });
  });

  it('an expired nonce (stale=true) is handled by the fresh per-request digest client', async () => {
    atlas.control.expireNonces();
    expect((await client().getEncryptionAtRest(groupId)).azureKeyVault?.enabled).toBe(true);
  });
});
