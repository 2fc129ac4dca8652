// One reconcile per project at a time, through the project row's ETag. A check that finds nothing to do writes
// nothing: it reads the row once and, only before a side effect (a grant, an alert) or a row change, writes the row
// under the ETag it read. That write is the lease when there is a side effect to come; a 412 means someone else
// wrote since the read, and the check starts over. A reconcile that finds the lease taken bumps `requested`, and
// the holder re-checks before it lets go.
import { randomUUID } from 'node:crypto';
import { classifyError } from '../azure/errors.js';
import { rowChanged, type ProjectRecord, type StateStore } from '../state/store.js';
import { ALERTABLE, alertSignature, type AlertDecision } from './alerting.js';
import type { PassResult } from './context.js';
import { isCheckFailure, type ReconcileDeps } from './types.js';

export type LeaseResult =
  | { kind: 'held'; row: ProjectRecord; owner: string; seen: number }
  /** Another reconcile holds the lease until `until` (it re-checks before letting go; a dead holder's lease expires). */
  | { kind: 'busy'; row: ProjectRecord; until: number }
  | { kind: 'error'; reason: string; transient: boolean; code?: string };

export function leaseTaken(cur: ProjectRecord, now: number, owner = ''): boolean {
  return Boolean(cur.leaseOwner && cur.leaseUntil && Date.parse(cur.leaseUntil) > now && cur.leaseOwner !== owner);
}

export async function acquireLease(deps: ReconcileDeps, projectId: string, now: () => number): Promise<LeaseResult> {
  const owner = randomUUID();
  let busy = false;
  let seen = 0;
  try {
    const row = await deps.state.updateProject(projectId, (cur) => {
      busy = leaseTaken(cur, now(), owner);
      if (busy) return { ...cur, requested: cur.requested + 1 };
      seen = cur.requested;
      return { ...cur, leaseOwner: owner, leaseUntil: new Date(now() + deps.policy.leaseMs).toISOString() };
    });
    if (busy) return { kind: 'busy', row, until: Date.parse(row.leaseUntil ?? '') || now() };
    return { kind: 'held', row, owner, seen };
  } catch (err) {
    const c = classifyError(err, 'state');
    return { kind: 'error', reason: `state: ${c.describe()}`, transient: c.transient, code: c.code };
  }
}

/** Thrown to abandon a pass that has not acted yet: the row changed since it was read, so the check starts over. */
export class RowMoved extends Error {
  constructor(projectId: string) {
    super(`project ${projectId}: the row changed since it was read`);
    this.name = 'RowMoved';
  }
}

export interface HeldLease {
  owner: string;
  /** The `requested` count when the lease was taken. */
  seen: number;
}

/**
 * Takes the lease on the row exactly as it was read (one conditional write: no re-read). Nobody wrote the row since
 * the read, so nobody acted on the project since the check's observation started. Throws RowMoved otherwise.
 */
export async function leaseRowAsRead(
  state: StateStore,
  row: ProjectRecord,
  leaseMs: number,
  now: () => number,
): Promise<HeldLease> {
  const owner = randomUUID();
  const leaseUntil = new Date(now() + leaseMs).toISOString();
  const written = await state.writeProjectIfUnchanged({ ...row, leaseOwner: owner, leaseUntil });
  if (!written) throw new RowMoved(row.projectId);
  return { owner, seen: row.requested };
}

/**
 * Records a pass that ran without the lease: nothing when the row would not change (a healthy check costs no
 * write), else one write under the ETag read at the start. Returns whether it wrote; throws RowMoved on a 412.
 */
export async function commitUnleased(
  state: StateStore,
  row: ProjectRecord,
  res: PassResult,
  alerted: AlertDecision,
): Promise<boolean> {
  const next = nextRow(row, res, alerted, false);
  if (!rowChanged(row, next)) return false;
  if (!(await state.writeProjectIfUnchanged(next))) throw new RowMoved(row.projectId);
  return true;
}

/** The row after a pass: its update, the failure count, the alert signature, and the lease let go unless re-checking. */
export function nextRow(
  cur: ProjectRecord,
  res: PassResult,
  alerted: AlertDecision,
  keepLease: boolean,
): ProjectRecord {
  const updated = res.update(cur);
  updated.consecutiveFailures = isCheckFailure(res.outcome) ? (cur.consecutiveFailures ?? 0) + 1 : 0;
  if (alerted.signature) updated.alertSignature = alerted.signature;
  else if (!ALERTABLE.has(res.outcome.status) && res.outcome.status !== 'restored') {
    updated.alertSignature = alertSignature(res.outcome.status, [], []);
  }
  if (!keepLease) {
    updated.leaseOwner = '';
    updated.leaseUntil = '';
  }
  return updated;
}

/**
 * Records a pass and, in the same conditional write, finds out whether anyone asked for a re-check meanwhile.
 * Returns the written row, whether to run again, and the `requested` count seen.
 */
export async function commitPass(
  state: StateStore,
  projectId: string,
  res: PassResult,
  alerted: AlertDecision,
  seen: number,
  mayRunAgain: boolean,
): Promise<{ row: ProjectRecord; again: boolean; seen: number }> {
  let again = false;
  let nowSeen = seen;
  const row = await state.updateProject(projectId, (cur) => {
    again = cur.requested !== seen && mayRunAgain;
    nowSeen = cur.requested;
    return nextRow(cur, res, alerted, again);
  });
  return { row, again, seen: nowSeen };
}

export async function releaseLease(state: StateStore, projectId: string, owner: string): Promise<void> {
  await state
    .updateProject(projectId, (cur) =>
      cur.leaseOwner === owner ? { ...cur, leaseOwner: '', leaseUntil: '' } : undefined,
    )
    .catch(() => undefined);
}
