// Principal substitution: someone with Atlas project rights registers another service principal (or points EAR's
// roleId at one) so the remediator would grant *that* principal key access. With the Atlas principal pinned per
// tenant (EAR_GUARD_ATLAS_PRINCIPALS), or recorded on first use when nothing is pinned, nothing is granted and a
// PrincipalMismatch alert goes out. The access-policy cases matter most: no ABAC condition can stop an access-policy
// write, so the product's own check is the only defence there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';
import { cryptoUserOf } from '../helpers/arm.js';

let w: World;
let mallory: string;
const OTHER_APP = '0d0d0d0d-aaaa-4bbb-8ccc-dddddddddddd';

beforeAll(async () => {
  w = await startWorld({ env: {} });
  mallory = w.sandbox.control.principals().find((p) => p.name === 'mallory')!.objectId;
});
afterAll(async () => {
  await w?.close();
});

type Rec = Record<string, unknown>;

/** An engine with the Atlas principal pinned for the sandbox tenant (what infra/ deploys). */
function pinned(): Promise<Engine> {
  return w.newEngine({
    policy: { atlasPrincipals: { [w.sandbox.tenantId.toLowerCase()]: w.sandbox.atlasPrincipalId } },
  });
}

/** What an attacker with Atlas project rights does: register another principal and point EAR's roleId at it. */
function substitute(
  p: WorldProject,
  sp: { servicePrincipalId: string; atlasAzureAppId?: string; tenantId?: string },
): void {
  const { roleId } = w.atlas.registerServicePrincipal(p.projectId, { tenantId: w.sandbox.tenantId, ...sp });
  w.atlas.setEncryptionAtRest(p.projectId, {
    enabled: true,
    roleId,
    tenantID: sp.tenantId ?? w.sandbox.tenantId,
    subscriptionID: w.sandbox.subscriptionId,
    resourceGroupName: p.resourceGroup,
    keyVaultName: p.vaultName,
    keyIdentifier: p.keyIdentifier,
    azureEnvironment: 'AZURE',
    requirePrivateNetworking: false,
  } as Parameters<typeof w.atlas.setEncryptionAtRest>[1]);
}

function remediatorWrites(): number {
  const mine = w.sandbox.control.counts().byCallerOperation['ear-guard'] ?? {};
  return Object.entries(mine)
    .filter(([op]) => !/\.(get|list\w*)$/.test(op))
    .reduce((n, [, c]) => n + c, 0);
}

function accessPolicyOf(p: WorldProject, objectId: string): string[] | undefined {
  const v = w.sandbox.control.getVault({ vault: p.vaultName }) as Rec;
  const aps = ((v.properties as Rec).accessPolicies ?? []) as { objectId: string; permissions: { keys?: string[] } }[];
  return aps.find((e) => e.objectId.toLowerCase() === objectId.toLowerCase())?.permissions.keys;
}

async function expectMismatch(engine: Engine, p: WorldProject, reason: RegExp, alerted = true): Promise<void> {
  const before = w.webhookAlerts.length;
  w.sandbox.control.resetCounts();
  const o = await engine.reconcile(p.projectId, { kind: 'timer' });
  expect(o.kind).toBe('failed');
  if (o.kind !== 'failed') throw new Error('unreachable');
  expect(o).toMatchObject({ code: 'PrincipalMismatch', transient: false, status: 'failing' });
  expect(o.reason).toMatch(reason);
  expect(o.plan).toEqual([]);
  expect(o.actions).toEqual([]);
  // Alerts go out on the transition (a repeat of the same state is recorded, not re-sent).
  expect(o.alerts).toEqual(alerted ? ['AtlasEarGuard.PrincipalMismatch'] : []);
  // Not even an attempt: the remediator wrote nothing (an ABAC condition would refuse an RBAC grant, but nothing
  // refuses an access-policy add).
  expect(remediatorWrites()).toBe(0);
  const sent = w.webhookAlerts.slice(before).filter((a) => a.projectId === p.projectId);
  expect(sent.map((a) => [a.type, a.severity])).toEqual(
    alerted ? [['AtlasEarGuard.PrincipalMismatch', 'critical']] : [],
  );
  const row = (await engine.deps.state.getProject(p.projectId))!;
  expect(row.status).toBe('failing');
  expect(row.lastError).toMatch(reason);
}

describe('principal pinned per tenant (EAR_GUARD_ATLAS_PRINCIPALS)', () => {
  it('settings parse the pin into the policy', async () => {
    const { loadSettings } = await import('../../src/settings.js');
    const { policyFromSettings } = await import('../../src/engine.js');
    const s = loadSettings({
      ATLAS_PUBLIC_KEY: 'p',
      ATLAS_PRIVATE_KEY: 'q',
      EAR_GUARD_ATLAS_PRINCIPALS: `${w.sandbox.tenantId.toUpperCase()}=${w.sandbox.atlasPrincipalId}`,
    });
    expect(policyFromSettings(s).atlasPrincipals).toEqual({
      [w.sandbox.tenantId.toLowerCase()]: w.sandbox.atlasPrincipalId,
    });
    expect(() =>
      loadSettings({ ATLAS_PUBLIC_KEY: 'p', ATLAS_PRIVATE_KEY: 'q', EAR_GUARD_ATLAS_PRINCIPALS: 'tenant=me' }),
    ).toThrow(/EAR_GUARD_ATLAS_PRINCIPALS.*tenantId=objectId/);
  });

  it('RBAC vault: another principal registered in Atlas gets no grant, a PrincipalMismatch alert goes out', async () => {
    const e = await pinned();
    const p = await w.addProject({ model: 'rbac' });
    expect((await e.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    substitute(p, { servicePrincipalId: mallory });
    await expectMismatch(e, p, /EAR_GUARD_ATLAS_PRINCIPALS pins/);
    expect(w.sandbox.control.roleAssignments({ scope: p.vaultId, principalId: mallory })).toHaveLength(0);
    // The trusted principal stays recorded; the status is failing, never healthy.
    expect((await e.deps.state.getProject(p.projectId))!.principalId).toBe(p.principalId);
  });

  it('access-policy vault with drift: the substitute gets no access policy', async () => {
    const e = await pinned();
    const p = await w.addProject({ model: 'accessPolicy', grants: 'none' });
    substitute(p, { servicePrincipalId: mallory });
    await expectMismatch(e, p, /pins/);
    expect(accessPolicyOf(p, mallory)).toBeUndefined();
  });

  it('a registration for another app is refused, even on first use with nothing pinned', async () => {
    const e = await w.newEngine({ policy: { atlasPrincipals: {} } });
    const p = await w.addProject({ model: 'accessPolicy', grants: 'none' });
    const app = w.sandbox.control.addPrincipal({ name: 'lookalike-app', type: 'ServicePrincipal', appId: OTHER_APP });
    substitute(p, { servicePrincipalId: app.objectId, atlasAzureAppId: OTHER_APP });
    await expectMismatch(e, p, new RegExp(`app ${OTHER_APP}, not the Atlas app 9efedfcc-2eca-4b27-a613-0cad1e114cb7`));
    expect(accessPolicyOf(p, app.objectId)).toBeUndefined();
    // Nothing was trusted on this "first use".
    expect((await e.deps.state.getProject(p.projectId))!.principalId).toBeUndefined();
  });

  it('a tenant with no pin is refused', async () => {
    const e = await pinned();
    const p = await w.addProject({ model: 'accessPolicy', grants: 'none' });
    substitute(p, { servicePrincipalId: mallory, tenantId: '0e0e0e0e-1111-4222-8333-444444444444' });
    await expectMismatch(e, p, /has no pinned Atlas principal/);
  });

  it('the pinned principal itself is restored as usual', async () => {
    const e = await pinned();
    const p = await w.addProject({ model: 'rbac' });
    const a = cryptoUserOf(w.sandbox.control, p)!;
    w.sandbox.control.deleteAssignment({ as: 'alice', id: String(a.id) });
    expect((await e.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('restored');
  });
});

describe('no pin configured: trust on first use', () => {
  it('the first principal seen is recorded; a different one later is refused and alerted', async () => {
    const e = await w.newEngine({ policy: { atlasPrincipals: {} } });
    const p = await w.addProject({ model: 'accessPolicy' });
    expect((await e.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    expect((await e.deps.state.getProject(p.projectId))!.principalId).toBe(p.principalId);
    // Drift and substitution together: the loop must not "restore" for the new principal.
    w.sandbox.control.setAccessPolicy({ vault: p.vaultName, objectId: p.principalId, keys: ['decrypt'], op: 'remove' });
    substitute(p, { servicePrincipalId: mallory });
    await expectMismatch(e, p, /first seen with/);
    expect(accessPolicyOf(p, mallory)).toBeUndefined();
    // A second pass does not adopt the substitute either (the recorded principal is kept).
    await expectMismatch(e, p, /first seen with/, false);
    expect((await e.deps.state.getProject(p.projectId))!.principalId).toBe(p.principalId);
  });
});
