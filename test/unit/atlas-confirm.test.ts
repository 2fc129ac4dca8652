// Atlas confirmation, the pure parts: the re-check schedule, the stage a pass is in, and the status page's two
// stages (grants restored, then Atlas confirmed).
import { describe, expect, it } from 'vitest';
import { DEFAULT_ATLAS_CONFIRM, atlasStage, nextRecheckMs } from '../../src/loop/atlasConfirm.js';
import type { PassResult } from '../../src/loop/context.js';
import { renderDashboard } from '../../src/dashboard/render.js';
import { newProjectRecord, type HistoryRow, type ProjectRecord } from '../../src/state/store.js';

const T0 = Date.parse('2026-03-01T11:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function result(kind: 'restored' | 'alerted' | 'converged', flags: string[], verdict = 'granted'): PassResult {
  return {
    outcome: {
      kind,
      reason: 'x',
      projectId: 'p',
      correlationId: 'c',
      status: kind === 'alerted' ? 'degraded' : 'healthy',
      verdict: { verdict } as never,
      flags,
      plan: [],
      actions: [],
      alerts: [],
    } as never,
    update: (r) => r,
  };
}

describe('re-check schedule', () => {
  const p = DEFAULT_ATLAS_CONFIRM;
  it('starts at firstMs, grows with the time since the change, caps at maxMs, stops after the window', () => {
    expect(nextRecheckMs(iso(T0), T0 + 100, p)).toBe(p.firstMs);
    expect(nextRecheckMs(iso(T0), T0 + 8_000, p)).toBe(4_000);
    expect(nextRecheckMs(iso(T0), T0 + 5 * 60_000, p)).toBe(p.maxMs);
    expect(nextRecheckMs(iso(T0), T0 + p.windowMs + 1, p)).toBeUndefined();
    expect(nextRecheckMs(undefined, T0, p)).toBeUndefined();
  });
  it('asks Atlas about 25 times across the 15-minute window (about once a minute once backed off)', () => {
    let t = T0;
    let asks = 0;
    for (let d = nextRecheckMs(iso(T0), t, p); d !== undefined; d = nextRecheckMs(iso(T0), t, p)) {
      t += d;
      asks++;
    }
    expect(asks).toBeLessThanOrEqual(26);
    expect(asks).toBeGreaterThan(10);
  });
});

describe('atlasStage', () => {
  const p = { ...DEFAULT_ATLAS_CONFIRM, windowMs: 60_000 };
  const row = (patch: Partial<ProjectRecord> = {}) => ({ ...newProjectRecord('p'), ...patch });
  it('a restore is pending from the change, whatever Atlas said before it', () => {
    expect(atlasStage(result('restored', []), row(), { valid: false, at: T0 }, iso(T0 - 500), p)).toEqual({
      kind: 'pending',
      since: iso(T0 - 500),
      soften: false,
    });
  });
  it('valid while pending confirms, with the time from the change', () => {
    const s = atlasStage(
      result('converged', []),
      row({ atlasPendingSince: iso(T0) }),
      { valid: true, at: T0 + 4_000 },
      '',
      p,
    );
    expect(s).toEqual({ kind: 'confirmed', since: iso(T0), afterMs: 4_000 });
  });
  it("Atlas's false with access intact is pending inside the window, still-invalid after it", () => {
    const r = result('alerted', ['atlas-invalid-while-azure-granted']);
    const pending = row({ atlasPendingSince: iso(T0) });
    expect(atlasStage(r, pending, { valid: false, at: T0 + 1_000 }, '', p).kind).toBe('pending');
    expect(atlasStage(r, pending, { valid: false, at: T0 + 61_000 }, '', p).kind).toBe('still-invalid');
  });
  it("Atlas's false beside another finding (a disabled key) is not propagation", () => {
    const r = result('alerted', ['key-disabled', 'atlas-invalid-while-azure-granted']);
    expect(atlasStage(r, row(), { valid: false, at: T0 }, '', p).kind).toBe('none');
  });
});

describe('status page: both stages', () => {
  const base = (patch: Partial<ProjectRecord>): ProjectRecord => ({
    ...newProjectRecord('aaaaaaaaaaaaaaaaaaaaaaa1'),
    status: 'restored',
    lastCheck: '2026-03-01T11:00:10Z',
    ...patch,
  });
  const rows: HistoryRow[] = [
    {
      projectId: 'aaaaaaaaaaaaaaaaaaaaaaa1',
      kind: 'detection',
      at: '2026-03-01T11:00:00Z',
      rowKey: '1',
      summary: 'drift',
    },
    {
      projectId: 'aaaaaaaaaaaaaaaaaaaaaaa1',
      kind: 'verification',
      at: '2026-03-01T11:00:01Z',
      rowKey: '2',
      summary: 'after restore: granted',
      detail: { verdict: 'granted' },
    },
  ];
  const now = new Date('2026-03-01T11:10:00Z');
  it('shows "waiting for Atlas" while pending, then the confirmation time', () => {
    const pending = renderDashboard({
      projects: [base({ atlasPendingSince: '2026-03-01T11:00:00Z', atlasValid: false })],
      history: { aaaaaaaaaaaaaaaaaaaaaaa1: rows },
      heartbeat: undefined,
      now,
    });
    expect(pending).toContain('data-atlas="pending"');
    const confirmedRow: HistoryRow = {
      projectId: 'aaaaaaaaaaaaaaaaaaaaaaa1',
      kind: 'atlas-confirmed',
      at: '2026-03-01T11:04:00Z',
      rowKey: '3',
      summary: 'Atlas reports the key valid again',
      detail: { afterMs: 240_000 },
    };
    const confirmed = renderDashboard({
      projects: [base({ atlasValid: true, atlasValidAt: '2026-03-01T11:04:00Z' })],
      history: { aaaaaaaaaaaaaaaaaaaaaaa1: [confirmedRow, ...rows] },
      heartbeat: undefined,
      now,
    });
    expect(confirmed).toContain('data-atlas="confirmed"');
    expect(confirmed).toContain('Atlas confirmed');
  });
});
