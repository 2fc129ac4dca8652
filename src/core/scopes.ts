// ARM scope arithmetic. Resource IDs compare case-insensitively and by path segment: `/vaults/kv1` covers
// `/vaults/kv1/keys/k` but says nothing about `/vaults/kv10` (a string prefix test would get that wrong).
import { DocumentError } from './errors.js';

/** Canonical spelling of a scope: leading `/`, no trailing or doubled `/`. Case is kept (compare with scopeEquals). */
export function normalizeScope(id: string): string {
  const segs = id
    .trim()
    .split('/')
    .filter((s) => s.length > 0);
  return '/' + segs.join('/');
}

function segments(id: string): string[] {
  return normalizeScope(id)
    .toLowerCase()
    .split('/')
    .filter((s) => s.length > 0);
}

export function scopeEquals(a: string, b: string): boolean {
  const x = segments(a);
  const y = segments(b);
  return x.length === y.length && x.every((s, i) => s === y[i]);
}

/**
 * Does an assignment at `ancestorScope` apply at `targetScope`? True when the ancestor's segments are a
 * leading run of the target's (so equal scopes cover each other). The root scope `/` covers everything.
 * Management-group scopes never cover a subscription path here: the hierarchy is not in the IDs
 * (see isManagementGroupScope; the evaluator treats those as "cannot tell").
 */
export function scopeCovers(ancestorScope: string, targetScope: string): boolean {
  const a = segments(ancestorScope);
  const t = segments(targetScope);
  if (a.length > t.length) return false;
  return a.every((s, i) => s === t[i]);
}

export function isManagementGroupScope(scope: string): boolean {
  const s = segments(scope);
  return s.length >= 4 && s[0] === 'providers' && s[1] === 'microsoft.management' && s[2] === 'managementgroups';
}

export interface VaultIdParts {
  subscriptionId: string;
  resourceGroup: string;
  vaultName: string;
}

/** `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{v}` -> parts. Throws DocumentError. */
export function parseVaultId(id: string): VaultIdParts {
  const s = normalizeScope(id).split('/').slice(1);
  const ok =
    s.length === 8 &&
    s[0].toLowerCase() === 'subscriptions' &&
    s[2].toLowerCase() === 'resourcegroups' &&
    s[4].toLowerCase() === 'providers' &&
    s[5].toLowerCase() === 'microsoft.keyvault' &&
    s[6].toLowerCase() === 'vaults';
  if (!ok) {
    throw new DocumentError(
      `'${id}' is not a Key Vault resource ID (expected /subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name})`,
    );
  }
  return { subscriptionId: s[1], resourceGroup: s[3], vaultName: s[7] };
}

/** The scope of a key inside a vault: `{vaultId}/keys/{keyName}`. */
export function keyScope(vaultId: string, keyName: string): string {
  return `${normalizeScope(vaultId)}/keys/${keyName}`;
}

/** The scope a role assignment or deny assignment ID lives at (the part before `/providers/Microsoft.Authorization/`). */
export function scopeOfAuthorizationId(id: string): string | undefined {
  const m = /^(.*?)\/providers\/Microsoft\.Authorization\/(roleAssignments|denyAssignments)\/[^/]+\/?$/i.exec(
    id.trim(),
  );
  if (!m) return undefined;
  return m[1] === '' ? '/' : normalizeScope(m[1]);
}

/** The management group ID of `/providers/Microsoft.Management/managementGroups/{id}` (as written), else undefined. */
export function managementGroupIdOf(scope: string): string | undefined {
  if (!isManagementGroupScope(scope)) return undefined;
  const s = normalizeScope(scope).split('/').filter(Boolean);
  return s.length === 4 ? s[3] : undefined;
}
