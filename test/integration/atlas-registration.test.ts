// The Atlas registration memo (src/loop/registration.ts): a steady-state check asks Atlas one question (the EAR
// configuration) and reuses the cloudProviderAccess registration recorded in the row, for at most an hour and only
// while Atlas names the same roleId and says the key is valid. A registration re-pointed at another principal is
// still caught within that bound: at once when Atlas says the key is invalid, else when the memo is an hour old.
// Nothing is ever granted to the new principal (trust on first use). Real SDK clients against the sandbox.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';

let w: World;
let mallory: string;
let clock = Date.now();
let engine: Engine;

beforeAll(async () => {
  w = await startWorld({ env: { EAR_GUARD_MODE: 'remediate' } });
  mallory = w.sandbox.control.principals().find((p) => p.name === 'mallory')!.objectId;
  engine = await w.newEngine({ policy: { targetCacheMs: 0 }, now: () => clock });
});
afterAll(async () => {
  await w?.close();
});

const HOUR = 60 * 60_000;

function atlasReads(): { ear: number; registrations: number } {
  const ops = w.sandbox.control.counts().byOperation;
  return { ear: ops['atlas.encryptionAtRest.get'] ?? 0, registrations: ops['atlas.cloudProviderAccess.list'] ?? 0 };
}

async function check(p: WorldProject) {
  w.sandbox.control.resetCounts();
  const outcome = await engine.reconcile(p.projectId, { kind: 'timer' });
  return { outcome, reads: atlasReads() };
}

/** Re-points the project's registration (the roleId EAR names) at mallory, as authorizeGroupCloudProviderAccessRole can. */
function repoint(p: WorldProject): void {
  const roleId = (
    w.sandbox.control.atlas!.getProject(p.projectId)!.encryptionAtRest.azureKeyVault as { roleId: string }
  ).roleId;
  w.sandbox.control.atlas!.authorizeServicePrincipal(p.projectId, roleId, { servicePrincipalId: mallory });
}

const grantsTo = (p: WorldProject, principalId: string) =>
  w.sandbox.control.roleAssignments({ scope: p.vaultId, principalId }).length;

describe('registration memo', () => {
  it('a steady-state check reads the EAR configuration only; the first one reads the registration too', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const first = await check(p);
    expect(first.outcome.kind).toBe('converged');
    expect(first.reads).toEqual({ ear: 1, registrations: 1 });
    const row = await engine.deps.state.getProject(p.projectId);
    expect(row?.atlasRole).toMatchObject({ principalObjectId: p.principalId });
    const steady = await check(p);
    expect(steady.outcome.kind).toBe('converged');
    expect(steady.reads).toEqual({ ear: 1, registrations: 0 });
  });

  it('a check served from the 30 s target cache keeps the memo as read: a healthy re-check writes nothing', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const cached = await w.newEngine({ policy: { targetCacheMs: 30_000 }, now: () => clock });
    expect((await cached.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    const before = await cached.deps.state.getProject(p.projectId);
    clock += 1000;
    w.sandbox.control.resetCounts();
    expect((await cached.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    expect(atlasReads()).toEqual({ ear: 0, registrations: 0 });
    expect((await cached.deps.state.getProject(p.projectId))?.etag).toBe(before?.etag);
  });

  it('a re-pointed registration that breaks access is read again at the first check after Atlas says invalid', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await check(p);
    repoint(p);
    await w.sandbox.control.atlas!.runPeriodicValidation({ groupId: p.projectId });
    const after = await check(p);
    expect(after.reads.registrations).toBe(1);
    expect(after.outcome.kind).toBe('failed');
    expect('reason' in after.outcome && after.outcome.reason).toMatch(/first seen with/);
    expect(grantsTo(p, mallory)).toBe(0);
  });

  it('one that Atlas still calls valid is read again once the memo is an hour old, and caught then', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await check(p);
    // The new principal can use the key too, so Atlas still says valid: nothing tells the check to read again.
    for (const role of ['Key Vault Crypto User', 'Reader']) {
      w.sandbox.control.assignRole({
        scope: p.vaultName,
        role,
        principalId: mallory,
        principalType: 'ServicePrincipal',
      });
    }
    const malloryGrants = grantsTo(p, mallory);
    repoint(p);
    const within = await check(p);
    expect(within.reads.registrations).toBe(0);
    expect(within.outcome.kind).toBe('converged');
    clock += HOUR + 1;
    const later = await check(p);
    expect(later.reads.registrations).toBe(1);
    expect(later.outcome.kind).toBe('failed');
    expect('reason' in later.outcome && later.outcome.reason).toMatch(/first seen with/);
    expect(grantsTo(p, mallory)).toBe(malloryGrants);
  });
});
