// The emulator's propagation delay and Atlas's KMS validation, driven by the product's own Atlas client (digest)
// and the control API over HTTPS. The sandbox runs at timeScale 0.001: 10 sandbox minutes are 600 ms.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { mmsSignature } from '../../src/sandbox/atlas/validation.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';
import { type Rec, props, guidOf } from '../helpers/arm.js';

let w: World;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  w = await startWorld({ sandbox: { atlasValidationIntervalMs: 0 } });
});
afterAll(async () => {
  await w?.close();
});

/** Atlas's `azureKeyVault.valid` as GET encryptionAtRest answers it (the on-demand validation). */
async function atlasSaysValid(p: WorldProject): Promise<boolean | undefined> {
  const ear = await w.engine.cloud.atlasClient.getEncryptionAtRest(p.projectId);
  return (ear.azureKeyVault as { valid?: boolean } | undefined)?.valid;
}
function cryptoUser(p: WorldProject): Rec | undefined {
  return w.sandbox.control
    .roleAssignments({ scope: p.vaultId, principalId: p.principalId })
    .find((x: Rec) => guidOf(props(x).roleDefinitionId) === ROLE_IDS.keyVaultCryptoUser);
}
function armSaysValid(p: WorldProject): boolean {
  return w.sandbox.control.checkAccess({ vault: p.vaultName, key: p.keyName }).valid;
}

describe('propagation delay', () => {
  it('RBAC: a removal is seen at once; a new grant only after the delay', async () => {
    const p = await w.addProject({ model: 'rbac' });
    w.sandbox.control.setPropagationDelay({ duration: '10m' });
    expect(await atlasSaysValid(p)).toBe(true);
    w.sandbox.control.deleteAssignment({ as: 'alice', id: String(cryptoUser(p)!.id) });
    expect(await atlasSaysValid(p)).toBe(false);
    w.sandbox.control.assignRole({
      scope: p.vaultName,
      role: 'Key Vault Crypto User',
      principalId: p.principalId,
      principalType: 'ServicePrincipal',
    });
    expect(armSaysValid(p)).toBe(true); // the management plane sees the write at once
    expect(await atlasSaysValid(p)).toBe(false); // the data plane does not
    await sleep(650);
    expect(await atlasSaysValid(p)).toBe(true);
  });

  it('access policies: stripped at once, re-added only after the delay', async () => {
    const p = await w.addProject({ model: 'accessPolicy' });
    w.sandbox.control.setPropagationDelay({ duration: '10m' });
    const full = ['get', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey'];
    w.sandbox.control.setAccessPolicy({ vault: p.vaultName, objectId: p.principalId, keys: ['get'], op: 'replace' });
    expect(await atlasSaysValid(p)).toBe(false);
    w.sandbox.control.setAccessPolicy({ vault: p.vaultName, objectId: p.principalId, keys: full, op: 'replace' });
    expect(armSaysValid(p)).toBe(true);
    expect(await atlasSaysValid(p)).toBe(false);
    await sleep(650);
    expect(await atlasSaysValid(p)).toBe(true);
  });

  it('is set through the control API too, with a clear error for a bad duration', async () => {
    const agent = new Agent({ connect: { ca: w.sandbox.ca } });
    const call = (method: string, body?: unknown) =>
      request(`${w.sandbox.controlUrl}/propagation/${method}`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'x-sandbox-control-token': w.sandbox.controlToken, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const set = await call('setDelay', { duration: '4s' });
    expect(set.statusCode).toBe(200);
    await set.body.dump();
    const got = await call('delay');
    expect(await got.body.json()).toEqual({ result: 4000 });
    const bad = await call('setDelay', { duration: 'soon' });
    expect(bad.statusCode).toBeGreaterThanOrEqual(400);
    expect(await bad.body.text()).toMatch(/duration/);
    await agent.close();
    w.sandbox.control.setPropagationDelay({ ms: 0 });
  });
});

describe("Atlas's periodic validation", () => {
  let hook: Server;
  let hookUrl: string;
  const received: { headers: Record<string, unknown>; body: string }[] = [];
  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/atlas`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => hook.close(() => r()));
  });

  it('records a failure, delivers the signed alert, shuts clusters down, and restarts them once valid', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await w.engine.cloud.atlasClient.createAlertConfig(p.projectId, {
      eventTypeName: 'ENCRYPTION_AT_REST_CONFIG_NO_LONGER_VALID',
      enabled: true,
      notifications: [
        { typeName: 'WEBHOOK', webhookUrl: hookUrl, webhookSecret: 's3cret', delayMin: 0, intervalMin: 5 },
      ],
    } as never);
    const a = cryptoUser(p)!;
    w.sandbox.control.deleteAssignment({ as: 'alice', id: String(a.id) });
    const [r] = await w.atlas.runPeriodicValidation({ groupId: p.projectId });
    expect(r).toMatchObject({ groupId: p.projectId, trigger: 'periodic', valid: false, effect: 'shut-down' });
    expect(w.atlas.clustersShutDown(p.projectId)).toBe(true);
    expect(w.atlas.validations({ groupId: p.projectId, failedOnly: true })).toHaveLength(1);
    const mine = received.filter((x) => x.body.includes(p.projectId));
    expect(mine).toHaveLength(1);
    expect(mine[0].headers['x-mms-event']).toBe('alert.open');
    expect(mine[0].headers['x-mms-signature']).toBe(mmsSignature(mine[0].body, 's3cret'));
    expect(JSON.parse(mine[0].body)).toMatchObject({
      groupId: p.projectId,
      eventTypeName: 'ENCRYPTION_AT_REST_CONFIG_NO_LONGER_VALID',
      status: 'OPEN',
    });
    // A second failed check while shut down is recorded, not alerted again.
    await w.atlas.runPeriodicValidation({ groupId: p.projectId });
    expect(w.atlas.validations({ groupId: p.projectId, failedOnly: true })).toHaveLength(2);
    expect(received.filter((x) => x.body.includes(p.projectId))).toHaveLength(1);

    w.sandbox.control.assignRole({
      scope: p.vaultName,
      role: 'Key Vault Crypto User',
      principalId: p.principalId,
      principalType: 'ServicePrincipal',
    });
    // Asking for the configuration is the on-demand validation: valid again, the clusters restart.
    expect(await atlasSaysValid(p)).toBe(true);
    expect(w.atlas.clustersShutDown(p.projectId)).toBe(false);
    expect(w.atlas.validations({ groupId: p.projectId }).at(-1)).toMatchObject({
      trigger: 'on-demand',
      valid: true,
      effect: 'restarted',
    });
  });

  it('a failed on-demand check (GET) is recorded but shuts nothing down', async () => {
    const p = await w.addProject({ model: 'rbac' });
    w.sandbox.control.deleteAssignment({ as: 'alice', id: String(cryptoUser(p)!.id) });
    expect(await atlasSaysValid(p)).toBe(false);
    expect(w.atlas.validations({ groupId: p.projectId }).at(-1)).toMatchObject({ trigger: 'on-demand', valid: false });
    expect(w.atlas.clustersShutDown(p.projectId)).toBe(false);
    expect(w.atlas.validations({ groupId: p.projectId, failedOnly: true })).toHaveLength(0);
  });

  it('runs on its own on the (time-scaled) interval', async () => {
    const p = await w.addProject({ model: 'rbac' });
    w.sandbox.control.deleteAssignment({ as: 'alice', id: String(cryptoUser(p)!.id) });
    w.atlas.setValidationInterval({ ms: 15 * 60_000 }); // 900 ms real
    try {
      const end = Date.now() + 5_000;
      while (Date.now() < end && !w.atlas.clustersShutDown(p.projectId)) await sleep(100);
      expect(w.atlas.clustersShutDown(p.projectId)).toBe(true);
      expect(w.atlas.validations({ groupId: p.projectId, failedOnly: true }).length).toBeGreaterThanOrEqual(1);
    } finally {
      w.atlas.setValidationInterval({ ms: 0 });
    }
  });
});
