// The ARM adapter (real @azure/arm-authorization + @azure/arm-keyvault clients) against the HTTPS sandbox.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { keyScope } from '../../src/core/scopes.js';
import { ArmAdapter } from '../../src/azure/arm.js';
import { AzureClientFactory } from '../../src/azure/clients.js';
import { ClassifiedError } from '../../src/azure/errors.js';
import { roleAssignmentName } from '../../src/azure/guid.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { remediatorCondition } from '../../src/sandbox/seed.js';

let sb: Sandbox;
let arm: ArmAdapter;
let rbacVault: string;
let apVault: string;
const OTHER = '0a0a0a0a-1111-2222-3333-444444444444';

beforeAll(async () => {
  sb = await startSandbox({ timeScale: 0.001, rateLimit: false });
  arm = new ArmAdapter(
    new AzureClientFactory({
      endpoint: sb.armEndpoint,
      ca: sb.ca,
      credential: sb.credential,
      retry: { maxRetries: 4, retryDelayInMs: 5, maxRetryDelayInMs: 50 },
    }),
  );
  const c = sb.control;
  c.createVault({ vault: 'kv-arm-rbac', resourceGroup: 'rg-arm', rbac: true });
  c.createKey({ vault: 'kv-arm-rbac', key: 'k1' });
  c.createVault({ vault: 'kv-arm-ap', resourceGroup: 'rg-arm', rbac: false });
  c.createKey({ vault: 'kv-arm-ap', key: 'k1', exp: Math.floor(Date.now() / 1000) + 3600 });
  c.setAccessPolicy({ vault: 'kv-arm-ap', objectId: OTHER, keys: ['get', 'list', 'sign'] });
  c.setAccessPolicy({ vault: 'kv-arm-ap', objectId: sb.atlasPrincipalId, keys: ['get'] });
  rbacVault = String(c.getVault({ vault: 'kv-arm-rbac' }).id);
  apVault = String(c.getVault({ vault: 'kv-arm-ap' }).id);
  // The remediator's least privilege (the sandbox enforces it): conditioned RBAC admin + the access-policy writer.
  const remediator = c.principals().find((p) => p.name === 'ear-guard')!.objectId;
  c.assignRole({
    scope: 'kv-arm-rbac',
    role: ROLE_IDS.roleBasedAccessControlAdministrator,
    principalId: remediator,
    condition: remediatorCondition(sb.atlasPrincipalId),
    conditionVersion: '2.0',
  });
  const writer = c.createCustomRole({
    roleName: 'EAR Guard Access Policy Writer (arm tests)',
    actions: ['Microsoft.KeyVault/vaults/read', 'Microsoft.KeyVault/vaults/accessPolicies/write'],
  });
  c.assignRole({ scope: 'kv-arm-ap', role: String(writer.id), principalId: remediator });
});
afterAll(async () => {
  await sb?.close();
});

describe('ArmAdapter reads', () => {
  it('reads a vault as a normalized document with its permission model', async () => {
    const v = await arm.getVault(rbacVault);
    expect(v.enableRbacAuthorization).toBe(true);
    const ap = await arm.getVault(apVault);
    expect(ap.enableRbacAuthorization).not.toBe(true);
    expect(ap.accessPolicies.map((p) => p.objectId)).toEqual(expect.arrayContaining([OTHER, sb.atlasPrincipalId]));
  });

  it("lists only the principal's assignments at, above and below the key scope", async () => {
    sb.control.assignRole({ scope: 'kv-arm-rbac', role: 'Key Vault Crypto User', principalId: sb.atlasPrincipalId });
    sb.control.assignRole({ scope: 'kv-arm-rbac', role: 'Key Vault Crypto User', principalId: OTHER });
    sb.control.assignRole({
      scope: `/subscriptions/${sb.subscriptionId}`,
      role: 'Reader',
      principalId: sb.atlasPrincipalId,
    });
    const list = await arm.listPrincipalAssignments(keyScope(rbacVault, 'k1'), sb.atlasPrincipalId);
    expect(list.length).toBe(2);
    expect(list.every((a) => a.principalId === sb.atlasPrincipalId)).toBe(true);
  });

  it('resolves built-in roles from shipped data without a request, and fetches custom roles once (cached)', async () => {
    const custom = sb.control.createCustomRole({
      roleName: 'Key decrypter',
      dataActions: ['Microsoft.KeyVault/vaults/keys/decrypt/action'],
    });
    sb.control.resetCounts();
    const defs = await arm.getRoleDefinitions([
      `/subscriptions/${sb.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.keyVaultCryptoUser}`,
      String(custom.id),
    ]);
    expect(defs.map((d) => d.roleName)).toEqual(['Key decrypter']);
    await arm.getRoleDefinitions([String(custom.id)]);
    expect(sb.control.counts().byOperation['roleDefinitions.get']).toBe(1);
  });

  it('reads the key record: enabled, expiry, current version', async () => {
    const k = await arm.getKey(apVault, 'k1');
    expect(k.enabled).toBe(true);
    expect(Date.parse(k.expires!)).toBeGreaterThan(Date.now());
    expect(k.keyUriWithVersion).toMatch(/\/keys\/k1\/[0-9a-f]+$/);
    expect(k.keyUriWithVersion!.endsWith(k.currentVersion!)).toBe(true);
    sb.control.setKeyEnabled({ vault: 'kv-arm-ap', key: 'k1', enabled: false });
    expect((await arm.getKey(apVault, 'k1')).enabled).toBe(false);
  });

  it('lists deny assignments at the key scope', async () => {
    sb.control.addDenyAssignment({
      scope: rbacVault,
      principals: [{ id: '00000000-0000-0000-0000-000000000000', type: 'SystemDefined' }],
      dataActions: ['Microsoft.KeyVault/vaults/keys/decrypt/action'],
    });
    const d = await arm.listDenyAssignments(keyScope(rbacVault, 'k1'));
    expect(d.length).toBe(1);
    expect(d[0]!.permissions[0]!.dataActions).toContain('Microsoft.KeyVault/vaults/keys/decrypt/action');
  });
});

describe('ArmAdapter writes', () => {
  it('names role assignments deterministically and treats 409 RoleAssignmentExists as done', async () => {
    const scope = rbacVault;
    const req = { scope, roleDefinitionGuid: ROLE_IDS.reader, principalId: sb.atlasPrincipalId };
    const first = await arm.createRoleAssignment(req);
    expect(first.created).toBe(true);
    expect(first.name).toBe(roleAssignmentName(scope, ROLE_IDS.reader, sb.atlasPrincipalId));
    // The same name and content again: ARM answers success, still one assignment.
    const again = await arm.createRoleAssignment(req);
    expect(again.name).toBe(first.name);
    const readers = sb.control
      .roleAssignments({ scope, principalId: sb.atlasPrincipalId })
      .filter(
        (a) =>
          String((a.properties as Record<string, unknown>)?.roleDefinitionId ?? a.roleDefinitionId).endsWith(
            ROLE_IDS.reader,
          ) &&
          String((a.properties as Record<string, unknown>)?.scope ?? a.scope).toLowerCase() === scope.toLowerCase(),
      );
    expect(readers).toHaveLength(1);
    // The Crypto User assignment made earlier under a random name: 409 RoleAssignmentExists = done.
    const exists = await arm.createRoleAssignment({
      scope,
      roleDefinitionGuid: ROLE_IDS.keyVaultCryptoUser,
      principalId: sb.atlasPrincipalId,
    });
    expect(exists.created).toBe(false);
  });

  it('adds only the missing key permissions with accessPolicies/add and leaves other principals untouched', async () => {
    await arm.addAccessPolicy({
      vaultId: apVault,
      tenantId: sb.tenantId,
      objectId: sb.atlasPrincipalId,
      keys: ['encrypt', 'decrypt'],
    });
    const v = await arm.getVault(apVault);
    const mine = v.accessPolicies.find((p) => p.objectId === sb.atlasPrincipalId)!;
    expect(mine.permissions.keys!.map((k) => k.toLowerCase()).sort()).toEqual(['decrypt', 'encrypt', 'get']);
    const other = v.accessPolicies.find((p) => p.objectId === OTHER)!;
    expect(other.permissions.keys!.sort()).toEqual(['get', 'list', 'sign']);
    expect(sb.control.counts().byOperation['vaults.createOrUpdate'] ?? 0).toBe(0);
  });
});

describe('errors', () => {
  it('a 429 with Retry-After is retried by the SDK and the read succeeds', async () => {
    sb.control.setFault('vaults.get', { kind: 'error', status: 429, retryAfterSeconds: 1 }, { times: 2 });
    const v = await arm.getVault(rbacVault);
    expect(v.enableRbacAuthorization).toBe(true);
  });

  it('a 503 storm beyond the retries surfaces as a transient ClassifiedError', async () => {
    const id = sb.control.setFault('vaults.get', { kind: 'error', status: 503, code: 'ServiceUnavailable' });
    const err = await arm.getVault(rbacVault).catch((e) => e);
    sb.control.clearFaults(id);
    expect(err).toBeInstanceOf(ClassifiedError);
    expect(err).toMatchObject({ kind: 'transient', status: 503, source: 'arm' });
  });

  it("a missing vault is terminal 404 with ARM's code kept", async () => {
    const err = await arm.getVault(rbacVault.replace('kv-arm-rbac', 'kv-nope')).catch((e) => e);
    expect(err).toMatchObject({ kind: 'terminal', status: 404 });
    expect(err.code).toBeTruthy();
  });

  it('a connection reset is transient', async () => {
    const id = sb.control.setFault('vaults.get', { kind: 'reset' });
    const err = await arm.getVault(rbacVault).catch((e) => e);
    sb.control.clearFaults(id);
    expect(err).toMatchObject({ kind: 'transient' });
  });
});
