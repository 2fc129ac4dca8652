import { describe, expect, it } from 'vitest';
import {
  DocumentError,
  parseDenyAssignments,
  parseKeyIdentifier,
  parseKeyResourceId,
  parseRoleAssignments,
  parseRoleDefinitions,
  parseVault,
  roleDefinitionGuid,
} from '../../../src/core/documents.js';
import { ATLAS_SP, TENANT, VAULT, exampleBody, fixture } from './fixtures.js';

describe('parseVault', () => {
  it('reads the published Vaults_Get example (no enableRbacAuthorization: access policies)', () => {
    const v = parseVault(exampleBody('arm-keyvault-2024-11-01-getVault.json'));
    expect(v.name).toBe('sample-vault');
    expect(v.tenantId).toBe('00000000-0000-0000-0000-000000000000');
    expect(v.enableRbacAuthorization).toBeUndefined();
    expect(v.accessPolicies).toHaveLength(1);
    expect(v.accessPolicies[0].permissions.keys).toContain('wrapKey');
    expect(v.accessPolicies[0].applicationId).toBeNull();
  });

  it('reads a real recorded Vaults_Get response body', () => {
    const rec = fixture('recording-js-arm-keyvault-vaults_get_test.json') as { Entries: { ResponseBody: unknown }[] };
    const v = parseVault(rec.Entries[0].ResponseBody);
    expect(v.name).toBe('myvaultzzzz');
    expect(v.tenantId).toBe('88888888-8888-8888-8888-888888888888');
  });

  it('reads az keyvault show output (properties nested) and ARM, RBAC on', () => {
    for (const f of ['az/keyvault-show-rbac.json', 'arm/vault-rbac.json']) {
      const v = parseVault(fixture(f), f);
      expect(v).toMatchObject({
        id: VAULT,
        name: 'kv-atlas',
        tenantId: TENANT,
        enableRbacAuthorization: true,
        accessPolicies: [],
      });
    }
  });

  it('accepts a one-element list and a flattened vault', () => {
    const body = fixture('arm/vault-rbac.json') as { properties: object };
    expect(parseVault({ value: [body] }).name).toBe('kv-atlas');
    expect(parseVault([{ id: VAULT, ...body.properties }]).enableRbacAuthorization).toBe(true);
  });

  it.each([
    [{ id: VAULT, properties: {} }, /properties\.tenantId|tenantId: expected the vault tenant ID/],
    [
      { properties: { tenantId: TENANT } },
      /id: expected the vault resource ID \(a non-empty string\), got nothing \(the field is absent\)/,
    ],
    [{ id: `${VAULT}/keys/k`, properties: { tenantId: TENANT } }, /id: expected a Key Vault resource ID/],
    [
      { id: VAULT, properties: { tenantId: TENANT, enableRbacAuthorization: 'yes' } },
      /properties\.enableRbacAuthorization: expected true, false or absent, got the string "yes"/,
    ],
    [
      {
        id: VAULT,
        properties: {
          tenantId: TENANT,
          accessPolicies: [{ tenantId: TENANT, objectId: 'x', permissions: { keys: 'get' } }],
        },
      },
      /properties\.accessPolicies\[0\]\.permissions\.keys: expected an array of strings/,
    ],
    [[], /expected exactly one vault/],
    ['hello', /expected a JSON object/],
  ])('rejects %j naming the field', (json, msg) => {
    const err = (() => {
      try {
        parseVault(json, 'vault.json');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DocumentError);
    expect((err as DocumentError).source).toBe('vault.json');
    expect((err as Error).message).toMatch(/^vault\.json: /);
    expect((err as Error).message).toMatch(msg);
  });
});

describe('parseRoleAssignments', () => {
  it('reads published ARM list examples', () => {
    const a = parseRoleAssignments(
      exampleBody('arm-authorization-2022-04-01-RoleAssignments_ListForResourceGroup.json'),
    );
    expect(a).toHaveLength(2);
    expect(a[1]).toMatchObject({
      scope: '/subscriptions/a925f2f7-5c63-4b7b-8799-25a5f97bc3b2/resourceGroups/testrg',
      principalId: 'ce2ce14e-85d7-4629-bdbc-454d0519d987',
      principalType: 'User',
      name: '96786e4b-dede-4c2e-8736-8ab911987f08',
    });
    expect(
      parseRoleAssignments(exampleBody('arm-authorization-2022-04-01-RoleAssignments_ListForScope.json')),
    ).toHaveLength(1);
  });

  it('reads az role assignment list output (flattened) the same as the ARM shape', () => {
    const az = parseRoleAssignments(fixture('az/role-assignment-list-granted.json'));
    const arm = parseRoleAssignments(fixture('arm/role-assignments-granted.json'));
    expect(az.map((a) => [a.id, a.scope, a.principalId, roleDefinitionGuid(a.roleDefinitionId)])).toEqual(
      arm.map((a) => [a.id, a.scope, a.principalId, roleDefinitionGuid(a.roleDefinitionId)]),
    );
    expect(az[0].roleDefinitionName).toBe('Key Vault Crypto User');
    expect(az[0].condition).toBeUndefined();
    expect(az[0].principalId).toBe(ATLAS_SP);
  });

  it('keeps conditions, and derives a missing scope from the assignment ID', () => {
    const [c] = parseRoleAssignments(fixture('az/role-assignment-list-conditional.json'));
    expect(c.condition).toMatch(/ActionMatches/);
    expect(c.conditionVersion).toBe('2.0');
    const [d] = parseRoleAssignments({
      id: `${VAULT}/providers/Microsoft.Authorization/roleAssignments/n1`,
      roleDefinitionId: 'x',
      principalId: 'p',
    });
    expect(d.scope).toBe(VAULT);
  });

  it('rejects a vault document given as assignments, naming the field', () => {
    expect(() => parseRoleAssignments(fixture('az/keyvault-show-rbac.json'), 'ra.json')).toThrow(
      /^ra\.json: (properties\.)?roleDefinitionId: expected the role definition ID/,
    );
    expect(() => parseRoleAssignments({ value: [1] }, 'ra.json')).toThrow(
      /value\[0\]: expected an object, got number 1/,
    );
  });
});

describe('parseRoleDefinitions', () => {
  it('reads the published docs JSON, the ARM GetById example and az output', () => {
    const [cu] = parseRoleDefinitions(fixture('builtin-role-key-vault-crypto-user.json'));
    expect(cu).toMatchObject({
      name: '12338af0-0e69-4776-bea7-57ae8d297424',
      roleName: 'Key Vault Crypto User',
      type: 'BuiltInRole',
    });
    const [arm] = parseRoleDefinitions(exampleBody('arm-authorization-2022-04-01-GetRoleDefinitionById.json'));
    expect(arm).toMatchObject({ name: 'roleDefinitionId', roleName: 'Role name', type: 'roletype' });
    expect(arm.permissions[0]).toEqual({
      actions: ['action'],
      notActions: [],
      dataActions: ['dataAction'],
      notDataActions: [],
    });
    const [custom] = parseRoleDefinitions(fixture('az/role-definition-list-custom.json'));
    expect(custom.type).toBe('CustomRole');
    expect(custom.permissions[0].notDataActions).toEqual(['Microsoft.KeyVault/vaults/keys/decrypt/action']);
  });
  it('rejects a block that is not a list', () => {
    expect(() => parseRoleDefinitions([{ id: '/x/abc', roleName: 'r', permissions: {} }], 'defs.json')).toThrow(
      /defs\.json: \[0\]\.permissions: expected an array of permission blocks/,
    );
  });
  it('role definition GUID whatever the prefix', () => {
    expect(
      roleDefinitionGuid('/providers/Microsoft.Authorization/roleDefinitions/12338AF0-0e69-4776-bea7-57ae8d297424'),
    ).toBe('12338af0-0e69-4776-bea7-57ae8d297424');
    expect(
      roleDefinitionGuid(
        '/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/12338af0-0e69-4776-bea7-57ae8d297424/',
      ),
    ).toBe('12338af0-0e69-4776-bea7-57ae8d297424');
    expect(roleDefinitionGuid('12338af0-0e69-4776-bea7-57ae8d297424')).toBe('12338af0-0e69-4776-bea7-57ae8d297424');
  });
});

describe('parseDenyAssignments', () => {
  it('reads the published example', () => {
    const [d] = parseDenyAssignments(
      exampleBody('arm-authorization-2022-04-01-GetDenyAssignmentsForResourceGroup.json'),
    );
    expect(d).toMatchObject({
      scope: '/subscriptions/subId/resourcegroups/rgname',
      denyAssignmentName: 'Deny assignment name',
      doNotApplyToChildScopes: false,
      principals: [{ id: 'principalId1', type: 'principalType1' }],
      excludePrincipals: [{ id: 'principalId2', type: 'principalType2' }],
    });
  });
  it('requires principals', () => {
    expect(() =>
      parseDenyAssignments(
        { id: `${VAULT}/providers/Microsoft.Authorization/denyAssignments/d`, properties: { permissions: [] } },
        'deny.json',
      ),
    ).toThrow(/deny\.json: properties\.principals: expected an array of principals/);
  });
});

describe('key identifiers', () => {
  it.each([
    [
      'https://kv-atlas.vault.azure.net/keys/atlas-ear/0123456789abcdef',
      {
        vaultName: 'kv-atlas',
        vaultHost: 'kv-atlas.vault.azure.net',
        keyName: 'atlas-ear',
        version: '0123456789abcdef',
      },
    ],
    ['https://KV-Atlas.Vault.Azure.Net/keys/atlas-ear', { vaultName: 'kv-atlas', keyName: 'atlas-ear' }],
    [
      'https://kv-atlas.vault.azure.cn/keys/k1/',
      { vaultName: 'kv-atlas', vaultHost: 'kv-atlas.vault.azure.cn', keyName: 'k1' },
    ],
    [
      'https://kv-atlas.vault.usgovcloudapi.net:443/keys/k1/v1',
      { vaultHost: 'kv-atlas.vault.usgovcloudapi.net', version: 'v1' },
    ],
  ])('parses %s', (url, want) => {
    expect(parseKeyIdentifier(url)).toMatchObject(want);
  });
  it.each([
    ['http://kv-atlas.vault.azure.net/keys/k', /https/],
    ['https://kv-atlas.managedhsm.azure.net/keys/k', /Managed HSM/],
    ['https://kv-atlas.example.com/keys/k', /not a Key Vault key URL/],
    ['https://kv-atlas.vault.azure.net/secrets/k', /\/keys\/\{name\}/],
    ['not a url', /not a URL/],
  ])('rejects %s', (url, msg) => {
    expect(() => parseKeyIdentifier(url)).toThrow(msg);
  });
  it('parses key resource IDs', () => {
    expect(parseKeyResourceId(`${VAULT}/keys/atlas-ear`)).toMatchObject({
      vaultId: VAULT,
      vaultName: 'kv-atlas',
      keyName: 'atlas-ear',
      resourceGroup: 'rg-atlas',
    });
    expect(parseKeyResourceId(`${VAULT}/keys/atlas-ear/versions/abc`).version).toBe('abc');
    expect(() => parseKeyResourceId(VAULT)).toThrow(DocumentError);
  });
});
