// The reconcile metrics, from the outcome: one reconcile, the drift it found, the restore it made.
import { recordDrift, recordReconcile, recordRestore } from '../observability/telemetry.js';
import type { Outcome, Trigger } from './types.js';

/** What drifted, for the drift metric (low cardinality); undefined when nothing did. */
export function driftCause(o: Outcome, trigger: Pick<Trigger, 'operationName'> = {}): string | undefined {
  if (o.verdict?.verdict === 'missing') {
    if (o.flags.some((f) => f.startsWith('model-flipped'))) return 'model-flipped';
    const op = (trigger.operationName ?? '').toLowerCase();
    if (op.includes('roleassignments/delete')) return 'role-assignment-deleted';
    if (op.includes('accesspolicies') || op.includes('microsoft.keyvault/vaults/write')) return 'access-policy-removed';
    return o.verdict.model === 'rbac' ? 'role-assignment-missing' : 'access-policy-missing';
  }
  const key = o.flags.find((f) => f === 'key-disabled' || f === 'key-expired' || f === 'key-not-found');
  // A lost standby half (EAR_GUARD_STANDBY_GRANT): access intact, one assignment of the pair gone.
  return key ?? (o.flags.some((f) => f.startsWith('standby-missing:')) ? 'standby-missing' : undefined);
}

export function recordOutcome(o: Outcome, trigger: Trigger, durationSeconds: number): void {
  recordReconcile(o.kind, { trigger: trigger.kind, durationSeconds });
  const cause = driftCause(o, trigger);
  // Counted per reconcile that finds it: a drift left in place (modes observe/alert) counts at every check.
  if (cause) recordDrift(cause, { model: o.verdict?.model });
  if (o.actions.length) {
    const kind = o.actions[0]!.kind === 'roleAssignment' ? 'rbac' : 'accessPolicy';
    const result =
      o.kind === 'restored' ? 'verified' : o.actions.some((a) => a.result === 'failed') ? 'failed' : 'unverified';
    recordRestore(kind, result, { trigger: trigger.kind });
  }
}

/** Passes of one lease: a re-check that finds everything in place does not hide the restore that made it so. */
export function mergeOutcomes(first: Outcome, later: Outcome): Outcome {
  if (first.kind === 'restored' && later.kind === 'converged') {
    return { ...first, status: later.status, alerts: [...first.alerts, ...later.alerts] };
  }
  return { ...later, alerts: [...first.alerts, ...later.alerts] };
}
