// Timer trigger (NCRONTAB from settings, default every 5 minutes: well inside Atlas's 15-minute validation):
// refresh the project list and reconcile each. Beyond EAR_GUARD_FANOUT_THRESHOLD projects, fan out through the
// Storage Queue so the platform scales the work out: one message per vault (the vault from each project's last
// check), so one execution shares the vault's reads among its projects; the queue function reconciles.
import type { InvocationContext, Timer } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { runSweep, recordSweep, sweepSummary, type SweepSummary } from '../loop/sweep.js';
import { loggerForInvocation } from '../observability/logger.js';
import { getAppContext, type AppContext } from './context.js';

export interface QueueMessage {
  /** The projects whose key lives in one vault (a project not checked yet travels alone). */
  projectIds: string[];
  vaultId?: string;
  sweepId: string;
  enqueuedAt: string;
}

/** Projects per message at most: a queue message holds 64 KiB, base64-encoded. */
const MAX_PER_MESSAGE = 500;

/** Groups the projects by the vault of their last check; unknown vaults go one project per group. */
export async function groupByVault(
  app: AppContext,
  ids: string[],
): Promise<{ vaultId?: string; projectIds: string[] }[]> {
  const vaultOf = new Map((await app.engine.deps.state.listProjects()).map((r) => [r.projectId, r.vaultId]));
  const byVault = new Map<string, string[]>();
  const groups: { vaultId?: string; projectIds: string[] }[] = [];
  for (const id of ids) {
    const v = vaultOf.get(id)?.toLowerCase();
    if (!v) groups.push({ projectIds: [id] });
    else byVault.set(v, [...(byVault.get(v) ?? []), id]);
  }
  for (const [vaultId, all] of byVault) {
    for (let i = 0; i < all.length; i += MAX_PER_MESSAGE) {
      groups.push({ vaultId, projectIds: all.slice(i, i + MAX_PER_MESSAGE) });
    }
  }
  return groups;
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
    const messages = (await groupByVault(app, ids)).map((g) =>
      Buffer.from(JSON.stringify({ ...g, sweepId, enqueuedAt: now } satisfies QueueMessage)).toString('base64'),
    );
    for (let i = 0; i < messages.length; i += 32) {
      await Promise.all(messages.slice(i, i + 32).map((m) => app.queue!.sendMessage(m)));
    }
    const summary = sweepSummary(started, ids.length, {
      byOutcome: { enqueued: ids.length },
      attention: [],
      errors: 0,
      items: [],
    });
    // The summary row, the heartbeat and the sweep metric (recordSweep is the one place that counts sweeps).
    await recordSweep(app.engine, summary, { kind: 'timer' });
    log.info('sweep fanned out', { sweepId, projects: ids.length, messages: messages.length });
    return { mode: 'fanout', summary, enqueued: messages.length };
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
