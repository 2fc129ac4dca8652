// record: from what a pass found and did to a PassResult: the outcome, the next project row and the alert to send,
// noting history as it goes. Writes nothing itself: the orchestrator writes the row, history and alert.
import { ALERT_TYPES } from '../alerts/index.js';
import type { AtlasTarget } from '../atlas/target.js';
import { classifyError, type ClassifiedError } from '../azure/errors.js';
import type { Mode, ProjectRecord, ProjectStatus } from '../state/store.js';
import {
  claimedChangers,
  isoNow,
  note,
  outcomeBase,
  type AlertDraft,
  type PassResult,
  type RecordContext,
} from './context.js';
import { statusOf, type Decision } from './decide.js';
import type { Judgement } from './judge.js';
import { registrationMemo } from './registration.js';
import type { ActionRecord, Outcome, PlannedAction } from './types.js';

/** What every result after a judgement shares. */
export interface Judged {
  ctx: RecordContext;
  t: AtlasTarget;
  j: Judgement;
  mode: Mode;
  /** When the change happened, as far as the loop can vouch (see changeTime); undefined without an event. */
  changedAt?: string;
}

/**
 * The event's claimed time, bounded by what the loop itself observed: not before the last check that found the
 * project healthy, not after this detection. A forged or skewed eventTime cannot stretch or invert time to restore.
 */
export function changeTime(
  eventTime: string | undefined,
  row: Pick<ProjectRecord, 'status' | 'lastCheck'>,
  detectedAt: number,
): string | undefined {
  const claimed = eventTime ? Date.parse(eventTime) : NaN;
  if (!Number.isFinite(claimed)) return undefined;
  const lastGood = row.status === 'healthy' || row.status === 'restored' ? Date.parse(row.lastCheck ?? '') : NaN;
  const lower = Number.isFinite(lastGood) ? lastGood : -Infinity;
  return new Date(Math.min(detectedAt, Math.max(lower, claimed))).toISOString();
}

function flipText(j: Judgement): string | undefined {
  return j.modelFlip ? `${j.modelFlip.from}->${j.modelFlip.to}` : undefined;
}

function rowBase(c: Judged, r: ProjectRecord, status: ProjectStatus): ProjectRecord {
  const now = isoNow(c.ctx);
  return {
    ...r,
    status,
    verdict: c.j.verdict.verdict,
    missing: c.j.verdict.missing,
    flags: c.j.flags,
    model: c.j.verdict.model,
    vaultId: c.t.vaultId,
    keyName: c.t.keyName,
    principalId: c.t.principalObjectId,
    atlasRole: registrationMemo(c.t, r, now),
    lastCheck: now,
    lastChange: r.status !== status ? now : r.lastChange,
    lastError: '',
  };
}

/** A completed check: the row's verdict fields, the counter and the outcome kind. */
function checked(c: Judged, status: ProjectStatus, lastOutcome: string, more: Partial<ProjectRecord> = {}) {
  return (r: ProjectRecord): ProjectRecord => ({
    ...rowBase(c, r, status),
    checks: r.checks + 1,
    lastOutcome,
    ...more,
  });
}

function alertBase(c: Judged): Omit<AlertDraft, 'type' | 'severity' | 'action'> {
  return {
    projectId: c.ctx.projectId,
    vaultId: c.t.vaultId,
    keyName: c.t.keyName,
    principalId: c.t.principalObjectId,
    missing: c.j.drifted,
    changedBy: claimedChangers(c.ctx.trigger),
    flags: c.j.flags,
  };
}

function summary(j: Judgement) {
  const v = j.verdict;
  return {
    verdict: v.verdict,
    model: v.model,
    missing: v.missing,
    missingRecommended: v.missingRecommended,
    indeterminate: v.indeterminate,
    flags: j.flags,
  };
}

function common(c: Judged) {
  return { verdict: c.j.verdict, flags: c.j.flags };
}

/** The reason an alert gives for a missing standby half (access itself is intact). */
const REDUNDANCY =
  "standby grant missing: Atlas's access is intact through the other assignment, but a removal of that one would now lapse it until a new grant propagates (up to 10 minutes)";

/** Alerts go nowhere in observe mode: it only records. */
function unlessObserving(mode: Mode, a: AlertDraft): AlertDraft | undefined {
  return mode === 'observe' ? undefined : a;
}

// ---------------------------------------------------------------------------------------------------------------
// Results without a judgement: a check that could not complete, a target that is not watched, a principal mismatch

export function failureResult(
  ctx: RecordContext,
  row: ProjectRecord,
  mode: Mode,
  err: unknown,
  where: string,
  t?: AtlasTarget,
): PassResult {
  const c = classifyError(err, where === 'atlas' ? 'atlas' : 'arm');
  const reason = `${where}: ${c.describe()}`;
  note(ctx, 'error', reason, { kind: c.kind, status: c.status, code: c.code });
  const outcome: Outcome =
    c.status === 429
      ? { ...outcomeBase(ctx, 'failing'), kind: 'retry', afterMs: c.retryAfterMs ?? 30_000, reason }
      : { ...outcomeBase(ctx, 'failing'), kind: 'failed', reason, transient: c.transient, code: c.code };
  return {
    outcome,
    update: (r) => ({
      ...r,
      status: 'failing',
      failures: r.failures + 1,
      lastError: reason,
      lastCheck: isoNow(ctx),
      lastOutcome: outcome.kind,
    }),
    alert: unlessObserving(mode, {
      type: ALERT_TYPES.CheckFailing,
      severity: 'warning',
      projectId: ctx.projectId,
      vaultId: t?.vaultId ?? row.vaultId,
      keyName: t?.keyName ?? row.keyName,
      principalId: t?.principalObjectId ?? row.principalId,
      missing: row.missing,
      action: 'none: the check could not complete; the last known verdict is kept and not treated as healthy',
      reason,
      flags: [],
    }),
  };
}

export function unsupportedResult(ctx: RecordContext, reason: string): PassResult {
  note(ctx, 'check', `not watched: ${reason}`);
  return {
    outcome: { ...outcomeBase(ctx, 'unsupported'), kind: 'skipped', reason },
    update: (r) => ({
      ...r,
      status: 'unsupported',
      lastCheck: isoNow(ctx),
      lastError: reason,
      lastOutcome: 'skipped',
    }),
  };
}

/** Principal substitution: a registration for another principal (or another app) gets nothing, and an alert. */
export function principalMismatchResult(
  ctx: RecordContext,
  row: ProjectRecord,
  mode: Mode,
  reason: string,
  t?: AtlasTarget,
): PassResult {
  note(ctx, 'detection', `principal mismatch: ${reason}`, { reported: t?.principalObjectId, trusted: row.principalId });
  const flags = ['principal-mismatch'];
  return {
    outcome: {
      ...outcomeBase(ctx, 'failing', { flags }),
      kind: 'failed',
      reason,
      transient: false,
      code: 'PrincipalMismatch',
    },
    // The trusted principal stays recorded; only the status and the error change.
    update: (r) => ({
      ...r,
      status: 'failing',
      flags,
      checks: r.checks + 1,
      failures: r.failures + 1,
      lastError: reason,
      lastCheck: isoNow(ctx),
      lastChange: r.status !== 'failing' ? isoNow(ctx) : r.lastChange,
      lastOutcome: 'failed',
    }),
    alert: unlessObserving(mode, {
      type: ALERT_TYPES.PrincipalMismatch,
      severity: 'critical',
      projectId: ctx.projectId,
      vaultId: t?.vaultId ?? row.vaultId,
      keyName: t?.keyName ?? row.keyName,
      principalId: t?.principalObjectId,
      missing: [],
      changedBy: claimedChangers(ctx.trigger),
      action: 'nothing granted: the principal Atlas names is not the trusted Atlas service principal',
      reason,
      flags,
    }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Results of a decision that writes nothing to Azure

type DecisionOf<K extends Decision['kind']> = Extract<Decision, { kind: K }>;
type ResultFor = { [K in Decision['kind']]: (c: Judged, d: DecisionOf<K>) => PassResult };

/** Notes what the judgement found: a check when access is granted, a detection otherwise. */
export function noteJudgement(c: Judged, d: Decision): void {
  const v = c.j.verdict;
  if (d.kind === 'converged' || d.kind === 'alert-only') {
    const flags = c.j.flags.length ? ` (flags: ${c.j.flags.join(', ')})` : '';
    note(c.ctx, 'check', `access granted${flags}`, summary(c.j));
    return;
  }
  if (d.kind === 'indeterminate') {
    note(c.ctx, 'detection', d.reason, summary(c.j));
    return;
  }
  const flip = flipText(c.j) ? `; vault permission model flipped (${flipText(c.j)})` : '';
  // The event time (when the change happened) starts the status page's time to restore.
  note(c.ctx, 'detection', `missing ${c.j.drifted.join(', ')} (${v.model})${flip}`, {
    ...summary(c.j),
    eventTime: c.changedAt,
  });
}

const RESULTS: Omit<ResultFor, 'restore'> = {
  converged: (c, d) => ({
    outcome: { ...outcomeBase(c.ctx, d.status, common(c)), kind: 'converged' },
    update: checked(c, d.status, 'converged'),
  }),
  'alert-only': (c, d) => ({
    outcome: { ...outcomeBase(c.ctx, d.status, common(c)), kind: 'alerted', reason: d.reason },
    update: checked(c, d.status, 'alerted'),
    alert: {
      ...alertBase(c),
      type: ALERT_TYPES.CheckFailing,
      severity: d.critical ? 'critical' : 'warning',
      action: 'alert only: nothing to restore on the permissions side',
      reason: d.reason,
    },
  }),
  indeterminate: (c, d) => {
    const kind = c.mode === 'observe' ? 'skipped' : 'alerted';
    return {
      outcome: { ...outcomeBase(c.ctx, 'drifted', common(c)), kind, reason: d.reason },
      update: checked(c, 'drifted', kind),
      alert: unlessObserving(c.mode, {
        ...alertBase(c),
        missing: c.j.verdict.indeterminate,
        type: ALERT_TYPES.AccessDrifted,
        severity: 'warning',
        action: 'alert only: indeterminate verdict',
        reason: d.reason,
      }),
    };
  },
  'revoked-intent': (c, d) => ({
    outcome: { ...outcomeBase(c.ctx, 'revoked', common(c)), kind: 'skipped', reason: d.reason },
    update: checked(c, 'revoked', 'skipped'),
    alert: unlessObserving(c.mode, {
      ...alertBase(c),
      type: ALERT_TYPES.RevokedByIntent,
      severity: 'info',
      action: 'not restored: deliberate revocation',
      reason: d.reason,
    }),
  }),
  'revoked-by-claim': (c, d) => {
    note(c.ctx, 'intent', d.reason, { actor: d.by });
    return {
      outcome: { ...outcomeBase(c.ctx, 'revoked', common(c)), kind: 'skipped', reason: d.reason },
      update: checked(c, 'revoked', 'skipped', {
        intent: 'revoked',
        intentBy: d.by,
        intentReason: `removal by allow-listed actor (${d.operation ?? 'change'})`,
        intentAt: isoNow(c.ctx),
        revocationClaim: undefined,
      }),
      alert: unlessObserving(c.mode, {
        ...alertBase(c),
        changedBy: d.by,
        type: ALERT_TYPES.RevokedByIntent,
        severity: 'info',
        action: 'not restored: deliberate revocation by an allow-listed actor',
        reason: d.reason,
      }),
    };
  },
  'observe-drift': (c, d) => {
    const reason = 'mode observe: drift recorded only';
    return {
      outcome: { ...outcomeBase(c.ctx, statusOf(d), common(c)), kind: 'skipped', reason },
      update: checked(c, statusOf(d), 'skipped'),
    };
  },
  'alert-drift': (c, d) => ({
    outcome: { ...outcomeBase(c.ctx, statusOf(d), common(c)), kind: 'alerted', reason: 'mode alert: not restored' },
    update: checked(c, statusOf(d), 'alerted'),
    alert: {
      ...alertBase(c),
      type: ALERT_TYPES.AccessDrifted,
      severity: d.redundancy ? 'warning' : 'critical',
      action: 'alert only (mode alert)',
      reason: d.redundancy
        ? REDUNDANCY
        : flipText(c.j)
          ? `vault permission model flipped (${flipText(c.j)})`
          : undefined,
    },
  }),
  flapping: (c, d) => {
    note(c.ctx, 'detection', d.reason);
    return {
      outcome: { ...outcomeBase(c.ctx, 'escalated', common(c)), kind: 'alerted', reason: d.reason },
      update: checked(c, 'escalated', 'alerted', { restoreTimes: d.recent }),
      alert: {
        ...alertBase(c),
        type: ALERT_TYPES.RestoreFailed,
        severity: 'critical',
        action: 'not restored: flapping guard stopped automatic restores; a human must look',
        reason: d.reason,
      },
    };
  },
  blocked: (c, d) => {
    note(c.ctx, 'plan', `cannot restore: ${d.reason}`);
    return {
      outcome: { ...outcomeBase(c.ctx, 'failing', common(c)), kind: 'failed', reason: d.reason, transient: false },
      update: (r) => ({ ...checked(c, 'failing', 'failed')(r), failures: r.failures + 1, lastError: d.reason }),
      alert: {
        ...alertBase(c),
        type: ALERT_TYPES.RestoreFailed,
        severity: 'critical',
        action: 'not restored',
        reason: d.reason,
      },
    };
  },
  'dry-run': (c, d) => {
    notePlan(c, d.plan, true);
    const status = statusOf(d);
    return {
      outcome: { ...outcomeBase(c.ctx, status, { ...common(c), plan: d.plan }), kind: 'skipped', reason: d.reason },
      update: checked(c, status, 'skipped'),
      alert: {
        ...alertBase(c),
        type: ALERT_TYPES.AccessDrifted,
        severity: d.redundancy ? 'warning' : 'critical',
        action: `dry-run: would ${d.plan.map((p) => p.description).join('; ')}`,
        reason: d.reason,
      },
    };
  },
};

export function notePlan(c: Judged, plan: PlannedAction[], dryRun: boolean): void {
  note(c.ctx, 'plan', plan.map((p) => p.description).join('; '), { plan, dryRun });
}

/** The result of a decision that needs no write (everything but `restore`). */
export function decisionResult(c: Judged, d: Exclude<Decision, { kind: 'restore' }>): PassResult {
  const make = RESULTS[d.kind] as (c: Judged, d: Decision) => PassResult;
  return make(c, d);
}

// ---------------------------------------------------------------------------------------------------------------
// Results of a restore: an action failed, verification failed, or verified

function actionText(actions: ActionRecord[]): string {
  const done = actions.filter((a) => a.result !== 'failed').map((a) => a.description);
  return done.length ? done.join('; ') : 'nothing';
}

export function actFailedResult(
  c: Judged,
  d: DecisionOf<'restore'>,
  actions: ActionRecord[],
  errors: ClassifiedError[],
): PassResult {
  const failed = actions.filter((a) => a.result === 'failed');
  const reason = `restore failed: ${failed.map((a) => `${a.description}: ${a.error}`).join('; ')}`;
  const extra = { ...common(c), plan: d.plan, actions };
  const throttled = errors.find((e) => e.status === 429);
  const outcome: Outcome = throttled
    ? { ...outcomeBase(c.ctx, 'failing', extra), kind: 'retry', afterMs: throttled.retryAfterMs ?? 30_000, reason }
    : {
        ...outcomeBase(c.ctx, 'failing', extra),
        kind: 'failed',
        reason,
        transient: errors.every((e) => e.transient),
        code: errors[0]?.code,
      };
  return {
    outcome,
    update: (r) => ({
      ...rowBase(c, r, 'failing'),
      checks: r.checks + 1,
      failures: r.failures + 1,
      lastError: reason,
      lastOutcome: outcome.kind,
    }),
    alert: {
      ...alertBase(c),
      type: ALERT_TYPES.RestoreFailed,
      severity: 'critical',
      action: `attempted: ${d.plan.map((p) => p.description).join('; ')}; done: ${actionText(actions)}`,
      reason,
    },
  };
}

/** After the restore, what verification read: still drifted (failed) or restored. */
export function verifiedResult(
  c: Judged,
  d: DecisionOf<'restore'>,
  actions: ActionRecord[],
  after: Judgement,
): PassResult {
  const v = after.verdict;
  const restoredAt = isoNow(c.ctx);
  const extra = { ...common(c), plan: d.plan, actions };
  if (v.verdict !== 'granted' || (c.j.readerDrift && after.readerDrift) || after.redundancyDrift) {
    const still = v.verdict === 'granted' ? after.drifted : v.missing.length ? v.missing : v.indeterminate;
    const reason = `verification: still ${v.verdict} after restore (missing ${still.join(', ')})`;
    return {
      outcome: { ...outcomeBase(c.ctx, 'failing', extra), kind: 'failed', reason, transient: true },
      update: (r) => ({
        ...rowBase(c, r, 'failing'),
        checks: r.checks + 1,
        failures: r.failures + 1,
        restoreTimes: [...d.recent, restoredAt],
        lastError: reason,
        lastOutcome: 'failed',
      }),
      alert: {
        ...alertBase(c),
        type: ALERT_TYPES.RestoreFailed,
        severity: 'critical',
        action: actionText(actions),
        reason,
      },
    };
  }
  const flip = flipText(c.j);
  const flipNote = flip
    ? ` The vault's permission model changed (${flip}); it is the owner's choice and was left as is, so the access was restored in the new model.`
    : '';
  return {
    outcome: { ...outcomeBase(c.ctx, 'restored', extra), kind: 'restored' },
    update: (r) => ({
      ...rowBase(c, r, 'restored'),
      // The row describes the verified state, not the drift that was just repaired.
      verdict: v.verdict,
      missing: v.missing,
      checks: r.checks + 1,
      restores: r.restores + 1,
      restoreTimes: [...d.recent, restoredAt],
      lastOutcome: 'restored',
    }),
    alert: {
      ...alertBase(c),
      type: ALERT_TYPES.AccessRestored,
      severity: 'warning',
      action: `restored: ${actionText(actions)}.${flipNote}`,
      reason: flip ? `vault permission model flipped (${flip})` : undefined,
    },
  };
}
