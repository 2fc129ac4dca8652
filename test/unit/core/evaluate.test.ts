import { describe, expect, it } from 'vitest';
import { parseRoleAssignments, parseRoleDefinitions, parseVault } from '../../../src/core/documents.js';
import { EVERYONE, READER_ON_VAULT, evaluate } from '../../../src/core/evaluate.js';
import type { ObservedDocuments, Verdict } from '../../../src/core/types.js';
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
  azAssignments,
  customRole,
  deny,
  rbacDocs,
  rbacVault,
  requirement,
} from './build.js';
import { exampleBody, fixture } from './fixtures.js';

const granted = (v: Verdict) =>
  Object.entries(v.permissions)
    .filter(([, r]) => r.granted)
    .map(([p]) => p)
    .sort();

describe('RBAC model: built-in roles at the vault (published definitions)', () => {
  it.each([
    ['Key Vault Crypto User', ROLE_IDS.keyVaultCryptoUser, ['decrypt', 'encrypt', 'get', 'unwrapKey', 'wrapKey']],
    [
      'Key Vault Crypto Service Encryption User',
      ROLE_IDS.keyVaultCryptoServiceEncryptionUser,
      ['get', 'unwrapKey', 'wrapKey'],
    ],
    ['Key Vault Crypto Officer', ROLE_IDS.keyVaultCryptoOfficer, ['decrypt', 'encrypt', 'get', 'unwrapKey', 'wrapKey']],
    ['Key Vault Administrator', ROLE_IDS.keyVaultAdministrator, ['decrypt', 'encrypt', 'get', 'unwrapKey', 'wrapKey']],
    ['Key Vault Reader (vaults/*/read matches keys/read)', ROLE_IDS.keyVaultReader, ['get']],
    ['Reader (control plane only)', ROLE_IDS.reader, []],
    ['Owner (actions * never grant data actions)', ROLE_IDS.owner, []],
    ['Contributor', ROLE_IDS.contributor, []],
    ['Key Vault Contributor', ROLE_IDS.keyVaultContributor, []],
    ['Role Based Access Control Administrator', ROLE_IDS.roleBasedAccessControlAdministrator, []],
    ['User Access Administrator', ROLE_IDS.userAccessAdministrator, []],
  ] as [string, string, string[]][])('%s grants %j', (_name, role, want) => {
    const v = evaluate(requirement(), rbacDocs([assignment(role, VAULT)]));
    expect(v.model).toBe('rbac');
    expect(granted(v)).toEqual(want);
    const requiredOk = ['get', 'encrypt', 'decrypt'].every((p) => want.includes(p));
    expect(v.verdict).toBe(requiredOk ? 'granted' : 'missing');
    expect(v.missing).toEqual(['get', 'encrypt', 'decrypt'].filter((p) => !want.includes(p)));
  });
});

describe('RBAC model: scopes', () => {
  it.each([
    ['subscription', SUB, true],
    ['resource group', RG, true],
    ['vault', VAULT, true],
    ['the key itself', KEY, true],
    ['root /', '/', true],
    ['vault, other casing', VAULT.toUpperCase(), true],
    ['resource group, lower-case resourcegroups', RG.replace('resourceGroups', 'resourcegroups'), true],
    ['sibling key', `${VAULT}/keys/other-key`, false],
    ['key whose name starts the same', `${KEY}-old`, false],
    ['vault kv-atlas2 (name starts the same)', `${VAULT}2`, false],
    ['other resource group', `${SUB}/resourceGroups/rg-atlas-dev`, false],
    ['other subscription', '/subscriptions/00000000-0000-0000-0000-000000000001', false],
  ])('Crypto User at %s -> granted %s', (_n, scope, want) => {
    const v = evaluate(requirement(), rbacDocs([assignment(ROLE_IDS.keyVaultCryptoUser, scope)]));
    expect(v.verdict).toBe(want ? 'granted' : 'missing');
    if (want)
      expect(v.permissions.encrypt.via[0]).toMatchObject({
        kind: 'roleAssignment',
        roleName: 'Key Vault Crypto User',
        scope,
      });
    else expect(v.notes.join('\n')).toMatch(/does not contain the key/);
  });

  it('management-group scope cannot be placed offline: indeterminate, never granted', () => {
    const v = evaluate(
      requirement(),
      rbacDocs([assignment(ROLE_IDS.keyVaultCryptoUser, '/providers/Microsoft.Management/managementGroups/corp')]),
    );
    expect(v.verdict).toBe('indeterminate');
    expect(v.permissions.get.conditionalVia?.[0]).toMatchObject({
      uncertain: expect.stringMatching(/management-group/),
    });
  });
});

describe('RBAC model: role definition IDs', () => {
  it.each([
    `/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.keyVaultCryptoUser}`,
    `${SUB}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.keyVaultCryptoUser}`,
    `${SUB.toUpperCase()}/PROVIDERS/MICROSOFT.AUTHORIZATION/ROLEDEFINITIONS/${ROLE_IDS.keyVaultCryptoUser.toUpperCase()}`,
  ])('resolves %s by GUID', (rid) => {
    expect(evaluate(requirement(), rbacDocs([assignment(rid, VAULT)])).verdict).toBe('granted');
  });

  it('an unknown custom role without definitions is indeterminate and says to pass --definitions', () => {
    const v = evaluate(requirement(), rbacDocs(azAssignments('az/role-assignment-list-custom.json')));
    expect(v.verdict).toBe('indeterminate');
    expect(v.notes.join('\n')).toMatch(/neither a shipped built-in nor in the definitions/);
  });

  it('custom role from az role definition list: notDataActions removes decrypt', () => {
    const docs = rbacDocs(azAssignments('az/role-assignment-list-custom.json'), {
      roleDefinitions: parseRoleDefinitions(fixture('az/role-definition-list-custom.json')),
    });
    const v = evaluate(requirement(), docs);
    expect(v.verdict).toBe('missing');
    expect(v.missing).toEqual(['decrypt']);
    expect(granted(v)).toEqual(['encrypt', 'get', 'unwrapKey', 'wrapKey']);
  });

  it('notDataActions is not a deny: another assignment still grants decrypt', () => {
    const docs = rbacDocs(
      [...azAssignments('az/role-assignment-list-custom.json'), assignment(ROLE_IDS.keyVaultCryptoUser, KEY)],
      {
        roleDefinitions: parseRoleDefinitions(fixture('az/role-definition-list-custom.json')),
      },
    );
    expect(evaluate(requirement(), docs).verdict).toBe('granted');
  });

  it('notDataActions of one block do not subtract from another block of the same role', () => {
    const role = customRole('c0ffee00-0000-4000-8000-000000000001', [
      {
        dataActions: ['Microsoft.KeyVault/vaults/keys/*'],
        notDataActions: ['Microsoft.KeyVault/vaults/keys/decrypt/action'],
      },
      { dataActions: ['Microsoft.KeyVault/vaults/keys/decrypt/action'] },
    ]);
    const v = evaluate(requirement(), rbacDocs([assignment(role.name, VAULT)], { roleDefinitions: [role] }));
    expect(v.permissions.decrypt.granted).toBe(true);
  });

  it('control-plane actions in a custom role never grant data actions', () => {
    const role = customRole('c0ffee00-0000-4000-8000-000000000002', [
      { actions: ['Microsoft.KeyVault/vaults/keys/*', '*'], dataActions: [] },
    ]);
    expect(evaluate(requirement(), rbacDocs([assignment(role.name, VAULT)], { roleDefinitions: [role] })).verdict).toBe(
      'missing',
    );
  });
});

describe('RBAC model: az CLI and ARM inputs', () => {
  it.each(['az/role-assignment-list-granted.json', 'arm/role-assignments-granted.json'])(
    '%s: granted with Reader',
    (f) => {
      const vaultFile = f.startsWith('az') ? 'az/keyvault-show-rbac.json' : 'arm/vault-rbac.json';
      const v = evaluate(requirement(), {
        vault: parseVault(fixture(vaultFile)),
        roleAssignments: parseRoleAssignments(fixture(f)),
      });
      expect(v).toMatchObject({ verdict: 'granted', model: 'rbac', missing: [], missingRecommended: [] });
      expect(v.readerOnVault?.granted).toBe(true);
      expect(v.notes.join('\n')).toMatch(/Deny assignments were not supplied/);
      expect(v.notes.join('\n')).toMatch(/Group membership was not checked/);
    },
  );

  it('drift: grants on kv-atlas2 and on another key, Owner on the RG: missing all three', () => {
    const v = evaluate(requirement(), rbacDocs(azAssignments('az/role-assignment-list-drift.json')));
    expect(v.verdict).toBe('missing');
    expect(v.missing).toEqual(['get', 'encrypt', 'decrypt']);
    expect(v.missingRecommended).toEqual(['wrapKey', 'unwrapKey']);
    expect(v.notes.join('\n')).toMatch(/kv-atlas2 does not contain the key/);
  });

  it('another service principal does not count; a group of unknown membership is indeterminate, not missing', () => {
    const other = assignment(ROLE_IDS.keyVaultCryptoUser, VAULT, { principalId: OTHER_SP });
    expect(evaluate(requirement(), rbacDocs([other])).verdict).toBe('missing');
    const group = assignment(ROLE_IDS.keyVaultCryptoUser, VAULT, {
      principalId: '11111111-2222-3333-4444-555555555555',
      principalType: 'Group',
    });
    const v = evaluate(requirement(), rbacDocs([other, group]));
    expect(v.verdict).toBe('indeterminate');
    expect(v.notes.join('\n')).toMatch(/1 assignment\(s\) to groups/);
  });

  it('principal IDs compare case-insensitively', () => {
    const v = evaluate(
      requirement({ principalId: ATLAS_SP.toUpperCase() }),
      rbacDocs([assignment(ROLE_IDS.keyVaultCryptoUser, VAULT)]),
    );
    expect(v.verdict).toBe('granted');
  });
});

describe('RBAC model: ABAC conditions', () => {
  it('granted only through a conditional assignment: indeterminate, naming it', () => {
    const v = evaluate(requirement(), rbacDocs(azAssignments('az/role-assignment-list-conditional.json')));
    expect(v.verdict).toBe('indeterminate');
    expect(v.indeterminate).toEqual(['get', 'encrypt', 'decrypt']);
    expect(v.missing).toEqual([]);
    expect(v.permissions.encrypt.granted).toBe(false);
    expect(v.permissions.encrypt.conditionalVia?.[0]).toMatchObject({
      condition: expect.stringMatching(/ActionMatches/),
    });
    expect(v.notes.join('\n')).toMatch(/ABAC conditions were not evaluated/);
  });

  it('an unconditional grant elsewhere still counts', () => {
    const docs = rbacDocs([
      ...azAssignments('az/role-assignment-list-conditional.json'),
      assignment(ROLE_IDS.keyVaultCryptoServiceEncryptionUser, RG),
    ]);
    const v = evaluate(requirement(), docs);
    expect(v.permissions.get.granted).toBe(true);
    expect(v.indeterminate).toEqual(['encrypt', 'decrypt']);
    expect(v.verdict).toBe('indeterminate');
  });

  it('missing beats indeterminate in the overall verdict', () => {
    const cond = assignment(ROLE_IDS.keyVaultCryptoServiceEncryptionUser, VAULT, {
      condition: "@Resource[x] StringEquals 'y'",
      conditionVersion: '2.0',
    });
    const v = evaluate(requirement(), rbacDocs([cond]));
    expect(v.indeterminate).toEqual(['get']);
    expect(v.missing).toEqual(['encrypt', 'decrypt']);
    expect(v.verdict).toBe('missing');
  });
});

describe('RBAC model: deny assignments', () => {
  const base = () => [assignment(ROLE_IDS.keyVaultCryptoUser, VAULT)];
  it('constructed Everyone deny on decrypt at the RG removes decrypt (excludePrincipals lists someone else)', () => {
    const docs = rbacDocs(base(), { denyAssignments: [] });
    docs.denyAssignments = (fixture('arm/deny-assignments-everyone.json') as { value: unknown[] }).value.map((d) => {
      const x = d as {
        id: string;
        properties: {
          scope: string;
          permissions: never;
          principals: never;
          excludePrincipals: never;
          doNotApplyToChildScopes: boolean;
          denyAssignmentName: string;
        };
      };
      return { id: x.id, ...x.properties };
    });
    const v = evaluate(requirement(), docs);
    expect(v.verdict).toBe('missing');
    expect(v.missing).toEqual(['decrypt']);
    expect(v.permissions.decrypt.deniedBy?.[0]).toMatch(/Deny crypto for everyone/);
    // the excluded principal is not denied
    const w = evaluate(requirement({ principalId: OTHER_SP }), {
      ...docs,
      roleAssignments: [assignment(ROLE_IDS.keyVaultCryptoUser, VAULT, { principalId: OTHER_SP })],
    });
    expect(w.verdict).toBe('granted');
  });

  it.each([
    ['Everyone at the RG', deny(RG, ['Microsoft.KeyVault/vaults/keys/*']), 'missing'],
    [
      'the principal itself at the vault',
      deny(VAULT, ['Microsoft.KeyVault/vaults/keys/encrypt/action'], {
        principals: [{ id: ATLAS_SP.toUpperCase(), type: 'ServicePrincipal' }],
      }),
      'missing',
    ],
    [
      'Everyone, principal excluded',
      deny(RG, ['*'], { excludePrincipals: [{ id: ATLAS_SP, type: 'ServicePrincipal' }] }),
      'granted',
    ],
    ['another principal', deny(RG, ['*'], { principals: [{ id: OTHER_SP, type: 'ServicePrincipal' }] }), 'granted'],
    [
      'doNotApplyToChildScopes at the vault (the key is a child)',
      deny(VAULT, ['*'], { doNotApplyToChildScopes: true }),
      'granted',
    ],
    ['doNotApplyToChildScopes at the key itself', deny(KEY, ['*'], { doNotApplyToChildScopes: true }), 'missing'],
    ['on a sibling vault', deny(`${VAULT}2`, ['*']), 'granted'],
    ['control-plane only', deny(RG, []), 'granted'],
  ])('deny %s -> %s', (_n, d, want) => {
    const v = evaluate(requirement(), rbacDocs(base(), { denyAssignments: [d] }));
    expect(v.verdict).toBe(want);
    expect(EVERYONE).toBe('00000000-0000-0000-0000-000000000000');
  });
});

describe('RBAC model: Reader on the vault (recommended)', () => {
  it.each([
    ['Reader at the vault', [assignment(ROLE_IDS.reader, VAULT)], true],
    ['Reader at the subscription', [assignment(ROLE_IDS.reader, SUB)], true],
    [
      'Key Vault Reader at the vault (vaults/*/read does not match vaults/read)',
      [assignment(ROLE_IDS.keyVaultReader, VAULT)],
      false,
    ],
    ['Reader at the key only', [assignment(ROLE_IDS.reader, KEY)], false],
    ['Reader on kv-atlas2', [assignment(ROLE_IDS.reader, `${VAULT}2`)], false],
    ['Owner at the RG', [assignment(ROLE_IDS.owner, RG)], true],
    ['no Reader', [], false],
  ])('%s -> reader %s', (_n, extra, want) => {
    const v = evaluate(requirement(), rbacDocs([assignment(ROLE_IDS.keyVaultCryptoUser, VAULT), ...extra]));
    expect(v.verdict).toBe('granted');
    expect(v.missingRecommended.includes(READER_ON_VAULT)).toBe(!want);
  });

  it('not reported when recommendReaderOnVault is false', () => {
    const v = evaluate(
      requirement({ recommendReaderOnVault: false }),
      rbacDocs([assignment(ROLE_IDS.keyVaultCryptoUser, VAULT)]),
    );
    expect(v.missingRecommended).toEqual([]);
  });
});

describe('access-policy model', () => {
  const docs = (policies = apVault().accessPolicies, extra: Partial<ObservedDocuments> = {}): ObservedDocuments => ({
    vault: { ...apVault(), accessPolicies: policies },
    roleAssignments: [],
    ...extra,
  });
  const entry = (keys: string[], over: object = {}) => ({
    tenantId: TENANT,
    objectId: ATLAS_SP,
    applicationId: null,
    permissions: { keys },
    ...over,
  });

  it('az keyvault show with capitalised names (Get, Encrypt, ...) grants everything', () => {
    const v = evaluate(requirement(), docs());
    expect(v).toMatchObject({ verdict: 'granted', model: 'accessPolicy', missing: [], missingRecommended: [] });
    expect(v.permissions.get.via[0]).toEqual({
      kind: 'accessPolicy',
      objectId: ATLAS_SP,
      tenantId: TENANT,
      permission: 'Get',
    });
    expect(v.accessPolicyKeyPermissions).toEqual(['Get', 'Encrypt', 'Decrypt', 'WrapKey', 'UnwrapKey']);
    expect(v.readerOnVault).toBeUndefined();
  });

  it("'all' grants every key permission", () => {
    const v = evaluate(requirement({ principalId: OTHER_SP }), docs());
    expect(v.verdict).toBe('granted');
    expect(v.permissions.decrypt.via[0]).toMatchObject({ permission: 'all' });
  });

  it.each([
    ['ALL upper-case', [entry(['ALL'])], 'granted', []],
    ['get only', [entry(['get', 'list'])], 'missing', ['encrypt', 'decrypt']],
    ['no entry', [], 'missing', ['get', 'encrypt', 'decrypt']],
    ['secrets only', [{ ...entry([]), permissions: { secrets: ['all'] } }], 'missing', ['get', 'encrypt', 'decrypt']],
    [
      'compound identity (applicationId)',
      [entry(['all'], { applicationId: '9efedfcc-2eca-4b27-a613-0cad1e114cb7' })],
      'missing',
      ['get', 'encrypt', 'decrypt'],
    ],
    [
      'foreign tenant',
      [entry(['all'], { tenantId: '00000000-0000-0000-0000-000000000009' })],
      'missing',
      ['get', 'encrypt', 'decrypt'],
    ],
    ['tenant in other casing', [entry(['all'], { tenantId: TENANT.toUpperCase() })], 'granted', []],
    [
      'objectId in other casing',
      [entry(['get', 'encrypt', 'decrypt'], { objectId: ATLAS_SP.toUpperCase() })],
      'granted',
      [],
    ],
  ])('%s -> %s', (_n, policies, want, missing) => {
    const v = evaluate(requirement(), docs(policies as never));
    expect(v.verdict).toBe(want);
    expect(v.missing).toEqual(missing);
  });

  it('explains compound identities and foreign tenants in notes', () => {
    const v = evaluate(
      requirement(),
      docs([entry(['all'], { applicationId: 'app' }), entry(['all'], { tenantId: 'other' })] as never),
    );
    expect(v.notes.join('\n')).toMatch(/compound identity/);
    expect(v.notes.join('\n')).toMatch(/not the vault's tenant/);
  });

  it('role assignments and deny assignments are ignored (and the note says RBAC would grant)', () => {
    const v = evaluate(requirement(), docs([], { roleAssignments: [assignment(ROLE_IDS.keyVaultCryptoUser, VAULT)] }));
    expect(v.verdict).toBe('missing');
    expect(v.notes.join('\n')).toMatch(/would grant get, encrypt, decrypt if the vault used Azure RBAC/);
    const w = evaluate(requirement(), docs(undefined, { denyAssignments: [deny(RG, ['*'])] }));
    expect(w.verdict).toBe('granted');
  });

  it('enableRbacAuthorization false is the access-policy model; true ignores access policies', () => {
    const v = evaluate(requirement(), { ...docs(), vault: { ...apVault(), enableRbacAuthorization: false } });
    expect(v.model).toBe('accessPolicy');
    const rb = evaluate(requirement(), { vault: { ...apVault(), enableRbacAuthorization: true }, roleAssignments: [] });
    expect(rb).toMatchObject({ model: 'rbac', verdict: 'missing' });
    expect(rb.notes.join('\n')).toMatch(/access-policy entry on this vault; it is ignored/);
  });

  it('the published Vaults_Get example: its access policy grants object 00000000-...', () => {
    const vault = parseVault(exampleBody('arm-keyvault-2024-11-01-getVault.json'));
    const req = { principalId: '00000000-0000-0000-0000-000000000000', key: { vaultId: vault.id, keyName: 'k' } };
    expect(evaluate(req, { vault, roleAssignments: [] }).verdict).toBe('granted');
    expect(evaluate({ ...req, principalId: ATLAS_SP }, { vault, roleAssignments: [] }).verdict).toBe('missing');
  });
});

describe('requirement options', () => {
  it('custom required/recommended lists, case-insensitive', () => {
    const v = evaluate(
      requirement({ required: ['GET', 'WrapKey'], recommended: ['sign'] }),
      rbacDocs([assignment(ROLE_IDS.keyVaultCryptoServiceEncryptionUser, VAULT)]),
    );
    expect(v.verdict).toBe('granted');
    expect(v.requiredPermissions).toEqual(['get', 'wrapKey']);
    expect(v.missingRecommended).toContain('sign');
    expect(v.notes.join('\n')).toMatch(/'sign' has no known Key Vault data action/);
  });

  it('a vault document for another vault is never judged granted', () => {
    const v = evaluate(
      requirement({ key: { vaultId: `${VAULT}2`, keyName: 'k' } }),
      rbacDocs([assignment(ROLE_IDS.keyVaultCryptoUser, SUB)]),
    );
    expect(v.verdict).toBe('indeterminate');
    expect(rbacVault().id).toBe(VAULT);
  });
});
