// The live path's extra knowledge, read only when it matters so a healthy check stays at its ARM budget:
// - groups: the assignedTo() listing already holds the assignments of the principal's groups, so every group in it
//   is one the principal is in (no extra read); a deny naming another group costs one assignedTo() deny listing;
// - the key version Atlas pins, when it is not the current one (one Keys_GetVersion);
// - Atlas's published addresses, when the vault has a firewall (Atlas reads, cached; no ARM read).
import { EVERYONE } from '../core/evaluate.js';
import { judgeNetwork, needsAtlasAddresses, type NetworkJudgement } from '../core/network.js';
import type { DenyAssignmentDoc, GroupMemberships, RoleAssignmentDoc, VaultDoc } from '../core/types.js';
import type { AzurePort, KeyRecord, TimeBoundAssignment } from '../azure/arm.js';
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
