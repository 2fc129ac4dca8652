// "Who watches the watcher": the remediator is healthy only when its last sweep finished within two schedule
// periods, that sweep's checks completed (not failed or left to retry for every project), and its state storage
// answers. Anything else is unhealthy, with the reason spelled out, so a probe
// (or a person) can tell "storage is down" from "the timer stopped firing" from "no sweep has ever run".
import { Cron } from 'croner';
import type { StateStore } from '../state/store.js';
import { readHeartbeat, type Heartbeat } from '../state/heartbeat.js';

/** Sweeps may be this many schedule periods late before the remediator counts as down. */
export const MISSED_PERIODS = 2;

/**
 * The longest gap between consecutive occurrences of an NCRONTAB schedule (6 fields, seconds first) over its next
 * runs, in seconds: for `0 *\/5 * * * *` that is 300. Irregular schedules get their widest gap (conservative).
 * Throws a clear error for a schedule that does not parse.
 */
export function schedulePeriodSeconds(schedule: string, from: Date = new Date()): number {
  let cron: Cron;
  try {
    cron = new Cron(schedule, { paused: true });
  } catch (err) {
    throw new Error(
      `EAR_GUARD_SWEEP_SCHEDULE: '${schedule}' is not an NCRONTAB schedule (${err instanceof Error ? err.message : String(err)})`,
      { cause: err },
    );
  }
  try {
    const runs = cron.nextRuns(25, from);
    if (runs.length < 2) throw new Error(`EAR_GUARD_SWEEP_SCHEDULE: '${schedule}' does not repeat`);
    let widest = 0;
    for (let i = 1; i < runs.length; i++) widest = Math.max(widest, runs[i]!.getTime() - runs[i - 1]!.getTime());
    return widest / 1000;
  } finally {
    cron.stop();
  }
}

export interface HealthReport {
  healthy: boolean;
  /** Human reasons; empty when healthy. */
  reasons: string[];
  storage: 'reachable' | 'unreachable';
  lastSweepFinishedAt?: string;
  /** Seconds since the last sweep finished. */
  sweepAgeSeconds?: number;
  /** The limit: MISSED_PERIODS schedule periods. */
  maxSweepAgeSeconds: number;
  schedule: string;
  heartbeat?: Heartbeat;
  checkedAt: string;
}

/**
 * Why the last sweep's checks count as not completed, or undefined: a check that failed (ARM/Atlas unreachable,
 * throttled, denied), must retry, or threw, is no verdict. Unhealthy when at least `maxFailedShare` of the projects
 * had no verdict (default 1: every project; a sweep that finished on time but checked nothing is not health).
 */
export function failedChecks(hb: Heartbeat, maxFailedShare = 1): string | undefined {
  const failed = (hb.outcomes.failed ?? 0) + (hb.outcomes.retry ?? 0) + hb.errors;
  if (hb.projects <= 0 || failed === 0 || failed / hb.projects < maxFailedShare) return undefined;
  return `${failed} of ${hb.projects} checks of the last sweep did not complete (failed, retry or error)`;
}

/** Pure judgement over what was read (tested exhaustively without storage). */
export function assessHealth(input: {
  heartbeat: Heartbeat | undefined;
  storageError?: string;
  schedule: string;
  now: Date;
  /** Share of projects whose check did not complete that makes the sweep unhealthy (default 1: all). */
  maxFailedShare?: number;
}): HealthReport {
  const period = schedulePeriodSeconds(input.schedule, input.now);
  const maxAge = MISSED_PERIODS * period;
  const reasons: string[] = [];
  const report: HealthReport = {
    healthy: false,
    reasons,
    storage: input.storageError ? 'unreachable' : 'reachable',
    maxSweepAgeSeconds: maxAge,
    schedule: input.schedule,
    checkedAt: input.now.toISOString(),
  };
  if (input.storageError) reasons.push(`state storage unreachable: ${input.storageError}`);
  const hb = input.heartbeat;
  if (hb) {
    report.heartbeat = hb;
    report.lastSweepFinishedAt = hb.finishedAt;
    const failed = failedChecks(hb, input.maxFailedShare);
    if (failed) reasons.push(failed);
    const finished = Date.parse(hb.finishedAt);
    if (!Number.isFinite(finished)) {
      reasons.push(`heartbeat: finishedAt '${hb.finishedAt}' is not a time`);
    } else {
      const age = Math.max(0, (input.now.getTime() - finished) / 1000);
      report.sweepAgeSeconds = Math.round(age);
      if (age > maxAge) {
        reasons.push(
          `last sweep finished ${formatAge(age)} ago (${hb.finishedAt}); expected within ${formatAge(maxAge)} (${MISSED_PERIODS} periods of '${input.schedule}')`,
        );
      }
    }
  } else if (!input.storageError) {
    reasons.push('no sweep has completed yet');
  }
  report.healthy = reasons.length === 0;
  return report;
}

/** Reads the heartbeat (which also proves storage answers) and judges it. */
export async function checkHealth(deps: {
  store: StateStore;
  schedule: string;
  now?: Date;
  maxFailedShare?: number;
}): Promise<HealthReport> {
  const now = deps.now ?? new Date();
  let heartbeat: Heartbeat | undefined;
  let storageError: string | undefined;
  try {
    heartbeat = await readHeartbeat(deps.store);
  } catch (err) {
    const e = err as { describe?: () => string; message?: string };
    storageError = typeof e.describe === 'function' ? e.describe() : String(e.message ?? err);
  }
  return assessHealth({ heartbeat, storageError, schedule: deps.schedule, now, maxFailedShare: deps.maxFailedShare });
}

/** `42 s`, `7 min`, `2 h 5 min`, `3 d 4 h`. */
export function formatAge(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  const h = Math.floor(s / 3600);
  const rest = Math.round((s % 3600) / 60);
  if (h < 48) return rest ? `${h} h ${rest} min` : `${h} h`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}
