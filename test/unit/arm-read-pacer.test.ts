// The ARM read pacer models ARM's per-subscription read bucket (250 at once, 25 per second): reads within the burst
// go at once, the next ones wait for the refill, and ARM's own remaining count lowers the model (other callers spend
// the same bucket).
import { describe, expect, it } from 'vitest';
import { ArmReadPacer } from '../../src/azure/clients.js';

function pacer() {
  let t = 0;
  const p = new ArmReadPacer({ burst: 250, perSecond: 25 }, () => t);
  return { p, advance: (ms: number) => (t += ms) };
}

describe('ArmReadPacer', () => {
  it('lets the burst through at once, then spaces reads at the refill rate', () => {
    const { p } = pacer();
    const waits = Array.from({ length: 252 }, () => p.reserve('sub'));
    expect(waits.slice(0, 250).every((w) => w === 0)).toBe(true);
    expect(waits[250]).toBeCloseTo(40);
    expect(waits[251]).toBeCloseTo(80);
  });

  it('refills with time, up to the burst, and keeps subscriptions apart', () => {
    const { p, advance } = pacer();
    for (let i = 0; i < 250; i++) p.reserve('a');
    expect(p.reserve('b')).toBe(0);
    advance(1000);
    for (let i = 0; i < 24; i++) expect(p.reserve('a')).toBe(0);
    expect(p.reserve('a')).toBe(0);
    expect(p.reserve('a')).toBeGreaterThan(0);
    advance(3_600_000);
    const waits = Array.from({ length: 251 }, () => p.reserve('a'));
    expect(waits.filter((w) => w > 0)).toHaveLength(1);
  });

  it("follows ARM's remaining count down, never up", () => {
    const { p } = pacer();
    p.reserve('sub');
    p.observe('sub', 1);
    expect(p.reserve('sub')).toBe(0);
    expect(p.reserve('sub')).toBeCloseTo(40);
    p.observe('sub', 200);
    expect(p.reserve('sub')).toBeCloseTo(80);
  });
});
