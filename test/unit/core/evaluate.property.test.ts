// Property tests: monotonicity (adding a grant never removes access), notDataActions stay in their block,
// segment boundaries, and case-insensitivity, over random mixes of published built-in roles and scopes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../../src/core/evaluate.js';
import type { AccessPolicyEntry, ObservedDocuments, RoleAssignmentDoc, Verdict } from '../../../src/core/types.js';
import {
  ATLAS_SP,
  KEY,
  OTHER_SP,
  RG,
  ROLE_IDS,
  SUB,
  TENANT,
  VAULT,
  apVault,
  assignment,
  customRole,
  deny,
  rbacDocs,
  requirement,
} from './build.js';

const scopes = [
  '/',
  SUB,
  RG,
  VAULT,
  KEY,
  `${VAULT}/keys/other`,
  `${VAULT}2`,
  `${SUB}/resourceGroups/rg-atlas2`,
  '/providers/Microsoft.Management/managementGroups/corp',
];
const roles = Object.values(ROLE_IDS);
const arbAssignment = fc
  .record({
    role: fc.constantFrom(...roles),
    scope: fc.constantFrom(...scopes),
    principal: fc.constantFrom(ATLAS_SP, OTHER_SP),
    conditional: fc.boolean(),
  })
  .map(({ role, scope, principal, conditional }) =>
    assignment(role, scope, {
      principalId: principal,
      ...(conditional ? { condition: "@Resource[x] StringEquals 'y'" } : {}),
    }),
  );
const keyPerms = fc.subarray([
  'get',
  'list',
  'encrypt',
  'decrypt',
  'wrapKey',
  'unwrapKey',
  'sign',
  'all',
  'GET',
  'Decrypt',
]);
const arbPolicy = fc
  .record({
    keys: keyPerms,
    principal: fc.constantFrom(ATLAS_SP, OTHER_SP),
    app: fc.option(fc.constant('app-id'), { nil: null }),
    foreign: fc.boolean(),
  })
  .map(({ keys, principal, app, foreign }): AccessPolicyEntry => ({
    tenantId: foreign ? '00000000-0000-0000-0000-00000000000f' : TENANT,
    objectId: principal,
    applicationId: app,
    permissions: { keys },
  }));

const grantedSet = (v: Verdict) =>
  new Set(
    Object.entries(v.permissions)
      .filter(([, r]) => r.granted)
      .map(([p]) => p),
  );
const rank = { missing: 0, indeterminate: 1, granted: 2 } as const;

describe('monotonicity: adding a grant never removes access', () => {
  it('RBAC: one more role assignment', () => {
    fc.assert(
      fc.property(fc.array(arbAssignment, { maxLength: 6 }), arbAssignment, (list, extra) => {
        const before = evaluate(requirement(), rbacDocs(list));
        const after = evaluate(requirement(), rbacDocs([...list, extra]));
        for (const p of grantedSet(before)) expect(after.permissions[p].granted).toBe(true);
        expect(rank[after.verdict]).toBeGreaterThanOrEqual(rank[before.verdict]);
        expect(after.readerOnVault!.granted || !before.readerOnVault!.granted).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('access policies: one more entry, or more key permissions on an entry', () => {
    fc.assert(
      fc.property(fc.array(arbPolicy, { maxLength: 4 }), arbPolicy, keyPerms, (list, extra, more) => {
        const docs = (p: AccessPolicyEntry[]): ObservedDocuments => ({
          vault: { ...apVault(), accessPolicies: p },
          roleAssignments: [],
        });
        const before = evaluate(requirement(), docs(list));
        const widened = list.map((e) => ({ ...e, permissions: { keys: [...(e.permissions.keys ?? []), ...more] } }));
        for (const after of [evaluate(requirement(), docs([...list, extra])), evaluate(requirement(), docs(widened))]) {
          for (const p of grantedSet(before)) expect(after.permissions[p].granted).toBe(true);
          expect(rank[after.verdict]).toBeGreaterThanOrEqual(rank[before.verdict]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a deny assignment only ever removes', () => {
    fc.assert(
      fc.property(
        fc.array(arbAssignment, { maxLength: 5 }),
        fc.constantFrom(...scopes),
        fc.boolean(),
        (list, scope, child) => {
          const before = evaluate(requirement(), rbacDocs(list));
          const after = evaluate(
            requirement(),
            rbacDocs(list, {
              denyAssignments: [deny(scope, ['Microsoft.KeyVault/vaults/keys/*'], { doNotApplyToChildScopes: child })],
            }),
          );
          for (const p of grantedSet(after)) expect(before.permissions[p].granted).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('notDataActions only remove from their own block', () => {
  const action = fc.constantFrom(
    'Microsoft.KeyVault/vaults/keys/read',
    'Microsoft.KeyVault/vaults/keys/encrypt/action',
    'Microsoft.KeyVault/vaults/keys/decrypt/action',
    'Microsoft.KeyVault/vaults/keys/wrap/action',
    'Microsoft.KeyVault/vaults/keys/*',
    'Microsoft.KeyVault/vaults/*',
    '*',
  );
  it('a block whose notDataActions cover everything contributes nothing, and takes nothing from the other blocks', () => {
    fc.assert(
      fc.property(
        fc.array(action, { maxLength: 3 }),
        fc.array(action, { maxLength: 3 }),
        fc.array(action, { maxLength: 2 }),
        (d1, d2, n2) => {
          const g = 'c0ffee00-0000-4000-8000-00000000000a';
          const withBlock = customRole(g, [
            { dataActions: d1, notDataActions: ['*'] },
            { dataActions: d2, notDataActions: n2 },
          ]);
          const without = customRole(g, [{ dataActions: d2, notDataActions: n2 }]);
          const a = [assignment(g, VAULT)];
          const x = evaluate(requirement(), rbacDocs(a, { roleDefinitions: [withBlock] }));
          const y = evaluate(requirement(), rbacDocs(a, { roleDefinitions: [without] }));
          expect([...grantedSet(x)].sort()).toEqual([...grantedSet(y)].sort());
        },
      ),
      { numRuns: 200 },
    );
  });

  it('adding notDataActions to one block never removes what another role grants', () => {
    fc.assert(
      fc.property(fc.array(action, { maxLength: 3 }), fc.array(action, { maxLength: 3 }), (d, n) => {
        const g = 'c0ffee00-0000-4000-8000-00000000000b';
        const role = customRole(g, [{ dataActions: d, notDataActions: n }]);
        const v = evaluate(
          requirement(),
          rbacDocs([assignment(g, VAULT), assignment(ROLE_IDS.keyVaultCryptoUser, RG)], { roleDefinitions: [role] }),
        );
        expect(v.verdict).toBe('granted');
      }),
      { numRuns: 100 },
    );
  });
});

describe('segment boundaries and case-insensitivity', () => {
  it('an assignment on a vault whose name extends ours never grants on ours', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9-]{1,6}$/), fc.constantFrom(...roles), (suffix, role) => {
        const v = evaluate(
          requirement(),
          rbacDocs([assignment(role, `${VAULT}${suffix}`), assignment(role, `${KEY}${suffix}`)]),
        );
        expect(v.verdict).toBe('missing');
      }),
    );
  });

  const flip = (s: string, mask: number[]) =>
    [...s].map((c, i) => (mask[i % mask.length] ? c.toUpperCase() : c.toLowerCase())).join('');
  it('changing the case of IDs, scopes and permission names never changes the verdict', () => {
    fc.assert(
      fc.property(
        fc.array(arbAssignment, { maxLength: 5 }),
        fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 7 }),
        (list, mask) => {
          const recased: RoleAssignmentDoc[] = list.map((a) => ({
            ...a,
            scope: flip(a.scope, mask),
            roleDefinitionId: flip(a.roleDefinitionId, mask),
            principalId: flip(a.principalId, mask),
          }));
          const x = evaluate(requirement(), rbacDocs(list));
          const y = evaluate(
            requirement({
              principalId: flip(ATLAS_SP, mask),
              key: { vaultId: flip(VAULT, mask), keyName: KEY.split('/').pop()! },
            }),
            rbacDocs(recased),
          );
          expect(y.verdict).toBe(x.verdict);
          expect(y.missing).toEqual(x.missing);
          expect([...grantedSet(y)].sort()).toEqual([...grantedSet(x)].sort());
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('more knowledge only settles indeterminate answers (groups, management groups)', () => {
  const GROUP = '9b2e4c6a-7d1f-4a3b-8c5e-0f1a2b3c4d5e';
  const OTHER_GROUP = '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a';
  const who = [
    { id: ATLAS_SP, type: 'ServicePrincipal' },
    { id: OTHER_SP, type: 'ServicePrincipal' },
    { id: GROUP, type: 'Group' },
    { id: OTHER_GROUP, type: 'Group' },
    { id: '00000000-0000-0000-0000-000000000000', type: 'SystemDefined' },
  ];
  const arbGrant = fc
    .record({
      role: fc.constantFrom(...roles),
      scope: fc.constantFrom(...scopes),
      to: fc.constantFrom(...who.slice(0, 4)),
    })
    .map(({ role, scope, to }) => assignment(role, scope, { principalId: to.id, principalType: to.type }));
  const arbDeny = fc
    .record({
      scope: fc.constantFrom(...scopes),
      to: fc.subarray(who, { minLength: 1 }),
      except: fc.subarray(who.slice(0, 4)),
      action: fc.constantFrom('Microsoft.KeyVault/vaults/keys/*', 'Microsoft.KeyVault/vaults/keys/decrypt/action'),
    })
    .map(({ scope, to, except, action }) => deny(scope, [action], { principals: to, excludePrincipals: except }));
  const arbGroups = fc.record({ groupIds: fc.subarray([GROUP, OTHER_GROUP]), complete: fc.boolean() });
  const settled = (v: Verdict, p: string) =>
    v.permissions[p].granted ? 'granted' : v.missing.includes(p) ? 'missing' : 'other';

  it('memberships or ARM-listed management groups never overturn a granted or missing answer', () => {
    fc.assert(
      fc.property(
        fc.array(arbGrant, { maxLength: 5 }),
        fc.array(arbDeny, { maxLength: 2 }),
        arbGroups,
        fc.boolean(),
        (grants, denies, principalGroups, listed) => {
          const before = evaluate(requirement(), rbacDocs(grants, { denyAssignments: denies }));
          const after = evaluate(
            requirement(),
            rbacDocs(grants, {
              denyAssignments: denies,
              principalGroups,
              ancestry: { listedByArmForKeyScope: listed },
            }),
          );
          for (const p of ['get', 'encrypt', 'decrypt']) {
            const was = settled(before, p);
            if (was !== 'other') expect(settled(after, p)).toBe(was);
          }
          if (before.verdict !== 'indeterminate') expect(after.verdict).toBe(before.verdict);
        },
      ),
      { numRuns: 400 },
    );
  });
});
