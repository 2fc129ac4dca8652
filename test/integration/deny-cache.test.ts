// Deny assignments held between checks (src/loop/denyCache.ts): a warm check makes no deny read, and a deny
// assignment created while a list is held is still caught within the documented bound: the TTL, the next sweep,
// or an event about a deny assignment's owner (a deployment stack here). Real SDK clients against the sandbox.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { DenyAssignmentCache, forgetDenyAssignments } from '../../src/loop/denyCache.js';
import { runSweep } from '../../src/loop/sweep.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';

let w: World;
beforeAll(async () => {
  w = await startWorld();
}, 60_000);
afterAll(() => w?.close());

const TTL = 60_000;

function denyDecrypt(p: WorldProject): void {
  // What a deployment stack with deny settings creates: Azure's own deny assignment, here on decrypt for everyone.
  w.sandbox.control.addDenyAssignment({
    scope: p.vaultId,
    principals: [{ id: '00000000-0000-0000-0000-000000000000', type: 'SystemDefined' }],
    dataActions: ['Microsoft.KeyVault/vaults/keys/decrypt/action'],
  });
}

const denyReads = () => w.sandbox.control.counts().byCallerOperation['ear-guard']?.['denyAssignments.list'] ?? 0;

/** A deny cache over the engine's ARM port with a clock the test moves. */
function cacheWithClock(): { cache: DenyAssignmentCache; clock: { t: number }; engine: Engine } {
  const clock = { t: Date.now() };
  const arm = (w.engine.deps.azure as DenyAssignmentCache).inner;
  const cache = new DenyAssignmentCache(arm, TTL, () => clock.t);
  const engine: Engine = {
    ...w.engine,
    deps: { ...w.engine.deps, azure: cache },
    reconcile: (id, trigger, overrides) => w.engine.reconcile(id, trigger, { azure: cache, ...overrides }),
  };
  return { cache, clock, engine };
}

describe('deny assignment cache', () => {
  it('the engine holds deny lists: a warm healthy check reads the vault, the assignments and the key only', async () => {
    const p = await w.addProject({ model: 'rbac' });
    expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    w.sandbox.control.resetCounts();
    // An event-triggered check (a periodic one also reads time-bound PIM grants, shared per vault in a sweep).
    expect((await w.engine.reconcile(p.projectId, { kind: 'event', eventId: 'warm-check' })).kind).toBe('converged');
    const ops = w.sandbox.control.counts().byCallerOperation['ear-guard'] ?? {};
    expect(ops['denyAssignments.list'] ?? 0).toBe(0);
    expect(Object.values(ops).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(3);
  });

  it('a deny assignment created while the list is held is caught once the TTL has passed', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const { clock, engine } = cacheWithClock();
    expect((await engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    denyDecrypt(p);
    w.sandbox.control.resetCounts();
    clock.t += TTL - 1;
    // Inside the bound the held list answers (documented): no deny read, no deny in the verdict yet (Atlas's own
    // validation may already fail: that is flagged on its own).
    const inside = await engine.reconcile(p.projectId, { kind: 'timer' });
    expect(inside.kind).not.toBe('failed');
    expect(denyReads()).toBe(0);
    clock.t += 2;
    const o = await engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.kind).toBe('failed');
    expect(o.kind === 'failed' && o.reason).toMatch(/deny assignment/);
    expect(denyReads()).toBe(1);
  });

  it('the next sweep re-reads deny assignments and refreshes the held list for single checks', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const { engine } = cacheWithClock();
    expect((await engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    denyDecrypt(p);
    const s = await runSweep(engine, { projectIds: [p.projectId], keepOutcomes: true, record: false });
    expect(s.items[0]!.outcome?.kind).toBe('failed');
    w.sandbox.control.resetCounts();
    // The single check after the sweep sees the refreshed list without reading it again.
    const o = await engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.kind === 'failed' && o.reason).toMatch(/deny assignment/);
    expect(denyReads()).toBe(0);
  });

  it('an event about a deployment stack drops the held lists; other events do not', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const { cache, engine } = cacheWithClock();
    expect((await engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    denyDecrypt(p);
    const rg = `/subscriptions/${w.sandbox.subscriptionId}/resourceGroups/${p.resourceGroup}`;
    const event = (subject: string, operationName: string) => ({
      subject,
      type: 'Microsoft.Resources.ResourceWriteSuccess',
      data: { operationName, resourceUri: subject },
    });
    expect(
      forgetDenyAssignments(cache, [
        event(`${rg}/providers/Microsoft.Storage/storageAccounts/x`, 'Microsoft.Storage/storageAccounts/write'),
      ]),
    ).toBe(false);
    expect((await engine.reconcile(p.projectId, { kind: 'timer' })).kind).not.toBe('failed');
    const stack = `${rg}/providers/Microsoft.Resources/deploymentStacks/protect-keys`;
    expect(forgetDenyAssignments(cache, [event(stack, 'Microsoft.Resources/deploymentStacks/write')])).toBe(true);
    const o = await engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.kind === 'failed' && o.reason).toMatch(/deny assignment/);
  });
});
