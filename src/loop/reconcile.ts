// The one reconcile loop (controller-runtime style). A request names a project and nothing else; every trigger
// (Event Grid, timer, queue, HTTP, CLI) funnels into reconcileProject. One pass reads like the loop it is:
//
//   desired (Atlas) -> observe (ARM) -> judge (pure) -> decide (pure) -> [act -> verify] -> record -> alert
//
// Errors are classified at the adapters and never become "healthy". The orchestrator owns the lease and every
// state write: history the steps noted, the row the pass computed, the alert when it is news. Level-based: a check
// that changes nothing (the usual case) reads the row once and writes nothing; the lease is taken only before a
// side effect, by one write under the ETag read at the start (see lease.ts).
import { SpanStatusCode } from '@opentelemetry/api';
import { checkAtlasPrincipal, type AtlasTarget } from '../atlas/target.js';
import { ClassifiedError, classifyError } from '../azure/errors.js';
import { redactText } from '../observability/redact.js';
import { SPANS, annotateSpan, recordRestoreLatency, withSpan } from '../observability/telemetry.js';
import { newProjectRecord, type Mode, type ProjectRecord } from '../state/store.js';
import { act } from './act.js';
import { alertToSend, maybeAlert } from './alerting.js';
import { applyAtlasStage, scheduleAtlasRecheck } from './atlasConfirm.js';
import { clearStaleClaim } from './claims.js';
import { flushHistory, isoNow, newContext, note, outcomeBase, type PassContext, type PassResult } from './context.js';
import { decide, type Decision } from './decide.js';
import { judge, type Observation } from './judge.js';
import {
  acquireLease,
  commitPass,
  commitUnleased,
  leaseRowAsRead,
  leaseTaken,
  releaseLease,
  RowMoved,
  type HeldLease,
} from './lease.js';
import { mergeOutcomes, recordOutcome } from './metrics.js';
import { loadTarget, observe } from './observe.js';
import {
  actFailedResult,
  changeTime,
  decisionResult,
  failureResult,
  notePlan,
  noteJudgement,
  principalMismatchResult,
  unsupportedResult,
  verifiedResult,
  type Judged,
} from './record.js';
import type { Outcome, ReconcileDeps, Trigger } from './types.js';

type Desired = { target: AtlasTarget } | { result: PassResult };

/**
 * Called before the first side effect of a pass: takes the lease, or throws RowMoved (nothing was done yet). The
 * optional row fields ride on the lease write; returns whether they did (false: the lease was already held).
 */
type Gate = (fields?: Partial<ProjectRecord>) => Promise<boolean>;

/** Desired state from Atlas, and the trust gate: only the pinned (or first-seen) Atlas principal is ever judged. */
async function desiredState(ctx: PassContext, row: ProjectRecord, mode: Mode): Promise<Desired> {
  let target;
  try {
    target = await loadTarget(ctx, row);
  } catch (err) {
    return { result: failureResult(ctx, row, mode, err, 'atlas') };
  }
  if (target.kind === 'unsupported') return { result: unsupportedResult(ctx, target.reason) };
  if (target.kind === 'invalid' && target.code === 'PrincipalMismatch') {
    return { result: principalMismatchResult(ctx, row, mode, target.reason) };
  }
  if (target.kind === 'invalid') {
    const err = new ClassifiedError('terminal', 'atlas', target.reason, undefined, 'InvalidEncryptionAtRestConfig');
    return { result: failureResult(ctx, row, mode, err, 'atlas') };
  }
  const t = target.target;
  const trusted = checkAtlasPrincipal(t, ctx.deps.policy.atlasPrincipals ?? {}, row.principalId);
  if (!trusted.ok) return { result: principalMismatchResult(ctx, row, mode, trusted.reason, t) };
  ctx.atlasView = { valid: t.atlasValid, at: ctx.now() };
  await ctx.deps.state
    .indexVault(t.vaultId, ctx.projectId)
    .catch((e) => ctx.deps.log?.warn('index vault failed', { error: String(e) }));
  return { target: t };
}

async function observeIndexed(ctx: PassContext, t: AtlasTarget, span: string): Promise<Observation> {
  const obs = await withSpan(span, { project: ctx.projectId }, async (s) => {
    // The event path keeps its read budget; periodic checks also read PIM schedule instances.
    const periodic = !['event', 'queue'].includes(ctx.trigger.kind) || ctx.trigger.periodicReads === true;
    const o = await observe(ctx.deps.azure, t, ctx.deps.atlas, { periodic });
    s.setAttribute('ear_guard.verdict', o.verdict.verdict);
    return o;
  });
  // Verification reads the assignments the observe step already indexed, plus the ones act indexed.
  if (span === SPANS.verify) return obs;
  for (const a of obs.docs.roleAssignments) {
    await ctx.deps.state.indexAssignment(a.id, ctx.projectId).catch(() => undefined);
  }
  return obs;
}

/** The row's status while ARM works (one conditional write, skipped when it says so): for a pass holding the lease. */
async function markStatus(ctx: PassContext, during: 'drifted' | 'degraded', detectedAt: string): Promise<void> {
  await ctx.deps.state
    .updateProject(ctx.projectId, (cur) =>
      cur.status === during ? undefined : { ...cur, status: during, lastChange: detectedAt },
    )
    .catch((e) => ctx.deps.log?.warn(`row status ${during} not written`, { error: String(e) }));
}

/** Act on a restore decision, then verify by observing again. */
async function restore(
  ctx: PassContext,
  c: Judged,
  row: ProjectRecord,
  d: Decision & { kind: 'restore' },
  gate: Gate,
): Promise<PassResult> {
  const { t } = c;
  const detectedAt = isoNow(ctx);
  // Issue 18 item 10: the row says `drifted` while ARM (retries, a slow PUT) works, not the last pass's `healthy`;
  // the pass's commit overwrites it after. Only a standby half missing (access intact): `degraded`, as the decision
  // table says for it. It rides on the lease write (no round trip of its own) when the pass takes the lease here.
  const during = c.j.redundancyDrift && !c.j.readerDrift ? 'degraded' : 'drifted';
  const carried = await gate(row.status === during ? {} : { status: during, lastChange: detectedAt });
  notePlan(c, d.plan, false);
  // The intent to act is on record before the first write: a crash mid-restore still leaves the plan in history.
  await flushHistory(ctx, ctx.deps.state);
  if (!carried) await markStatus(ctx, during, detectedAt);
  const { actions, errors } = await withSpan(
    SPANS.act,
    { project: ctx.projectId, 'ear_guard.plan.size': d.plan.length },
    () => act(t, d.plan, ctx.deps, ctx.projectId),
  );
  for (const a of actions) note(ctx, 'action', `${a.description}: ${a.result}${a.error ? ` (${a.error})` : ''}`, a);
  if (errors.length) return actFailedResult(c, d, actions, errors);
  let after: Observation;
  try {
    after = await observeIndexed(ctx, t, SPANS.verify);
  } catch (err) {
    const f = failureResult(ctx, row, c.mode, err, 'arm (verification)', t);
    return { ...f, outcome: { ...f.outcome, plan: d.plan, actions } };
  }
  const v = after.verdict;
  const missing = v.missing.length ? ` (missing ${v.missing.join(', ')})` : '';
  note(ctx, 'verification', `after restore: ${v.verdict}${missing}`, { verdict: v.verdict, missing: v.missing });
  const verifiedAt = isoNow(ctx);
  const res = verifiedResult(c, d, actions, judge(t, after, row, ctx.deps.policy, ctx.now()));
  // Restore latency: from the change (event time) or, without an event, from detection, to the verified restore.
  if (res.outcome.kind === 'restored') {
    recordRestoreLatency(c.changedAt ?? detectedAt, verifiedAt, { trigger: ctx.trigger.kind });
  }
  return res;
}

/** One pass: desired -> observe -> judge -> decide -> (act -> verify) -> the result to record. */
async function pass(ctx: PassContext, row: ProjectRecord, gate: Gate): Promise<PassResult> {
  const { policy } = ctx.deps;
  const mode: Mode = row.mode ?? policy.mode;
  ctx.atlasView = undefined;
  const desired = await desiredState(ctx, row, mode);
  if ('result' in desired) return desired.result;
  const t = desired.target;
  const observedAt = ctx.now();
  let obs: Observation;
  try {
    obs = await observeIndexed(ctx, t, SPANS.observe);
  } catch (err) {
    return failureResult(ctx, row, mode, err, 'arm', t);
  }
  const changedAt = changeTime(ctx.trigger.eventTime, row, ctx.now());
  const c: Judged = { ctx, t, mode, changedAt, j: judge(t, obs, row, policy, ctx.now()) };
  const d = decide({
    judgement: c.j,
    row,
    mode,
    policy,
    target: t,
    vaultTenantId: obs.docs.vault.tenantId,
    now: ctx.now(),
  });
  noteJudgement(c, d);
  if (d.kind === 'restore') return restore(ctx, c, row, d, gate);
  const res = decisionResult(c, d);
  return c.j.verdict.verdict === 'granted' ? clearStaleClaim(res, observedAt) : res;
}

const HELD: Gate = async () => false;

type Committed = { outcome: Outcome; committed: { row: ProjectRecord; seen: number; again: boolean } };

function merge(prev: Committed | undefined, next: Committed): Committed {
  return prev ? { outcome: mergeOutcomes(prev.outcome, next.outcome), committed: next.committed } : next;
}

/** Under the lease: alert, record the row (letting the lease go unless re-checking) and the history. */
async function commitHeld(
  ctx: PassContext,
  row: ProjectRecord,
  res: PassResult,
  seen: number,
  i: number,
): Promise<Committed> {
  const { deps } = ctx;
  const alerted = await maybeAlert(ctx, row, res, row.mode ?? deps.policy.mode);
  res.outcome.alerts.push(...alerted.sent);
  const committed = await commitPass(deps.state, ctx.projectId, res, alerted, seen, i + 1 < deps.policy.maxPasses);
  await flushHistory(ctx, deps.state);
  if (committed.again) deps.targetCache?.delete(ctx.projectId);
  else await scheduleAtlasRecheck(ctx, committed.row);
  return { outcome: res.outcome, committed };
}

/** Runs passes under the lease until nobody asked for a re-check (at most maxPasses). */
async function passes(ctx: PassContext, first: ProjectRecord, seen0: number, done = 0): Promise<Outcome | undefined> {
  let row = first;
  let seen = seen0;
  let result: Committed | undefined;
  for (let i = done; i < Math.max(1, ctx.deps.policy.maxPasses); i++) {
    const res = applyAtlasStage(ctx, row, await pass(ctx, row, HELD));
    result = merge(result, await commitHeld(ctx, row, res, seen, i));
    ({ row, seen } = result.committed);
    if (!result.committed.again) break;
  }
  return result?.outcome;
}

/** A failure after the lease was taken: the owner travels with the error so the run lets the lease go. */
class HeldFailure extends Error {
  constructor(
    readonly inner: unknown,
    readonly owner: string,
  ) {
    super(String(inner));
  }
}

/**
 * The first pass, without the lease: it takes the lease (one write under the ETag read) only before a side effect,
 * and records the row only when it changes. Returns undefined when the row moved before anything was done.
 */
async function optimisticPass(
  ctx: PassContext,
  row: ProjectRecord,
  confirm?: StartingRow['confirm'],
): Promise<Outcome | undefined> {
  const { deps } = ctx;
  const mode = row.mode ?? deps.policy.mode;
  let held: HeldLease | undefined;
  const gate: Gate = async (fields = {}) => {
    if (held) return false;
    held = await leaseRowAsRead(deps.state, { ...row, ...fields }, deps.policy.leaseMs, ctx.now);
    return true;
  };
  try {
    const res = applyAtlasStage(ctx, row, await pass(ctx, row, gate));
    if (alertToSend(row, res, mode, deps.policy.checkFailingAfter ?? 2).send) await gate();
    if (held) {
      const first = await commitHeld(ctx, row, res, held.seen, 0);
      if (!first.committed.again) return first.outcome;
      const rest = await passes(ctx, first.committed.row, first.committed.seen, 1);
      return rest ? mergeOutcomes(first.outcome, rest) : first.outcome;
    }
    // A pass that wrote nothing has not proven its starting row current: the read made alongside must agree.
    if (confirm && (await confirm)?.etag !== row.etag) throw new RowMoved(ctx.projectId);
    const alerted = await maybeAlert(ctx, row, res, mode);
    const changed = await commitUnleased(deps.state, row, res, alerted);
    if (changed || leavesTrace(ctx.trigger)) await flushHistory(ctx, deps.state);
    else ctx.history.splice(0); // nothing changed: a healthy check leaves no trace but the sweep's heartbeat
    await scheduleAtlasRecheck(ctx, res.update(row));
    return res.outcome;
  } catch (err) {
    if (held) throw new HeldFailure(err, held.owner);
    if (!(err instanceof RowMoved)) throw err;
    ctx.history.splice(0);
    return undefined;
  }
}

/**
 * Triggers whose check is on record even when nothing changed: Atlas's own alert is rare and is news to the operator
 * (issue 14: history records it with the trigger `atlas-alert`), unlike the sweep's and events' healthy checks.
 */
function leavesTrace(trigger: Trigger): boolean {
  return trigger.kind === 'atlas-alert';
}

function busyOutcome(ctx: PassContext, row: ProjectRecord, until: number): Outcome {
  // A reason to retry, not to skip: the holder re-checks if it is alive, and a crashed holder's lease expires.
  const afterMs = Math.max(1000, until - ctx.now());
  const reason = `another reconcile of this project holds the lease until ${new Date(until).toISOString()}; retry`;
  return { ...outcomeBase(ctx, row.status), kind: 'retry', afterMs, reason };
}

async function failedRun(ctx: PassContext, err: unknown, owner?: string): Promise<Outcome> {
  const c = classifyError(err, 'state');
  await flushHistory(ctx, ctx.deps.state).catch(() => undefined);
  if (owner) await releaseLease(ctx.deps.state, ctx.projectId, owner);
  const reason = `reconcile: ${c.describe()}`;
  return { ...outcomeBase(ctx, 'failing'), kind: 'failed', reason, transient: c.transient, code: c.code };
}

/** The lease taken up front (the row shows a live lease, or optimistic checks kept losing): bump or hold. */
async function leasedUpFront(ctx: PassContext): Promise<Outcome> {
  const { deps, projectId } = ctx;
  const lease = await acquireLease(deps, projectId, ctx.now);
  if (lease.kind === 'error') {
    const { reason, transient, code } = lease;
    return { ...outcomeBase(ctx, 'unknown'), kind: 'failed', reason, transient, code };
  }
  if (lease.kind === 'busy') return busyOutcome(ctx, lease.row, lease.until);
  try {
    return (await passes(ctx, lease.row, lease.seen))!;
  } catch (err) {
    return failedRun(ctx, err, lease.owner);
  }
}

/** Optimistic checks that lose to another writer start over; after this many, the lease is taken up front. */
const OPTIMISTIC_ATTEMPTS = 3;

/** The row a check starts from, and (when it is not a fresh read) the read that confirms it. */
interface StartingRow {
  row: ProjectRecord;
  confirm?: Promise<ProjectRecord | undefined>;
}

/**
 * First attempt: the row the sweep listed, or the row as this instance last saw it, confirmed by a read made
 * alongside the observation (off the path from an event to the restore). Either was known before the observation
 * began, so a lease under its ETag keeps the lease's guarantee. Later attempts read.
 */
async function startingRow(deps: ReconcileDeps, projectId: string, attempt: number): Promise<StartingRow> {
  const listed = attempt === 0 ? deps.rowsReadBefore?.get(projectId) : undefined;
  if (listed) return { row: listed };
  const seen = attempt === 0 ? deps.state.lastSeen?.(projectId) : undefined;
  if (seen) {
    const confirm = deps.state.getProject(projectId);
    confirm.catch(() => undefined);
    return { row: seen, confirm };
  }
  return { row: (await deps.state.getProject(projectId)) ?? newProjectRecord(projectId) };
}

async function reconcileLeased(projectId: string, trigger: Trigger, deps: ReconcileDeps): Promise<Outcome> {
  const ctx = newContext(projectId, trigger, deps);
  for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt++) {
    let row: ProjectRecord;
    let confirm: StartingRow['confirm'];
    try {
      ({ row, confirm } = await startingRow(deps, projectId, attempt));
    } catch (err) {
      const c = classifyError(err, 'state');
      const reason = `state: ${c.describe()}`;
      return { ...outcomeBase(ctx, 'unknown'), kind: 'failed', reason, transient: c.transient, code: c.code };
    }
    if (leaseTaken(row, ctx.now())) break;
    try {
      const outcome = await optimisticPass(ctx, row, confirm);
      if (outcome) return outcome;
    } catch (err) {
      if (err instanceof HeldFailure) return failedRun(ctx, err.inner, err.owner);
      return failedRun(ctx, err);
    }
  }
  return leasedUpFront(ctx);
}

/**
 * Reconciles one Atlas project. Level-triggered and idempotent: call it as often as you like. Two calls for one
 * project never write twice: the project row's ETag makes one of them the lease holder; the other records its
 * request and returns `retry` (the holder re-checks before it lets go; a crashed holder's lease runs out).
 *
 * Traced as one `ear_guard.reconcile` span (project, trigger, event ID, correlation ID, outcome) with `observe`,
 * `act` and `verify` children; the Azure SDK spans of those steps nest under them.
 */
export async function reconcileProject(projectId: string, trigger: Trigger, deps: ReconcileDeps): Promise<Outcome> {
  const started = performance.now();
  const attrs = {
    project: projectId,
    trigger: trigger.kind,
    eventId: trigger.eventId,
    correlationId: trigger.correlationId,
  };
  return withSpan(SPANS.reconcile, attrs, async (span) => {
    const outcome = await reconcileLeased(projectId, trigger, deps);
    annotateSpan({ outcome: outcome.kind, correlationId: outcome.correlationId, model: outcome.verdict?.model });
    if (outcome.kind === 'failed' || outcome.kind === 'retry') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: redactText(outcome.reason) });
    }
    recordOutcome(outcome, trigger, (performance.now() - started) / 1000);
    return outcome;
  });
}
