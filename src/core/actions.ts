// Permission names and RBAC action matching.
// Key permission -> Key Vault data action: learn.microsoft.com/azure/key-vault/general/rbac-guide and
// .../role-based-access-control/permissions/security#microsoftkeyvault (keys/read, keys/encrypt/action, ...).

export const PERMISSION_DATA_ACTIONS: Readonly<Record<string, string>> = {
  get: 'Microsoft.KeyVault/vaults/keys/read',
  encrypt: 'Microsoft.KeyVault/vaults/keys/encrypt/action',
  decrypt: 'Microsoft.KeyVault/vaults/keys/decrypt/action',
  wrapKey: 'Microsoft.KeyVault/vaults/keys/wrap/action',
  unwrapKey: 'Microsoft.KeyVault/vaults/keys/unwrap/action',
};

/** Control-plane action behind "Reader on the vault" (Reader grants it through `*\/read`). */
export const VAULT_READ_ACTION = 'Microsoft.KeyVault/vaults/read';

/** Key permission names an access policy accepts (Microsoft.KeyVault vaults API, `KeyPermissions`). */
export const KEY_PERMISSIONS = [
  'all',
  'backup',
  'create',
  'decrypt',
  'delete',
  'encrypt',
  'get',
  'getrotationpolicy',
  'import',
  'list',
  'purge',
  'recover',
  'release',
  'restore',
  'rotate',
  'setrotationpolicy',
  'sign',
  'unwrapKey',
  'update',
  'verify',
  'wrapKey',
] as const;

/** The data action for a key permission name (looked up case-insensitively), or undefined when none is mapped. */
export function dataActionFor(permission: string): string | undefined {
  const p = permission.toLowerCase();
  for (const [k, v] of Object.entries(PERMISSION_DATA_ACTIONS)) if (k.toLowerCase() === p) return v;
  return undefined;
}

/** Canonical spelling of a key permission (e.g. `WRAPKEY` -> `wrapKey`); unknown names are returned as given. */
export function canonicalPermission(permission: string): string {
  const p = permission.toLowerCase();
  return KEY_PERMISSIONS.find((k) => k.toLowerCase() === p) ?? permission;
}

const cache = new Map<string, RegExp>();

/**
 * Does an RBAC action pattern match an action? Case-insensitive; `*` matches any run of characters,
 * `/` included (so `*\/read` matches `Microsoft.KeyVault/vaults/read` and `Microsoft.KeyVault/vaults/*` matches
 * every key data action).
 */
export function actionMatches(pattern: string, action: string): boolean {
  let re = cache.get(pattern);
  if (!re) {
    const body = pattern
      .trim()
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    re = new RegExp(`^${body}$`, 'i');
    cache.set(pattern, re);
  }
  return re.test(action.trim());
}

export interface ActionBlock {
  actions?: string[];
  notActions?: string[];
  dataActions?: string[];
  notDataActions?: string[];
}

/** A data action is allowed by a permission block when a dataActions pattern matches and no notDataActions of the same block does. */
export function blockAllowsDataAction(block: ActionBlock, action: string): boolean {
  return (
    (block.dataActions ?? []).some((p) => actionMatches(p, action)) &&
    !(block.notDataActions ?? []).some((p) => actionMatches(p, action))
  );
}

/** Same rule for control-plane actions (`actions` minus `notActions` of the same block). */
export function blockAllowsAction(block: ActionBlock, action: string): boolean {
  return (
    (block.actions ?? []).some((p) => actionMatches(p, action)) &&
    !(block.notActions ?? []).some((p) => actionMatches(p, action))
  );
}
