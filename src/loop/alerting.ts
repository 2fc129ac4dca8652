// Alerts go out on transitions: when the state an alert describes is new (a restore always), never twice for the
// same state, and a check that could not complete only after EAR_GUARD_CHECK_FAILING_AFTER failures in a row.
import { ALERT_TYPES, type Alert, type AlertType } from '../alerts/index.js';
import type { Mode, ProjectRecord, ProjectStatus } from '../state/store.js';
import { isoNow, note, type PassContext, type PassResult } from './context.js';
import { isCheckFailure } from './types.js';

export const ALERTABLE: ReadonlySet<ProjectStatus> = new Set([
  'drifted',
  'degraded',
  'failing',
  'revoked',
  'escalated',
]);

export function alertSignature(status: ProjectStatus, missing: string[], flags: string[]): string {
  return `${status}|${[...missing].sort().join(',')}|${[...flags].sort().join(',')}`;
}

export interface AlertDecision {
  sent: AlertType[];
  /** The signature to record when an alert went out. */
  signature?: string;
}

/** Whether the pass's alert is news (pure): its signature, or why it is held back. */
export function alertToSend(
  row: Pick<ProjectRecord, 'alertSignature' | 'consecutiveFailures'>,
  res: PassResult,
  mode: Mode,
  checkFailingAfter: number,
): { send: false; heldBack?: string } | { send: true; signature: string } {
  if (!res.alert || mode === 'observe') return { send: false };
  const sig = alertSignature(res.outcome.status, res.alert.missing, res.outcome.flags);
  const isRestore = res.alert.type === ALERT_TYPES.AccessRestored;
  if (!isRestore && (!ALERTABLE.has(res.outcome.status) || row.alertSignature === sig)) return { send: false };
  const failures = (row.consecutiveFailures ?? 0) + 1;
  if (res.alert.type === ALERT_TYPES.CheckFailing && isCheckFailure(res.outcome) && failures < checkFailingAfter) {
    return {
      send: false,
      heldBack: `check failed ${failures} time(s) in a row; CheckFailing waits for ${checkFailingAfter}`,
    };
  }
  return { send: true, signature: sig };
}

/** Sends the alert when it is news, and notes it (or why it was held back) in history. */
export async function maybeAlert(
  ctx: PassContext,
  row: ProjectRecord,
  res: PassResult,
  mode: Mode,
): Promise<AlertDecision> {
  const d = alertToSend(row, res, mode, ctx.deps.policy.checkFailingAfter ?? 2);
  if (!d.send) {
    if (d.heldBack) note(ctx, 'check', d.heldBack);
    return { sent: [] };
  }
  const alert: Alert = {
    ...res.alert!,
    trigger: ctx.trigger.kind,
    eventId: ctx.trigger.eventId,
    correlationId: ctx.correlationId,
    at: isoNow(ctx),
  };
  const pub = await ctx.deps.alerts.publish(alert);
  const failed = pub.failed.map((f) => `${f.sink} (${f.error.describe()})`).join(', ');
  note(ctx, 'alert', `${alert.type} -> ${pub.sent.join(', ') || 'no sink'}${failed ? `; failed: ${failed}` : ''}`, {
    type: alert.type,
    action: alert.action,
    reason: alert.reason,
  });
  return { sent: [alert.type], signature: d.signature };
}
