// Least privilege of the remediator, enforced by the sandbox as ARM enforces it (src/sandbox/arm/rbac.ts): with
// exactly the rights infra/ deploys (Reader, RBAC Administrator under the ABAC condition, the access-policy
// writer), the remediator's identity can restore the required roles for the Atlas principal and nothing else. A
// product configured to restore a role outside the condition fails with AuthorizationFailed, terminally, alerts
// RestoreFailed, and never reads as healthy.
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';

let w: World;
let auth: AuthorizationManagementClient;
let kv: KeyVaultManagementClient;
let mallory: string;

beforeAll(async () => {
  w = await startWorld();
  const sb = w.sandbox;
  // The remediator's own credential (`ear-guard`), through the real SDK clients.
  auth = new AuthorizationManagementClient(sb.credential, sb.subscriptionId, sb.clientOptions());
  kv = new KeyVaultManagementClient(sb.credential, sb.subscriptionId, sb.clientOptions());
  mallory = sb.control.principals().find((p) => p.name === 'mallory')!.objectId;
});
afterAll(async () => {
  await w?.close();
});

type Rec = Record<string, unknown>;
const roleDef = (g: string) =>
  `/subscriptions/${w.sandbox.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${g}`;
const guid = () => crypto.randomUUID();
async function failure(p: Promise<unknown>): Promise<{ statusCode?: number; code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as { statusCode?: number; code?: string; message: string };
    return { statusCode: err.statusCode, code: err.code, message: err.message };
  }
  throw new Error('expected the call to be refused');
}
/** ARM's AuthorizationFailed message for the remediator, this action and this scope. */
function armRefusal(action: string, scope: string): RegExp {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(
    `^The client '[^']+' with object id '${w.remediatorId}' does not have authorization to perform action '${esc(action)}' over scope '${esc(scope)}' or the scope is invalid\\. If access was recently granted, please refresh your credentials\\.$`,
    'i',
  );
}
function assignments(p: WorldProject, principalId: string): Rec[] {
  return w.sandbox.control.roleAssignments({ scope: p.vaultId, principalId });
}

describe("the remediator's identity (ear-guard) under the sandbox's authorization", () => {
  it('may assign the restore roles to the Atlas principal at the vault, and nothing else', async () => {
    const p = await w.addProject({ model: 'rbac', grants: 'none' });
    const v = p.vaultId.slice(1);
    const ok = await auth.roleAssignments.create(v, guid(), {
      roleDefinitionId: roleDef(ROLE_IDS.keyVaultCryptoUser),
      principalId: p.principalId,
    });
    expect(ok.principalId).toBe(p.principalId);

    const refusals: [string, string, string, string][] = [
      // [what, scope, role, principal]
      ['another principal', p.vaultId, ROLE_IDS.keyVaultCryptoUser, mallory],
      ['a broader role', p.vaultId, ROLE_IDS.keyVaultAdministrator, p.principalId],
      ['Owner', p.vaultId, ROLE_IDS.owner, p.principalId],
      ['a restorable role outside the condition', p.vaultId, ROLE_IDS.keyVaultCryptoOfficer, p.principalId],
      [
        'resource group scope',
        `/subscriptions/${w.sandbox.subscriptionId}/resourceGroups/${p.resourceGroup}`,
        ROLE_IDS.reader,
        p.principalId,
      ],
      ['subscription scope', `/subscriptions/${w.sandbox.subscriptionId}`, ROLE_IDS.reader, p.principalId],
    ];
    for (const [what, scope, role, principal] of refusals) {
      const name = guid();
      const f = await failure(
        auth.roleAssignments.create(scope.slice(1), name, { roleDefinitionId: roleDef(role), principalId: principal }),
      );
      expect(f, what).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
      expect(f.message, what).toMatch(
        armRefusal(
          'Microsoft.Authorization/roleAssignments/write',
          `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
        ),
      );
    }
    expect(assignments(p, mallory)).toHaveLength(0);
    expect(
      assignments(p, p.principalId).map((a) =>
        String((a.properties as Rec).roleDefinitionId)
          .split('/')
          .pop(),
      ),
    ).toEqual([ROLE_IDS.keyVaultCryptoUser]);
  });

  it("may not delete another principal's assignment, nor touch the vault itself", async () => {
    const p = await w.addProject({ model: 'rbac' });
    const other = w.sandbox.control.assignRole({
      scope: p.vaultName,
      role: 'Key Vault Crypto User',
      principalId: mallory,
    });
    const f = await failure(auth.roleAssignments.delete(p.vaultId.slice(1), String(other.name)));
    expect(f).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    expect(assignments(p, mallory)).toHaveLength(1);

    const put = await failure(
      kv.vaults.beginCreateOrUpdateAndWait(p.resourceGroup, p.vaultName, {
        location: 'eastus',
        properties: {
          tenantId: w.sandbox.tenantId,
          sku: { family: 'A', name: 'standard' },
          enableRbacAuthorization: false,
        },
      }),
    );
    expect(put).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    expect(put.message).toMatch(armRefusal('Microsoft.KeyVault/vaults/write', p.vaultId));
    const patch = await failure(
      kv.vaults.update(p.resourceGroup, p.vaultName, { properties: { enableRbacAuthorization: false } }),
    );
    expect(patch).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    const del = await failure(kv.vaults.delete(p.resourceGroup, p.vaultName));
    expect(del).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    expect((w.sandbox.control.getVault({ vault: p.vaultName }).properties as Rec).enableRbacAuthorization).toBe(true);
  });

  it('may add access policies only on vaults where it holds the writer role', async () => {
    const p = await w.addProject({ model: 'accessPolicy', grants: 'none' });
    await kv.vaults.updateAccessPolicy(p.resourceGroup, p.vaultName, 'add', {
      properties: {
        accessPolicies: [{ tenantId: w.sandbox.tenantId, objectId: p.principalId, permissions: { keys: ['get'] } }],
      },
    });
    // A vault made by someone else, where the remediator holds nothing but subscription Reader.
    const other = `kv-x${guid().slice(0, 6)}`;
    w.sandbox.control.createVault({ vault: other, resourceGroup: p.resourceGroup, rbac: false });
    const f = await failure(
      kv.vaults.updateAccessPolicy(p.resourceGroup, other, 'add', {
        properties: {
          accessPolicies: [{ tenantId: w.sandbox.tenantId, objectId: p.principalId, permissions: { keys: ['get'] } }],
        },
      }),
    );
    expect(f).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    expect(f.message).toMatch(
      armRefusal(
        'Microsoft.KeyVault/vaults/accessPolicies/write',
        `${String(w.sandbox.control.getVault({ vault: other }).id)}/accessPolicies/add`,
      ),
    );
  });

  it('a deny assignment covering the remediator wins over its grant', async () => {
    const p = await w.addProject({ model: 'rbac', grants: 'none' });
    w.sandbox.control.addDenyAssignment({
      scope: p.vaultId,
      principals: [{ id: w.remediatorId, type: 'ServicePrincipal' }],
      actions: ['Microsoft.Authorization/roleAssignments/write'],
    });
    const f = await failure(
      auth.roleAssignments.create(p.vaultId.slice(1), guid(), {
        roleDefinitionId: roleDef(ROLE_IDS.keyVaultCryptoUser),
        principalId: p.principalId,
      }),
    );
    expect(f).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    expect(f.message).toMatch(/access is denied because of the deny assignment/);
  });

  it('a principal with no role (mallory) is refused; the control API (Azure itself) and the tenant admin are not', async () => {
    const p = await w.addProject({ model: 'rbac', grants: 'none' });
    const asMallory = new AuthorizationManagementClient(
      w.sandbox.credentialFor('mallory'),
      w.sandbox.subscriptionId,
      w.sandbox.clientOptions(),
    );
    const f = await failure(
      asMallory.roleAssignments.create(p.vaultId.slice(1), guid(), {
        roleDefinitionId: roleDef(ROLE_IDS.keyVaultAdministrator),
        principalId: mallory,
      }),
    );
    expect(f).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    expect(f.message).toContain(`with object id '${mallory}'`);
    const asAdmin = new AuthorizationManagementClient(
      w.sandbox.credentialFor('admin'),
      w.sandbox.subscriptionId,
      w.sandbox.clientOptions(),
    );
    await asAdmin.roleAssignments.create(p.vaultId.slice(1), guid(), {
      roleDefinitionId: roleDef(ROLE_IDS.reader),
      principalId: mallory,
    });
    w.sandbox.control.assignRole({ as: 'mallory', scope: p.vaultName, role: 'Key Vault Reader', principalId: mallory });
    expect(assignments(p, mallory)).toHaveLength(2);
  });
});

describe('a restore outside the condition', () => {
  it('fails with AuthorizationFailed as a terminal failure, alerts RestoreFailed, and never reads as healthy', async () => {
    // Crypto Officer is restorable by the product's own guard, but the deployed condition allows only Crypto User + Reader.
    const officer = await w.newEngine({ policy: { roles: [ROLE_IDS.keyVaultCryptoOfficer, ROLE_IDS.reader] } });
    const p = await w.addProject({ model: 'rbac', grants: 'none' });
    w.sandbox.control.assignRole({
      scope: p.vaultName,
      role: 'Reader',
      principalId: p.principalId,
      principalType: 'ServicePrincipal',
    });
    w.sandbox.control.resetCounts();
    const alertsBefore = w.webhookAlerts.length;

    const o = await officer.reconcile(p.projectId, { kind: 'timer' });
    expect(o.kind).toBe('failed');
    if (o.kind !== 'failed') throw new Error('unreachable');
    expect(o.transient).toBe(false);
    expect(o.code).toBe('AuthorizationFailed');
    expect(o.status).toBe('failing');
    expect(o.actions.map((a) => [a.roleDefinitionGuid, a.result])).toEqual([
      [ROLE_IDS.keyVaultCryptoOfficer, 'failed'],
    ]);
    expect(o.actions[0]!.error).toMatch(/403 AuthorizationFailed/);
    expect(o.alerts).toEqual(['AtlasEarGuard.RestoreFailed']);
    const sent = w.webhookAlerts.slice(alertsBefore).filter((a) => a.projectId === p.projectId);
    expect(sent.map((a) => a.type)).toEqual(['AtlasEarGuard.RestoreFailed']);
    expect(String(sent[0]!.reason)).toMatch(/AuthorizationFailed/);

    // The attempt reached ARM (the condition, not the product, refused it) and nothing was created.
    expect(w.sandbox.control.counts().byCallerOperation['ear-guard']?.['roleAssignments.create']).toBe(1);
    expect(w.sandbox.control.checkAccess({ vault: p.vaultName, key: p.keyName }).valid).toBe(false);

    const row = (await officer.deps.state.getProject(p.projectId))!;
    expect(row.status).toBe('failing');
    expect(row.lastError).toMatch(/AuthorizationFailed/);
    // Again: still failing, never healthy or converged.
    const again = await officer.reconcile(p.projectId, { kind: 'timer' });
    expect(again.kind).toBe('failed');
    expect(['healthy', 'restored']).not.toContain((await officer.deps.state.getProject(p.projectId))!.status);
  });
});
