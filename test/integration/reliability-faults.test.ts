// Reliability under faults: 20% of ARM and Atlas requests fail (429 with Retry-After, 503, connection resets) or
// are slow; a persistent failure; and a crash between the grant's write and its record. Real SDK clients against
// the sandbox (faults injected there), state in Azurite.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { applyRestorePlan, planRestore, type Outcome } from '../../src/loop/index.js';
import { AtlasAdapter } from '../../src/atlas/target.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';
import { props, guidOf } from '../helpers/arm.js';

let w: World;

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A path matcher that matches ARM and Atlas requests with probability `p` (seeded: the same run every time). */
class Flaky extends RegExp {
  constructor(
    private readonly p: number,
    private readonly random: () => number,
  ) {
    super('^/(subscriptions|api/atlas)/', 'i');
  }
  override test(path: string): boolean {
    return super.test(path) && this.random() < this.p;
  }
}

function deleteRole(p: WorldProject, roleGuid: string): void {
  const a = w.sandbox.control
    .roleAssignments({ scope: p.vaultId, principalId: p.principalId })
    .find((x) => guidOf(props(x).roleDefinitionId) === roleGuid);
  if (!a) throw new Error(`no ${roleGuid} to delete`);
  w.sandbox.control.deleteAssignment({ as: 'alice', id: String(a.id) });
}
const valid = (p: WorldProject) => w.sandbox.control.checkAccess({ vault: p.vaultName, key: p.keyName }).valid;
const earGuardOps = () => w.sandbox.control.counts().byCallerOperation['ear-guard'] ?? {};

beforeAll(async () => {
  w = await startWorld({ env: { EAR_GUARD_MAX_RESTORES: '50' } });
}, 60_000);
afterAll(async () => {
  await w?.close();
});
afterEach(() => {
  w.sandbox.control.clearFaults();
  w.atlas.setAtlasFault?.(null as never);
});

describe('faults', () => {
  it('with 20% of ARM and Atlas requests failing or slow, every project converges, no grant is written twice, every failure is in history', async () => {
    const rbac = await Promise.all(Array.from({ length: 5 }, () => w.addProject({ model: 'rbac' })));
    const ap = await Promise.all(Array.from({ length: 2 }, () => w.addProject({ model: 'accessPolicy' })));
    const all = [...rbac, ...ap];
    for (const p of all) await w.engine.reconcile(p.projectId, { kind: 'timer' });
    for (const p of rbac) deleteRole(p, ROLE_IDS.keyVaultCryptoUser);
    deleteRole(rbac[0]!, ROLE_IDS.reader);
    for (const p of ap) {
      w.sandbox.control.setAccessPolicy({
        vault: p.vaultName,
        objectId: p.principalId,
        keys: ['get', 'decrypt'],
        op: 'remove',
        as: 'alice',
      });
    }
    w.sandbox.control.resetCounts();
    const random = rng(7);
    // Four faults of 5% each: 20% of requests misbehave (the first matching rule applies; latency passes on).
    w.sandbox.control.setFault({ path: new Flaky(0.05, random) }, { kind: 'error', status: 429, retryAfterSeconds: 1 });
    w.sandbox.control.setFault({ path: new Flaky(0.05 / 0.95, random) }, { kind: 'error', status: 503 });
    w.sandbox.control.setFault({ path: new Flaky(0.05 / 0.9, random) }, { kind: 'reset' });
    w.sandbox.control.setFault({ path: new Flaky(0.05 / 0.85, random) }, { kind: 'latency', ms: 30 });

    // The timer keeps sweeping until everything converged (bounded).
    const outcomes: Outcome[] = [];
    for (let round = 0; round < 12; round++) {
      const os = await Promise.all(all.map((p) => w.engine.reconcile(p.projectId, { kind: 'timer' })));
      outcomes.push(...os);
      if (os.every((o) => o.kind === 'converged') && all.every(valid)) break;
    }
    const hits = w.sandbox.control.faults().reduce((n, f) => n + f.hits, 0);
    w.sandbox.control.clearFaults();
    expect(hits).toBeGreaterThan(10);
    for (const p of all) expect(valid(p)).toBe(true);

    // No duplicate assignment: each required role exactly once per vault, whatever was retried.
    for (const p of rbac) {
      const guids = w.sandbox.control
        .roleAssignments({ scope: p.vaultId, principalId: p.principalId })
        .map((a) => guidOf(props(a).roleDefinitionId))
        .sort();
      expect(guids).toEqual([ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader].sort());
    }
    expect(Object.keys(earGuardOps()).filter((k) => /delete|vaults\.(createOrUpdate|update)$/.test(k))).toEqual([]);

    // Every failed or retried reconcile left its reason in history under its correlation ID.
    const failures = outcomes.filter((o) => o.kind === 'failed' || o.kind === 'retry');
    for (const o of failures) {
      const hist = await w.engine.deps.state.listHistory(o.projectId);
      const mine = hist.filter((h) => h.correlationId === o.correlationId);
      expect(
        mine.some(
          (h) => h.kind === 'error' || (h.kind === 'action' && /failed/.test(h.summary)) || h.kind === 'verification',
        ),
        `${o.kind}: ${'reason' in o ? o.reason : ''}`,
      ).toBe(true);
    }
    // A failed check is never reported as converged or healthy.
    for (const o of failures) expect(o.status).not.toBe('healthy');
    for (const p of all) {
      const row = (await w.engine.deps.state.getProject(p.projectId))!;
      expect(['healthy', 'restored']).toContain(row.status);
      expect(row.leaseOwner ?? '').toBe('');
    }
  }, 90_000);

  it('a persistent ARM failure raises CheckFailing once and never reports converged', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await w.engine.reconcile(p.projectId, { kind: 'timer' });
    w.sandbox.control.setFault({ path: p.vaultId }, { kind: 'error', status: 503 });
    const kinds: string[] = [];
    for (let i = 0; i < 4; i++) kinds.push((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind);
    expect(kinds).toEqual(['failed', 'failed', 'failed', 'failed']);
    const row = (await w.engine.deps.state.getProject(p.projectId))!;
    expect(row.status).toBe('failing');
    expect(row.lastError).toMatch(/503/);
    expect(w.webhookAlerts.filter((a) => a.projectId === p.projectId).map((a) => a.type)).toEqual([
      'AtlasEarGuard.CheckFailing',
    ]);
    const hist = await w.engine.deps.state.listHistory(p.projectId);
    expect(hist.filter((h) => h.kind === 'error')).toHaveLength(4);
    w.sandbox.control.clearFaults();
    expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
  }, 30_000);

  it('CheckFailing waits for EAR_GUARD_CHECK_FAILING_AFTER failures in a row; a completed check resets the count', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await w.engine.reconcile(p.projectId, { kind: 'timer' });
    const alerts = () => w.webhookAlerts.filter((a) => a.projectId === p.projectId).map((a) => a.type);
    const fault = () => w.sandbox.control.setFault({ path: p.vaultId }, { kind: 'error', status: 503 });
    fault();
    expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('failed');
    expect(alerts()).toEqual([]);
    expect((await w.engine.deps.state.getProject(p.projectId))!.consecutiveFailures).toBe(1);
    // A blip: the next check completes, the count resets, nothing was alerted.
    w.sandbox.control.clearFaults();
    expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    expect((await w.engine.deps.state.getProject(p.projectId))!.consecutiveFailures).toBe(0);
    fault();
    await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(alerts()).toEqual([]);
    await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(alerts()).toEqual(['AtlasEarGuard.CheckFailing']);
    w.sandbox.control.clearFaults();
  }, 30_000);
});

describe('crash between write and record', () => {
  it('the grant exists but the reconcile died before recording: the next one (after the lease) notices, records, and history tells the story', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await w.engine.reconcile(p.projectId, { kind: 'timer' });
    deleteRole(p, ROLE_IDS.keyVaultCryptoUser);
    // The dying instance: took the lease, judged, wrote the grant with the loop's own act step, then crashed.
    const state = w.engine.deps.state;
    await state.updateProject(p.projectId, (cur) => ({
      ...cur,
      leaseOwner: 'crashed-instance',
      leaseUntil: new Date(Date.now() + 60_000).toISOString(),
    }));
    const target = await (w.engine.deps.atlas as AtlasAdapter).loadTarget(p.projectId);
    if (target.kind !== 'target') throw new Error(target.kind);
    const inspectBefore = await import('../../src/loop/index.js').then((m) =>
      m.inspectTarget(target.target, { azure: w.engine.deps.azure }),
    );
    expect(inspectBefore.verdict.verdict).toBe('missing');
    const { plan } = planRestore(target.target, inspectBefore.verdict, w.sandbox.tenantId, {
      restoreScope: 'vault',
      roles: [ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader],
    });
    const acts = await applyRestorePlan(target.target, plan, { azure: w.engine.deps.azure });
    expect(acts.map((a) => a.result)).toEqual(['created']);
    expect(valid(p)).toBe(true);
    const stale = (await state.getProject(p.projectId))!;
    expect(stale.status).toBe('healthy'); // what was recorded before the crash: the restore is not in state

    // While the dead lease is live, a trigger is recorded as a request, nothing is written, and the caller is told
    // to retry (a redelivered event gets a retryable answer, not a 200 that drops it).
    w.sandbox.control.resetCounts();
    const early = await w.engine.reconcile(p.projectId, { kind: 'event', eventId: 'ev-during-lease' });
    expect(early.kind).toBe('retry');
    expect(early.kind === 'retry' && early.afterMs).toBeGreaterThan(0);
    expect(earGuardOps()['roleAssignments.create'] ?? 0).toBe(0);

    // Another instance after the lease expired: finds the grant in place, writes nothing, records the truth.
    const later = await w.newEngine({ now: () => Date.now() + 61_000 });
    const o = await later.reconcile(p.projectId, { kind: 'timer' });
    expect(o.kind).toBe('converged');
    expect(earGuardOps()['roleAssignments.create'] ?? 0).toBe(0);
    const row = (await state.getProject(p.projectId))!;
    expect(row).toMatchObject({ status: 'healthy', verdict: 'granted' });
    expect(row.leaseOwner ?? '').toBe('');
    expect(row.requested).toBeGreaterThan(stale.requested);
    const hist = await state.listHistory(p.projectId);
    // Newest first: the take-over's check says access is granted; the trigger that met the dead lease is kept.
    expect(hist[0]!.kind).toBe('check');
    expect(hist[0]!.summary).toMatch(/access granted/);
  }, 30_000);
});
