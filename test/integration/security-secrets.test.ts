// Secrets never leak: with known values for the Atlas API key pair, the ARM bearer token, the Event Grid topic key
// and the function key, the product runs its paths (healthy, drift restored, restore refused by ARM, Atlas failing,
// events through the local host's webhook, the HTTP API), and then every captured log line, every row of the three
// state tables (read back with @azure/data-tables listEntities) and every alert payload (webhook and Event Grid
// topic) is scanned: none of the secrets, nor a digest or bearer Authorization value, appears.
import azureFunctions from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { Coalescer, RecentIds } from '../../src/functions/coalesce.js';
import { handleAzureEvent } from '../../src/functions/onAzureEvent.js';
import { startLocalApp, type LocalApp } from '../../src/local/app.js';
import { createLogger } from '../../src/observability/logger.js';
import type { Outcome } from '../../src/loop/index.js';
import { loadSettings } from '../../src/settings.js';
import { startWorld, type World } from '../helpers/world.js';

const ATLAS_PUBLIC = 'pubkey-SECRET-7f3a9c';
const ATLAS_PRIVATE = '5e1c0d7a-SECRET-4b2e-9f6a-3c8d2e1b0a99';
const FUNCTION_KEY = 'fnkey-SECRET-d41d8cd98f00b204e9800998ecf8427e';
const TOKEN_SIGNATURE = 'SIGSECRET' + 'x'.repeat(40);
const SECRETS = [ATLAS_PUBLIC, ATLAS_PRIVATE, FUNCTION_KEY, TOKEN_SIGNATURE];

let w: World;
let local: LocalApp;
let token: string;
const logs: string[] = [];

beforeAll(async () => {
  // A JWT-shaped bearer token for the remediator (the sandbox reads `oid`; the signature part is the secret bit).
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const logger = createLogger({ sink: (line) => logs.push(line), level: 'debug' });
  w = await startWorld({
    sandbox: { atlasPublicKey: ATLAS_PUBLIC, atlasPrivateKey: ATLAS_PRIVATE },
    engine: {
      credential: { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }) },
      log: { info: (m, f) => logger.info(m, f), warn: (m, f) => logger.warn(m, f) },
    },
  });
  const remediator = w.sandbox.control.principals().find((p) => p.name === 'ear-guard')!.objectId;
  token = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ oid: remediator, appid: 'ear-guard' })}.${TOKEN_SIGNATURE}`;
  SECRETS.push(w.sandbox.eventGridTopicKey!);
  const settings = loadSettings({
    ATLAS_PUBLIC_KEY: ATLAS_PUBLIC,
    ATLAS_PRIVATE_KEY: ATLAS_PRIVATE,
    EAR_GUARD_MODE: 'remediate',
    EAR_GUARD_TABLE_PREFIX: 'secrets',
    ALERT_EVENTGRID_ENDPOINT: w.sandbox.eventGridTopicEndpoint!,
    ALERT_EVENTGRID_KEY: w.sandbox.eventGridTopicKey!,
  });
  local = await startLocalApp({
    settings,
    storageConnection: w.azurite.connectionString,
    sandbox: {
      ...w.sandbox,
      credential: { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }) },
    },
    functionKey: FUNCTION_KEY,
    sweepSchedule: '0 0 0 1 1 *',
    engine: {
      armRetry: { maxRetries: 1, retryDelayInMs: 5, maxRetryDelayInMs: 20 },
      atlasRetry: { maxRetries: 1, backoffMs: 5, maxRetryAfterMs: 50 },
      policy: { targetCacheMs: 0 },
      log: { info: (m, f) => logger.info(m, f), warn: (m, f) => logger.warn(m, f) },
    },
    log: (line) => logs.push(line),
  });
});
afterAll(async () => {
  await local?.close();
  await w?.close();
});

type Rec = Record<string, unknown>;
const invocation = (name: string) =>
  new azureFunctions.InvocationContext({
    functionName: name,
    logHandler: (level, ...a) =>
      logs.push(`[${name}] ${level} ${a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ')}`),
  });

function scan(where: string, texts: string[]): void {
  for (const t of texts) {
    for (const s of SECRETS) expect(t.includes(s), `${where} contains a secret: ${t.slice(0, 200)}`).toBe(false);
    expect(/\bDigest\s+username=/i.test(t), `${where} has a digest header: ${t.slice(0, 200)}`).toBe(false);
    expect(/\bBearer\s+(?!\[REDACTED\])\S/i.test(t), `${where} has a bearer token: ${t.slice(0, 200)}`).toBe(false);
  }
}

describe('no secret in logs, state or alerts', () => {
  it('after healthy, restored, refused, ARM-failing and event-driven reconciles', async () => {
    const c = w.sandbox.control;
    const api = local.app.engine;
    const healthy = await w.addProject({ model: 'rbac' });
    const drift = await w.addProject({ model: 'accessPolicy' });
    const refused = await w.addProject({ model: 'rbac', grants: 'none' });
    for (const p of [healthy, drift]) await api.reconcile(p.projectId, { kind: 'timer' });

    // A restore (access policy), a restore refused by ARM (a role outside the ABAC condition), Atlas failing.
    c.setAccessPolicy({
      as: 'alice',
      vault: drift.vaultName,
      objectId: drift.principalId,
      keys: ['decrypt'],
      op: 'remove',
    });
    expect((await api.reconcile(drift.projectId, { kind: 'timer' })).kind).toBe('restored');
    const officer = await w.newEngine({ policy: { roles: [ROLE_IDS.keyVaultCryptoOfficer, ROLE_IDS.reader] } });
    expect((await officer.reconcile(refused.projectId, { kind: 'timer' })).kind).toBe('failed');
    const fault = c.setFault('vaults.get', { kind: 'error', status: 403 });
    expect((await w.engine.reconcile(healthy.projectId, { kind: 'timer' })).kind).toBe('failed');
    c.clearFaults(fault);

    // The Functions event handler and the local host: an event through the webhook with the key, the HTTP API.
    const del = c.roleAssignments({ scope: healthy.vaultId, principalId: healthy.principalId })[0]!;
    c.deleteAssignment({ as: 'alice', id: String(del.id) });
    const n = c.notices().at(-1)!;
    const { resourceEvent } = await import('../../src/sandbox/eventgrid/events.js');
    const ev = resourceEvent(n as Parameters<typeof resourceEvent>[0], `/subscriptions/${w.sandbox.subscriptionId}`);
    const res = await fetch(local.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
      body: JSON.stringify([ev]),
    });
    expect(res.status).toBeLessThan(300);
    await handleAzureEvent(
      { settings: local.app.settings, engine: api, recentEvents: new RecentIds(), coalescer: new Coalescer<Outcome>() },
      [{ ...ev, id: 'again' }],
      invocation('onAzureEvent'),
    );
    for (const path of ['projects', `projects/${healthy.projectId}/history`]) {
      expect((await fetch(`${local.host.url}/api/${path}?code=${FUNCTION_KEY}`)).status).toBe(200);
    }
    const put = await fetch(`${local.host.url}/api/projects/${refused.projectId}/intent`, {
      method: 'PUT',
      headers: { 'x-functions-key': FUNCTION_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ intent: 'revoked', reason: `testing with ${FUNCTION_KEY.slice(0, 3)}` }),
    });
    expect(put.status).toBe(200);
    // A wrong key in the URL is not echoed either.
    expect((await fetch(`${local.host.url}/api/projects?code=${ATLAS_PRIVATE}`)).status).toBe(401);

    // Scan: logs.
    expect(logs.some((l) => l.includes('event relevant'))).toBe(true);
    expect(logs.some((l) => l.includes('intent set'))).toBe(true);
    // An SDK error as handlers log it (`{ err }`): a RestError carries the request, Authorization header included.
    const { AuthorizationManagementClient } = await import('@azure/arm-authorization');
    const sdk = new AuthorizationManagementClient(
      { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }) },
      w.sandbox.subscriptionId,
      w.sandbox.clientOptions({ retryOptions: { maxRetries: 0 } }),
    );
    const err = await sdk.roleAssignments
      .create(healthy.vaultId.slice(1), crypto.randomUUID(), {
        roleDefinitionId: `/subscriptions/${w.sandbox.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.owner}`,
        principalId: healthy.principalId,
      })
      .then(
        () => ({}) as Rec,
        (e: unknown) => e as Rec,
      );
    expect(JSON.stringify((err.request as Rec | undefined)?.headers ?? {})).toContain(TOKEN_SIGNATURE);
    createLogger({ sink: (line) => logs.push(line) }).error('restore failed', { err, request: err.request });
    scan('log', logs);
    // Scan: every row of every state table, for both engines' prefixes.
    let rows = 0;
    for (const engine of [w.engine, local.app.engine, officer]) {
      const st = engine.deps.state;
      for (const table of [st.projects, st.history, st.index]) {
        for await (const e of table.listEntities<Rec>()) {
          rows++;
          scan(`table ${table.tableName}`, [JSON.stringify(e)]);
        }
      }
    }
    expect(rows).toBeGreaterThan(10);
    // Scan: every alert payload (webhook sink and the Event Grid topic).
    expect(w.webhookAlerts.length).toBeGreaterThan(0);
    scan(
      'webhook alert',
      w.webhookAlerts.map((a) => JSON.stringify(a)),
    );
    const topic = w.sandbox.control.eventGrid?.topicEvents() ?? [];
    expect(topic.length).toBeGreaterThan(0);
    scan(
      'Event Grid alert',
      topic.map((t) => JSON.stringify(t.event)),
    );
  });
});
