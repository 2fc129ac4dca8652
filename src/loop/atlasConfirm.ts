// Recovery confirmed by Atlas. Restoring a grant is half the story: a role assignment takes up to 10 minutes to reach
// Key Vault's data plane, and only Atlas's own verdict (`azureKeyVault.valid`) says the project is safe from the
// next KMS validation. After a restore, or whenever Atlas says `valid: false` while Azure access is intact, the
// project is *pending*: later passes ask Atlas again on a bounded backoff (first re-check after `firstMs`, then
// half the time since the change, so each gap is 1.5x the last, at most every `maxMs`) until Atlas says valid (history `atlas-confirmed`,
// with the time from the change) or the window runs out (AtlasEarGuard.AtlasStillInvalid).
//
// Nothing waits inside an invocation: the re-check is a request for a later pass (deps.recheck: a queue message
// with a visibility delay in Azure, a timer in a long-running process), and the row carries `atlasPendingSince`,
// so a sweep or any other trigger also confirms. Atlas rate-limits per project and endpoint set (token buckets):
// the schedule asks about 25 times across a 15-minute window, one request a minute once backed off (each pass
// reads the EAR configuration once).
import { ALERT_TYPES } from '../alerts/index.js';
import type { ProjectRecord, ProjectStatus } from '../state/store.js';
import { isoNow, note, type PassContext, type PassResult } from './context.js';
import { changeTime } from './record.js';

export interface AtlasConfirmPolicy {
  /** First re-check after a restore (ms). */
  firstMs: number;
  /** Longest gap between re-checks (ms). */
  maxMs: number;
  /** How long Atlas may take to say valid before AtlasStillInvalid (ms; EAR_GUARD_ATLAS_CONFIRM_MINUTES). */
  windowMs: number;
}

export const DEFAULT_ATLAS_CONFIRM: AtlasConfirmPolicy = { firstMs: 1_000, maxMs: 60_000, windowMs: 15 * 60_000 };

/** Atlas's verdict as this pass read it, and when (set by the orchestrator from the desired state). */
export interface AtlasView {
  valid?: boolean;
  at: number;
}

const ATLAS_INVALID = 'atlas-invalid-while-azure-granted';
/** Findings that do not make Atlas's `valid: false` anything but propagation. */
const BENIGN = [
  /^key-near-expiry$/,
  /^key-version-near-expiry$/,
  /^assignment-time-bound$/,
  /^policy-pushes-(rbac|firewall)$/,
  /^key-version-differs$/,
  /^model-flipped:/,
  new RegExp(`^${ATLAS_INVALID}$`),
];

/** Azure access is intact and Atlas's `false` is the only finding: what propagation looks like. */
export function onlyAtlasInvalid(res: PassResult): boolean {
  const o = res.outcome;
  return (
    o.verdict?.verdict === 'granted' &&
    o.flags.includes(ATLAS_INVALID) &&
    o.flags.every((f) => BENIGN.some((re) => re.test(f)))
  );
}

/** When to ask Atlas again (ms from now): half the time since the change, bounded; undefined when done. */
export function nextRecheckMs(
  pendingSince: string | undefined,
  now: number,
  p: AtlasConfirmPolicy,
): number | undefined {
  if (!pendingSince) return undefined;
  const elapsed = now - Date.parse(pendingSince);
  if (!Number.isFinite(elapsed) || elapsed > p.windowMs) return undefined;
  return Math.min(p.maxMs, Math.max(p.firstMs, elapsed / 2));
}

type Stage =
  | { kind: 'none' }
  | { kind: 'pending'; since: string; soften: boolean }
  | { kind: 'still-invalid'; since: string }
  | { kind: 'confirmed'; since: string; afterMs: number };

/** What this pass means for Atlas's side (pure). */
export function atlasStage(
  res: PassResult,
  row: Pick<ProjectRecord, 'atlasPendingSince' | 'status' | 'lastCheck'>,
  view: AtlasView,
  restoreChangedAt: string,
  p: AtlasConfirmPolicy,
): Stage {
  const now = view.at;
  if (res.outcome.kind === 'restored') {
    // Atlas's answer was read before the grant went back: pending from the change, whatever it said.
    return { kind: 'pending', since: restoreChangedAt, soften: false };
  }
  const since = row.atlasPendingSince;
  if (view.valid === true) {
    return since ? { kind: 'confirmed', since, afterMs: Math.max(0, now - Date.parse(since)) } : { kind: 'none' };
  }
  if (view.valid !== false || !onlyAtlasInvalid(res)) return { kind: 'none' };
  const start = since ?? new Date(now).toISOString();
  if (now - Date.parse(start) < p.windowMs) return { kind: 'pending', since: start, soften: true };
  return { kind: 'still-invalid', since: start };
}

function withAtlasFields(
  res: PassResult,
  fields: Partial<ProjectRecord>,
  status?: ProjectStatus,
): PassResult['update'] {
  return (r) => ({ ...res.update(r), ...(status ? { status } : {}), ...fields });
}

/**
 * Applies Atlas's side to a pass's result: records Atlas's view on the row, turns "valid: false inside the
 * propagation window" from a degraded alarm into a pending state, raises AtlasStillInvalid after the window, and
 * notes `atlas-confirmed` when Atlas says valid.
 */
export function applyAtlasStage(ctx: PassContext, row: ProjectRecord, res: PassResult): PassResult {
  const view = ctx.atlasView;
  if (!view) return res;
  const p = ctx.deps.policy.atlasConfirm ?? DEFAULT_ATLAS_CONFIRM;
  const restoreChangedAt = changeTime(ctx.trigger.eventTime, row, view.at) ?? new Date(view.at).toISOString();
  const stage = atlasStage(res, row, view, restoreChangedAt, p);
  const seen: Partial<ProjectRecord> =
    typeof view.valid === 'boolean' ? { atlasValid: view.valid, atlasValidAt: new Date(view.at).toISOString() } : {};
  const o = res.outcome;
  switch (stage.kind) {
    case 'none':
      return { ...res, update: withAtlasFields(res, seen) };
    case 'confirmed': {
      const secs = (stage.afterMs / 1000).toFixed(1);
      note(ctx, 'atlas-confirmed', `Atlas reports the key valid again, ${secs} s after the change`, {
        changedAt: stage.since,
        confirmedAt: isoNow(ctx),
        afterMs: stage.afterMs,
      });
      const flags = [...o.flags, 'atlas-confirmed'];
      return {
        ...res,
        outcome: { ...o, flags },
        update: withAtlasFields(res, { ...seen, atlasPendingSince: '' }),
      };
    }
    case 'pending':
      return pendingResult(ctx, row, res, stage, seen);
    case 'still-invalid':
      return stillInvalidResult(res, stage, seen, p);
  }
}

function pendingResult(
  ctx: PassContext,
  row: ProjectRecord,
  res: PassResult,
  stage: { since: string; soften: boolean },
  seen: Partial<ProjectRecord>,
): PassResult {
  const o = res.outcome;
  const fields = { ...seen, atlasPendingSince: stage.since };
  // The next pass must read Atlas again, not a cached answer.
  ctx.deps.targetCache?.delete(ctx.projectId);
  if (!stage.soften) {
    return { ...res, outcome: { ...o, flags: [...o.flags, 'atlas-pending'] }, update: withAtlasFields(res, fields) };
  }
  // Inside the propagation window Atlas's `false` is expected: not degraded, not an alarm; the re-checks go on.
  const status: ProjectStatus = row.status === 'restored' ? 'restored' : 'healthy';
  const flags = [...o.flags.filter((f) => f !== ATLAS_INVALID), 'atlas-pending'];
  note(ctx, 'check', `Azure access is intact; waiting for Atlas to validate the key (pending since ${stage.since})`);
  return {
    outcome: { ...o, kind: 'converged', status, flags },
    update: (r) => ({ ...withAtlasFields(res, fields, status)(r), flags }),
  };
}

function stillInvalidResult(
  res: PassResult,
  stage: { since: string },
  seen: Partial<ProjectRecord>,
  p: AtlasConfirmPolicy,
): PassResult {
  const o = res.outcome;
  const flags = [...o.flags, 'atlas-still-invalid'];
  const minutes = Math.round(p.windowMs / 60_000);
  const reason = `Azure access is intact, but Atlas still reports the key invalid ${minutes} min after the change (${stage.since}): check Key Vault networking, the key and Atlas's project`;
  return {
    outcome: { ...o, flags },
    update: (r) => ({ ...withAtlasFields(res, seen)(r), flags }),
    alert: {
      ...(res.alert ?? { projectId: o.projectId, missing: [], flags: [] }),
      flags,
      type: ALERT_TYPES.AtlasStillInvalid,
      severity: 'critical',
      action: 'none: the grants are in place; Atlas must validate the configuration',
      reason,
    },
  };
}

/** Asks for the next pass while Atlas has not confirmed (bounded backoff inside the window). */
export async function scheduleAtlasRecheck(ctx: PassContext, row: ProjectRecord): Promise<void> {
  const p = ctx.deps.policy.atlasConfirm ?? DEFAULT_ATLAS_CONFIRM;
  const after = nextRecheckMs(row.atlasPendingSince, ctx.now(), p);
  if (after === undefined || !ctx.deps.recheck) return;
  try {
    await ctx.deps.recheck(ctx.projectId, after);
  } catch (err) {
    ctx.deps.log?.warn('atlas re-check could not be scheduled; the next sweep confirms', { error: String(err) });
  }
}
