// The live path's extra knowledge, read only when it matters so a healthy check stays at its ARM budget:
// - groups: the assignedTo() listing already holds the assignments of the principal's groups, so every group in it
//   is one the principal is in (no extra read); a deny naming another group costs one assignedTo() deny listing;
// - the key version Atlas pins, when it is not the current one (one Keys_GetVersion);
// - Atlas's published addresses, when the vault has a firewall (Atlas reads, cached; no ARM read);
// - on periodic checks only: PIM schedule instances and Azure Policy assignments (plus any initiative they name).
import { EVERYONE } from '../core/evaluate.js';
import { judgeNetwork, needsAtlasAddresses, type AtlasAddresses, type NetworkJudgement } from '../core/network.js';
import {
  assignmentApplies,
  classifyPolicyAssignments,
  isPolicySetId,
  judgePolicyFindings,
  networkAfter,
  type PolicyAssignmentDoc,
  type PolicyFinding,
  type PolicyJudgement,
  type PolicySetDoc,
} from '../core/policy.js';
import type { DenyAssignmentDoc, GroupMemberships, RoleAssignmentDoc, VaultDoc } from '../core/types.js';
import type { AzurePort, KeyRecord, TimeBoundAssignment } from '../azure/arm.js';
import { classifyError } from '../azure/errors.js';
import type { AtlasPort, AtlasTarget } from '../atlas/target.js';

const lower = (s: string | undefined) => (s ?? '').toLowerCase();

/** Principal types that are never groups (an assignment or deny naming one of these is not a membership). */
const NOT_GROUPS = new Set(['user', 'serviceprincipal', 'device', 'systemdefined']);

function groupsNamedBy(d: DenyAssignmentDoc): string[] {
  return [...d.principals, ...(d.excludePrincipals ?? [])]
    .filter((p) => lower(p.id) !== EVERYONE && !NOT_GROUPS.has(lower(p.type)))
    .map((p) => lower(p.id));
}

/**
 * The principal's groups as far as this scope's documents need them. Every assignment the assignedTo() listing
 * returned for someone else is a group's the principal is in. When a deny names a group not among those, the deny
 * listing filtered by assignedTo() says which denies reach the principal: a group named alone by such a deny is one
 * of its groups, and a group named only by denies that listing left out is not. Anything less certain (a deny
 * reaching it through one of several groups) leaves the list incomplete, so the evaluator says indeterminate.
 */
export async function liveGroups(
  azure: AzurePort,
  scope: string,
  principalId: string,
  assignments: RoleAssignmentDoc[],
  denies: DenyAssignmentDoc[],
): Promise<GroupMemberships> {
  const me = lower(principalId);
  const ids = new Set(assignments.filter((a) => lower(a.principalId) !== me).map((a) => lower(a.principalId)));
  const unknown = denies.flatMap(groupsNamedBy).filter((g) => !ids.has(g));
  if (unknown.length === 0) return { groupIds: [...ids], complete: true, source: 'assignedTo() role assignments' };
  if (!azure.listDenyAssignmentsFor)
    return { groupIds: [...ids], complete: false, source: 'assignedTo() role assignments' };
  const reaching = await azure.listDenyAssignmentsFor(scope, principalId);
  let complete = true;
  for (const d of reaching) {
    if (d.principals.some((p) => lower(p.id) === me || lower(p.id) === EVERYONE)) continue;
    const groups = d.principals.filter((p) => !NOT_GROUPS.has(lower(p.type))).map((p) => lower(p.id));
    if (groups.length === 1) ids.add(groups[0]);
    else if (!groups.some((g) => ids.has(g))) complete = false;
  }
  return { groupIds: [...ids], complete, source: 'assignedTo() role and deny assignments' };
}

/** The key version Atlas pins, when the key's record is not already that version (undefined: nothing to read). */
export async function readPinnedVersion(
  azure: AzurePort,
  t: AtlasTarget,
  key: KeyRecord | undefined,
): Promise<KeyRecord | undefined> {
  if (!key || !t.keyVersion || !azure.getKeyVersion) return undefined;
  // A sweep's shared Keys_List has no current version: it does not pay a read per project; judge carries the last
  // finding over and the event path (KeyNewVersionCreated, or any check) reads it again.
  if (!key.currentVersion) return undefined;
  if (lower(key.currentVersion) === lower(t.keyVersion)) return key;
  return azure.getKeyVersion(t.vaultId, t.keyName, t.keyVersion);
}

/** Whether Atlas can reach the vault; Atlas's addresses are read only for a public vault with a firewall. */
export async function judgeVaultNetwork(
  atlas: AtlasPort | undefined,
  t: AtlasTarget,
  vault: VaultDoc,
): Promise<NetworkJudgement | undefined> {
  const n = vault.network;
  if (!n) return undefined;
  const needs = needsAtlasAddresses(n, t.requirePrivateNetworking);
  if (needs && !atlas?.loadAddresses) return undefined;
  const addresses = needs ? await atlas!.loadAddresses!(t.projectId) : undefined;
  return judgeNetwork(n, t.requirePrivateNetworking, addresses);
}

/**
 * Time-bound (PIM) assignments among the principal's: read by periodic checks only (sweep, CLI), so the event path
 * keeps its budget; undefined when not read (judge then carries the last finding over).
 */
export async function readTimeBound(
  azure: AzurePort,
  scope: string,
  principalId: string,
  periodic: boolean,
): Promise<TimeBoundAssignment[] | undefined> {
  if (!periodic || !azure.listTimeBoundAssignments) return undefined;
  return azure.listTimeBoundAssignments(scope, principalId);
}

/** What the policy read found: warnings with their reasons and notes, or why it was not checked. */
export type PolicyObservation =
  { kind: 'read'; warnings: PolicyJudgement['warnings']; notes: string[] } | { kind: 'not-checked'; reason: string };

/** The set definitions the applying assignments reference, read once each (undefined: gone or not readable). */
async function readSets(
  azure: AzurePort,
  vaultId: string,
  assignments: PolicyAssignmentDoc[],
): Promise<Map<string, PolicySetDoc>> {
  const ids = [
    ...new Set(
      assignments
        .filter((a) => isPolicySetId(a.policyDefinitionId) && assignmentApplies(a, vaultId))
        .map((a) => a.policyDefinitionId.toLowerCase()),
    ),
  ];
  const sets = new Map<string, PolicySetDoc>();
  if (!azure.getPolicySetDefinition) return sets;
  const docs = await Promise.all(ids.map((id) => azure.getPolicySetDefinition!(id, vaultId)));
  docs.forEach((d, i) => d && sets.set(ids[i], d));
  return sets;
}

/** Atlas's addresses, when closing the firewall would leave a vault that needs them to be judged. */
async function addressesForPushes(
  atlas: AtlasPort | undefined,
  t: AtlasTarget,
  vault: VaultDoc,
  acting: PolicyFinding[],
): Promise<AtlasAddresses | undefined> {
  const n = vault.network;
  if (!n || !atlas?.loadAddresses) return undefined;
  const needs = acting.some((f) => {
    const after = networkAfter(f.definition.pushes, n);
    return after !== undefined && needsAtlasAddresses(after, t.requirePrivateNetworking);
  });
  return needs ? atlas.loadAddresses(t.projectId) : undefined;
}

async function judgePolicies(
  azure: AzurePort,
  atlas: AtlasPort | undefined,
  t: AtlasTarget,
  vault: VaultDoc,
): Promise<PolicyObservation> {
  const assignments = await azure.listPolicyAssignments!(t.vaultId);
  const sets = await readSets(azure, t.vaultId, assignments);
  const c = classifyPolicyAssignments(assignments, t.vaultId, sets);
  const addresses = await addressesForPushes(atlas, t, vault, c.acting);
  const model = vault.enableRbacAuthorization === true ? 'rbac' : 'accessPolicy';
  const j = judgePolicyFindings(c.acting, {
    model,
    network: vault.network,
    requirePrivateNetworking: t.requirePrivateNetworking,
    addresses,
  });
  const unread = c.unreadSets.map(
    (id) => `Policy set definition ${id} (assigned at or above the vault) was not read: its policies were not checked.`,
  );
  return { kind: 'read', warnings: j.warnings, notes: [...j.notes, ...unread] };
}

/**
 * Azure Policy assignments at or above the vault that would push RBAC or close the network: read by periodic checks
 * only (the event path keeps its budget); undefined when not read. A failed read (the identity may lack
 * `Microsoft.Authorization/policyAssignments/read`) is "not checked", never a failed check.
 */
export async function readPolicies(
  azure: AzurePort,
  atlas: AtlasPort | undefined,
  t: AtlasTarget,
  vault: VaultDoc,
  periodic: boolean,
): Promise<PolicyObservation | undefined> {
  if (!periodic || !azure.listPolicyAssignments) return undefined;
  try {
    return await judgePolicies(azure, atlas, t, vault);
  } catch (err) {
    const reason = `Azure Policy assignments were not checked: ${classifyError(err, 'arm').describe()}`;
    return { kind: 'not-checked', reason };
  }
}
