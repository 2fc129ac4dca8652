// A check on an instance that has seen the project's row starts from that row and confirms it with a read made
// alongside the observation (the read is then off the path from an event to the restore). Another instance's
// write in between is never missed: an action under the stale row's ETag fails and the check starts over from a
// read, and a check that would write nothing is redone when the read disagrees. Two engines on one Azurite (two
// instances), real SDK clients against the sandbox.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { setIntent } from '../../src/loop/intent.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';
import { cryptoUserOf } from '../helpers/arm.js';

let w: World;
let a: Engine;
let b: Engine;

beforeAll(async () => {
  w = await startWorld({ env: { EAR_GUARD_MODE: 'remediate' } });
  a = await w.newEngine({ policy: { targetCacheMs: 0 } });
  b = await w.newEngine({ policy: { targetCacheMs: 0 } });
});
afterAll(async () => {
  await w?.close();
});

const cryptoUser = (p: WorldProject) => cryptoUserOf(w.sandbox.control, p);

const event = { kind: 'event' as const, eventId: 'e1' };

describe('starting from the row last seen', () => {
  it('an intent another instance set since is honoured: the stale row cannot take the lease', async () => {
    const p = await w.addProject({ model: 'rbac' });
    expect((await a.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    const seen = a.deps.state.lastSeen(p.projectId);
    expect(seen?.intent).toBe('granted');
    // Instance b: a person revokes deliberately, then removes the grant.
    await setIntent(b.deps.state, p.projectId, 'revoked', 'ops@example.com', 'rotating the key');
    w.sandbox.control.deleteAssignment({ as: 'alice', id: String(cryptoUser(p)!.id) });
    const o = await a.reconcile(p.projectId, event);
    expect(o.kind).not.toBe('restored');
    expect(cryptoUser(p)).toBeUndefined();
    expect(a.deps.state.lastSeen(p.projectId)?.intent).toBe('revoked');
  });

  it('a check that writes nothing under a stale row is redone: the row ends up telling the truth', async () => {
    const p = await w.addProject({ model: 'rbac' });
    expect((await a.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    expect(a.deps.state.lastSeen(p.projectId)?.status).toBe('healthy');
    // Instance b leaves the row saying drifted (as a holder that crashed mid-restore would).
    await b.deps.state.updateProject(p.projectId, (cur) => ({ ...cur, status: 'drifted' }));
    expect((await a.reconcile(p.projectId, event)).kind).toBe('converged');
    expect((await b.deps.state.getProject(p.projectId))?.status).toBe('healthy');
  });
});
