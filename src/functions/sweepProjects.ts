// Timer trigger (NCRONTAB from settings, default every 5 minutes: well inside Atlas's 15-minute validation):
// refresh the project list and reconcile each. Beyond EAR_GUARD_FANOUT_THRESHOLD projects, fan out through the
// Storage Queue (one message per project) so the platform scales the work out; the queue function reconciles.
import type { InvocationContext, Timer } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { runSweep, recordSweep, type SweepSummary } from '../loop/sweep.js';
import { loggerForInvocation } from '../observability/logger.js';
import { getAppContext, type AppContext } from './context.js';

export interface QueueMessage {
  projectId: string;
  sweepId: string;
  enqueuedAt: string;
}

export interface SweepResult {
  mode: 'inline' | 'fanout';
  summary: SweepSummary;
  enqueued?: number;
}

export async function handleSweep(app: AppContext, ctx: InvocationContext): Promise<SweepResult> {
  const log = loggerForInvocation(ctx);
  const ids = await app.engine.listProjectIds();
  const sweepId = randomUUID();
  if (ids.length > app.settings.EAR_GUARD_FANOUT_THRESHOLD && app.queue) {
    const started = Date.now();
    await app.queue.createIfNotExists();
    const now = new Date().toISOString();
    // Messages are base64 JSON, the encoding the Functions queue trigger expects by default.
    const messages = ids.map((projectId) =>
      Buffer.from(JSON.stringify({ projectId, sweepId, enqueuedAt: now } satisfies QueueMessage)).toString('base64'),
    );
    for (let i = 0; i < messages.length; i += 32) {
      await Promise.all(messages.slice(i, i + 32).map((m) => app.queue!.sendMessage(m)));
    }
    const finished = Date.now();
    const summary: SweepSummary = {
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      durationMs: finished - started,
      total: ids.length,
      byOutcome: { enqueued: ids.length },
      attention: [],
      errors: 0,
      items: [],
    };
    // The summary row, the heartbeat and the sweep metric (recordSweep is the one place that counts sweeps).
    await recordSweep(app.engine, summary, { kind: 'timer' });
    log.info('sweep fanned out', { sweepId, projects: ids.length });
    return { mode: 'fanout', summary, enqueued: ids.length };
  }
  const summary = await runSweep(app.engine, {
    projectIds: ids,
    trigger: { kind: 'timer', correlationId: sweepId },
    keepOutcomes: false,
  });
  log.info('sweep finished', { sweepId, projects: summary.total, outcomes: summary.byOutcome, ms: summary.durationMs });
  return { mode: 'inline', summary };
}

export async function sweepProjects(_timer: Timer, context: InvocationContext): Promise<void> {
  await handleSweep(await getAppContext(), context);
}
