// Queue trigger for the sweep fan-out: one message = the projects of one vault (or one project), reconciled with
// the vault's reads shared among them. A transient failure throws, so the platform retries the message (the
// healthy projects in it cost reads only); after `maxDequeueCount` (host.json) it lands in the poison queue
// `earguard-reconcile-poison`.
import type { InvocationContext } from '@azure/functions';
import { isTransientOutcome, type Outcome } from '../loop/index.js';
import { sweepReads } from '../loop/denyCache.js';
import { Semaphore, withSlots } from '../shared/concurrency.js';
import { SharedVaultReads } from '../loop/sharedReads.js';
import { loggerForInvocation } from '../observability/logger.js';
import { getAppContext, type AppContext } from './context.js';

export class BadQueueMessage extends Error {}

const PROJECT_ID = /^[0-9a-f]{24}$/i;
const MAX_PROJECTS = 1000;

function projectIdsOf(m: { projectId?: unknown; projectIds?: unknown } | null): string[] {
  if (m && m.projectIds !== undefined) {
    const ids = m.projectIds;
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_PROJECTS) {
      throw new BadQueueMessage(`message.projectIds: expected 1 to ${MAX_PROJECTS} Atlas project IDs`);
    }
    const bad = ids.findIndex((id) => typeof id !== 'string' || !PROJECT_ID.test(id));
    if (bad >= 0) {
      throw new BadQueueMessage(`message.projectIds[${bad}]: expected an Atlas project ID (24 hex characters)`);
    }
    return ids as string[];
  }
  const pid = m?.projectId;
  if (typeof pid !== 'string' || !PROJECT_ID.test(pid)) {
    throw new BadQueueMessage('message.projectId: expected an Atlas project ID (24 hex characters)');
  }
  return [pid];
}

/**
 * The trigger hands over the decoded message: an object, or a string when it is not JSON. `projectIds` (one vault's
 * projects) or, from a producer before the per-vault fan-out, `projectId`.
 */
export function parseQueueMessage(message: unknown): { projectIds: string[]; sweepId?: string } {
  let m = message;
  if (typeof m === 'string') {
    try {
      m = JSON.parse(m);
    } catch {
      throw new BadQueueMessage('message: expected JSON {"projectIds": ["<24 hex>", ...]}');
    }
  }
  const projectIds = projectIdsOf(m as { projectId?: unknown; projectIds?: unknown } | null);
  const sweepId = (m as { sweepId?: unknown }).sweepId;
  return { projectIds, sweepId: typeof sweepId === 'string' ? sweepId : undefined };
}

/** Reconciles per message in flight at once (they share the vault's reads; ARM throttles per subscription). */
const PER_MESSAGE = 4;

export async function handleQueueMessage(
  app: AppContext,
  message: unknown,
  ctx: InvocationContext,
): Promise<Outcome[] | undefined> {
  const log = loggerForInvocation(ctx);
  let parsed;
  try {
    parsed = parseQueueMessage(message);
  } catch (err) {
    // A malformed message will never succeed: log and drop rather than retry it into the poison queue.
    log.error('queue message rejected', { reason: (err as Error).message });
    return undefined;
  }
  const azure = new SharedVaultReads(sweepReads(app.engine.deps.azure));
  const slots = [new Semaphore(PER_MESSAGE)];
  const trigger = { kind: 'queue' as const, correlationId: parsed.sweepId };
  const outcomes = await Promise.all(
    parsed.projectIds.map((id) =>
      app.coalescer.run(id, () => withSlots(slots, () => app.engine.reconcile(id, trigger, { azure }))),
    ),
  );
  const transient = outcomes.filter(isTransientOutcome);
  if (transient.length) {
    const why = transient.map((o) => `${o.projectId}: ${'reason' in o ? o.reason : o.kind}`).join('; ');
    throw new Error(`transient failure for ${transient.length} project(s): ${why}`);
  }
  return outcomes;
}

export async function reconcileProjectQueue(message: unknown, context: InvocationContext): Promise<void> {
  await handleQueueMessage(await getAppContext(), message, context);
}
