// decide: pure. The loop's guards as one table: from a Judgement, the project row and the policy to a Decision.
// Every row of the table is tested in test/unit/loop-decide.test.ts without a sandbox or a state store.
import type { AtlasTarget } from '../atlas/target.js';
import type { Mode, ProjectRecord, ProjectStatus } from '../state/store.js';
import type { Judgement } from './judge.js';
import { planRestore } from './plan.js';
import type { PlannedAction, ReconcilePolicy } from './types.js';

export type Decision =
  /** Access granted; nothing to alert on. */
  | { kind: 'converged'; status: 'healthy' | 'degraded' }
  /** Access granted, but the key (or Atlas) is about to fail or failing: alert, nothing to restore. */
  | { kind: 'alert-only'; status: 'degraded'; reason: string; critical: boolean }
  /** Some required permission cannot be judged offline: never written, alerted unless observing. */
  | { kind: 'indeterminate'; reason: string }
  /** Drift, but intent is revoked: a deliberate revocation is never restored. */
  | { kind: 'revoked-intent'; reason: string }
  /** Drift, and an allow-listed actor's change was recorded for this project: it becomes intent revoked. */
  | { kind: 'revoked-by-claim'; by: string; operation?: string; reason: string }
  /** `redundancy`: access is intact and only a standby half is missing (status degraded, a warning). */
  | { kind: 'observe-drift'; redundancy?: true }
  | { kind: 'alert-drift'; redundancy?: true }
  /** Too many restores in the window: stop and escalate. */
  | { kind: 'flapping'; reason: string; recent: string[] }
  /** Nothing can be written (deny assignment, unrestorable role, empty plan). */
  | { kind: 'blocked'; reason: string }
  | { kind: 'dry-run'; plan: PlannedAction[]; reason: string; redundancy?: true }
  | { kind: 'restore'; plan: PlannedAction[]; recent: string[] };

export type DecisionRow = Pick<
  ProjectRecord,
  'intent' | 'intentBy' | 'intentReason' | 'restoreTimes' | 'restoreScope' | 'roles' | 'revocationClaim'
>;

export interface DecisionInput {
  judgement: Judgement;
  row: DecisionRow;
  mode: Mode;
  policy: Pick<ReconcilePolicy, 'maxRestores' | 'flapWindowMs' | 'dryRun' | 'restoreScope' | 'roles' | 'standbyGrant'>;
  target: AtlasTarget;
  vaultTenantId: string;
  now: number;
}

/** The status a decision records on the row. */
export function statusOf(d: Decision): ProjectStatus {
  switch (d.kind) {
    case 'converged':
    case 'alert-only':
      return d.status;
    case 'revoked-intent':
    case 'revoked-by-claim':
      return 'revoked';
    case 'flapping':
      return 'escalated';
    case 'blocked':
      return 'failing';
    case 'restore':
      return 'restored';
    case 'observe-drift':
    case 'alert-drift':
    case 'dry-run':
      // A missing standby half leaves Atlas's access intact: degraded, not drifted.
      return d.redundancy ? 'degraded' : 'drifted';
    default:
      return 'drifted';
  }
}

/** The reasons the judgement gave for its flags (firewall, pinned version), appended to an alert's reason. */
function why(j: Judgement, flags: readonly string[]): string {
  const r = flags.map((f) => j.reasons?.[f]).filter(Boolean);
  return r.length ? ` (${r.join('; ')})` : '';
}

function decideGranted(j: Judgement, mode: Mode): Decision {
  const warnings = j.warnings ?? [];
  const status = j.blocking.length || j.nearExpiry || warnings.length ? 'degraded' : 'healthy';
  if (status === 'healthy' || mode === 'observe') return { kind: 'converged', status };
  const soon = [...(j.nearExpiry ? ['the key is near expiry'] : []), ...warnings];
  const reason = j.blocking.length
    ? `permissions are intact but ${j.blocking.join(', ')}: Atlas will fail its next KMS validation${why(j, j.blocking)}`
    : `${soon.join(', ')}: Atlas will fail when it does${why(j, warnings)}`;
  return { kind: 'alert-only', status: 'degraded', reason, critical: j.blocking.length > 0 };
}

function intentReason(row: DecisionRow): string {
  const why = row.intentReason ? `: ${row.intentReason}` : '';
  const by = row.intentBy ? ` (set by ${row.intentBy}${why})` : '';
  return `intent is revoked${by}: not restored`;
}

function decideRemediation(input: DecisionInput): Decision {
  const { judgement: j, row, policy, now } = input;
  const recent = row.restoreTimes.filter((s) => Date.parse(s) > now - policy.flapWindowMs);
  if (recent.length >= policy.maxRestores) {
    const minutes = Math.round(policy.flapWindowMs / 60_000);
    const reason = `flapping: ${recent.length} restores within ${minutes} min (limit ${policy.maxRestores}); restoring stopped, escalated`;
    return { kind: 'flapping', reason, recent };
  }
  const { plan, blocked } = planRestore(input.target, j.verdict, input.vaultTenantId, {
    restoreScope: row.restoreScope ?? policy.restoreScope,
    roles: row.roles ?? policy.roles,
    standby: j.standbyGaps,
  });
  if (blocked.length) return { kind: 'blocked', reason: blocked.join('; ') };
  if (!plan.length) return { kind: 'blocked', reason: 'nothing restorable in the plan' };
  if (policy.dryRun) {
    const reason = `dry-run: planned ${plan.map((p) => p.description).join('; ')}; nothing written`;
    return { kind: 'dry-run', plan, reason, ...redundancy(j) };
  }
  return { kind: 'restore', plan, recent };
}

/** Only a standby half is missing (Reader intact): marks the drift decisions as the non-blocking kind. */
function redundancy(j: Judgement): { redundancy?: true } {
  return j.redundancyDrift && !j.readerDrift ? { redundancy: true } : {};
}

/**
 * The decision table. Order matters and is the guard order: intent, allow-listed claim, mode, flapping, plan. A
 * missing standby half (access still granted) goes through the same guards as drift: a claimed or intended
 * revocation wins, and nothing is re-added for it.
 */
export function decide(input: DecisionInput): Decision {
  const { judgement: j, row, mode } = input;
  const v = j.verdict;
  if (v.verdict === 'granted' && !j.readerDrift && !j.redundancyDrift) return decideGranted(j, mode);
  if (v.verdict === 'indeterminate') {
    const reason = `cannot judge ${v.indeterminate.join(', ')} offline (conditional or possibly denied grants); nothing written`;
    return { kind: 'indeterminate', reason };
  }
  if (row.intent === 'revoked') return { kind: 'revoked-intent', reason: intentReason(row) };
  const claim = row.revocationClaim;
  if (claim) {
    const reason = `removed by allow-listed actor ${claim.by}: taken as a deliberate revocation (intent set to revoked)`;
    return { kind: 'revoked-by-claim', by: claim.by, operation: claim.operation, reason };
  }
  if (mode === 'observe') return { kind: 'observe-drift', ...redundancy(j) };
  if (mode === 'alert') return { kind: 'alert-drift', ...redundancy(j) };
  return decideRemediation(input);
}
