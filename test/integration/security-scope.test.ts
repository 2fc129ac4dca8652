// Scope creep: over randomized drift scenarios (fast-check, bounded, fixed seed), everything the product writes, as
// the sandbox's own records of the `ear-guard` caller show it, is: a role assignment PUT at the vault or key scope
// for the Atlas principal with a configured role, or an accessPolicies/add for the Atlas principal with required key
// permissions only. Never a DELETE, never a vault PUT/PATCH, never accessPolicies replace/remove, never a role
// definition, never anything for another principal, and other principals' access is left exactly as it was.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { keyScope } from '../../src/core/scopes.js';
import type { ChangeNotice } from '../../src/sandbox/contract.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';

let w: World;
let mallory: string;
let bob: string;

beforeAll(async () => {
  w = await startWorld();
  mallory = w.sandbox.control.principals().find((p) => p.name === 'mallory')!.objectId;
  bob = w.sandbox.control.principals().find((p) => p.name === 'bob')!.objectId;
});
afterAll(async () => {
  await w?.close();
});

type Rec = Record<string, unknown>;
const props = (a: Rec) => ((a.properties as Rec | undefined) ?? a) as Rec;
const guidOf = (id: unknown) => String(id).split('/').pop()!.toLowerCase();
const REQUIRED_KEYS = ['get', 'encrypt', 'decrypt', 'wrapkey', 'unwrapkey'];

type Drift =
  | 'deleteCryptoUser'
  | 'deleteReader'
  | 'removeDecrypt'
  | 'removeAllKeys'
  | 'flipModel'
  | 'foreignAssignment'
  | 'foreignAdmin'
  | 'foreignAccessPolicy'
  | 'disableKey'
  | 'denyDecrypt'
  | 'revokedIntent';

const scenario = fc.record({
  model: fc.constantFrom<'rbac' | 'accessPolicy'>('rbac', 'accessPolicy'),
  restoreScope: fc.constantFrom<'vault' | 'key'>('vault', 'key'),
  drifts: fc.uniqueArray(
    fc.constantFrom<Drift>(
      'deleteCryptoUser',
      'deleteReader',
      'removeDecrypt',
      'removeAllKeys',
      'flipModel',
      'foreignAssignment',
      'foreignAdmin',
      'foreignAccessPolicy',
      'disableKey',
      'denyDecrypt',
      'revokedIntent',
    ),
    { minLength: 1, maxLength: 5 },
  ),
  passes: fc.integer({ min: 1, max: 2 }),
});

function applyDrift(p: WorldProject, d: Drift): void {
  const c = w.sandbox.control;
  const atlasAssignments = () => c.roleAssignments({ scope: p.vaultId, principalId: p.principalId });
  const del = (role: string) => {
    const a = atlasAssignments().find((x) => guidOf(props(x).roleDefinitionId) === role);
    if (a) c.deleteAssignment({ as: 'alice', id: String(a.id) });
  };
  switch (d) {
    case 'deleteCryptoUser':
      return del(ROLE_IDS.keyVaultCryptoUser);
    case 'deleteReader':
      return del(ROLE_IDS.reader);
    case 'removeDecrypt':
      c.setAccessPolicy({ as: 'alice', vault: p.vaultName, objectId: p.principalId, keys: ['decrypt'], op: 'remove' });
      return;
    case 'removeAllKeys':
      c.setAccessPolicy({
        as: 'alice',
        vault: p.vaultName,
        objectId: p.principalId,
        keys: REQUIRED_KEYS,
        op: 'remove',
      });
      return;
    case 'flipModel': {
      const rbac = (props(c.getVault({ vault: p.vaultName })).enableRbacAuthorization as boolean | undefined) === true;
      c.setPermissionModel({ as: 'alice', vault: p.vaultName, model: rbac ? 'accessPolicy' : 'rbac' });
      return;
    }
    case 'foreignAssignment':
      c.assignRole({ as: 'alice', scope: p.vaultName, role: 'Key Vault Crypto User', principalId: mallory });
      return;
    case 'foreignAdmin':
      c.assignRole({ as: 'alice', scope: p.vaultName, role: 'Key Vault Administrator', principalId: bob });
      return;
    case 'foreignAccessPolicy':
      c.setAccessPolicy({ as: 'alice', vault: p.vaultName, objectId: mallory, keys: ['get', 'list', 'sign'] });
      return;
    case 'disableKey':
      c.setKeyEnabled({ vault: p.vaultName, key: p.keyName, enabled: false });
      return;
    case 'denyDecrypt':
      c.addDenyAssignment({
        scope: p.vaultId,
        principals: [{ id: p.principalId, type: 'ServicePrincipal' }],
        dataActions: ['Microsoft.KeyVault/vaults/keys/decrypt/action'],
      });
      return;
    case 'revokedIntent':
      return; // applied through the state after the first reconcile (below)
  }
}

/** Everyone's access on the vault except the Atlas principal's: must come out of any reconcile unchanged. */
function foreignAccess(p: WorldProject): string {
  const c = w.sandbox.control;
  const assignments = c
    .roleAssignments({ scope: p.vaultId })
    .filter((a) => String(props(a).principalId).toLowerCase() !== p.principalId.toLowerCase())
    .map((a) => `${props(a).principalId}|${guidOf(props(a).roleDefinitionId)}|${String(props(a).scope).toLowerCase()}`)
    .sort();
  const policies = ((props(c.getVault({ vault: p.vaultName })).accessPolicies ?? []) as Rec[])
    .filter((e) => String(e.objectId).toLowerCase() !== p.principalId.toLowerCase())
    .map((e) => JSON.stringify(e))
    .sort();
  return JSON.stringify({ assignments, policies });
}

describe('the product only ever writes what it may', () => {
  it('over randomized drift scenarios: vault/key scope, configured roles, Atlas principal, add only, no DELETE', async () => {
    const seen = { rbacWrites: 0, policyWrites: 0 };
    await fc.assert(
      fc.asyncProperty(scenario, async (sc) => {
        const engine = await w.newEngine({ policy: { restoreScope: sc.restoreScope } });
        const p = await w.addProject({ model: sc.model });
        await engine.reconcile(p.projectId, { kind: 'timer' });
        for (const d of sc.drifts) applyDrift(p, d);
        if (sc.drifts.includes('revokedIntent')) {
          await engine.deps.state.updateProject(p.projectId, (r) => ({ ...r, intent: 'revoked', intentBy: 'test' }));
        }
        const foreignBefore = foreignAccess(p);
        w.sandbox.control.clearNotices();
        w.sandbox.control.resetCounts();
        for (let i = 0; i < sc.passes; i++) await engine.reconcile(p.projectId, { kind: 'timer' });

        // 1. Operations: only the two restore writes, never a delete, a vault write, or a role definition.
        const ops = w.sandbox.control.counts().byCallerOperation['ear-guard'] ?? {};
        for (const op of Object.keys(ops)) {
          expect(
            /\.(get|list\w*)$/.test(op) || op === 'roleAssignments.create' || op === 'vaults.updateAccessPolicy',
            `ear-guard called ${op}`,
          ).toBe(true);
        }
        // 2. Every change it made, as ARM recorded it.
        const mine = (w.sandbox.control.notices() as ChangeNotice[]).filter(
          (n) => 'actor' in n && n.actor.name === 'ear-guard',
        );
        const kScope = keyScope(p.vaultId, p.keyName).toLowerCase();
        for (const n of mine) {
          expect(n.kind).toBe('write');
          if (n.operationName === 'Microsoft.Authorization/roleAssignments/write') {
            seen.rbacWrites++;
            const scope = n.resourceUri.split('/providers/Microsoft.Authorization/')[0]!.toLowerCase();
            expect([p.vaultId.toLowerCase(), kScope]).toContain(scope);
            const a = w.sandbox.control.roleAssignments().find((x) => String(x.id) === n.resourceUri)!;
            expect(String(props(a).principalId).toLowerCase()).toBe(p.principalId.toLowerCase());
            expect([ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader]).toContain(guidOf(props(a).roleDefinitionId));
            expect(props(a).condition ?? null).toBeNull();
          } else {
            seen.policyWrites++;
            expect(n.operationName).toBe('Microsoft.KeyVault/vaults/accessPolicies/write');
            expect(n.resourceUri.toLowerCase()).toBe(`${p.vaultId.toLowerCase()}/accesspolicies/add`);
          }
        }
        // 3. The Atlas principal never holds more key permissions by access policy than required.
        const atlasEntry = (
          (props(w.sandbox.control.getVault({ vault: p.vaultName })).accessPolicies ?? []) as Rec[]
        ).find((e) => String(e.objectId).toLowerCase() === p.principalId.toLowerCase()) as
          { permissions: { keys?: string[] } } | undefined;
        for (const k of atlasEntry?.permissions.keys ?? []) expect(REQUIRED_KEYS).toContain(k.toLowerCase());
        // 4. Nobody else's access changed; a revoked intent or a deny means no write at all.
        expect(foreignAccess(p)).toBe(foreignBefore);
        if (sc.drifts.includes('revokedIntent')) expect(mine).toHaveLength(0);
      }),
      { numRuns: 16, seed: 20261128, endOnFailure: true },
    );
    // The generator did exercise both kinds of restore (otherwise the property above proves little).
    expect(seen.rbacWrites).toBeGreaterThan(0);
    expect(seen.policyWrites).toBeGreaterThan(0);
  }, 120_000);
});
