// standby: pure. The opt-in standby grant (EAR_GUARD_STANDBY_GRANT=key). A new role assignment takes up to 10
// minutes to reach Key Vault's data plane, and Atlas checks every 15: a grant restored after a removal is too late
// for most drifts. So, with restores at the vault, the pinned Atlas principal keeps the configured data role at
// both the vault and the key. Deleting either leaves the other, already propagated, and the loop re-adds the
// missing one. The key scope is inside the vault scope: the standby adds no right and reaches no one the vault
// grant does not. With restoreScope `key` there is no narrower scope, so the standby has no effect (never broader).
import { findBuiltinRole } from '../core/builtinRoles.js';
import { roleDefinitionGuid } from '../core/documents.js';
import { keyScope, scopeEquals } from '../core/scopes.js';
import type { RoleAssignmentDoc } from '../core/types.js';
import type { AtlasTarget } from '../atlas/target.js';
import { RESTORABLE_ROLES, type ReconcilePolicy } from './types.js';

export type StandbyScope = 'vault' | 'key';

/** A data role the pinned principal should hold at one of the two standby scopes, and does not. */
export interface StandbyGap {
  scope: StandbyScope;
  /** The role definition GUID (lower case). */
  role: string;
}

type StandbyPolicy = Pick<ReconcilePolicy, 'standbyGrant' | 'restoreScope'>;

/** The standby is kept only when it is asked for and restores go to the vault (the key is then narrower). */
export function standbyApplies(p: StandbyPolicy): boolean {
  return p.standbyGrant === 'key' && p.restoreScope === 'vault';
}

/** What the standby setting does under this policy, in one sentence for `check` and the startup log. */
export function standbyNotice(p: StandbyPolicy): string | undefined {
  if (p.standbyGrant !== 'key') return undefined;
  if (p.restoreScope === 'key') {
    return 'EAR_GUARD_STANDBY_GRANT=key has no effect: EAR_GUARD_RESTORE_SCOPE is key, the narrowest scope, so there is no standby scope; nothing broader is granted';
  }
  return 'standby grant on: the data role is kept for the pinned Atlas principal at both the vault and the key; to revoke, remove both assignments (or set `ear-guard intent <project> revoked`)';
}

/** The scope ID of a standby scope for a target. */
export function standbyScopeId(t: Pick<AtlasTarget, 'vaultId' | 'keyName'>, scope: StandbyScope): string {
  return scope === 'key' ? keyScope(t.vaultId, t.keyName) : t.vaultId;
}

/** An unconditional assignment of `role` to the principal itself (not a group) at exactly `scope`. */
function holds(a: RoleAssignmentDoc, principalId: string, role: string, scope: string): boolean {
  return (
    a.principalId.toLowerCase() === principalId.toLowerCase() &&
    roleDefinitionGuid(a.roleDefinitionId) === role &&
    scopeEquals(a.scope, scope) &&
    !(a.condition ?? '').trim()
  );
}

/**
 * The configured data roles missing at the vault or the key for the pinned principal (empty when the standby does
 * not apply). Read from the assignments the observe step already listed at the key's scope (at and above it).
 */
export function standbyGaps(
  t: Pick<AtlasTarget, 'vaultId' | 'keyName' | 'principalObjectId'>,
  assignments: RoleAssignmentDoc[],
  roles: string[],
  p: StandbyPolicy,
): StandbyGap[] {
  if (!standbyApplies(p)) return [];
  const data = roles.map((r) => r.toLowerCase()).filter((r) => RESTORABLE_ROLES[r] === 'data');
  const gaps: StandbyGap[] = [];
  for (const scope of ['vault', 'key'] as const) {
    const id = standbyScopeId(t, scope);
    for (const role of data) {
      if (!assignments.some((a) => holds(a, t.principalObjectId, role, id))) gaps.push({ scope, role });
    }
  }
  return gaps;
}

/** How a gap reads in flags, history and alerts: `standby-missing:key`, `Key Vault Crypto User at the key`. */
export function standbyFlag(g: StandbyGap): string {
  return `standby-missing:${g.scope}`;
}

export function standbyText(g: StandbyGap): string {
  return `${findBuiltinRole(g.role)?.roleName ?? g.role} at the ${g.scope} (standby)`;
}
