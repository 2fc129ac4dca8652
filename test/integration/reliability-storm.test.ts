// Reliability under load: an event storm (thousands of events: duplicates, unrelated resources, reordered, both
// schemas) while drift is injected, and one project reconciled from an event, the timer and the API at once.
// Real SDK clients against the sandbox, state in Azurite, the same handler the Functions app registers.
import azureFunctions from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { Coalescer, RecentIds } from '../../src/functions/coalesce.js';
import type { AppContext } from '../../src/functions/context.js';
import { handleAzureEvent } from '../../src/functions/onAzureEvent.js';
import { handleProjectsApi } from '../../src/functions/projectsApi.js';
import type { Outcome } from '../../src/loop/index.js';
import type { ChangeNotice } from '../../src/sandbox/contract.js';
import { resourceEvent, toCloudEvent } from '../../src/sandbox/eventgrid/events.js';
import { loadSettings } from '../../src/settings.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';
import { type Rec, props, guidOf } from '../helpers/arm.js';

let w: World;
let app: AppContext;

function ctx() {
  return new azureFunctions.InvocationContext({ functionName: 'onAzureEvent', logHandler: () => undefined });
}
function newApp(): AppContext {
  return {
    settings: loadSettings({ ATLAS_PUBLIC_KEY: 'x', ATLAS_PRIVATE_KEY: 'y', EAR_GUARD_MODE: 'remediate' }),
    engine: w.engine,
    recentEvents: new RecentIds(),
    coalescer: new Coalescer<Outcome>(),
  };
}
function deleteRole(p: WorldProject, roleGuid: string): void {
  const a = w.sandbox.control
    .roleAssignments({ scope: p.vaultId, principalId: p.principalId })
    .find((x) => guidOf(props(x).roleDefinitionId) === roleGuid);
  if (!a) throw new Error(`no ${roleGuid} to delete`);
  w.sandbox.control.deleteAssignment({ as: 'alice', id: String(a.id) });
}
function earGuardOps(): Record<string, number> {
  return w.sandbox.control.counts().byCallerOperation['ear-guard'] ?? {};
}
function valid(p: WorldProject): boolean {
  return w.sandbox.control.checkAccess({ vault: p.vaultName, key: p.keyName }).valid;
}
/** A seeded PRNG (mulberry32): the storm is the same on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

beforeAll(async () => {
  // The flapping guard is not what this file tests: allow the restores the storm needs.
  w = await startWorld({ env: { EAR_GUARD_MAX_RESTORES: '50' } });
  app = newApp();
}, 60_000);
afterAll(async () => {
  await w?.close();
});

describe('event storm', () => {
  it('thousands of events with drift injected: every drifted project converges, each grant written once, state and history agree', async () => {
    const rbac = await Promise.all(Array.from({ length: 6 }, () => w.addProject({ model: 'rbac' })));
    const ap = await Promise.all(Array.from({ length: 2 }, () => w.addProject({ model: 'accessPolicy' })));
    const all = [...rbac, ...ap];
    // First checks fill the routing indexes (as the first sweep does).
    for (const p of all) expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');

    w.sandbox.control.clearNotices();
    w.sandbox.control.resetCounts();
    // Drift: 4 RBAC projects lose Crypto User, one also loses Reader; one access-policy project loses encrypt/decrypt.
    for (const p of rbac.slice(0, 4)) deleteRole(p, ROLE_IDS.keyVaultCryptoUser);
    deleteRole(rbac[0]!, ROLE_IDS.reader);
    w.sandbox.control.setAccessPolicy({
      vault: ap[0]!.vaultName,
      objectId: ap[0]!.principalId,
      keys: ['encrypt', 'decrypt'],
      op: 'remove',
      as: 'alice',
    });
    // Noise made through the same control API: writes elsewhere that route to no watched project.
    const mallory = w.sandbox.control.principals().find((p) => p.name === 'mallory')!.objectId;
    w.sandbox.control.createVault({ vault: 'kv-unwatched', resourceGroup: 'rg-noise', rbac: true });
    for (let i = 0; i < 5; i++) {
      w.sandbox.control.assignRole({ scope: 'kv-unwatched', role: 'Reader', principalId: mallory, name: undefined });
    }
    const notices = w.sandbox.control.notices().filter((n): n is ChangeNotice => 'operationName' in n);
    const topic = `/subscriptions/${w.sandbox.subscriptionId}`;
    const relevant = notices.map((n) => resourceEvent(n, topic));
    expect(relevant.length).toBeGreaterThanOrEqual(6);

    // Thousands of irrelevant events (other resource types) in both schemas.
    const random = rng(42);
    const irrelevant = Array.from({ length: 3000 }, (_, i) => {
      const id = `${topic}/resourceGroups/rg-app${i % 40}/providers/Microsoft.Compute/virtualMachines/vm${i}`;
      return {
        ...relevant[0]!,
        id: `noise-${i}`,
        subject: id,
        data: {
          ...(relevant[0]!.data as Rec),
          operationName: 'Microsoft.Compute/virtualMachines/write',
          resourceUri: id,
        },
      };
    });
    // Every relevant event duplicated three times, half as CloudEvents, shuffled together with the noise.
    const storm: Rec[] = [];
    for (const e of relevant)
      for (let k = 0; k < 3; k++) storm.push(k % 2 ? (toCloudEvent(e) as unknown as Rec) : (e as unknown as Rec));
    for (const e of irrelevant)
      storm.push(random() < 0.5 ? (toCloudEvent(e) as unknown as Rec) : (e as unknown as Rec));
    for (let i = storm.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [storm[i], storm[j]] = [storm[j]!, storm[i]!];
    }
    // Delivered in batches (a batch holds one schema, as a subscription delivers), several in flight at once,
    // some batches delivered twice (Event Grid's at-least-once).
    const isCloud = (e: Rec) => e.specversion === '1.0';
    const batches: Rec[][] = [];
    for (const schema of [true, false]) {
      const mine = storm.filter((e) => isCloud(e) === schema);
      for (let i = 0; i < mine.length; i += 64) batches.push(mine.slice(i, i + 64));
    }
    const deliveries = [...batches, ...batches.filter(() => random() < 0.2)];
    let handled = 0;
    for (let i = 0; i < deliveries.length; i += 8) {
      const results = await Promise.all(deliveries.slice(i, i + 8).map((b) => handleAzureEvent(app, b, ctx())));
      handled += results.reduce((n, r) => n + r.length, 0);
    }
    expect(handled).toBeGreaterThan(3000);

    // Every drifted project converged; nothing else was touched.
    for (const p of all) expect(valid(p)).toBe(true);
    const ops = earGuardOps();
    // Exactly the missing grants: 4 x Crypto User + 1 x Reader, one access-policy add. Never twice.
    expect(ops['roleAssignments.create']).toBe(5);
    expect(ops['vaults.updateAccessPolicy']).toBe(1);
    expect(Object.keys(ops).filter((k) => /delete|vaults\.(createOrUpdate|update)$/.test(k))).toEqual([]);
    for (const p of rbac) {
      const guids = w.sandbox.control
        .roleAssignments({ scope: p.vaultId, principalId: p.principalId })
        .map((a) => guidOf(props(a).roleDefinitionId))
        .sort();
      expect(guids).toEqual([ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader].sort());
    }

    // State and history agree: each project's restore counter equals the restores its history tells.
    for (const p of all) {
      const row = (await w.engine.deps.state.getProject(p.projectId))!;
      const hist = await w.engine.deps.state.listHistory(p.projectId);
      const created = hist.filter((h) => h.kind === 'action' && /: (created|added)$/.test(h.summary));
      const verified = hist.filter((h) => h.kind === 'verification' && /after restore: granted/.test(h.summary));
      expect(row.restores).toBe(verified.length);
      const drifted = rbac.slice(0, 4).includes(p) || p === ap[0];
      expect(row.restores).toBe(drifted ? 1 : 0);
      expect(created.length).toBe(p === rbac[0] ? 2 : drifted ? 1 : 0);
      expect(['healthy', 'restored']).toContain(row.status);
      expect(row.leaseOwner ?? '').toBe('');
    }
  }, 60_000);
});

describe('concurrency', () => {
  it('the same drifted project reconciled from an event, the timer (another instance) and the API at once: one write per grant, no lost update', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await w.engine.reconcile(p.projectId, { kind: 'timer' });
    const before = (await w.engine.deps.state.getProject(p.projectId))!;
    w.sandbox.control.clearNotices();
    deleteRole(p, ROLE_IDS.keyVaultCryptoUser);
    deleteRole(p, ROLE_IDS.reader);
    const [del] = w.sandbox.control.notices().filter((n): n is ChangeNotice => 'operationName' in n);
    const event = resourceEvent(del!, `/subscriptions/${w.sandbox.subscriptionId}`);
    w.sandbox.control.resetCounts();

    const other = await w.newEngine();
    const api = (): Promise<unknown> =>
      handleProjectsApi(
        app,
        new azureFunctions.HttpRequest({
          url: `http://localhost/api/projects/${p.projectId}/check`,
          method: 'POST',
          params: { id: p.projectId, action: 'check' },
        }),
        ctx(),
      );
    const results = await Promise.allSettled([
      handleAzureEvent(app, [event], ctx()),
      other.reconcile(p.projectId, { kind: 'timer' }),
      api(),
      w.engine.reconcile(p.projectId, { kind: 'timer' }),
      handleAzureEvent(newApp(), [toCloudEvent(event)], ctx()),
    ]);
    expect(results).toHaveLength(5);
    // A delivery that met another holder's lease asks Event Grid to redeliver (the holder re-checks meanwhile).
    for (const r of results) {
      if (r.status === 'rejected') expect(String(r.reason)).toMatch(/RetryLaterError.*holds the lease/);
    }

    expect(valid(p)).toBe(true);
    expect(earGuardOps()['roleAssignments.create']).toBe(2);
    const row = (await w.engine.deps.state.getProject(p.projectId))!;
    expect(row.restores).toBe(before.restores + 1);
    expect(row.leaseOwner ?? '').toBe('');
    // No lost update: every pass that ran is counted in the row (ETag), and history holds exactly one restore.
    const hist = await w.engine.deps.state.listHistory(p.projectId);
    expect(hist.filter((h) => h.kind === 'verification')).toHaveLength(1);
    expect(hist.filter((h) => h.kind === 'action').map((h) => h.summary.split(': ').pop())).toEqual([
      'created',
      'created',
    ]);
    // Each pass records one check or detection; count those after the first check.
    const checks = hist.filter(
      (h) => (h.kind === 'check' || h.kind === 'detection') && h.at > before.lastCheck!,
    ).length;
    expect(row.checks - before.checks).toBe(checks);
  }, 30_000);
});
