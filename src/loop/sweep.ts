// The health sweep: reconcile every watched project, bounded overall and per subscription (ARM throttles per
// subscription), then record a summary row and the heartbeat that /api/health reads. Used by the timer
// function, the queue fan-out's producer and `ear-guard sweep`.
import { hostname } from 'node:os';
import { Semaphore, withSlots } from '../shared/concurrency.js';
import { SharedVaultReads } from './sharedReads.js';
import { sweepReads } from './denyCache.js';
import type { Engine } from '../engine.js';
import type { Outcome, ReconcileDeps, Trigger } from './types.js';
import { writeHeartbeat } from '../state/heartbeat.js';
import { recordSweep as recordSweepMetric } from '../observability/telemetry.js';

export const SWEEP_PARTITION = '_sweep';

export interface SweepItem {
  projectId: string;
  outcome?: Outcome;
  /** A reconcile that threw (the loop returns typed failures; a throw is a bug or a state-store outage). */
  error?: string;
}

export interface SweepSummary {
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  total: number;
  byOutcome: Record<string, number>;
  /** Projects whose principal is missing access, or whose check failed or was indeterminate. */
  attention: string[];
  errors: number;
  items: SweepItem[];
}

export interface SweepOptions {
  projectIds?: string[];
  /**
   * Reconciles that read a vault, in flight at once (default 8); with shared vault reads, as many again of those
   * that follow a vault's first check and find its reads warm.
   */
  concurrency?: number;
  /** Vault-reading reconciles in flight per subscription (default 4): ARM throttles per subscription. */
  perSubscription?: number;
  trigger?: Trigger;
  onResult?: (item: SweepItem, done: number, total: number) => void;
  /** Write the summary row and heartbeat (default true). */
  record?: boolean;
  /**
   * Keep each project's full outcome in `items` (default true, for the CLI's table). The timer sweep keeps only
   * the project ID and the outcome's kind, so its memory does not grow with verdicts as projects are added.
   */
  keepOutcomes?: boolean;
  /**
   * Observe each vault once per sweep (vault, the principal's assignments, deny assignments), shared by every
   * project whose key lives in it; keys are still read per project. Default true. Entries live at most
   * `sharedReadTtlMs` (default 60 s) and a vault's entries are dropped after any write to it, so a restore is
   * always verified against fresh reads.
   */
  shareVaultReads?: boolean;
  sharedReadTtlMs?: number;
}

function subscriptionOf(vaultId: string | undefined): string {
  return /^\/subscriptions\/([^/]+)/i.exec(vaultId ?? '')?.[1]?.toLowerCase() ?? '?';
}

export function needsAttention(o: Outcome | undefined): boolean {
  if (!o) return true;
  if (o.kind === 'failed' || o.kind === 'retry' || o.kind === 'alerted') return true;
  return o.verdict !== undefined && o.verdict.verdict !== 'granted' && o.kind !== 'restored';
}

/** A finished sweep's summary: its times from `started` to now, and what it found. */
export function sweepSummary(
  started: number,
  total: number,
  found: Pick<SweepSummary, 'byOutcome' | 'attention' | 'errors' | 'items'>,
): SweepSummary {
  const finished = Date.now();
  return {
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationMs: finished - started,
    total,
    ...found,
  };
}

/**
 * The sweep's order: projects grouped by the vault their last check saw (a project never checked is a group of its
 * own). The first of a group reads the vault (its reads are shared); the rest follow once it is done and find them
 * warm, so they ask ARM nothing and need no slot of the subscription's ARM limit.
 */
export function vaultGroups(ids: string[], vaultOf: (projectId: string) => string | undefined): string[][] {
  const groups = new Map<string, string[]>();
  const alone: string[][] = [];
  for (const id of ids) {
    const v = vaultOf(id)?.toLowerCase();
    if (!v) alone.push([id]);
    else if (groups.has(v)) groups.get(v)!.push(id);
    else groups.set(v, [id]);
  }
  return [...groups.values(), ...alone];
}

interface SweepRun {
  engine: Engine;
  trigger: Trigger;
  overrides: Partial<ReconcileDeps>;
  opts: SweepOptions;
  total: number;
  found: Pick<SweepSummary, 'byOutcome' | 'attention' | 'errors' | 'items'>;
  done: number;
}

/** One project's reconcile in the slots given, counted into the run's findings. */
async function sweepOne(run: SweepRun, projectId: string, slots: Semaphore[]): Promise<void> {
  const item: SweepItem = { projectId };
  try {
    item.outcome = await withSlots(slots, () => run.engine.reconcile(projectId, run.trigger, run.overrides));
  } catch (err) {
    item.error = err instanceof Error ? err.message : String(err);
  }
  const { found, opts } = run;
  const k = item.outcome?.kind ?? 'error';
  found.byOutcome[k] = (found.byOutcome[k] ?? 0) + 1;
  if (item.error || needsAttention(item.outcome)) found.attention.push(projectId);
  if (item.error) found.errors++;
  opts.onResult?.(item, ++run.done, run.total);
  found.items.push(opts.keepOutcomes === false ? { projectId, ...(item.error ? { error: item.error } : {}) } : item);
}

export async function runSweep(engine: Engine, opts: SweepOptions = {}): Promise<SweepSummary> {
  const started = Date.now();
  const ids = opts.projectIds ?? (await engine.listProjectIds());
  const trigger: Trigger = opts.trigger ?? { kind: 'timer' };
  const state = engine.deps.state;
  // The subscription and vault of each project, from the last check (unknown projects share one bucket).
  // With the index rows this instance has not written yet (a fresh instance would re-write them all).
  const [projects] = await Promise.all([state.listProjects(), state.loadIndexMemo().catch(() => undefined)]);
  const rows = new Map(projects.map((r) => [r.projectId, r]));
  const limit = Math.max(1, opts.concurrency ?? 8);
  const global = new Semaphore(limit);
  const followers = new Semaphore(limit);
  const perSub = new Map<string, Semaphore>();
  const subLimit = Math.max(1, opts.perSubscription ?? 4);
  const subSlot = (id: string) => {
    const sub = subscriptionOf(rows.get(id)?.vaultId);
    if (!perSub.has(sub)) perSub.set(sub, new Semaphore(subLimit));
    return perSub.get(sub)!;
  };
  // Each project's check starts from the row listed above (read before its observation): no read of its own.
  const overrides: Partial<ReconcileDeps> = { rowsReadBefore: rows };
  const shared = opts.shareVaultReads !== false;
  if (shared) overrides.azure = new SharedVaultReads(sweepReads(engine.deps.azure), opts.sharedReadTtlMs);
  const found = { byOutcome: {}, attention: [] as string[], errors: 0, items: [] as SweepItem[] };
  const run: SweepRun = { engine, trigger, overrides, opts, total: ids.length, found, done: 0 };
  // Without shared reads every project reads ARM itself: one group each, all under the subscription's limit.
  const groups = shared ? vaultGroups(ids, (id) => rows.get(id)?.vaultId) : ids.map((id) => [id]);
  await Promise.all(
    groups.map(async ([leader, ...rest]) => {
      await sweepOne(run, leader!, [subSlot(leader!), global]);
      await Promise.all(rest.map((id) => sweepOne(run, id, [followers])));
    }),
  );

  const summary = sweepSummary(started, ids.length, {
    ...found,
    attention: found.attention.sort(),
    items: found.items.sort((a, b) => a.projectId.localeCompare(b.projectId)),
  });
  if (opts.record !== false) await recordSweep(engine, summary, trigger);
  return summary;
}

/** One history row under the `_sweep` partition, the heartbeat and its metric (only for sweeps that finished). */
export async function recordSweep(engine: Engine, s: SweepSummary, trigger: Trigger): Promise<void> {
  const state = engine.deps.state;
  await state.appendHistory({
    projectId: SWEEP_PARTITION,
    kind: 'check',
    trigger: trigger.kind,
    summary: `sweep of ${s.total} project(s) in ${s.durationMs} ms: ${
      Object.entries(s.byOutcome)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ') || 'nothing to do'
    }`,
    detail: { byOutcome: s.byOutcome, attention: s.attention, errors: s.errors, durationMs: s.durationMs },
  });
  await writeHeartbeat(state, {
    finishedAt: s.finishedAt,
    startedAt: s.startedAt,
    durationMs: s.durationMs,
    projects: s.total,
    outcomes: s.byOutcome,
    errors: s.errors,
    instance: process.env.WEBSITE_INSTANCE_ID ?? hostname(),
  });
  // The heartbeat metric, counted here only (timer, fan-out, CLI and local host all record through this), with
  // the outcome the "no completed sweep" alert rule queries.
  recordSweepMetric({ durationSeconds: s.durationMs / 1000, projects: s.total, outcome: 'completed' });
}
