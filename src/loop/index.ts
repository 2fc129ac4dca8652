// The reconcile loop's public face: what the triggers, the sweep, the CLI and the tests use.
export { act, assertPlanAllowed, type ActResult } from './act.js';
export { ALERTABLE, alertSignature, alertToSend } from './alerting.js';
export { allowListedActor, clearStaleClaim, recordRevocationClaims, type ClaimSource } from './claims.js';
export type { AlertDraft, PassResult } from './context.js';
export { decide, statusOf, type Decision, type DecisionInput, type DecisionRow } from './decide.js';
export { applyRestorePlan, inspectTarget, type Inspection } from './inspect.js';
export { setIntent } from './intent.js';
export { judge, type BlockingFlag, type Judgement, type ModelFlip, type Observation } from './judge.js';
export { driftCause, mergeOutcomes } from './metrics.js';
export { observe, requirementOf } from './observe.js';
export { planRestore, roleName, type RestorePlan } from './plan.js';
export { reconcileProject } from './reconcile.js';
export {
  DEFAULT_POLICY,
  RESTORABLE_ROLES,
  TargetCache,
  isCheckFailure,
  isTransientOutcome,
  type ActionRecord,
  type Logger,
  type Outcome,
  type OutcomeBase,
  type OutcomeKind,
  type PlannedAction,
  type ReconcileDeps,
  type ReconcilePolicy,
  type Trigger,
  type TriggerActor,
} from './types.js';
