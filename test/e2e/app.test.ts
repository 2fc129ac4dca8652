// End to end, as `npm start` runs: a change made by a sandbox actor reaches the local host's webhook as an Event
// Grid event (through a subscription created on the Event Grid ARM route) and is restored; irrelevant, replayed
// and duplicated events cost nothing; the timer catches what an event missed; the sweep fans out through the queue.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { QueueClient } from '@azure/storage-queue';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { RECONCILE_QUEUE } from '../../src/functions/context.js';
import { startAppWorld, type AppWorld } from '../helpers/app.js';

const WRITE_OPS = [
  'roleAssignments.create',
  'roleAssignments.delete',
  'vaults.updateAccessPolicy',
  'vaults.createOrUpdate',
  'vaults.update',
];

let w: AppWorld;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
const j = async (r: Response | Promise<Response>): Promise<any> => (await r).json();
beforeAll(async () => {
  w = await startAppWorld();
}, 60_000);
afterAll(() => w?.close());

const eg = () => w.sandbox.control.eventGrid!;
const guardCounts = () => w.sandbox.control.counts().byCallerOperation['ear-guard'] ?? {};
const guardWrites = () => WRITE_OPS.reduce((n, op) => n + (guardCounts()[op] ?? 0), 0);
const guardTotal = () => w.sandbox.control.counts().byCaller['ear-guard'] ?? 0;
const rbac = () => w.projects.find((p) => p.model === 'rbac')!;
const policy = () => w.projects.find((p) => p.model === 'accessPolicy')!;
const cryptoUserOf = (vaultId: string) =>
  w.sandbox.control
    .roleAssignments({ scope: vaultId, principalId: w.sandbox.atlasPrincipalId })
    .filter((a) =>
      String((a.properties as { roleDefinitionId: string }).roleDefinitionId).endsWith(ROLE_IDS.keyVaultCryptoUser),
    );
const atlasPolicy = (vaultName: string) => {
  const v = w.sandbox.control.getVault({ vault: vaultName }) as {
    properties: { accessPolicies: { objectId: string; permissions: { keys: string[] } }[] };
  };
  return v.properties.accessPolicies.find((p) => p.objectId === w.sandbox.atlasPrincipalId);
};

beforeEach(async () => {
  await eg().waitForIdle();
  eg().setDelivery({ duplicate: false, reorder: false, dropNext: 0 });
  w.sandbox.control.resetCounts();
});

describe('the product end to end (local host + sandbox + Azurite)', () => {
  it('subscribed its webhook through the Event Grid route (handshake done)', () => {
    const subs = eg().subscriptions();
    expect(subs.length).toBe(1 + w.projects.length);
    expect(subs.every((s) => s.provisioningState === 'Succeeded')).toBe(true);
  });

  it("alice deletes the Atlas principal's assignment: the event arrives and the grant is restored once", async () => {
    const p = rbac();
    const [before] = cryptoUserOf(p.vaultId);
    expect(before).toBeDefined();
    w.sandbox.control.deleteAssignment({ as: 'alice', id: before!.id as string });
    expect(cryptoUserOf(p.vaultId)).toHaveLength(0);
    await eg().waitForIdle();
    expect(cryptoUserOf(p.vaultId)).toHaveLength(1);
    expect(guardCounts()['roleAssignments.create']).toBe(1);
    expect(guardWrites()).toBe(1);
    const hist = await j(w.api(`projects/${p.projectId}/history`));
    const action = hist.history.find((h: { kind: string }) => h.kind === 'action');
    expect(action.trigger).toBe('event');
    expect(action.actor).toMatch(/alice/);
    expect(
      hist.history.some(
        (h: { kind: string; summary: string }) => h.kind === 'verification' && /granted/.test(h.summary),
      ),
    ).toBe(true);
    // The restore's own write event re-checks (no write): the project reads healthy again.
    const row = await j(w.api(`projects/${p.projectId}`));
    expect(['restored', 'healthy']).toContain(row.status);
    expect(row.restores).toBeGreaterThanOrEqual(1);
    // Atlas's own 15-minute validation would pass again.
    expect(w.sandbox.control.checkAccess({ vault: p.vaultName, key: 'atlas-ear' }).valid).toBe(true);
  });

  it('a storage-account event (published sample) causes no Azure call', async () => {
    const body = readFileSync(
      'test/fixtures/eventgrid/eventgrid-docs-resourcegroup-ResourceWriteSuccess.eventgridschema.json',
      'utf8',
    );
    const r = await fetch(w.local.webhookUrl, { method: 'POST', headers: { 'aeg-event-type': 'Notification' }, body });
    expect(r.status).toBe(200);
    expect(guardTotal()).toBe(0);
  });

  it('duplicated delivery and a replayed event cause no extra write', async () => {
    const p = policy();
    eg().setDelivery({ duplicate: true });
    w.sandbox.control.setAccessPolicy({
      as: 'bob',
      vault: p.vaultName,
      objectId: w.sandbox.atlasPrincipalId,
      keys: ['decrypt'],
      op: 'remove',
    });
    await eg().waitForIdle();
    expect(atlasPolicy(p.vaultName)?.permissions.keys.map((k) => k.toLowerCase())).toContain('decrypt');
    expect(guardCounts()['vaults.updateAccessPolicy']).toBe(1);
    const writes = guardWrites();
    // Replay every delivered notification again, byte for byte.
    for (const d of eg().deliveries().slice(-4)) {
      const r = await fetch(w.local.webhookUrl, {
        method: 'POST',
        headers: { 'aeg-event-type': 'Notification' },
        body: JSON.stringify(d.payload),
      });
      expect(r.status).toBe(200);
    }
    expect(guardWrites()).toBe(writes);
  });

  it('the timer catches a change whose event was dropped', async () => {
    const p = rbac();
    eg().setDelivery({ dropNext: 10 });
    const [a] = cryptoUserOf(p.vaultId);
    w.sandbox.control.deleteAssignment({ as: 'mallory', id: a!.id as string });
    await eg().waitForIdle();
    expect(cryptoUserOf(p.vaultId)).toHaveLength(0);
    await w.local.host.runTimer('sweepProjects');
    expect(cryptoUserOf(p.vaultId)).toHaveLength(1);
    const health = await fetch(`${w.local.host.url}/api/health`);
    expect(health.status).toBe(200);
  });
});

describe('HTTP API', () => {
  it('lists projects, shows one, refuses bad IDs and unknown operations', async () => {
    const list = await j(w.api('projects'));
    expect(list.projects.map((p: { projectId: string }) => p.projectId).sort()).toEqual(
      w.projects.map((p) => p.projectId).sort(),
    );
    expect(list.projects[0]).not.toHaveProperty('leaseOwner');
    expect((await w.api('projects/not-an-id')).status).toBe(400);
    expect((await w.api('projects/0123456789abcdef01234567')).status).toBe(404);
    expect((await w.api(`projects/${rbac().projectId}/explode`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${w.local.host.url}/api/projects`)).status).toBe(401);
  });

  it('POST check reconciles now and answers the outcome', async () => {
    const r = await w.api(`projects/${policy().projectId}/check`, { method: 'POST' });
    expect(r.status).toBe(200);
    const o = await j(r);
    expect(o.kind).toBe('converged');
    expect(o.verdict.verdict).toBe('granted');
  });

  it('PUT intent validates its body, naming the fields', async () => {
    const bad = await w.api(`projects/${rbac().projectId}/intent`, {
      method: 'PUT',
      body: JSON.stringify({ intent: 'maybe' }),
    });
    expect(bad.status).toBe(400);
    const err = await j(bad);
    expect(err.details.join(' ')).toMatch(/intent: expected "revoked" or "granted"/);
    expect(err.details.join(' ')).toMatch(/reason/);
    const notJson = await w.api(`projects/${rbac().projectId}/intent`, { method: 'PUT', body: '{' });
    expect(notJson.status).toBe(400);
  });

  it('a revoked intent is recorded with who set it, and a later removal is not restored', async () => {
    const p = rbac();
    const r = await w.api(`projects/${p.projectId}/intent`, {
      method: 'PUT',
      headers: { 'x-ms-client-principal-name': 'secops@contoso.example' },
      body: JSON.stringify({ intent: 'revoked', reason: 'key compromise drill' }),
    });
    expect(r.status).toBe(200);
    // Without App Service authentication the header is the caller's own claim, recorded as such (THREAT_MODEL.md).
    expect((await j(r)).intentBy).toBe('function-key holder (unverified claim: secops@contoso.example)');
    const [a] = cryptoUserOf(p.vaultId);
    w.sandbox.control.deleteAssignment({ as: 'alice', id: a!.id as string });
    await eg().waitForIdle();
    expect(cryptoUserOf(p.vaultId)).toHaveLength(0);
    expect(guardWrites()).toBe(0);
    const lift = await w.api(`projects/${p.projectId}/intent`, {
      method: 'PUT',
      body: JSON.stringify({ intent: 'granted', reason: 'drill over' }),
    });
    expect(lift.status).toBe(200);
    await w.api(`projects/${p.projectId}/check`, { method: 'POST' });
    expect(cryptoUserOf(p.vaultId)).toHaveLength(1);
  });
});

describe('sweep fan-out through the Storage Queue', () => {
  it('beyond the threshold, the timer enqueues one message per vault and the queue function reconciles each', async () => {
    const app = w.local.app;
    const saved = app.settings.EAR_GUARD_FANOUT_THRESHOLD;
    app.settings.EAR_GUARD_FANOUT_THRESHOLD = 1;
    try {
      const p = policy();
      w.sandbox.control.setAccessPolicy({
        vault: p.vaultName,
        objectId: w.sandbox.atlasPrincipalId,
        keys: ['encrypt'],
        op: 'remove',
      });
      await eg().waitForIdle();
      w.sandbox.control.resetCounts();
      eg().setDelivery({ dropNext: 0 });
      // The event above already restored it; strip again without an event, for the fan-out to find.
      eg().setDelivery({ dropNext: 10 });
      w.sandbox.control.setAccessPolicy({
        vault: p.vaultName,
        objectId: w.sandbox.atlasPrincipalId,
        keys: ['encrypt'],
        op: 'remove',
      });
      await eg().waitForIdle();
      await w.local.host.runTimer('sweepProjects');
      const q = new QueueClient(w.storage.connectionString, RECONCILE_QUEUE);
      // One message per vault (each demo project has its own), besides any delayed Atlas re-check a restore queued.
      const peeked = await q.peekMessages({ numberOfMessages: 32 });
      const sweepMessages = peeked.peekedMessageItems
        .map((m) => JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')) as { projectIds?: string[] })
        .filter((m) => Array.isArray(m.projectIds));
      expect(sweepMessages).toHaveLength(w.projects.length);
      expect(sweepMessages.flatMap((m) => m.projectIds!).sort()).toEqual(w.projects.map((x) => x.projectId).sort());
      const handled = await w.local.queuePoller!.drain();
      expect(handled).toBeGreaterThanOrEqual(w.projects.length);
      expect(atlasPolicy(p.vaultName)?.permissions.keys.map((k) => k.toLowerCase())).toContain('encrypt');
      const hist = await j(w.api(`projects/${p.projectId}/history`));
      expect(
        hist.history.some((h: { trigger: string; kind: string }) => h.trigger === 'queue' && h.kind === 'action'),
      ).toBe(true);
    } finally {
      app.settings.EAR_GUARD_FANOUT_THRESHOLD = saved;
    }
  });
});
