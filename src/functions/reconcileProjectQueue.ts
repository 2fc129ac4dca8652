// Queue trigger for the sweep fan-out: one message = one project. A transient failure throws, so the platform
// retries the message; after `maxDequeueCount` (host.json) it lands in the poison queue `earguard-reconcile-poison`.
import type { InvocationContext } from '@azure/functions';
import { isTransientOutcome, type Outcome } from '../loop/index.js';
import { loggerForInvocation } from '../observability/logger.js';
import { getAppContext, type AppContext } from './context.js';

export class BadQueueMessage extends Error {}

/** The trigger hands over the decoded message: an object, or a string when it is not JSON. */
export function parseQueueMessage(message: unknown): { projectId: string; sweepId?: string } {
  let m = message;
  if (typeof m === 'string') {
    try {
      m = JSON.parse(m);
    } catch {
      throw new BadQueueMessage('message: expected JSON {"projectId": "<24 hex>"}');
    }
  }
  const pid = (m as { projectId?: unknown } | null)?.projectId;
  if (typeof pid !== 'string' || !/^[0-9a-f]{24}$/i.test(pid)) {
    throw new BadQueueMessage('message.projectId: expected an Atlas project ID (24 hex characters)');
  }
  const sweepId = (m as { sweepId?: unknown }).sweepId;
  return { projectId: pid, sweepId: typeof sweepId === 'string' ? sweepId : undefined };
}

export async function handleQueueMessage(
  app: AppContext,
  message: unknown,
  ctx: InvocationContext,
): Promise<Outcome | undefined> {
  const log = loggerForInvocation(ctx);
  let parsed;
  try {
    parsed = parseQueueMessage(message);
  } catch (err) {
    // A malformed message will never succeed: log and drop rather than retry it into the poison queue.
    log.error('queue message rejected', { reason: (err as Error).message });
    return undefined;
  }
  const outcome = await app.coalescer.run(parsed.projectId, () =>
    app.engine.reconcile(parsed.projectId, { kind: 'queue', correlationId: parsed.sweepId }),
  );
  if (isTransientOutcome(outcome)) {
    throw new Error(
      `transient failure for ${parsed.projectId}: ${'reason' in outcome ? outcome.reason : outcome.kind}`,
    );
  }
  return outcome;
}

export async function reconcileProjectQueue(message: unknown, context: InvocationContext): Promise<void> {
  await handleQueueMessage(await getAppContext(), message, context);
}
