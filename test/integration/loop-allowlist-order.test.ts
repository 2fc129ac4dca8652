// An allow-listed actor's deletion is a deliberate revocation, and that must not depend on which event of a burst
// the loop happens to run under, nor on whether another reconcile held the project's lease when it arrived. The
// event adapter records the claim on the project row before the request; the loop reads state only.
// Real events (the sandbox's own change notices in the Event Grid schema), the real handler, ARM over HTTPS, Azurite.
import azureFunctions from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coalescer, RecentIds } from '../../src/functions/coalesce.js';
import type { AppContext } from '../../src/functions/context.js';
import { handleAzureEvent } from '../../src/functions/onAzureEvent.js';
import type { Engine } from '../../src/engine.js';
import type { Outcome } from '../../src/loop/index.js';
import type { ChangeNotice } from '../../src/sandbox/contract.js';
import { resourceEvent } from '../../src/sandbox/eventgrid/events.js';
import { loadSettings } from '../../src/settings.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';
import { type Rec, cryptoUserOf } from '../helpers/arm.js';

let w: World;
let engine: Engine;
let bobId: string;

beforeAll(async () => {
  w = await startWorld({ env: { EAR_GUARD_MODE: 'remediate' } });
  bobId = w.sandbox.control.principals().find((p) => p.name === 'bob')!.objectId;
  engine = await w.newEngine({ policy: { allowedRevokers: [bobId], mode: 'remediate' } });
});
afterAll(async () => {
  await w?.close();
});

const ctx = () => new azureFunctions.InvocationContext({ functionName: 'onAzureEvent', logHandler: () => undefined });

function app(): AppContext {
  return {
    settings: loadSettings({ ATLAS_PUBLIC_KEY: 'x', ATLAS_PRIVATE_KEY: 'y', EAR_GUARD_MODE: 'remediate' }),
    engine,
    recentEvents: new RecentIds(),
    coalescer: new Coalescer<Outcome>(),
  };
}

const topic = () => `/subscriptions/${w.sandbox.subscriptionId}`;

/** Deletes the principal's Crypto User assignment as `as`, and returns the event ARM would publish for it. */
function deleteCryptoUser(p: WorldProject, as: string): Rec {
  const a = cryptoUserOf(w.sandbox.control, p);
  w.sandbox.control.deleteAssignment({ as, id: String(a!.id) });
  const notice = w.sandbox.control.notices().at(-1) as ChangeNotice;
  return resourceEvent(notice, topic()) as unknown as Rec;
}

/** Another relevant event for the same vault, later in time, by a caller who is not on the allow-list. */
function laterEventBy(p: WorldProject, as: string): Rec {
  const a = w.sandbox.control.principals().find((x) => x.name === as)!;
  const notice: ChangeNotice = {
    kind: 'write',
    operationName: 'Microsoft.KeyVault/vaults/write',
    resourceUri: p.vaultId,
    subscriptionId: w.sandbox.subscriptionId,
    tenantId: w.sandbox.tenantId,
    actor: { name: a.name, objectId: a.objectId, tenantId: a.tenantId, ...(a.upn ? { upn: a.upn } : {}) },
    correlationId: crypto.randomUUID(),
    httpMethod: 'PATCH',
    requestUrl: `https://management.azure.com${p.vaultId}`,
  };
  return resourceEvent(notice, topic(), new Date(Date.now() + 5_000)) as unknown as Rec;
}

function hasCryptoUser(p: WorldProject): boolean {
  return cryptoUserOf(w.sandbox.control, p) !== undefined;
}

describe('an allow-listed revocation, whatever the order of events', () => {
  it('is honoured when a later event by someone else is coalesced into the same run', async () => {
    const p = await w.addProject({ model: 'rbac' });
    expect((await engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    const bobs = deleteCryptoUser(p, 'bob');
    const results = await handleAzureEvent(app(), [bobs, laterEventBy(p, 'alice')], ctx());
    expect(results.flatMap((r) => r.outcomes.map((o) => o.kind))).toEqual(['skipped', 'skipped']);
    const row = (await engine.deps.state.getProject(p.projectId))!;
    expect(row).toMatchObject({ intent: 'revoked', status: 'revoked' });
    expect(row.intentBy).toMatch(/bob/);
    expect(row.revocationClaim).toBeUndefined();
    expect(hasCryptoUser(p)).toBe(false);
    // The sweep later does not undo it either.
    expect((await engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('skipped');
    expect(hasCryptoUser(p)).toBe(false);
  });

  it('is honoured when it arrives while another reconcile holds the lease', async () => {
    const p = await w.addProject({ model: 'rbac' });
    expect((await engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    // Another instance holds the lease (its run started before bob's change).
    await engine.deps.state.updateProject(p.projectId, (cur) => ({
      ...cur,
      leaseOwner: 'another-instance',
      leaseUntil: new Date(Date.now() + 60_000).toISOString(),
    }));
    // The run meets the lease and asks Event Grid to redeliver; the claim is on the row already.
    await expect(handleAzureEvent(app(), [deleteCryptoUser(p, 'bob')], ctx())).rejects.toThrow(/holds the lease/);
    expect((await engine.deps.state.getProject(p.projectId))!.revocationClaim?.by).toMatch(/bob/);
    // The holder re-checks under its own trigger (a timer run here) after it lets the lease go.
    await engine.deps.state.updateProject(p.projectId, (cur) => ({ ...cur, leaseOwner: '', leaseUntil: '' }));
    const again = await engine.reconcile(p.projectId, { kind: 'timer' });
    expect(again.kind).toBe('skipped');
    expect(again.kind === 'skipped' && again.reason).toMatch(/allow-listed actor .*bob/);
    expect((await engine.deps.state.getProject(p.projectId))!).toMatchObject({ intent: 'revoked' });
    expect(hasCryptoUser(p)).toBe(false);
  });

  it('a removal by someone not on the list is drift, restored', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await engine.reconcile(p.projectId, { kind: 'timer' });
    const results = await handleAzureEvent(app(), [deleteCryptoUser(p, 'alice')], ctx());
    expect(results[0]!.outcomes.map((o) => o.kind)).toEqual(['restored']);
    expect(hasCryptoUser(p)).toBe(true);
  });

  it('a claim from an event that removed nothing is dropped, so a later real drift is restored', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await engine.reconcile(p.projectId, { kind: 'timer' });
    // bob touches the vault without removing anything: the run finds access intact and drops the claim.
    const [r] = await handleAzureEvent(app(), [laterEventBy(p, 'bob')], ctx());
    expect(r!.outcomes.map((o) => o.kind)).toEqual(['converged']);
    expect((await engine.deps.state.getProject(p.projectId))!.revocationClaim).toBeUndefined();
    const results = await handleAzureEvent(app(), [deleteCryptoUser(p, 'alice')], ctx());
    expect(results[0]!.outcomes.map((o) => o.kind)).toEqual(['restored']);
  });
});
