// The sweep's order (src/loop/sweep.ts vaultGroups): projects grouped by the vault their last check saw, so the
// first of a group reads the vault and the rest follow on warm shared reads.
import { describe, expect, it } from 'vitest';
import { vaultGroups } from '../../src/loop/sweep.js';

const V = (n: number) => `/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv${n}`;

describe('vaultGroups', () => {
  it('groups by vault (case-insensitively), in first-seen order, each project exactly once', () => {
    const vaults: Record<string, string | undefined> = {
      a: V(1),
      b: V(2),
      c: V(1).toUpperCase(),
      d: undefined,
      e: V(2),
    };
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const g = vaultGroups(ids, (id) => vaults[id]);
    expect(g).toEqual([['a', 'c'], ['b', 'e'], ['d'], ['f']]);
    expect(g.flat().sort()).toEqual([...ids].sort());
  });

  it('a project never checked (no vault yet) is a group of its own: it reads ARM under the subscription limit', () => {
    expect(vaultGroups(['x', 'y'], () => undefined)).toEqual([['x'], ['y']]);
  });
});
