// What one reconcile carries from step to step: the request (a project ID), why it runs (for the record only), its
// dependencies and the history it has noted so far.
import { randomUUID } from 'node:crypto';
import type { HistoryEntry, HistoryKind, ProjectRecord, StateStore } from '../state/store.js';
import type { Alert } from '../alerts/index.js';
import type { Outcome, OutcomeBase, ReconcileDeps, Trigger, TriggerActor } from './types.js';

/** What the pure record steps need: who, why, when, and where to note history. */
export interface RecordContext {
  projectId: string;
  trigger: Trigger;
  correlationId: string;
  now: () => number;
  /** History noted by the steps, written by the orchestrator (before acting, and when the pass ends). */
  history: HistoryEntry[];
}

export interface PassContext extends RecordContext {
  deps: ReconcileDeps;
  /** Atlas's `azureKeyVault.valid` as this pass read it (set with the desired state). */
  atlasView?: { valid?: boolean; at: number };
}

export function newContext(projectId: string, trigger: Trigger, deps: ReconcileDeps): PassContext {
  return {
    projectId,
    trigger,
    correlationId: trigger.correlationId ?? randomUUID(),
    deps,
    now: deps.now ?? Date.now,
    history: [],
  };
}

/** The alert a step asks for; `maybeAlert` adds the trigger, the time and decides whether it is news. */
export type AlertDraft = Omit<Alert, 'at' | 'trigger' | 'eventId' | 'correlationId'>;

/** What one pass produced: the outcome, how the row changes, and the alert it wants sent. */
export interface PassResult {
  outcome: Outcome;
  /** The row fields to write (the lease fields are handled by the orchestrator). */
  update: (row: ProjectRecord) => ProjectRecord;
  alert?: AlertDraft;
}

export function actorLabel(a?: TriggerActor): string | undefined {
  if (!a) return undefined;
  return a.upn ?? a.name ?? a.objectId;
}

/**
 * Who changed it, as history and alerts say it: the callers the triggering events claim, marked as claims. Events
 * are hints (the webhook takes any caller holding the function key), so a name from an event is never a fact.
 */
export function claimedChangers(trigger: Trigger): string | undefined {
  const names = trigger.claimedBy?.length ? trigger.claimedBy : [actorLabel(trigger.actor)].filter(Boolean);
  return names.length ? `${[...new Set(names)].join(', ')} (event claim, unverified)` : undefined;
}

export function isoNow(ctx: Pick<RecordContext, 'now'>): string {
  return new Date(ctx.now()).toISOString();
}

export function note(ctx: RecordContext, kind: HistoryKind, summary: string, detail?: unknown): void {
  ctx.history.push({
    projectId: ctx.projectId,
    kind,
    at: isoNow(ctx),
    trigger: ctx.trigger.kind,
    eventId: ctx.trigger.eventId,
    correlationId: ctx.correlationId,
    actor: claimedChangers(ctx.trigger),
    summary,
    detail,
  });
}

/** Writes the noted history (one round trip: one project's rows in one transaction) and empties the buffer. */
export async function flushHistory(ctx: RecordContext, state: Pick<StateStore, 'appendHistories'>): Promise<void> {
  const rows = ctx.history.splice(0);
  if (rows.length) await state.appendHistories(rows);
}

export function outcomeBase(
  ctx: Pick<PassContext, 'projectId' | 'correlationId'>,
  status: OutcomeBase['status'],
  extra: Partial<OutcomeBase> = {},
): OutcomeBase {
  return {
    projectId: ctx.projectId,
    correlationId: ctx.correlationId,
    status,
    flags: [],
    plan: [],
    actions: [],
    alerts: [],
    ...extra,
  };
}
