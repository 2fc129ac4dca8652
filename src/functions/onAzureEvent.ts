// Event Grid trigger: parse, hand the batch to the event steps (src/events/handle.ts), map the result. A transient
// failure throws so Event Grid redelivers; terminal ones are recorded and alerted by the loop, not thrown.
// Input that can never succeed (not an event; a lone surrogate or an impossible resource ID) is logged and dropped,
// never thrown: the Functions host owns the HTTP answer, and a throw would only make Event Grid retry it for 24 h.
// The local host answers such input itself (400 for a non-event, 200 naming the dropped events).
import type { InvocationContext } from '@azure/functions';
import { EventInputError, parseEvents, unusableEvent, type IncomingEvent } from '../core/triage.js';
import { handleEvents, type EventResult } from '../events/handle.js';
import { loggerForInvocation } from '../observability/logger.js';
import { recordEventDropped } from '../observability/telemetry.js';
import { getAppContext, type AppContext } from './context.js';

export type { EventResult } from '../events/handle.js';

/** Thrown to make Event Grid redeliver (a transient failure somewhere in the batch). */
export class RetryLaterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

/**
 * Our dead-letter for input that can never be handled: one structured warning per event (id, type, reason; never
 * the oversized field itself), which Application Insights / the local log keeps. Answered as success, so Event Grid
 * does not retry it; its own dead-letter destination only receives events whose delivery failed.
 */
function deadLetter(log: ReturnType<typeof loggerForInvocation>, events: IncomingEvent[]): void {
  for (const ev of events) {
    const reason = unusableEvent(ev);
    if (!reason) continue;
    log.warn('event dead-lettered: can never be handled', {
      eventId: ev.id.slice(0, 100),
      eventType: ev.type.slice(0, 200),
      reason,
    });
    recordEventDropped('unusable');
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
    if (!(err instanceof EventInputError)) throw err;
    // A malformed event will never parse: retrying it would only repeat the failure.
    log.warn('event rejected: malformed', { reason: err.message });
    recordEventDropped('malformed');
    return [];
  }
  deadLetter(log, events);
  const { results, transient } = await handleEvents(
    {
      deps: app.engine.deps,
      reconcile: (id, trigger, overrides) => app.engine.reconcile(id, trigger, overrides),
      handled: app.recentEvents,
      coalesce: (id, run) => app.coalescer.run(id, run),
      log,
    },
    events,
  );
  if (transient.length) {
    throw new RetryLaterError(`transient failure, Event Grid will redeliver: ${transient.join('; ')}`);
  }
  return results;
}

export async function onAzureEvent(event: unknown, context: InvocationContext): Promise<void> {
  await handleAzureEvent(await getAppContext(), event, context);
}
