import { describe, expect, it } from 'vitest';
import { Coalescer, RecentIds } from '../../src/functions/coalesce.js';

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

describe('Coalescer', () => {
  it('turns a burst during a run into exactly one trailing run', async () => {
    const c = new Coalescer<number>();
    let runs = 0;
    const g = gate();
    const first = c.run('p1', async () => {
      runs++;
      await g.p;
      return runs;
    });
    const burst = Array.from({ length: 50 }, () => c.run('p1', async () => ++runs));
    g.open();
    expect(await first).toBe(1);
    const results = await Promise.all(burst);
    expect(runs).toBe(2);
    expect(new Set(results)).toEqual(new Set([2]));
  });

  it('keeps keys independent and runs again after the trailing run ends', async () => {
    const c = new Coalescer<string>();
    const order: string[] = [];
    await Promise.all([c.run('a', async () => (order.push('a'), 'a')), c.run('b', async () => (order.push('b'), 'b'))]);
    await c.run('a', async () => (order.push('a2'), 'a2'));
    expect(order).toEqual(['a', 'b', 'a2']);
    expect(c.inFlight).toBe(0);
  });

  it('still runs the trailing run when the current one fails', async () => {
    const c = new Coalescer<string>();
    const g = gate();
    const failing = c.run('p', async () => {
      await g.p;
      throw new Error('boom');
    });
    const trailing = c.run('p', async () => 'second');
    g.open();
    await expect(failing).rejects.toThrow('boom');
    expect(await trailing).toBe('second');
  });
});

describe('RecentIds', () => {
  it('reports repeats and forgets the oldest beyond capacity', () => {
    const r = new RecentIds(2);
    expect(r.has('a')).toBe(false);
    r.add('a');
    expect(r.has('a')).toBe(true);
    r.add('b');
    r.add('c');
    expect(r.has('a')).toBe(false);
    expect(r.has('c')).toBe(true);
  });
});

describe('Coalescer rate bound', () => {
  it('starts runs for one key at least minIntervalMs apart, however many requests arrive', async () => {
    const c = new Coalescer<number>(100, 60);
    const starts: number[] = [];
    const fn = async () => {
      starts.push(Date.now());
      return starts.length;
    };
    await c.run('p', fn);
    // A flood after the first run: all join one trailing run, which waits out the interval.
    const flood = await Promise.all(Array.from({ length: 200 }, () => c.run('p', fn)));
    expect(new Set(flood)).toEqual(new Set([2]));
    expect(starts).toHaveLength(2);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(55);
    // Another key has its own interval.
    await c.run('q', fn);
    expect(starts).toHaveLength(3);
  });
});
