// Event Grid trigger: triage first (no Azure call for irrelevant events), map a relevant event to the projects it
// can affect through the state indexes, deduplicate by event ID, coalesce bursts per project, and reconcile.
// Transient failures throw so Event Grid redelivers; terminal ones are recorded and alerted by the loop, not thrown.
import type { InvocationContext } from '@azure/functions';
import { EventInputError, parseEvents, triageEvent, type TriageResult } from '../core/triage.js';
import type { Outcome, Trigger } from '../reconcile.js';
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

function isTransient(o: Outcome): boolean {
  return o.kind === 'retry' || (o.kind === 'failed' && o.transient);
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
  const results: EventResult[] = [];
  const transient: string[] = [];
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
    let ok = true;
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
    const outcomes = await Promise.all(
      projects.map((pid) => app.coalescer.run(pid, () => app.engine.reconcile(pid, trigger))),
    );
    for (const o of outcomes) {
      if (isTransient(o)) {
        ok = false;
        transient.push(`${o.projectId}: ${'reason' in o ? o.reason : o.kind}`);
      }
    }
    // Only a fully handled event is remembered: a redelivery after a transient failure must run again.
    if (!ok) app.recentEvents.forget(ev.id);
    results.push({ eventId: ev.id, triage: t, projects, outcomes });
  }
  if (transient.length)
    throw new RetryLaterError(`transient failure, Event Grid will redeliver: ${transient.join('; ')}`);
  return results;
}

export async function onAzureEvent(event: unknown, context: InvocationContext): Promise<void> {
  await handleAzureEvent(await getAppContext(), event, context);
}
