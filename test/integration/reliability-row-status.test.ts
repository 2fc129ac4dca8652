// The status page tells the truth while a restore is under way: once the loop has detected drift and is about to
// act, the project row says `drifted`, not the `healthy` of the last pass, for as long as ARM (retries, a slow PUT)
// takes. Real SDK clients against the sandbox, state in Azurite.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startWorld, type World } from '../helpers/world.js';
import { cryptoUserOf } from '../helpers/arm.js';

let w: World;
beforeAll(async () => {
  w = await startWorld({ env: { EAR_GUARD_MODE: 'remediate' } });
});
afterAll(async () => {
  await w?.close();
});

it('the row says drifted while the restore PUT is in flight', async () => {
  const p = await w.addProject({ model: 'rbac' });
  expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
  expect((await w.engine.deps.state.getProject(p.projectId))?.status).toBe('healthy');
  const grant = cryptoUserOf(w.sandbox.control, p);
  w.sandbox.control.deleteAssignment({ as: 'alice', id: String(grant!.id) });
  const slow = w.sandbox.control.setFault('roleAssignments.create', { kind: 'latency', ms: 2000 });
  try {
    const running = w.engine.reconcile(p.projectId, { kind: 'timer' });
    // Wait until the PUT is held by the fault, then look at the row.
    const deadline = Date.now() + 10_000;
    while (
      Date.now() < deadline &&
      (w.sandbox.control.counts().byCallerOperation['ear-guard']?.['roleAssignments.create'] ?? 0) === 0
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const during = await w.engine.deps.state.getProject(p.projectId);
    expect(during?.status).toBe('drifted');
    expect((await running).kind).toBe('restored');
    expect((await w.engine.deps.state.getProject(p.projectId))?.status).toBe('restored');
  } finally {
    w.sandbox.control.clearFaults(slow);
  }
}, 60_000);
