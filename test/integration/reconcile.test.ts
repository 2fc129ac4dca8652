// The reconcile loop end to end: real SDK clients against the HTTPS sandbox, state in Azurite, alerts to a local
// webhook. Each scenario owns its vault, key and Atlas project.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { setIntent, type Trigger } from '../../src/loop/index.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';
import { type Rec, props, guidOf } from '../helpers/arm.js';

let w: World;

beforeAll(async () => {
  w = await startWorld({ env: { EAR_GUARD_MAX_RESTORES: '2' } });
});
afterAll(async () => {
  await w?.close();
});

function assignmentsOf(p: WorldProject, principalId = p.principalId): Rec[] {
  return w.sandbox.control.roleAssignments({ scope: p.vaultId, principalId });
}
function roleGuids(p: WorldProject, principalId = p.principalId): string[] {
  return assignmentsOf(p, principalId)
    .map((a) => guidOf(props(a).roleDefinitionId))
    .sort();
}
function deleteRole(p: WorldProject, roleGuid: string, as = 'alice', principalId = p.principalId): void {
  const a = assignmentsOf(p, principalId).find((x) => guidOf(props(x).roleDefinitionId) === roleGuid);
  if (!a) throw new Error(`no ${roleGuid} assignment to delete`);
  w.sandbox.control.deleteAssignment({ as, id: String(a.id) });
}
/** The trigger the event function would build: actor from the last change notice's caller. */
function eventTrigger(): Trigger {
  const n = w.sandbox.control.notices().at(-1) as
    { actor?: { objectId: string; upn?: string; name: string }; correlationId?: string } | undefined;
  return {
    kind: 'event',
    eventId: `ev-${Math.random().toString(36).slice(2)}`,
    correlationId: n?.correlationId,
    actor: n?.actor ? { objectId: n.actor.objectId, upn: n.actor.upn, name: n.actor.name } : undefined,
  };
}
function writes(): number {
  const ops = w.sandbox.control.counts().byOperation;
  return (
    (ops['roleAssignments.create'] ?? 0) +
    (ops['vaults.updateAccessPolicy'] ?? 0) +
    (ops['vaults.createOrUpdate'] ?? 0) +
    (ops['vaults.update'] ?? 0) +
    (ops['roleAssignments.delete'] ?? 0)
  );
}
function valid(p: WorldProject): boolean {
  return w.sandbox.control.checkAccess({ vault: p.vaultName, key: p.keyName }).valid;
}
function policyKeys(p: WorldProject, objectId: string): string[] | undefined {
  const v = w.sandbox.control.getVault({ vault: p.vaultName }) as Rec;
  const aps = (props(v).accessPolicies as { objectId: string; permissions: { keys?: string[] } }[]) ?? [];
  return aps
    .find((e) => e.objectId === objectId)
    ?.permissions.keys?.map((k) => k.toLowerCase())
    .sort();
}

describe('reconcileProject', () => {
  it('Reader on the vault deleted alone (Atlas reads vault metadata with it) is restored, and only Reader', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await w.engine.reconcile(p.projectId, { kind: 'timer' });
    deleteRole(p, ROLE_IDS.reader);
    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, eventTrigger());
    expect(o.kind).toBe('restored');
    expect(o.plan.map((a) => a.roleDefinitionGuid)).toEqual([ROLE_IDS.reader]);
    expect(writes()).toBe(1);
    expect(roleGuids(p)).toEqual([ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader].sort());
    // Observe mode records it as drift, writes nothing.
    deleteRole(p, ROLE_IDS.reader);
    const observer = await w.newEngine({ policy: { mode: 'observe' } });
    w.sandbox.control.resetCounts();
    const seen = await observer.reconcile(p.projectId, { kind: 'timer' });
    expect(seen.status).toBe('drifted');
    expect(writes()).toBe(0);
  });

  it('a healthy project converges without a single write', async () => {
    const p = await w.addProject({ model: 'rbac' });
    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.kind).toBe('converged');
    expect(o.verdict?.verdict).toBe('granted');
    expect(writes()).toBe(0);
    expect((await w.engine.deps.state.getProject(p.projectId))!.status).toBe('healthy');
  });

  it('restores a deleted role assignment, records who did it, and alerts once', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await w.engine.reconcile(p.projectId, { kind: 'timer' });
    deleteRole(p, ROLE_IDS.keyVaultCryptoUser);
    expect(valid(p)).toBe(false);
    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, eventTrigger());
    expect(o.kind).toBe('restored');
    expect(o.actions.map((a) => [a.roleDefinitionGuid, a.result])).toEqual([[ROLE_IDS.keyVaultCryptoUser, 'created']]);
    expect(w.sandbox.control.counts().byOperation['roleAssignments.create']).toBe(1);
    expect(valid(p)).toBe(true);
    expect(roleGuids(p)).toEqual([ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader].sort());

    const row = (await w.engine.deps.state.getProject(p.projectId))!;
    expect(row).toMatchObject({ status: 'restored', restores: 1, intent: 'granted' });
    const hist = await w.engine.deps.state.listHistory(p.projectId);
    expect(hist.map((h) => h.kind)).toEqual(
      expect.arrayContaining(['detection', 'plan', 'action', 'verification', 'alert']),
    );
    expect(hist.find((h) => h.kind === 'action')!.actor).toMatch(/alice/);
    const alert = w.webhookAlerts.filter((a) => a.projectId === p.projectId);
    expect(alert.map((a) => a.type)).toEqual(['AtlasEarGuard.AccessRestored']);
    expect(String(alert[0]!.text)).toMatch(/alice/);
    // The same alert as a CloudEvent 1.0 on the Event Grid custom topic (EventGridPublisherClient, key auth).
    const cloud = w.sandbox.control
      .eventGrid!.topicEvents()
      .filter((e) => (e.event.data as Rec | undefined)?.projectId === p.projectId);
    expect(cloud.map((e) => [e.schema, e.auth, e.event.type, e.event.specversion])).toEqual([
      ['CloudEventSchemaV1_0', 'key', 'AtlasEarGuard.AccessRestored', '1.0'],
    ]);
    expect(alert[0]!.missing).toEqual(['get', 'encrypt', 'decrypt']);

    // Level-triggered and idempotent: the next check writes nothing and alerts nothing.
    w.sandbox.control.resetCounts();
    const again = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(again.kind).toBe('converged');
    expect(writes()).toBe(0);
    expect(w.webhookAlerts.filter((a) => a.projectId === p.projectId)).toHaveLength(1);
  });

  it("restores a stripped access policy with accessPolicies/add and leaves other principals' policies untouched", async () => {
    const p = await w.addProject({ model: 'accessPolicy' });
    const other = w.sandbox.control.principals().find((x) => x.name === 'mallory')!.objectId;
    w.sandbox.control.setAccessPolicy({ vault: p.vaultName, objectId: other, keys: ['get', 'list', 'sign'] });
    w.sandbox.control.setAccessPolicy({
      vault: p.vaultName,
      objectId: p.principalId,
      keys: ['encrypt', 'decrypt'],
      op: 'remove',
      as: 'alice',
    });
    expect(policyKeys(p, p.principalId)).toEqual(['get', 'unwrapkey', 'wrapkey']);
    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, eventTrigger());
    expect(o.kind).toBe('restored');
    expect(o.actions).toHaveLength(1);
    expect(o.actions[0]).toMatchObject({
      kind: 'accessPolicyAdd',
      keys: ['encrypt', 'decrypt'],
      principalId: p.principalId,
    });
    const ops = w.sandbox.control.counts().byOperation;
    expect(ops['vaults.updateAccessPolicy']).toBe(1);
    expect(ops['vaults.createOrUpdate'] ?? 0).toBe(0);
    expect(policyKeys(p, p.principalId)).toEqual(['decrypt', 'encrypt', 'get', 'unwrapkey', 'wrapkey']);
    expect(policyKeys(p, other)).toEqual(['get', 'list', 'sign']);
    expect(valid(p)).toBe(true);
  });

  it('judges Crypto Service Encryption User alone as missing encrypt/decrypt and adds Crypto User only', async () => {
    const p = await w.addProject({ model: 'rbac', grants: 'none' });
    w.sandbox.control.assignRole({
      scope: p.vaultName,
      role: 'Key Vault Crypto Service Encryption User',
      principalId: p.principalId,
      principalType: 'ServicePrincipal',
    });
    w.sandbox.control.assignRole({
      scope: p.vaultName,
      role: 'Reader',
      principalId: p.principalId,
      principalType: 'ServicePrincipal',
    });
    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.kind).toBe('restored');
    expect(o.verdict?.missing).toEqual(['encrypt', 'decrypt']);
    expect(o.plan.map((a) => a.roleDefinitionGuid)).toEqual([ROLE_IDS.keyVaultCryptoUser]);
    expect(w.sandbox.control.counts().byOperation['roleAssignments.create']).toBe(1);
    expect(roleGuids(p)).toEqual(
      [ROLE_IDS.keyVaultCryptoServiceEncryptionUser, ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader].sort(),
    );
    expect(valid(p)).toBe(true);
  });

  it('a vault flipped from access policies to RBAC gets RBAC grants, is never flipped back, and the alert explains', async () => {
    const p = await w.addProject({ model: 'accessPolicy' });
    expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    w.sandbox.control.setPermissionModel({ vault: p.vaultName, model: 'rbac', as: 'alice' });
    expect(valid(p)).toBe(false);
    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, eventTrigger());
    expect(o.kind).toBe('restored');
    expect(o.flags).toContain('model-flipped:accessPolicy->rbac');
    expect(o.actions.map((a) => a.roleDefinitionGuid).sort()).toEqual(
      [ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader].sort(),
    );
    const ops = w.sandbox.control.counts().byOperation;
    expect(ops['vaults.update'] ?? 0).toBe(0);
    expect(ops['vaults.createOrUpdate'] ?? 0).toBe(0);
    expect(props(w.sandbox.control.getVault({ vault: p.vaultName }) as Rec).enableRbacAuthorization).toBe(true);
    expect(valid(p)).toBe(true);
    const alert = w.webhookAlerts.filter((a) => a.projectId === p.projectId).at(-1)!;
    expect(alert.type).toBe('AtlasEarGuard.AccessRestored');
    expect(String(alert.action)).toMatch(/permission model changed.*left as is/);
  });

  it('never restores a project whose intent is revoked', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await setIntent(w.engine.deps.state, p.projectId, 'revoked', 'ops@contoso.com', 'offboarding the cluster');
    deleteRole(p, ROLE_IDS.keyVaultCryptoUser);
    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, eventTrigger());
    expect(o).toMatchObject({ kind: 'skipped', status: 'revoked' });
    expect(writes()).toBe(0);
    expect(valid(p)).toBe(false);
    expect(w.webhookAlerts.filter((a) => a.projectId === p.projectId).map((a) => a.type)).toEqual([
      'AtlasEarGuard.RevokedByIntent',
    ]);
  });

  // Allow-listed revocations arrive through the event adapter: test/integration/loop-allowlist-order.test.ts.

  it('stops restoring a flapping project after the limit and escalates', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const kinds: string[] = [];
    for (let i = 0; i < 3; i++) {
      deleteRole(p, ROLE_IDS.keyVaultCryptoUser);
      kinds.push((await w.engine.reconcile(p.projectId, eventTrigger())).kind);
    }
    expect(kinds).toEqual(['restored', 'restored', 'alerted']);
    expect(valid(p)).toBe(false);
    const row = (await w.engine.deps.state.getProject(p.projectId))!;
    expect(row).toMatchObject({ status: 'escalated', restores: 2 });
    const types = w.webhookAlerts.filter((a) => a.projectId === p.projectId).map((a) => a.type);
    expect(types).toEqual([
      'AtlasEarGuard.AccessRestored',
      'AtlasEarGuard.AccessRestored',
      'AtlasEarGuard.RestoreFailed',
    ]);
    // Escalated stays quiet on the next check (alerts on transitions only) and still writes nothing.
    w.sandbox.control.resetCounts();
    expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('alerted');
    expect(writes()).toBe(0);
    expect(w.webhookAlerts.filter((a) => a.projectId === p.projectId)).toHaveLength(3);
  });

  it('converges through 429 and 503 storms (reads and writes)', async () => {
    const p = await w.addProject({ model: 'rbac' });
    deleteRole(p, ROLE_IDS.keyVaultCryptoUser);
    const c = w.sandbox.control;
    c.setFault('vaults.get', { kind: 'error', status: 503, code: 'ServiceUnavailable' }, { times: 2 });
    c.setFault(
      'roleAssignments.list',
      { kind: 'error', status: 429, code: 'TooManyRequests', retryAfterSeconds: 1 },
      { times: 2 },
    );
    c.setFault(
      'roleAssignments.create',
      { kind: 'error', status: 429, code: 'TooManyRequests', retryAfterSeconds: 1 },
      { times: 2 },
    );
    c.setFault('keys.get', { kind: 'error', status: 500, code: 'InternalServerError' }, { times: 1 });
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    c.clearFaults();
    expect(o.kind).toBe('restored');
    expect(valid(p)).toBe(true);
  });

  it('a persistent 429 gives retry(after), never converged', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const id = w.sandbox.control.setFault('roleAssignments.list', {
      kind: 'error',
      status: 429,
      code: 'TooManyRequests',
      retryAfterSeconds: 1,
    });
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    w.sandbox.control.clearFaults(id);
    expect(o.kind).toBe('retry');
    expect(o.kind === 'retry' && o.afterMs).toBeGreaterThanOrEqual(0);
    expect((await w.engine.deps.state.getProject(p.projectId))!.status).toBe('failing');
  });

  it('Atlas down gives failed with a reason (not converged), alerts CheckFailing once, and recovers', async () => {
    const p = await w.addProject({ model: 'rbac' });
    w.atlas.setAtlasFault({ status: 503 });
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    const o2 = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    w.atlas.setAtlasFault(null);
    expect(o.kind).toBe('failed');
    expect(o.kind === 'failed' && o.reason).toMatch(/atlas.*503/i);
    expect(o.kind === 'failed' && o.transient).toBe(true);
    expect(o2.kind).toBe('failed');
    const row = (await w.engine.deps.state.getProject(p.projectId))!;
    expect(row.status).toBe('failing');
    expect(row.lastError).toMatch(/503/);
    expect(w.webhookAlerts.filter((a) => a.projectId === p.projectId).map((a) => a.type)).toEqual([
      'AtlasEarGuard.CheckFailing',
    ]);
    expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
  });

  it('two concurrent reconciles (two engines) write each grant exactly once and lose no history', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const other = await w.newEngine();
    other.deps.policy.allowedRevokers = [];
    deleteRole(p, ROLE_IDS.keyVaultCryptoUser);
    deleteRole(p, ROLE_IDS.reader);
    w.sandbox.control.resetCounts();
    const [a, b] = await Promise.all([
      w.engine.reconcile(p.projectId, { kind: 'timer' }),
      other.reconcile(p.projectId, { kind: 'queue' }),
    ]);
    const kinds = [a.kind, b.kind].sort();
    expect(kinds).not.toContain('failed');
    expect(kinds).toContain('restored');
    expect(w.sandbox.control.counts().byOperation['roleAssignments.create']).toBe(2);
    expect(roleGuids(p)).toEqual([ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader].sort());
    const hist = await w.engine.deps.state.listHistory(p.projectId);
    expect(hist.filter((h) => h.kind === 'action')).toHaveLength(2);
    const row = (await w.engine.deps.state.getProject(p.projectId))!;
    expect(row.leaseOwner).toBeUndefined();
    expect(row.restores).toBe(1);
  });

  it('even with the lease bypassed (expired at once), concurrent restores create each grant once', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const [e1, e2] = await Promise.all([
      w.newEngine({ policy: { leaseMs: 0 } }),
      w.newEngine({ policy: { leaseMs: 0 } }),
    ]);
    deleteRole(p, ROLE_IDS.keyVaultCryptoUser);
    const outcomes = await Promise.all([
      e1.reconcile(p.projectId, { kind: 'timer' }),
      e2.reconcile(p.projectId, { kind: 'queue' }),
    ]);
    expect(outcomes.map((o) => o.kind)).not.toContain('failed');
    // Deterministic names: both PUTs name the same assignment, so exactly one Crypto User exists.
    expect(roleGuids(p)).toEqual([ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader].sort());
    expect(valid(p)).toBe(true);
  });

  it('never writes for another principal or another role', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const mallory = w.sandbox.control.principals().find((x) => x.name === 'mallory')!.objectId;
    w.sandbox.control.assignRole({ scope: p.vaultName, role: 'Key Vault Crypto User', principalId: mallory });
    w.sandbox.control.assignRole({
      scope: p.vaultName,
      role: 'Key Vault Administrator',
      principalId: p.principalId,
      principalType: 'ServicePrincipal',
    });
    await w.engine.reconcile(p.projectId, { kind: 'timer' });
    // Everything goes: mallory's grant, and the Atlas principal's Administrator, Crypto User and Reader.
    for (const a of [...assignmentsOf(p, mallory), ...assignmentsOf(p)])
      w.sandbox.control.deleteAssignment({ as: 'alice', id: String(a.id) });
    const o = await w.engine.reconcile(p.projectId, eventTrigger());
    expect(o.kind).toBe('restored');
    expect(assignmentsOf(p, mallory)).toHaveLength(0);
    expect(roleGuids(p)).toEqual([ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader].sort());
    const mine = w.sandbox.control.roleAssignments().filter((a) => props(a).createdBy === w.remediatorId);
    expect(mine.length).toBeGreaterThan(0);
    for (const a of mine) {
      expect(props(a).principalId).toBe(p.principalId);
      expect([ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader]).toContain(guidOf(props(a).roleDefinitionId));
    }
  });
});

describe('modes and key state', () => {
  it('dry-run records the plan and writes nothing', async () => {
    const dry = await w.newEngine({ policy: { dryRun: true } });
    const p = await w.addProject({ model: 'rbac' });
    deleteRole(p, ROLE_IDS.keyVaultCryptoUser);
    w.sandbox.control.resetCounts();
    const o = await dry.reconcile(p.projectId, { kind: 'cli' });
    expect(o.kind).toBe('skipped');
    expect(o.plan.map((a) => a.roleDefinitionGuid)).toEqual([ROLE_IDS.keyVaultCryptoUser]);
    expect(writes()).toBe(0);
    expect((await dry.deps.state.listHistory(p.projectId)).some((h) => h.kind === 'plan')).toBe(true);
  });

  it('alert mode alerts AccessDrifted once and writes nothing', async () => {
    const alerting = await w.newEngine({ policy: { mode: 'alert' } });
    const p = await w.addProject({ model: 'rbac' });
    deleteRole(p, ROLE_IDS.keyVaultCryptoUser);
    w.sandbox.control.resetCounts();
    expect((await alerting.reconcile(p.projectId, eventTrigger())).kind).toBe('alerted');
    expect((await alerting.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('alerted');
    expect(writes()).toBe(0);
    expect(w.webhookAlerts.filter((a) => a.projectId === p.projectId).map((a) => a.type)).toEqual([
      'AtlasEarGuard.AccessDrifted',
    ]);
  });

  it('a disabled key is flagged and alerted (nothing to restore); Atlas reports it invalid', async () => {
    const p = await w.addProject({ model: 'rbac' });
    w.sandbox.control.setKeyEnabled({ vault: p.vaultName, key: p.keyName, enabled: false });
    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.kind).toBe('alerted');
    expect(o.flags).toContain('key-disabled');
    // Atlas (emulated) also reports valid:false while the permissions are intact: flagged, not "healthy".
    expect(o.flags).toContain('atlas-invalid-while-azure-granted');
    expect(o.status).toBe('degraded');
    expect(writes()).toBe(0);
    expect(w.webhookAlerts.filter((a) => a.projectId === p.projectId).map((a) => a.type)).toEqual([
      'AtlasEarGuard.CheckFailing',
    ]);
  });
});

describe('more judgements', () => {
  it('a custom role that grants the data actions is fetched, judged, and needs no write', async () => {
    const p = await w.addProject({ model: 'rbac', grants: 'none' });
    const role = w.sandbox.control.createCustomRole({
      roleName: `EAR key user ${p.vaultName}`,
      dataActions: [
        'Microsoft.KeyVault/vaults/keys/read',
        'Microsoft.KeyVault/vaults/keys/encrypt/action',
        'Microsoft.KeyVault/vaults/keys/decrypt/action',
      ],
    });
    w.sandbox.control.assignRole({
      scope: p.vaultName,
      role: String(role.id),
      principalId: p.principalId,
      principalType: 'ServicePrincipal',
    });
    w.sandbox.control.assignRole({
      scope: p.vaultName,
      role: 'Reader',
      principalId: p.principalId,
      principalType: 'ServicePrincipal',
    });
    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.kind).toBe('converged');
    expect(o.verdict!.permissions.decrypt!.via[0]).toMatchObject({
      kind: 'roleAssignment',
      roleName: `EAR key user ${p.vaultName}`,
    });
    expect(w.sandbox.control.counts().byOperation['roleDefinitions.get']).toBe(1);
    expect(writes()).toBe(0);
  });

  it('a deny assignment on decrypt: failed with the reason and RestoreFailed, no grant written (it could not win)', async () => {
    const p = await w.addProject({ model: 'rbac' });
    w.sandbox.control.addDenyAssignment({
      scope: p.vaultId,
      principals: [{ id: '00000000-0000-0000-0000-000000000000', type: 'SystemDefined' }],
      dataActions: ['Microsoft.KeyVault/vaults/keys/decrypt/action'],
    });
    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.kind).toBe('failed');
    expect(o.kind === 'failed' && o.reason).toMatch(/deny assignment/);
    expect(writes()).toBe(0);
    expect(w.webhookAlerts.filter((a) => a.projectId === p.projectId).map((a) => a.type)).toEqual([
      'AtlasEarGuard.RestoreFailed',
    ]);
  });

  it('a key near expiry is flagged and alerted once; access stays granted', async () => {
    const p = await w.addProject({ model: 'accessPolicy' });
    w.sandbox.control.setKeyExpiry({
      vault: p.vaultName,
      key: p.keyName,
      exp: Math.floor(Date.now() / 1000) + 3 * 24 * 3600,
    });
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.kind).toBe('alerted');
    expect(o.flags).toContain('key-near-expiry');
    expect(o.verdict?.verdict).toBe('granted');
    await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(w.webhookAlerts.filter((a) => a.projectId === p.projectId).map((a) => a.type)).toEqual([
      'AtlasEarGuard.CheckFailing',
    ]);
  });

  it('a vault firewall that keeps Atlas out is flagged and alerted (never changed); letting Atlas in clears it', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const tenant = w.sandbox.control.tenant;
    const atlas = tenant.atlasAddresses({ projectId: p.projectId });
    // The firewall lets in the control plane but not the project's cluster address.
    tenant.setVaultNetwork({ vault: p.vaultName, defaultAction: 'Deny', ipRules: atlas.controlPlane });
    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.kind).toBe('alerted');
    expect(o.status).toBe('degraded');
    expect(o.verdict?.verdict).toBe('granted');
    expect(o.flags).toContain('network-denies-atlas');
    // Atlas (emulated) cannot reach the vault either.
    expect(o.flags).toContain('atlas-invalid-while-azure-granted');
    expect(writes()).toBe(0);
    const alerts = () => w.webhookAlerts.filter((a) => a.projectId === p.projectId);
    expect(alerts().map((a) => a.type)).toEqual(['AtlasEarGuard.CheckFailing']);
    expect(alerts()[0]).toMatchObject({ severity: 'critical' });
    expect(String(alerts()[0].reason)).toContain(atlas.project[0]);
    // Nothing about the firewall was written.
    const rules = (props(w.sandbox.control.getVault({ vault: p.vaultName }) as Rec).networkAcls as Rec).ipRules;
    expect(rules).toEqual(atlas.controlPlane.map((value) => ({ value })));

    tenant.setVaultNetwork({ vault: p.vaultName, ipRules: [...atlas.controlPlane, `${atlas.project[0]}/32`] });
    const ok = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(ok.kind).toBe('converged');
    expect(ok.flags).not.toContain('network-denies-atlas');
    expect(valid(p)).toBe(true);
  });

  it('public network access disabled without private networking keeps Atlas out; an approved private endpoint with requirePrivateNetworking lets it in', async () => {
    const p = await w.addProject({ model: 'accessPolicy' });
    const tenant = w.sandbox.control.tenant;
    tenant.setVaultNetwork({ vault: p.vaultName, publicNetworkAccess: 'Disabled', privateEndpoints: ['Approved'] });
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.flags).toContain('network-denies-atlas');
    expect(o.status).toBe('degraded');
    const ear = w.atlas.getProject(p.projectId)!.encryptionAtRest.azureKeyVault as Parameters<
      typeof w.atlas.setEncryptionAtRest
    >[1] &
      object;
    w.atlas.setEncryptionAtRest(p.projectId, { ...ear, requirePrivateNetworking: true });
    const ok = await w.newEngine().then((e) => e.reconcile(p.projectId, { kind: 'timer' }));
    expect(ok.flags).not.toContain('network-denies-atlas');
    expect(ok.kind).toBe('converged');
  });

  it('the key version Atlas pins expiring within the window is flagged and alerted once, though the current version is fine', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const exp = Math.floor(Date.now() / 1000) + 5 * 24 * 3600;
    w.sandbox.control.setKeyExpiry({ vault: p.vaultName, key: p.keyName, exp });
    w.sandbox.control.rotateKey({ vault: p.vaultName, key: p.keyName });
    w.sandbox.control.setKeyExpiry({ vault: p.vaultName, key: p.keyName, exp: null });
    const o = await w.engine.reconcile(p.projectId, { kind: 'cli' });
    expect(o.verdict?.verdict).toBe('granted');
    expect(o.flags).toEqual(expect.arrayContaining(['key-version-differs', 'key-version-near-expiry']));
    expect(o.flags).not.toContain('key-near-expiry');
    expect(o.kind).toBe('alerted');
    expect(o.status).toBe('degraded');
    // A sweep reads the vault's keys once (no versions): the finding is carried, not dropped, and not re-alerted.
    const sweep = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(sweep.flags).toContain('key-version-near-expiry');
    const alerts = w.webhookAlerts.filter((a) => a.projectId === p.projectId);
    expect(alerts.map((a) => a.type)).toEqual(['AtlasEarGuard.CheckFailing']);
    expect(String(alerts[0].reason)).toMatch(/key version [0-9a-f]{32}, which Atlas pins, expires/);
  });

  it('a grant resting only on a time-bound (PIM) assignment ending within the window is warned of; events do not read PIM', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const crypto = assignmentsOf(p).find((a) => guidOf(props(a).roleDefinitionId) === ROLE_IDS.keyVaultCryptoUser)!;
    const end = new Date(Date.now() + 4 * 24 * 3600_000).toISOString();
    w.sandbox.control.tenant.makeTimeBound({ assignmentId: String(crypto.id), end });
    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.verdict?.verdict).toBe('granted');
    expect(o.flags).toContain('assignment-time-bound');
    expect(o.kind).toBe('alerted');
    expect(w.sandbox.control.counts().byOperation['roleAssignmentScheduleInstances.list']).toBe(1);
    const alerts = () => w.webhookAlerts.filter((a) => a.projectId === p.projectId);
    expect(alerts().map((a) => a.type)).toEqual(['AtlasEarGuard.CheckFailing']);
    expect(String(alerts()[0].reason)).toContain(`${String(crypto.id)} ends ${end}`);
    // The event path keeps its budget (no PIM read) and carries the finding: no second alert.
    w.sandbox.control.resetCounts();
    const e = await w.engine.reconcile(p.projectId, { kind: 'event', eventId: 'ev-pim' });
    expect(w.sandbox.control.counts().byOperation['roleAssignmentScheduleInstances.list']).toBeUndefined();
    expect(e.flags).toContain('assignment-time-bound');
    expect(alerts()).toHaveLength(1);
    // A permanent grant of the same role elsewhere (at the resource group) means nothing is lost when it ends.
    w.sandbox.control.assignRole({
      scope: `/subscriptions/${w.sandbox.control.subscriptionId}/resourceGroups/${p.resourceGroup}`,
      role: 'Key Vault Crypto User',
      principalId: p.principalId,
      principalType: 'ServicePrincipal',
    });
    const later = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(later.flags).not.toContain('assignment-time-bound');
    expect(later.kind).toBe('converged');
  });

  it('static credentials without a configured principal are skipped with the reason, never judged healthy', async () => {
    const p = await w.addProject({ model: 'rbac' });
    w.atlas.setEncryptionAtRest(p.projectId, {
      enabled: true,
      clientID: '7e000000-0000-0000-0000-000000000001',
      secret: 'not-a-real-secret',
      tenantID: w.sandbox.tenantId,
      subscriptionID: w.sandbox.subscriptionId,
      resourceGroupName: p.resourceGroup,
      keyVaultName: p.vaultName,
      keyIdentifier: p.keyIdentifier,
      azureEnvironment: 'AZURE',
    });
    const o = await w.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o).toMatchObject({ kind: 'skipped', status: 'unsupported' });
    expect(o.kind === 'skipped' && o.reason).toMatch(/static credentials/);
    expect((await w.engine.deps.state.getProject(p.projectId))!.status).toBe('unsupported');
  });
});
