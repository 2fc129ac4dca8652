// The loop's own steps for callers without a project row or a lease (the CLI's check, preflight and migrate):
// observe + judge for one target, and act on a plan, with the same guards.
import type { AtlasPort, AtlasTarget } from '../atlas/target.js';
import type { AzurePort, KeyRecord } from '../azure/arm.js';
import type { ObservedDocuments, Verdict } from '../core/types.js';
import type { StateStore } from '../state/store.js';
import { act } from './act.js';
import { judge } from './judge.js';
import { observe } from './observe.js';
import { DEFAULT_POLICY, type ActionRecord, type PlannedAction, type ReconcilePolicy } from './types.js';

/** What the loop observes for one target, judged: verdict, key record and flags. Reads only; writes nothing. */
export interface Inspection {
  verdict: Verdict;
  docs: ObservedDocuments;
  key?: KeyRecord;
  /** Set when the key GET answered 404 (the `key-not-found` flag). */
  keyError?: string;
  flags: string[];
}

/** The loop's observe + judge for one target (no lease, no state, no alert). */
export async function inspectTarget(
  t: AtlasTarget,
  deps: { azure: AzurePort; atlas?: AtlasPort; policy?: Pick<ReconcilePolicy, 'nearExpiryMs'>; now?: () => number },
  lastModel?: string,
): Promise<Inspection> {
  const obs = await observe(deps.azure, t, deps.atlas, { periodic: true });
  const policy = { ...DEFAULT_POLICY, ...deps.policy };
  const j = judge(t, obs, { model: lastModel }, policy, (deps.now ?? Date.now)());
  return {
    verdict: obs.verdict,
    docs: obs.docs,
    key: obs.key,
    keyError: obs.keyMissing ? `key ${t.keyName} not found in ${t.vaultId}` : undefined,
    flags: j.flags,
  };
}

/**
 * Applies a plan from planRestore with the loop's own act step (same guards: only the target's principal, only
 * restorable roles). `state`, when given, indexes created assignments as the loop does.
 */
export async function applyRestorePlan(
  t: AtlasTarget,
  plan: PlannedAction[],
  deps: { azure: AzurePort; state?: Pick<StateStore, 'indexAssignment'> },
): Promise<ActionRecord[]> {
  return (await act(t, plan, deps)).actions;
}
