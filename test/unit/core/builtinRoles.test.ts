import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BUILTIN_ROLES, ROLE_IDS, builtinRoleDefinitions, findBuiltinRole } from '../../../src/core/builtinRoles.js';
import { FIXTURES, fixture } from './fixtures.js';

const files = readdirSync(FIXTURES).filter((f) => f.startsWith('builtin-role-'));

describe('shipped built-in roles', () => {
  it('ship every published built-in role fixture, verbatim', () => {
    expect(files.length).toBe(12);
    expect(BUILTIN_ROLES).toHaveLength(files.length);
    for (const f of files) {
      const published = fixture(f) as { name: string };
      const shipped = BUILTIN_ROLES.find((r) => r.name === published.name);
      expect(shipped, f).toBeDefined();
      expect(shipped).toStrictEqual(published);
    }
  });

  it('covers the roles the issue names', () => {
    const names = BUILTIN_ROLES.map((r) => r.roleName);
    for (const n of [
      'Key Vault Crypto User',
      'Key Vault Crypto Service Encryption User',
      'Key Vault Crypto Officer',
      'Key Vault Administrator',
      'Reader',
      'Key Vault Reader',
      'Owner',
      'Contributor',
    ]) {
      expect(names).toContain(n);
    }
  });

  it('ROLE_IDS are the GUIDs of shipped roles with the right names', () => {
    expect(findBuiltinRole(ROLE_IDS.keyVaultCryptoUser)?.roleName).toBe('Key Vault Crypto User');
    expect(findBuiltinRole(ROLE_IDS.reader)?.roleName).toBe('Reader');
    expect(findBuiltinRole(ROLE_IDS.keyVaultReader)?.roleName).toBe('Key Vault Reader');
    expect(findBuiltinRole(ROLE_IDS.roleBasedAccessControlAdministrator)?.roleName).toBe(
      'Role Based Access Control Administrator',
    );
    for (const id of Object.values(ROLE_IDS)) expect(findBuiltinRole(id.toUpperCase()), id).toBeDefined();
  });

  it('normalizes to RoleDefinitionDoc with roleType as type, and returns copies', () => {
    const defs = builtinRoleDefinitions();
    const cu = defs.find((d) => d.name === ROLE_IDS.keyVaultCryptoUser)!;
    expect(cu.type).toBe('BuiltInRole');
    expect(cu.permissions[0].dataActions).toContain('Microsoft.KeyVault/vaults/keys/encrypt/action');
    cu.permissions[0].dataActions.length = 0;
    expect(
      builtinRoleDefinitions().find((d) => d.name === ROLE_IDS.keyVaultCryptoUser)!.permissions[0].dataActions,
    ).not.toHaveLength(0);
  });
});
