// Event Grid trigger: parse, hand the batch to the event steps (src/events/handle.ts), map the result. A transient
// failure throws so Event Grid redelivers; terminal ones are recorded and alerted by the loop, not thrown.
import type { InvocationContext } from '@azure/functions';
import { EventInputError, parseEvents } from '../core/triage.js';
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
