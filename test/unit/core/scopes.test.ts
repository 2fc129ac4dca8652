import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isManagementGroupScope,
  normalizeScope,
  parseVaultId,
  scopeCovers,
  scopeEquals,
  scopeOfAuthorizationId,
} from '../../../src/core/scopes.js';
import { DocumentError } from '../../../src/core/errors.js';
import { SUB, VAULT } from './fixtures.js';

const KEY = `${VAULT}/keys/atlas-ear`;

describe('scopeCovers', () => {
  it.each([
    ['/', KEY, true],
    [SUB, KEY, true],
    [`${SUB}/resourceGroups/rg-atlas`, KEY, true],
    [VAULT, KEY, true],
    [KEY, KEY, true],
    [VAULT.toUpperCase(), KEY, true],
    [`${SUB}/RESOURCEGROUPS/RG-ATLAS/`, KEY, true],
    [`${VAULT}/keys/other`, KEY, false],
    [`${VAULT}/keys/atlas-ear-2`, KEY, false],
    [`${VAULT}0`, KEY, false],
    [VAULT.replace('kv-atlas', 'kv-atl'), KEY, false],
    [`${SUB}/resourceGroups/rg-atlas2`, KEY, false],
    [KEY, VAULT, false],
    ['/subscriptions/a925f2f7-5c63-4b7b-8799-25a5f97bc3b', KEY, false],
  ])('%s covers %s: %s', (a, t, want) => {
    expect(scopeCovers(a, t)).toBe(want);
  });

  it('kv1 never covers kv10 and vice versa, at any depth (property)', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{1,10}$/);
    fc.assert(
      fc.property(name, fc.stringMatching(/^[a-z0-9]{1,4}$/), name, (v, suffix, key) => {
        const a = `${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${v}`;
        const b = `${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${v}${suffix}`;
        expect(scopeCovers(a, `${b}/keys/${key}`)).toBe(false);
        expect(scopeCovers(b, `${a}/keys/${key}`)).toBe(false);
        expect(scopeCovers(a, `${a}/keys/${key}`)).toBe(true);
      }),
    );
  });

  it('is case-insensitive and ignores trailing/double slashes (property)', () => {
    const seg = fc.stringMatching(/^[A-Za-z0-9-]{1,8}$/);
    fc.assert(
      fc.property(fc.array(seg, { minLength: 1, maxLength: 6 }), fc.array(seg, { maxLength: 3 }), (a, more) => {
        const anc = '/' + a.join('/');
        const target = '/' + [...a, ...more].join('/');
        expect(scopeCovers(anc.toUpperCase() + '/', target.toLowerCase())).toBe(true);
        expect(scopeCovers(anc.replace('/', '//'), target)).toBe(true);
        expect(scopeEquals(anc.toLowerCase(), anc.toUpperCase())).toBe(true);
      }),
    );
  });
});

describe('scope helpers', () => {
  it('normalizeScope', () => {
    expect(normalizeScope('subscriptions/x//resourceGroups/y/')).toBe('/subscriptions/x/resourceGroups/y');
    expect(normalizeScope('/')).toBe('/');
  });
  it('parseVaultId', () => {
    expect(parseVaultId(VAULT)).toEqual({
      subscriptionId: 'a925f2f7-5c63-4b7b-8799-25a5f97bc3b2',
      resourceGroup: 'rg-atlas',
      vaultName: 'kv-atlas',
    });
    expect(parseVaultId(VAULT.toLowerCase()).vaultName).toBe('kv-atlas');
    expect(() => parseVaultId(`${VAULT}/keys/k`)).toThrow(DocumentError);
    expect(() => parseVaultId(`${SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa`)).toThrow(
      /not a Key Vault resource ID/,
    );
  });
  it('management group scopes are recognised, and never cover subscription paths', () => {
    const mg = '/providers/Microsoft.Management/managementGroups/root-mg';
    expect(isManagementGroupScope(mg)).toBe(true);
    expect(isManagementGroupScope(SUB)).toBe(false);
    expect(scopeCovers(mg, VAULT)).toBe(false);
  });
  it('scopeOfAuthorizationId', () => {
    expect(scopeOfAuthorizationId(`${VAULT}/providers/Microsoft.Authorization/roleAssignments/abc`)).toBe(VAULT);
    expect(scopeOfAuthorizationId('/providers/Microsoft.Authorization/roleAssignments/abc')).toBe('/');
    expect(scopeOfAuthorizationId(VAULT)).toBeUndefined();
  });
});
