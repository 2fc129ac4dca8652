import { describe, expect, it } from 'vitest';
import { assessHealth, formatAge, schedulePeriodSeconds, MISSED_PERIODS } from '../../src/observability/health.js';
import type { Heartbeat } from '../../src/state/heartbeat.js';

const now = new Date('2026-03-01T12:00:00Z');
const hb = (finishedAt: string): Heartbeat => ({ finishedAt, projects: 3, outcomes: { converged: 3 }, errors: 0 });

describe('schedule period', () => {
  it.each([
    ['0 */5 * * * *', 300],
    ['0 */15 * * * *', 900],
    ['*/30 * * * * *', 30],
    ['0 0 * * * *', 3600],
    // 09:00 and 17:00 every day: the widest gap (16 h) is the period that matters.
    ['0 0 9,17 * * *', 16 * 3600],
  ])('%s -> %i s', (schedule, seconds) => {
    expect(schedulePeriodSeconds(schedule, now)).toBe(seconds);
  });

  it('names the setting when the schedule does not parse', () => {
    expect(() => schedulePeriodSeconds('every five minutes', now)).toThrow(
      /EAR_GUARD_SWEEP_SCHEDULE: 'every five minutes'/,
    );
  });
});

describe('assessHealth', () => {
  const schedule = '0 */5 * * * *';
  it('is healthy when the last sweep finished within two periods and storage answered', () => {
    const r = assessHealth({ heartbeat: hb('2026-03-01T11:51:00Z'), schedule, now });
    expect(r).toMatchObject({
      healthy: true,
      reasons: [],
      storage: 'reachable',
      sweepAgeSeconds: 540,
      maxSweepAgeSeconds: 600,
    });
  });

  it('is unhealthy just past two periods, saying how late', () => {
    const r = assessHealth({ heartbeat: hb('2026-03-01T11:49:59Z'), schedule, now });
    expect(MISSED_PERIODS).toBe(2);
    expect(r.healthy).toBe(false);
    expect(r.reasons[0]).toMatch(/last sweep finished 10 min ago .*expected within 10 min/);
  });

  it('is unhealthy before any sweep has completed', () => {
    expect(assessHealth({ heartbeat: undefined, schedule, now }).reasons).toEqual(['no sweep has completed yet']);
  });

  it('is unhealthy when storage is unreachable, even with a fresh heartbeat', () => {
    const r = assessHealth({ heartbeat: hb('2026-03-01T11:59:00Z'), storageError: 'state 503: down', schedule, now });
    expect(r.healthy).toBe(false);
    expect(r.storage).toBe('unreachable');
    expect(r.reasons).toEqual(['state storage unreachable: state 503: down']);
  });

  it('rejects a heartbeat whose time is not a time', () => {
    expect(assessHealth({ heartbeat: hb('yesterday'), schedule, now }).healthy).toBe(false);
  });

  it('formats ages for people', () => {
    expect([formatAge(42), formatAge(600), formatAge(7500), formatAge(3 * 86400 + 4 * 3600)]).toEqual([
      '42 s',
      '10 min',
      '2 h 5 min',
      '3 d 4 h',
    ]);
  });
});

describe('assessHealth: the last sweep must have completed its checks, not only finished', () => {
  const recent = '2026-03-01T11:58:00Z';
  const sweep = (outcomes: Record<string, number>, errors = 0): Heartbeat => ({
    finishedAt: recent,
    projects: Object.values(outcomes).reduce((a, b) => a + b, 0) + errors,
    outcomes,
    errors,
  });

  it('is unhealthy when every check of the last sweep failed or must retry', () => {
    const r = assessHealth({ heartbeat: sweep({ failed: 2 }), schedule: '0 */5 * * * *', now });
    expect(r.healthy).toBe(false);
    expect(r.reasons.join(' ')).toMatch(/2 of 2 checks .*did not complete/);
    expect(assessHealth({ heartbeat: sweep({ retry: 1 }, 1), schedule: '0 */5 * * * *', now }).healthy).toBe(false);
  });

  it('stays healthy when some checks completed, unless a configured share failed', () => {
    const hb2 = sweep({ failed: 1, converged: 3 });
    expect(assessHealth({ heartbeat: hb2, schedule: '0 */5 * * * *', now }).healthy).toBe(true);
    expect(assessHealth({ heartbeat: hb2, schedule: '0 */5 * * * *', now, maxFailedShare: 0.25 }).healthy).toBe(false);
    // A sweep of no projects has no checks to fail.
    expect(assessHealth({ heartbeat: sweep({}), schedule: '0 */5 * * * *', now }).healthy).toBe(true);
  });
});
