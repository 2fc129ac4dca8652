// observe: the reads. Desired state from Atlas (cached briefly: Atlas is rate-limited) and actual state from ARM
// (vault, the principal's assignments, deny assignments, the key, then the role definitions in use), judged by the
// pure evaluator. A missing key is a finding, not a failed observation.
import { evaluate } from '../core/evaluate.js';
import { keyScope } from '../core/scopes.js';
import type { ObservedDocuments, Requirement } from '../core/types.js';
import type { AzurePort, KeyRecord } from '../azure/arm.js';
import { classifyError } from '../azure/errors.js';
import type { AtlasPort, AtlasTarget, TargetResult } from '../atlas/target.js';
import type { ProjectRecord } from '../state/store.js';
import type { PassContext } from './context.js';
import type { Observation } from './judge.js';
import { knownRegistration } from './registration.js';
import { judgeVaultNetwork, liveGroups, readPinnedVersion, readPolicies, readTimeBound } from './observeLive.js';

function asReused(r: TargetResult): TargetResult {
  const reg = r.kind === 'target' ? r.target.registration : undefined;
  if (r.kind !== 'target' || !reg || reg.reused) return r;
  return { kind: 'target', target: { ...r.target, registration: { ...reg, reused: true } } };
}

export async function loadTarget(ctx: PassContext, row: ProjectRecord): Promise<TargetResult> {
  const { deps } = ctx;
  const cached = deps.targetCache?.get(ctx.projectId, ctx.now());
  // A target from the cache read its registration earlier, not now: the row's memo keeps its read time.
  if (cached) return asReused(cached);
  const t = await deps.atlas.loadTarget(ctx.projectId, knownRegistration(row, deps.policy, ctx.now()));
  if (t.kind === 'target' && deps.policy.targetCacheMs > 0) {
    deps.targetCache?.set(ctx.projectId, t, ctx.now() + deps.policy.targetCacheMs);
  }
  return t;
}

export function requirementOf(t: AtlasTarget): Requirement {
  return {
    principalId: t.principalObjectId,
    key: { vaultId: t.vaultId, keyName: t.keyName },
    recommendReaderOnVault: true,
  };
}

/** The key, or undefined when ARM answers 404 (any other error fails the observation). */
async function readKey(azure: AzurePort, t: AtlasTarget): Promise<KeyRecord | undefined> {
  try {
    return await azure.getKey(t.vaultId, t.keyName);
  } catch (e) {
    const c = classifyError(e, 'arm');
    if (c.status === 404) return undefined;
    throw c;
  }
}

/** Reads everything the verdict needs, in parallel. */
export async function observe(
  azure: AzurePort,
  t: AtlasTarget,
  atlas?: AtlasPort,
  opts: { periodic?: boolean } = {},
): Promise<Observation> {
  const kScope = keyScope(t.vaultId, t.keyName);
  const [vault, roleAssignments, denyAssignments, key] = await Promise.all([
    azure.getVault(t.vaultId),
    azure.listPrincipalAssignments(kScope, t.principalObjectId),
    azure.listDenyAssignments(kScope),
    readKey(azure, t),
  ]);
  // Live-path knowledge (observeLive.ts): groups, the pinned key version, the network; each read only when needed.
  const periodic = opts.periodic === true;
  const [roleDefinitions, principalGroups, pinnedKey, network, timeBound, policy] = await Promise.all([
    azure.getRoleDefinitions(roleAssignments.map((a) => a.roleDefinitionId)),
    liveGroups(azure, kScope, t.principalObjectId, roleAssignments, denyAssignments),
    readPinnedVersion(azure, t, key),
    judgeVaultNetwork(atlas, t, vault),
    readTimeBound(azure, kScope, t.principalObjectId, periodic),
    readPolicies(azure, atlas, t, vault, periodic),
  ]);
  const docs: ObservedDocuments = {
    vault,
    roleAssignments,
    roleDefinitions,
    denyAssignments,
    principalGroups,
    // ARM listed the assignments for the key's scope: those at and above it, management groups included.
    ancestry: { listedByArmForKeyScope: true },
  };
  const judged = evaluate(requirementOf(t), docs);
  // What the policy read found (or why it did not) is said in the verdict's notes, as the evaluator's own gaps are.
  const policyNotes = !policy
    ? []
    : policy.kind === 'read'
      ? [...policy.warnings.map((w) => `Warning ${w.flag}: ${w.reason}.`), ...policy.notes]
      : [`${policy.reason}.`];
  const verdict = policyNotes.length ? { ...judged, notes: [...judged.notes, ...policyNotes] } : judged;
  return { docs, key, keyMissing: key === undefined, verdict, pinnedKey, network, timeBound, policy };
}
