// The restore plan (pure): only what is missing, only for the Atlas principal, only restorable roles.
import { describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { evaluate } from '../../src/core/evaluate.js';
import type { ObservedDocuments } from '../../src/core/types.js';
import { roleAssignmentName, uuidV5 } from '../../src/azure/guid.js';
import { DEFAULT_POLICY, driftCause, planRestore, type Outcome, type ReconcilePolicy } from '../../src/loop/index.js';
import { standbyGaps, standbyNotice } from '../../src/loop/standby.js';
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

describe('the standby grant (EAR_GUARD_STANDBY_GRANT=key)', () => {
  const keyScopeId = `${vaultId}/keys/k`;
  const on: ReconcilePolicy = { ...DEFAULT_POLICY, standbyGrant: 'key' };
  const cu = ROLE_IDS.keyVaultCryptoUser;
  const gaps = (assignments: ReturnType<typeof ra>[], policy = on) =>
    standbyGaps(target, assignments, policy.roles, policy);
  const planFor = (assignments: ReturnType<typeof ra>[], policy = on) =>
    planRestore(target, evaluate(req, rbac(assignments)), tenant, { ...policy, standby: gaps(assignments, policy) });

  it('finds the missing half: the data role at the vault or at the key, for the principal itself', () => {
    expect(gaps([ra(cu), ra(cu, keyScopeId), ra(ROLE_IDS.reader)])).toEqual([]);
    expect(gaps([ra(cu), ra(ROLE_IDS.reader)])).toEqual([{ scope: 'key', role: cu }]);
    expect(gaps([ra(cu, keyScopeId), ra(ROLE_IDS.reader)])).toEqual([{ scope: 'vault', role: cu }]);
    // Scope spelling does not matter; the case of IDs does not either.
    expect(gaps([ra(cu, vaultId.toUpperCase() + '/'), ra(cu, keyScopeId.toLowerCase())])).toEqual([]);
  });

  it('only a direct, unconditional assignment of the configured data role counts as a standby half', () => {
    const group = '99999999-2222-3333-4444-555555555555';
    const conditional = { ...ra(cu, keyScopeId), condition: "@Resource[x] StringEquals 'y'", conditionVersion: '2.0' };
    expect(gaps([ra(cu), ra(cu, keyScopeId, group)])).toEqual([{ scope: 'key', role: cu }]);
    expect(gaps([ra(cu), conditional])).toEqual([{ scope: 'key', role: cu }]);
    expect(gaps([ra(cu), ra(ROLE_IDS.keyVaultCryptoOfficer, keyScopeId)])).toEqual([{ scope: 'key', role: cu }]);
    // Reader is not a data role: it stays on the vault alone.
    expect(gaps([ra(cu), ra(cu, keyScopeId)]).map((g) => g.role)).not.toContain(ROLE_IDS.reader);
  });

  it('plans the missing half only: the key when the vault holds it, the vault when the key does', () => {
    const key = planFor([ra(cu), ra(ROLE_IDS.reader)]).plan;
    expect(key.map((p) => [p.roleDefinitionGuid, p.scope, p.principalId])).toEqual([[cu, keyScopeId, principal]]);
    expect(key[0]!.description).toMatch(/at the key \(standby/);
    const vault = planFor([ra(cu, keyScopeId), ra(ROLE_IDS.reader)]).plan;
    expect(vault.map((p) => [p.roleDefinitionGuid, p.scope])).toEqual([[cu, vaultId]]);
    expect(planFor([ra(cu), ra(cu, keyScopeId), ra(ROLE_IDS.reader)]).plan).toEqual([]);
  });

  it('nothing held: the data role at both scopes, once each, and Reader at the vault', () => {
    const { plan } = planFor([]);
    expect(plan.map((p) => [p.roleDefinitionGuid, p.scope])).toEqual([
      [cu, vaultId],
      [cu, keyScopeId],
      [ROLE_IDS.reader, vaultId],
    ]);
  });

  it('a restored standby half is counted as its own drift cause in the metrics', () => {
    const o = { kind: 'restored', verdict: { verdict: 'granted', model: 'rbac' }, flags: ['standby-missing:key'] };
    expect(driftCause(o as unknown as Outcome)).toBe('standby-missing');
    expect(driftCause({ ...o, flags: [] } as unknown as Outcome)).toBeUndefined();
  });

  it('off (the default): no standby half is looked for or planned', () => {
    expect(gaps([ra(cu), ra(ROLE_IDS.reader)], DEFAULT_POLICY)).toEqual([]);
    expect(planFor([], DEFAULT_POLICY).plan.map((p) => p.scope)).toEqual([vaultId, vaultId]);
  });

  it('restoreScope key: no effect (no narrower scope), never a grant at the vault, and check says so', () => {
    const atKey: ReconcilePolicy = { ...on, restoreScope: 'key' };
    expect(gaps([ra(cu, keyScopeId)], atKey)).toEqual([]);
    expect(planFor([], atKey).plan.map((p) => [p.roleDefinitionGuid, p.scope])).toEqual([
      [cu, keyScopeId],
      [ROLE_IDS.reader, vaultId],
    ]);
    // Even handed a vault gap, the plan adds nothing broader than the key.
    const forced = planRestore(target, evaluate(req, rbac([ra(cu, keyScopeId), ra(ROLE_IDS.reader)])), tenant, {
      ...atKey,
      standby: [{ scope: 'vault', role: cu }],
    });
    expect(forced.plan).toEqual([]);
    expect(standbyNotice(atKey)).toMatch(/no effect: EAR_GUARD_RESTORE_SCOPE is key/);
    expect(standbyNotice(on)).toMatch(/both the vault and the key/);
    expect(standbyNotice(DEFAULT_POLICY)).toBeUndefined();
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
