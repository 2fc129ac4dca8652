// Recovery confirmed by Atlas, end to end: the real SDK clients and Atlas client against the HTTPS sandbox with a
// propagation delay (a new grant reaches Key Vault's data plane, and so Atlas's `valid`, only after it), state in
// Azurite. The sandbox runs at timeScale 0.001: a 10-minute delay is 600 ms of real time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import type { Trigger } from '../../src/loop/index.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';
import { type Rec, props, guidOf } from '../helpers/arm.js';

let w: World;
const DELAY = 10 * 60_000; // sandbox ms: 600 ms real

beforeAll(async () => {
  w = await startWorld({
    sandbox: { atlasValidationIntervalMs: 0 },
    engine: {
      recheck: undefined, // the engine's own in-process re-checks
      policy: { atlasConfirm: { firstMs: 100, maxMs: 300, windowMs: 8_000 } },
    },
  });
});
afterAll(async () => {
  await w?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function dropCryptoUser(p: WorldProject): void {
  const a = w.sandbox.control
    .roleAssignments({ scope: p.vaultId, principalId: p.principalId })
    .find((x: Rec) => guidOf(props(x).roleDefinitionId) === ROLE_IDS.keyVaultCryptoUser);
  if (!a) throw new Error('no Crypto User assignment');
  w.sandbox.control.deleteAssignment({ as: 'alice', id: String(a.id) });
}
function eventTrigger(): Trigger {
  return { kind: 'event', eventId: `ev-${Math.random().toString(36).slice(2)}`, eventTime: new Date().toISOString() };
}
async function until<T>(read: () => Promise<T | undefined>, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (v !== undefined || Date.now() > end) return v;
    await sleep(50);
  }
}
function atlasValid(projectId: string): boolean {
  return w.atlas.validate(projectId).valid;
}

describe('recovery confirmed by Atlas under a propagation delay', () => {
  it('restores at once, then records atlas-confirmed once Atlas sees the grant, with no alarm in between', async () => {
    const p = await w.addProject({ model: 'rbac' });
    // What exists when the delay is set counts as propagated (the project's grants are not fresh).
    w.sandbox.control.setPropagationDelay({ ms: DELAY });
    expect(atlasValid(p.projectId)).toBe(true);
    dropCryptoUser(p);
    expect(atlasValid(p.projectId)).toBe(false); // a removal is seen at once
    const changedAt = Date.now();
    const o = await w.engine.reconcile(p.projectId, eventTrigger());
    expect(o.kind).toBe('restored');
    expect(o.flags).toContain('atlas-pending');
    // ARM has the grant back; Atlas's data plane does not yet.
    expect(atlasValid(p.projectId)).toBe(false);
    const pending = await w.engine.deps.state.getProject(p.projectId);
    expect(pending?.atlasPendingSince).toBeTruthy();

    const confirmed = await until(async () => {
      const h = await w.engine.deps.state.listHistory(p.projectId);
      return h.find((e) => e.kind === 'atlas-confirmed');
    }, 6_000);
    expect(confirmed, 'atlas-confirmed in history').toBeDefined();
    const afterMs = (confirmed!.detail as { afterMs: number }).afterMs;
    // Not before the grant propagated (600 ms real), and not much later than the backoff's cap after it.
    expect(afterMs).toBeGreaterThanOrEqual(DELAY * 0.001 - 50);
    expect(Date.parse(confirmed!.at) - changedAt).toBeLessThan(DELAY * 0.001 + 2_000);
    const row = await w.engine.deps.state.getProject(p.projectId);
    expect(row?.atlasValid).toBe(true);
    expect(row?.atlasValidAt).toBeTruthy();
    expect(row?.atlasPendingSince ?? '').toBe('');
    expect(row?.status === 'restored' || row?.status === 'healthy').toBe(true);
    // The restore went out; nothing claimed the project degraded while Atlas caught up.
    const types = w.webhookAlerts.filter((a) => a.projectId === p.projectId).map((a) => a.type);
    expect(types).toEqual(['AtlasEarGuard.AccessRestored']);
  });

  it('a pass inside the window while Atlas still says invalid is pending, not degraded', async () => {
    const p = await w.addProject({ model: 'rbac' });
    w.sandbox.control.setPropagationDelay({ duration: '10m' });
    dropCryptoUser(p);
    expect((await w.engine.reconcile(p.projectId, eventTrigger())).kind).toBe('restored');
    const again = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(atlasValid(p.projectId)).toBe(false);
    expect(again.kind).toBe('converged');
    expect(again.flags).toContain('atlas-pending');
    expect(again.flags).not.toContain('atlas-invalid-while-azure-granted');
    expect(again.alerts).toEqual([]);
  });
});

describe('AtlasStillInvalid', () => {
  let slow: World;
  beforeAll(async () => {
    // Propagation (1 h sandbox = 3.6 s real) longer than the confirmation window (1.5 s).
    slow = await startWorld({
      sandbox: { atlasValidationIntervalMs: 0 },
      engine: { policy: { atlasConfirm: { firstMs: 100, maxMs: 200, windowMs: 1_500 } } },
    });
  });
  afterAll(async () => {
    await slow?.close();
  });

  it("fires once when Atlas is not valid within the window, and the row keeps Atlas's view", async () => {
    const p = await slow.addProject({ model: 'rbac' });
    slow.sandbox.control.setPropagationDelay({ duration: '1h' });
    const a = slow.sandbox.control
      .roleAssignments({ scope: p.vaultId, principalId: p.principalId })
      .find((x: Rec) => guidOf(props(x).roleDefinitionId) === ROLE_IDS.keyVaultCryptoUser)!;
    slow.sandbox.control.deleteAssignment({ as: 'alice', id: String(a.id) });
    expect((await slow.engine.reconcile(p.projectId, eventTrigger())).kind).toBe('restored');
    const inside = await slow.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(inside.alerts).toEqual([]);
    await sleep(1_600);
    const after = await slow.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(after.status).toBe('degraded');
    expect(after.flags).toContain('atlas-still-invalid');
    expect(after.alerts).toEqual(['AtlasEarGuard.AtlasStillInvalid']);
    const third = await slow.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(third.alerts).toEqual([]); // news once, not every pass
    const row = await slow.engine.deps.state.getProject(p.projectId);
    expect(row?.atlasValid).toBe(false);
    expect(row?.atlasPendingSince).toBeTruthy();
    const sent = slow.webhookAlerts.filter((x) => x.projectId === p.projectId).map((x) => x.type);
    expect(sent).toEqual(['AtlasEarGuard.AccessRestored', 'AtlasEarGuard.AtlasStillInvalid']);
  });
});
