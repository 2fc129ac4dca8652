// Azure Policy assignments that would push RBAC or close the firewall (README rule 19), through the engine built as
// the app builds it: the real @azure/arm-policy client against the sandbox, Azurite for state. Periodic checks read
// the assignments (once per vault in a sweep) and warn; event checks make no policy read; a forbidden read is
// "not checked" and never fails the check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEvents } from '../../src/core/triage.js';
import { handleEvents, type EventDeps } from '../../src/events/handle.js';
import { Coalescer, RecentIds } from '../../src/functions/coalesce.js';
import type { Outcome } from '../../src/loop/index.js';
import { runSweep } from '../../src/loop/sweep.js';
import type { ChangeNotice } from '../../src/sandbox/contract.js';
import { resourceEvent } from '../../src/sandbox/eventgrid/events.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';

let w: World;
beforeAll(async () => {
  w = await startWorld();
}, 60_000);
afterAll(() => w?.close());

const RBAC_POLICY = 'Azure Key Vault should use RBAC permission model';
const FIREWALL_MODIFY = 'Configure key vaults to enable firewall';

const rgOf = (p: WorldProject) => `/subscriptions/${w.sandbox.subscriptionId}/resourceGroups/${p.resourceGroup}`;
const policyReads = () => w.sandbox.control.counts().byOperation['policyAssignments.list'] ?? 0;
const alertsOf = (p: WorldProject) => w.webhookAlerts.filter((a) => a.projectId === p.projectId);

describe('policy assignments above the vault', () => {
  it('RBAC pushed (Deny) onto an access-policy vault: warned and alerted on a timer check; events read no policy', async () => {
    const p = await w.addProject({ model: 'accessPolicy' });
    const first = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(first.kind).toBe('converged');
    const a = w.sandbox.control.tenant.assignPolicy({
      definition: RBAC_POLICY,
      scope: rgOf(p),
      effect: 'Deny',
      name: 'kv-rbac-only',
    });

    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(policyReads()).toBe(1);
    expect(o.verdict?.verdict).toBe('granted');
    expect(o.flags).toContain('policy-pushes-rbac');
    expect(o.kind).toBe('alerted');
    expect(o.status).toBe('degraded');
    expect(alertsOf(p).map((x) => x.type)).toEqual(['AtlasEarGuard.CheckFailing']);
    expect(String(alertsOf(p)[0].reason)).toContain(
      `policy assignment 'Azure Key Vault should use RBAC permission model' (${String(a.id)})`,
    );
    expect(String(alertsOf(p)[0].severity)).toBe('warning');

    // The event path keeps its budget (no policy read) and carries the finding: no second alert, nothing written.
    w.sandbox.control.resetCounts();
    const e = await w.engine.reconcile(p.projectId, { kind: 'event', eventId: 'ev-policy' });
    expect(policyReads()).toBe(0);
    expect(e.flags).toContain('policy-pushes-rbac');
    expect(alertsOf(p)).toHaveLength(1);
    expect(w.sandbox.control.counts().byOperation['vaults.updateAccessPolicy'] ?? 0).toBe(0);
  });

  it('an Audit (default) or DoNotEnforce assignment does not warn; on an RBAC vault a push is harmless (a note)', async () => {
    const ap = await w.addProject({ model: 'accessPolicy' });
    w.sandbox.control.tenant.assignPolicy({ definition: RBAC_POLICY, scope: ap.vaultId, name: 'audit-only' });
    w.sandbox.control.tenant.assignPolicy({
      definition: RBAC_POLICY,
      scope: ap.vaultId,
      effect: 'Deny',
      enforcementMode: 'DoNotEnforce',
      name: 'not-enforced',
    });
    const o = await w.engine.reconcile(ap.projectId, { kind: 'timer' });
    expect(o.flags.filter((f) => f.startsWith('policy-'))).toEqual([]);
    expect(o.kind).toBe('converged');

    const rbac = await w.addProject({ model: 'rbac' });
    w.sandbox.control.tenant.assignPolicy({
      definition: RBAC_POLICY,
      scope: rgOf(rbac),
      effect: 'Deny',
      name: 'rbac-ok',
    });
    const r = await w.engine.reconcile(rbac.projectId, { kind: 'timer' });
    expect(r.flags.filter((f) => f.startsWith('policy-'))).toEqual([]);
    expect(r.kind).toBe('converged');
    expect(r.verdict?.notes.join('\n')).toMatch(/the vault already uses RBAC; harmless/);
  });

  it('the firewall pushed (Modify) onto an open vault warns until its IP rules admit Atlas', async () => {
    const p = await w.addProject({ model: 'rbac' });
    w.sandbox.control.tenant.assignPolicy({ definition: FIREWALL_MODIFY, scope: rgOf(p), name: 'kv-firewall' });
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.flags).toContain('policy-pushes-firewall');
    expect(o.kind).toBe('alerted');
    expect(String(alertsOf(p).at(-1)?.reason)).toMatch(
      /Configure key vaults to enable firewall'.*effect Modify would leave Atlas out/,
    );

    const addrs = w.sandbox.control.tenant.atlasAddresses({ projectId: p.projectId });
    w.sandbox.control.tenant.setVaultNetwork({
      vault: p.vaultName,
      ipRules: [...addrs.controlPlane, ...addrs.project],
    });
    const later = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(later.flags).not.toContain('policy-pushes-firewall');
    expect(later.kind).toBe('converged');
    expect(later.verdict?.notes.join('\n')).toMatch(/already admit Atlas/);
  });

  it('a forbidden policy read is "not checked" in the notes and never fails the check', async () => {
    const p = await w.addProject({ model: 'accessPolicy' });
    const fault = w.sandbox.control.setFault('policyAssignments.list', {
      kind: 'error',
      status: 403,
      code: 'AuthorizationFailed',
      message: 'no policyAssignments/read',
    });
    try {
      const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
      expect(o.kind).toBe('converged');
      expect(o.status).toBe('healthy');
      expect(o.verdict?.notes.join('\n')).toMatch(
        /Azure Policy assignments were not checked: .*403.*AuthorizationFailed/,
      );
      expect(w.sandbox.control.faults().find((f) => f.id === fault)?.hits).toBeGreaterThan(0);
    } finally {
      w.sandbox.control.clearFaults();
    }
  });

  it('a sweep reads a vault`s policy assignments once for all its projects', async () => {
    const p1 = await w.addProject({ model: 'accessPolicy' });
    const p2 = await w.addProject({ model: 'accessPolicy', inVault: p1 });
    w.sandbox.control.tenant.assignPolicy({
      definition: RBAC_POLICY,
      scope: p1.vaultId,
      effect: 'Deny',
      name: 'shared',
    });
    w.sandbox.control.resetCounts();
    const s = await runSweep(w.engine, { projectIds: [p1.projectId, p2.projectId], keepOutcomes: true });
    expect(policyReads()).toBe(1);
    const flags = s.items.map((i) => i.outcome?.flags.includes('policy-pushes-rbac'));
    expect(flags).toEqual([true, true]);
  });

  it('a policy assignment written above the vault is an event: its check reads the policies and warns at once', async () => {
    const p = await w.addProject({ model: 'accessPolicy' });
    expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    w.sandbox.control.tenant.assignPolicy({ definition: RBAC_POLICY, scope: rgOf(p), effect: 'Deny', name: 'ev' });
    const notice = w.sandbox.control.notices().at(-1) as ChangeNotice;
    expect(notice.operationName).toBe('Microsoft.Authorization/policyAssignments/write');
    const ev = resourceEvent(notice, `/subscriptions/${w.sandbox.subscriptionId}`);
    // A role-assignment event for the same project in the same batch: the one reconcile still reads the policies.
    const other = {
      ...ev,
      id: `${String(ev.id)}-role`,
      data: {
        ...(ev.data as object),
        operationName: 'Microsoft.Authorization/roleAssignments/write',
        resourceUri: `${p.vaultId}/providers/Microsoft.Authorization/roleAssignments/00000000-0000-0000-0000-0000000000aa`,
      },
      eventTime: '2999-01-01T00:00:00Z',
    };
    const coalescer = new Coalescer<Outcome>();
    const deps: EventDeps = {
      deps: w.engine.deps,
      reconcile: (id, t, o) => w.engine.reconcile(id, t, o),
      handled: new RecentIds(),
      coalesce: (id, run) => coalescer.run(id, run),
    };
    w.sandbox.control.resetCounts();
    const r = await handleEvents(deps, parseEvents([ev, other]));
    expect(r.results[0]!.triage.kind).toBe('policyAssignment');
    expect(r.results[0]!.projects).toContain(p.projectId);
    const o = r.results[0]!.outcomes.find((x) => x.projectId === p.projectId)!;
    expect(policyReads()).toBe(1);
    expect(o.flags).toContain('policy-pushes-rbac');
    expect(alertsOf(p).map((x) => x.type)).toEqual(['AtlasEarGuard.CheckFailing']);
  });
});
