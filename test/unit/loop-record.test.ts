// What the loop records about who changed access and when: event claims are labelled as claims, a coalesced batch
// names every claimed caller (not whichever event came first), and a claimed event time is bounded by what the
// loop observed (issue 18: forged claims renamed a real deletion, a forged eventTime distorted time to restore).
import { describe, expect, it } from 'vitest';
import { groupByProject } from '../../src/events/handle.js';
import type { TriageResult } from '../../src/core/triage.js';
import { claimedChangers } from '../../src/loop/context.js';
import { changeTime } from '../../src/loop/record.js';

const T = (s: string) => Date.parse(s);

describe('changeTime', () => {
  const detected = T('2026-06-01T12:00:10Z');
  const healthyAt = { status: 'healthy' as const, lastCheck: '2026-06-01T12:00:00Z' };
  it('keeps a plausible event time', () => {
    expect(changeTime('2026-06-01T12:00:04Z', healthyAt, detected)).toBe('2026-06-01T12:00:04.000Z');
  });
  it('never before the last check that found the project healthy (a forged old time cannot inflate latency)', () => {
    expect(changeTime('2020-01-01T00:00:00Z', healthyAt, detected)).toBe('2026-06-01T12:00:00.000Z');
  });
  it('never after the detection (a forged future time cannot make latency negative)', () => {
    expect(changeTime('2030-01-01T00:00:00Z', healthyAt, detected)).toBe('2026-06-01T12:00:10.000Z');
  });
  it('without a healthy check to bound it, only the detection bounds it; no or bad time gives undefined', () => {
    expect(changeTime('2020-01-01T00:00:00Z', { status: 'drifted', lastCheck: healthyAt.lastCheck }, detected)).toBe(
      '2020-01-01T00:00:00.000Z',
    );
    expect(changeTime(undefined, healthyAt, detected)).toBeUndefined();
    expect(changeTime('not a time', healthyAt, detected)).toBeUndefined();
  });
});

describe('attribution', () => {
  it('labels a claimed caller as an unverified event claim', () => {
    expect(claimedChangers({ kind: 'event', actor: { upn: 'alice@contoso.com' } })).toBe(
      'alice@contoso.com (event claim, unverified)',
    );
    expect(claimedChangers({ kind: 'timer' })).toBeUndefined();
  });

  it('a coalesced batch names every caller its events claim, whatever their order and times', () => {
    const ev = (id: string, upn: string, time: string) => ({
      result: {
        eventId: id,
        triage: { eventId: id } as TriageResult,
        projects: ['p1'],
        outcomes: [],
      },
      trigger: { kind: 'event' as const, eventId: id, actor: { upn }, eventTime: time },
    });
    const forward = groupByProject([
      ev('1', 'alice@contoso.com', '2026-06-01T12:00:01Z'),
      ev('2', 'mallory@contoso.com', '2026-06-01T12:00:09Z'),
    ]);
    const backward = groupByProject([
      ev('2', 'mallory@contoso.com', '2026-06-01T12:00:09Z'),
      ev('1', 'alice@contoso.com', '2026-06-01T12:00:01Z'),
    ]);
    for (const g of [forward, backward]) {
      const t = g.get('p1')!.trigger;
      expect(new Set(t.claimedBy)).toEqual(new Set(['alice@contoso.com', 'mallory@contoso.com']));
      expect(claimedChangers(t)).toMatch(
        /alice@contoso\.com.*mallory@contoso\.com|mallory@contoso\.com.*alice@contoso\.com/,
      );
      expect(claimedChangers(t)).toMatch(/unverified/);
    }
  });
});
