// The restore plan (pure): only what is missing, only for the Atlas principal, only restorable roles.
import { describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { evaluate } from '../../src/core/evaluate.js';
import type { ObservedDocuments } from '../../src/core/types.js';
import { roleAssignmentName, uuidV5 } from '../../src/azure/guid.js';
import { DEFAULT_POLICY, planRestore } from '../../src/loop/index.js';
import { principal, sub, target, tenant, vaultId } from '../helpers/target.js';

const req = { principalId: principal, key: { vaultId, keyName: 'k' }, recommendReaderOnVault: true };
const ra = (role: string, scope = vaultId, pid = principal) => ({
  id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${uuidV5(role + scope + pid)}`,
  scope,
  roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${role}`,
  principalId: pid,
});
const rbac = (
  assignments: ReturnType<typeof ra>[],
  deny: ObservedDocuments['denyAssignments'] = [],
): ObservedDocuments => ({
  vault: { id: vaultId, name: 'kv1', tenantId: tenant, enableRbacAuthorization: true, accessPolicies: [] },
  roleAssignments: assignments,
  denyAssignments: deny,
});

describe('planRestore', () => {
  it('RBAC, nothing held: Crypto User at the vault and Reader at the vault, for the Atlas principal only', () => {
    const { plan, blocked } = planRestore(target, evaluate(req, rbac([])), tenant, DEFAULT_POLICY);
    expect(blocked).toEqual([]);
    expect(plan.map((p) => [p.roleDefinitionGuid, p.scope, p.principalId])).toEqual([
      [ROLE_IDS.keyVaultCryptoUser, vaultId, principal],
      [ROLE_IDS.reader, vaultId, principal],
    ]);
  });

  it('restore scope key puts the data role on the key, Reader stays on the vault', () => {
    const { plan } = planRestore(target, evaluate(req, rbac([])), tenant, { ...DEFAULT_POLICY, restoreScope: 'key' });
    expect(plan.map((p) => p.scope)).toEqual([`${vaultId}/keys/k`, vaultId]);
  });

  it('Crypto Service Encryption User + Reader: only Crypto User is added', () => {
    const v = evaluate(req, rbac([ra(ROLE_IDS.keyVaultCryptoServiceEncryptionUser), ra(ROLE_IDS.reader)]));
    expect(v.missing).toEqual(['encrypt', 'decrypt']);
    expect(planRestore(target, v, tenant, DEFAULT_POLICY).plan.map((p) => p.roleDefinitionGuid)).toEqual([
      ROLE_IDS.keyVaultCryptoUser,
    ]);
  });

  it('a deny assignment blocks the plan instead of writing a grant that cannot work', () => {
    const deny = [
      {
        id: `${vaultId}/providers/Microsoft.Authorization/denyAssignments/d1`,
        scope: vaultId,
        principals: [{ id: '00000000-0000-0000-0000-000000000000' }],
        permissions: [
          {
            actions: [],
            notActions: [],
            dataActions: ['Microsoft.KeyVault/vaults/keys/decrypt/action'],
            notDataActions: [],
          },
        ],
      },
    ];
    const v = evaluate(req, rbac([ra(ROLE_IDS.keyVaultCryptoUser), ra(ROLE_IDS.reader)], deny));
    const r = planRestore(target, v, tenant, DEFAULT_POLICY);
    expect(r.plan).toEqual([]);
    expect(r.blocked[0]).toMatch(/deny assignment/);
  });

  it('refuses roles outside the restorable set (e.g. Owner, Key Vault Administrator)', () => {
    const r = planRestore(target, evaluate(req, rbac([])), tenant, {
      ...DEFAULT_POLICY,
      roles: [ROLE_IDS.keyVaultAdministrator],
    });
    expect(r.plan).toEqual([]);
    expect(r.blocked[0]).toMatch(/not restorable/);
  });

  it('access policies: only the missing key permissions, in the vault tenant', () => {
    const docs: ObservedDocuments = {
      vault: {
        id: vaultId,
        name: 'kv1',
        tenantId: tenant,
        accessPolicies: [{ tenantId: tenant, objectId: principal, permissions: { keys: ['Get', 'WrapKey'] } }],
      },
      roleAssignments: [],
    };
    const { plan } = planRestore(target, evaluate(req, docs), tenant, DEFAULT_POLICY);
    expect(plan).toHaveLength(1);
    expect(plan[0]).toMatchObject({
      kind: 'accessPolicyAdd',
      principalId: principal,
      tenantId: tenant,
      keys: ['encrypt', 'decrypt', 'unwrapKey'],
    });
  });

  it('nothing missing: empty plan', () => {
    expect(
      planRestore(
        target,
        evaluate(req, rbac([ra(ROLE_IDS.keyVaultCryptoUser), ra(ROLE_IDS.reader)])),
        tenant,
        DEFAULT_POLICY,
      ).plan,
    ).toEqual([]);
  });
});

describe('deterministic assignment names', () => {
  it('same (scope, role, principal) -> same GUID regardless of case and slashes; any change -> another GUID', () => {
    const a = roleAssignmentName(vaultId, ROLE_IDS.reader, principal);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(
      roleAssignmentName(vaultId.toUpperCase() + '/', ROLE_IDS.reader.toUpperCase(), principal.toUpperCase()),
    ).toBe(a);
    expect(roleAssignmentName(vaultId + '0', ROLE_IDS.reader, principal)).not.toBe(a);
    expect(roleAssignmentName(vaultId, ROLE_IDS.keyVaultCryptoUser, principal)).not.toBe(a);
    expect(roleAssignmentName(vaultId, ROLE_IDS.reader, principal.replace('1', '9'))).not.toBe(a);
  });
});
