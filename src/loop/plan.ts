// plan: pure. What to add for a judged drift: only what is missing, only for the Atlas principal, only restorable
// roles (a role assignment named deterministically by the adapter, or accessPolicies/add with the missing keys).
import { findBuiltinRole } from '../core/builtinRoles.js';
import { READER_ON_VAULT } from '../core/evaluate.js';
import { keyScope } from '../core/scopes.js';
import type { Verdict } from '../core/types.js';
import type { AtlasTarget } from '../atlas/target.js';
import { standbyScopeId, type StandbyGap } from './standby.js';
import { RESTORABLE_ROLES, type PlannedAction, type ReconcilePolicy } from './types.js';

export interface RestorePlan {
  plan: PlannedAction[];
  /** Why nothing may be written (a deny assignment, an unrestorable configured role). */
  blocked: string[];
}

type PlanPolicy = Pick<ReconcilePolicy, 'restoreScope' | 'roles'> & {
  /** The standby's missing halves (judge's standbyGaps); re-added too, never with restoreScope `key`. */
  standby?: StandbyGap[];
};

export function roleName(guid: string): string {
  return findBuiltinRole(guid)?.roleName ?? guid;
}

function deniedBy(verdict: Verdict): string | undefined {
  const denied = [...verdict.missing].filter((p) => (verdict.permissions[p]?.deniedBy ?? []).length > 0);
  if (!denied.length) return undefined;
  const denies = [...new Set(denied.flatMap((p) => verdict.permissions[p]!.deniedBy!))];
  return `${denied.join(', ')} removed by deny assignment ${denies.join(', ')}: no grant can override it`;
}

function roleAction(t: AtlasTarget, guid: string, scope: string, where: string): PlannedAction {
  return {
    kind: 'roleAssignment',
    principalId: t.principalObjectId,
    roleDefinitionGuid: guid.toLowerCase(),
    roleName: roleName(guid),
    scope,
    vaultId: t.vaultId,
    description: `assign ${roleName(guid)} to ${t.principalObjectId} at ${where}`,
  };
}

function rolesOfKind(roles: string[], kind: 'data' | 'reader'): string[] {
  return roles.filter((g) => RESTORABLE_ROLES[g.toLowerCase()] === kind);
}

/**
 * The standby's missing halves not already planned. Only with restores at the vault: the key scope is then inside
 * the planned scope (same role, same principal), and with restoreScope `key` nothing is added here at all.
 */
function standbyActions(t: AtlasTarget, policy: PlanPolicy, planned: PlannedAction[]): PlannedAction[] {
  if (policy.restoreScope !== 'vault') return [];
  const out: PlannedAction[] = [];
  for (const g of policy.standby ?? []) {
    if (RESTORABLE_ROLES[g.role] !== 'data' || !policy.roles.some((r) => r.toLowerCase() === g.role)) continue;
    const scope = standbyScopeId(t, g.scope);
    const dup = [...planned, ...out].some((a) => a.roleDefinitionGuid === g.role && a.scope === scope);
    if (!dup) out.push(roleAction(t, g.role, scope, `the ${g.scope} (standby: kept at both the vault and the key)`));
  }
  return out;
}

function planRbac(t: AtlasTarget, verdict: Verdict, policy: PlanPolicy): RestorePlan {
  const bad = policy.roles.filter((r) => !RESTORABLE_ROLES[r.toLowerCase()]);
  if (bad.length) {
    const allowed = Object.keys(RESTORABLE_ROLES).join(', ');
    return { plan: [], blocked: [`configured roles ${bad.join(', ')} are not restorable (allowed: ${allowed})`] };
  }
  const plan: PlannedAction[] = [];
  const atKey = policy.restoreScope === 'key';
  if (verdict.missing.length > 0) {
    const scope = atKey ? keyScope(t.vaultId, t.keyName) : t.vaultId;
    for (const r of rolesOfKind(policy.roles, 'data')) {
      plan.push(roleAction(t, r, scope, atKey ? 'the key' : 'the vault'));
    }
  }
  plan.push(...standbyActions(t, policy, plan));
  if (verdict.missingRecommended.includes(READER_ON_VAULT) && !(verdict.readerOnVault?.deniedBy ?? []).length) {
    for (const r of rolesOfKind(policy.roles, 'reader')) plan.push(roleAction(t, r, t.vaultId, 'the vault'));
  }
  return { plan, blocked: [] };
}

function planAccessPolicy(t: AtlasTarget, verdict: Verdict, vaultTenantId: string): RestorePlan {
  const keys = [...verdict.missing, ...verdict.missingRecommended.filter((p) => p !== READER_ON_VAULT)];
  if (!keys.length) return { plan: [], blocked: [] };
  const action: PlannedAction = {
    kind: 'accessPolicyAdd',
    principalId: t.principalObjectId,
    vaultId: t.vaultId,
    tenantId: vaultTenantId,
    keys,
    description: `add key permissions ${keys.join(', ')} to the access policy of ${t.principalObjectId}`,
  };
  return { plan: [action], blocked: [] };
}

/** What to add: only what is missing, only for the Atlas principal, only restorable roles. */
export function planRestore(t: AtlasTarget, verdict: Verdict, vaultTenantId: string, policy: PlanPolicy): RestorePlan {
  const denied = deniedBy(verdict);
  if (denied) return { plan: [], blocked: [denied] };
  return verdict.model === 'rbac' ? planRbac(t, verdict, policy) : planAccessPolicy(t, verdict, vaultTenantId);
}
