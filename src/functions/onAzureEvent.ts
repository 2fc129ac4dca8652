// Event Grid trigger: triage first (no Azure call for irrelevant events), map a relevant event to the projects it
// can affect through the state indexes, deduplicate by event ID, coalesce bursts per project, and reconcile.
// Transient failures throw so Event Grid redelivers; terminal ones are recorded and alerted by the loop, not thrown.
import type { InvocationContext } from '@azure/functions';
import { EventInputError, parseEvents, triageEvent, type TriageResult } from '../core/triage.js';
import { isTransientOutcome, type Outcome, type Trigger } from '../reconcile.js';
import { projectsForEvent } from '../routeEvents.js';
import { loggerForInvocation } from '../observability/logger.js';
import { recordEventDropped, recordEventReceived } from '../observability/telemetry.js';
import { getAppContext, type AppContext } from './context.js';

export interface EventResult {
  eventId: string;
  triage: TriageResult;
  duplicate?: boolean;
  projects: string[];
  outcomes: Outcome[];
}

/** Thrown to make Event Grid redeliver (a transient failure somewhere in the batch). */
export class RetryLaterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

/** The handler's logic, on an explicit context (the local host and tests call it too). */
export async function handleAzureEvent(
  app: AppContext,
  payload: unknown,
  ctx: InvocationContext,
): Promise<EventResult[]> {
  const log = loggerForInvocation(ctx);
  let events;
  try {
    events = parseEvents(payload);
  } catch (err) {
    if (err instanceof EventInputError) {
      // A malformed event will never parse: retrying it would only repeat the failure.
      log.warn('event rejected: malformed', { reason: err.message });
      recordEventDropped('malformed');
      return [];
    }
    throw err;
  }
  // Pass 1, no Azure call: triage, dedupe, and route each relevant event to its projects.
  const results: EventResult[] = [];
  const routed: { result: EventResult; trigger: Trigger }[] = [];
  for (const ev of events) {
    const t = triageEvent(ev);
    recordEventReceived(ev.type, { eventId: ev.id });
    if (!t.relevant) {
      recordEventDropped(t.kind === 'validation' ? 'validation' : 'irrelevant');
      results.push({ eventId: ev.id, triage: t, projects: [], outcomes: [] });
      continue;
    }
    if (app.recentEvents.seen(ev.id)) {
      recordEventDropped('duplicate');
      results.push({ eventId: ev.id, triage: t, duplicate: true, projects: [], outcomes: [] });
      continue;
    }
    const projects = await projectsForEvent(app.engine.deps.state, t);
    const trigger: Trigger = {
      kind: 'event',
      eventId: ev.id,
      correlationId: t.correlationId,
      // When the change happened: the start of the restore latency (metric and status page).
      eventTime: t.eventTime,
      actor: t.actor,
      operationName: t.operationName ?? ev.type,
      resourceId: t.resourceId,
    };
    // Relevant, but no watched project's key or vault is under its scope.
    if (projects.length === 0) recordEventDropped('no-watched-project');
    log.info('event relevant', {
      eventId: ev.id,
      correlationId: t.correlationId,
      kind: t.kind,
      scope: t.scope,
      projects: projects.length,
    });
    const result: EventResult = { eventId: ev.id, triage: t, projects, outcomes: [] };
    results.push(result);
    routed.push({ result, trigger });
  }

  // Pass 2: one reconcile per project for the whole batch (the loop re-reads the truth, so one run covers every
  // change in it). The trigger recorded is the batch's latest event for that project: its actor and time.
  const perProject = new Map<string, { trigger: Trigger; results: EventResult[] }>();
  for (const { result, trigger } of routed) {
    for (const pid of result.projects) {
      const cur = perProject.get(pid);
      if (!cur) perProject.set(pid, { trigger, results: [result] });
      else {
        cur.results.push(result);
        if ((trigger.eventTime ?? '') >= (cur.trigger.eventTime ?? '')) cur.trigger = trigger;
      }
    }
  }
  const transient: string[] = [];
  await Promise.all(
    [...perProject].map(async ([pid, { trigger, results: rs }]) => {
      const o = await app.coalescer.run(pid, () => app.engine.reconcile(pid, trigger));
      for (const r of rs) r.outcomes.push(o);
      if (isTransientOutcome(o)) {
        transient.push(`${o.projectId}: ${'reason' in o ? o.reason : o.kind}`);
        // Only fully handled events are remembered: a redelivery after a transient failure must run again.
        for (const r of rs) app.recentEvents.forget(r.eventId);
      }
    }),
  );
  if (transient.length)
    throw new RetryLaterError(`transient failure, Event Grid will redeliver: ${transient.join('; ')}`);
  return results;
}

export async function onAzureEvent(event: unknown, context: InvocationContext): Promise<void> {
  await handleAzureEvent(await getAppContext(), event, context);
}
