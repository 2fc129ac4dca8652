import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  PERMISSION_DATA_ACTIONS,
  actionMatches,
  blockAllowsDataAction,
  canonicalPermission,
  dataActionFor,
} from '../../../src/core/actions.js';

describe('actionMatches', () => {
  it.each([
    ['Microsoft.KeyVault/vaults/keys/read', 'Microsoft.KeyVault/vaults/keys/read', true],
    ['microsoft.keyvault/VAULTS/keys/READ', 'Microsoft.KeyVault/vaults/keys/read', true],
    ['Microsoft.KeyVault/vaults/*', 'Microsoft.KeyVault/vaults/keys/decrypt/action', true],
    ['Microsoft.KeyVault/vaults/keys/*', 'Microsoft.KeyVault/vaults/keys/wrap/action', true],
    ['Microsoft.KeyVault/vaults/*/read', 'Microsoft.KeyVault/vaults/keys/read', true],
    ['Microsoft.KeyVault/vaults/*/read', 'Microsoft.KeyVault/vaults/keys/decrypt/action', false],
    ['*/read', 'Microsoft.KeyVault/vaults/read', true],
    ['*', 'Microsoft.KeyVault/vaults/keys/encrypt/action', true],
    ['Microsoft.KeyVault/vaults/secrets/*', 'Microsoft.KeyVault/vaults/keys/read', false],
    ['Microsoft.KeyVault/vaults/keys/read', 'Microsoft.KeyVault/vaults/keys/readx', false],
    ['Microsoft.KeyVault/vaults/keys/encrypt/action', 'Microsoft.KeyVault/vaults/keys/decrypt/action', false],
    ['Microsoft.KeyVault/vaults/keys.read', 'Microsoft.KeyVault/vaults/keysXread', false],
  ])('%s vs %s -> %s', (pattern, action, want) => {
    expect(actionMatches(pattern, action)).toBe(want);
  });

  it('is case-insensitive for any casing of pattern and action (property)', () => {
    const seg = fc.stringMatching(/^[A-Za-z]{1,8}$/);
    fc.assert(
      fc.property(fc.array(seg, { minLength: 1, maxLength: 5 }), fc.boolean(), (segs, upper) => {
        const action = segs.join('/');
        const pattern = upper ? action.toUpperCase() : action.toLowerCase();
        return actionMatches(pattern, action) && actionMatches(action, pattern);
      }),
    );
  });

  it('a trailing /* matches every action below the prefix, and never a sibling prefix (property)', () => {
    const seg = fc.stringMatching(/^[a-z]{1,6}$/);
    fc.assert(
      fc.property(
        fc.array(seg, { minLength: 1, maxLength: 3 }),
        fc.array(seg, { minLength: 1, maxLength: 3 }),
        seg,
        (prefix, rest, extra) => {
          const p = prefix.join('/');
          expect(actionMatches(`${p}/*`, `${p}/${rest.join('/')}`)).toBe(true);
          // a sibling whose last segment merely starts the same is not matched by `${p}/*`
          expect(actionMatches(`${p}/*`, `${p}${extra}/${rest.join('/')}`)).toBe(false);
        },
      ),
    );
  });
});

describe('permission names', () => {
  it('maps the five EAR permissions to Key Vault data actions (BRIEF)', () => {
    expect(PERMISSION_DATA_ACTIONS).toEqual({
      get: 'Microsoft.KeyVault/vaults/keys/read',
      encrypt: 'Microsoft.KeyVault/vaults/keys/encrypt/action',
      decrypt: 'Microsoft.KeyVault/vaults/keys/decrypt/action',
      wrapKey: 'Microsoft.KeyVault/vaults/keys/wrap/action',
      unwrapKey: 'Microsoft.KeyVault/vaults/keys/unwrap/action',
    });
    expect(dataActionFor('WRAPKEY')).toBe('Microsoft.KeyVault/vaults/keys/wrap/action');
    expect(dataActionFor('sign')).toBeUndefined();
    expect(canonicalPermission('UnwrapKey')).toBe('unwrapKey');
  });

  it('notDataActions subtract only inside their block', () => {
    const block = {
      dataActions: ['Microsoft.KeyVault/vaults/keys/*'],
      notDataActions: ['Microsoft.KeyVault/vaults/keys/decrypt/action'],
    };
    expect(blockAllowsDataAction(block, PERMISSION_DATA_ACTIONS.decrypt)).toBe(false);
    expect(blockAllowsDataAction(block, PERMISSION_DATA_ACTIONS.encrypt)).toBe(true);
    expect(
      blockAllowsDataAction(
        { dataActions: PERMISSION_DATA_ACTIONS.decrypt.split(' ') },
        PERMISSION_DATA_ACTIONS.decrypt,
      ),
    ).toBe(true);
  });
});
