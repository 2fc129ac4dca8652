/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON, asserted field by field */
// The sandbox's Event Grid: event subscriptions over ARM (raw HTTPS, there is no ARM Event Grid SDK in
// the project), the validation handshake against a real local webhook, delivery with retries, filters,
// duplicates and reordering, and the custom topic driven by the real EventGridPublisherClient.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { AzureKeyCredential, EventGridPublisherClient, generateSharedAccessSignature } from '@azure/eventgrid';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { createEventGrid, type EventGridSandbox } from '../../src/sandbox/eventgrid.js';
import { makeCertificate, startHttpsServer, type RunningServer, type TlsMaterial } from '../../src/sandbox/server.js';
import type { ChangeNotice, KeyVaultNotice, SandboxContext } from '../../src/sandbox/contract.js';

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/eventgrid/${name}`, import.meta.url), 'utf8'));

const SUB = '00000000-1111-2222-3333-444444444444';
const TENANT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const RG = `/subscriptions/${SUB}/resourceGroups/rg-ear`;
const VAULT = `${RG}/providers/Microsoft.KeyVault/vaults/kv-ear`;
const API = 'api-version=2025-02-15';

interface Received {
  method: string;
  headers: IncomingMessage['headers'];
  body: string;
  json: unknown;
}

/** A real webhook: answers the handshake per `handshake`, notifications from `statuses` (then 200). */
class Webhook {
  received: Received[] = [];
  handshake: 'echo' | 'fail' | 'manual' = 'echo';
  cloudEventsOrigin: string | undefined = '*';
  statuses: number[] = [];
  validationUrl: string | undefined;
  server!: Server;
  url = '';

  handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      this.received.push({ method: req.method ?? '', headers: req.headers, body, json });
      if (req.method === 'OPTIONS') {
        const h: Record<string, string> = {};
        if (this.cloudEventsOrigin) h['WebHook-Allowed-Origin'] = this.cloudEventsOrigin;
        res.writeHead(200, h).end();
        return;
      }
      if (req.headers['aeg-event-type'] === 'SubscriptionValidation') {
        const ev = (json as Array<{ data: { validationCode: string; validationUrl: string } }>)[0];
        this.validationUrl = ev.data.validationUrl;
        if (this.handshake === 'fail') return void res.writeHead(500).end();
        if (this.handshake === 'manual') return void res.writeHead(202).end();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ validationResponse: ev.data.validationCode }));
        return;
      }
      res.writeHead(this.statuses.shift() ?? 200).end();
    });
  };

  notifications(): Received[] {
    return this.received.filter((r) => r.method === 'POST' && r.headers['aeg-event-type'] === 'Notification');
  }

  async listen(tls?: TlsMaterial): Promise<void> {
    this.server = tls
      ? createHttpsServer({ cert: tls.cert, key: tls.key }, this.handler)
      : createHttpServer(this.handler);
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const port = (this.server.address() as AddressInfo).port;
    this.url = `${tls ? 'https' : 'http'}://localhost:${port}/api/events?code=secret-function-key`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

let tls: TlsMaterial;
let server: RunningServer;
let eg: EventGridSandbox;
let agent: Agent;
const counts: Array<[string, string]> = [];
let hook: Webhook;

const ctx: SandboxContext = {
  tenantId: TENANT,
  subscriptionId: SUB,
  baseUrl: () => server.baseUrl,
  checkKeyAccess: () => ({ valid: true }),
  notify: (n) => eg.notify(n),
  count: (op, caller) => void counts.push([op, caller]),
  timeScale: 0.001,
};

async function arm(
  method: string,
  path: string,
  body?: unknown,
  token: string | null = 'actor:ops',
): Promise<{ status: number; headers: Record<string, unknown>; json: any }> {
  const res = await request(`${server.baseUrl}${path}`, {
    method: method as 'GET',
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    dispatcher: agent,
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

function subscriptionBody(endpointUrl: string, extra: Record<string, unknown> = {}): unknown {
  return {
    properties: {
      destination: { endpointType: 'WebHook', properties: { endpointUrl } },
      ...extra,
    },
  };
}

async function createSub(scope: string, name: string, extra: Record<string, unknown> = {}, url = hook.url) {
  return arm(
    'PUT',
    `${scope}/providers/Microsoft.EventGrid/eventSubscriptions/${name}?${API}`,
    subscriptionBody(url, extra),
  );
}

function change(kind: ChangeNotice['kind'], operationName: string, resourceUri: string): ChangeNotice {
  return {
    kind,
    operationName,
    resourceUri,
    subscriptionId: SUB,
    tenantId: TENANT,
    actor: {
      name: 'Alice',
      objectId: '11111111-2222-3333-4444-555555555555',
      tenantId: TENANT,
      upn: 'alice@contoso.com',
    },
    correlationId: randomUUID(),
    httpMethod: kind === 'delete' ? 'DELETE' : 'PUT',
    requestUrl: `https://management.azure.com${resourceUri}?api-version=2022-04-01`,
  };
}

const RA_ID = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments/0b6b2d3c-4f69-4d8a-9f1e-7d5f4b3e2a10`;
const RA_IN_RG = `${VAULT}/providers/Microsoft.Authorization/roleAssignments/3f1d2c4b-5a69-4e8b-8c7d-6e5f4a3b2c1d`;

beforeAll(async () => {
  tls = await makeCertificate();
  eg = createEventGrid(ctx, { responseTimeoutMs: 5_000_000, webhookCa: tls.ca });
  server = await startHttpsServer(tls, () => [eg.routes]);
  agent = new Agent({ connect: { ca: tls.ca } });
});

afterAll(async () => {
  await eg.close();
  await server.close();
  await agent.close();
});

let n = 0;
const uniqueName = (): string => `sub-${++n}`;

describe('event subscriptions (ARM)', () => {
  beforeAll(async () => {
    hook = new Webhook();
    await hook.listen();
  });
  afterAll(() => hook.close());
  afterEach(async () => {
    await eg.control.waitForIdle();
    for (const s of eg.control.subscriptions()) await arm('DELETE', `${s.id}?${API}`);
    eg.control.setDelivery({ duplicate: false, reorder: false, dropNext: 0 });
    hook.received = [];
    hook.statuses = [];
    hook.handshake = 'echo';
  });

  it('creates a subscription after the validation handshake, as Event Grid does', async () => {
    const res = await createSub(`/subscriptions/${SUB}`, 'ear-guard');
    expect(res.status).toBe(201);
    expect(res.json.properties.provisioningState).toBe('Succeeded');
    expect(res.json.type).toBe('Microsoft.EventGrid/eventSubscriptions');
    expect(res.json.properties.topic).toBe(`/subscriptions/${SUB}`);
    // endpointUrl is write-only: only the base (without the function key) comes back.
    expect(res.json.properties.destination.properties).not.toHaveProperty('endpointUrl');
    expect(res.json.properties.destination.properties.endpointBaseUrl).toBe(hook.url.split('?')[0]);
    expect(JSON.stringify(res.json)).not.toContain('secret-function-key');

    const handshake = hook.received.find((r) => r.headers['aeg-event-type'] === 'SubscriptionValidation');
    expect(handshake?.method).toBe('POST');
    const published = (fixture('eventgrid-docs-SubscriptionValidationEvent.eventgridschema.json') as any[])[0];
    const sent = (handshake?.json as any[])[0];
    expect(Object.keys(sent).sort()).toEqual(Object.keys(published).sort());
    expect(Object.keys(sent.data).sort()).toEqual(Object.keys(published.data).sort());
    expect(sent.eventType).toBe('Microsoft.EventGrid.SubscriptionValidationEvent');
    expect(sent.topic).toBe(`/subscriptions/${SUB}`);

    const op = await arm('GET', String(res.headers['azure-asyncoperation']).replace(server.baseUrl, ''));
    expect(op.json.status).toBe('Succeeded');
    const got = await arm(
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.EventGrid/eventSubscriptions/ear-guard?${API}`,
    );
    expect(got.status).toBe(200);
    expect(got.json.id).toBe(`/subscriptions/${SUB}/providers/Microsoft.EventGrid/eventSubscriptions/ear-guard`);
    const list = await arm('GET', `/subscriptions/${SUB}/providers/Microsoft.EventGrid/eventSubscriptions?${API}`);
    expect(list.json.value.map((v: any) => v.name)).toEqual(['ear-guard']);
    expect(counts.some(([op2, who]) => op2 === 'eventSubscriptions.createOrUpdate' && who === 'ops')).toBe(true);
  });

  it('fails the subscription with "Url validation" when the endpoint refuses the handshake', async () => {
    hook.handshake = 'fail';
    const res = await createSub(`/subscriptions/${SUB}`, 'refused');
    expect(res.status).toBe(201);
    expect(res.json.properties.provisioningState).toBe('Creating');
    const op = await arm('GET', String(res.headers['azure-asyncoperation']).replace(server.baseUrl, ''));
    expect(op.json.status).toBe('Failed');
    expect(op.json.error.code).toBe('Url validation');
    expect(op.json.error.message).toContain(`Webhook validation handshake failed for ${hook.url.split('?')[0]}`);
    expect(op.json.error.message).toContain('500');
    const got = await arm(
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.EventGrid/eventSubscriptions/refused?${API}`,
    );
    expect(got.json.properties.provisioningState).toBe('Failed');
    eg.notify(change('delete', 'Microsoft.Authorization/roleAssignments/delete', RA_ID));
    await eg.control.waitForIdle();
    expect(hook.notifications()).toHaveLength(0);
  });

  it('supports the manual handshake: 2xx without the code, then a GET on the validationUrl', async () => {
    hook.handshake = 'manual';
    const res = await createSub(`/subscriptions/${SUB}`, 'manual');
    expect(res.json.properties.provisioningState).toBe('Creating');
    const before = await arm(
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.EventGrid/eventSubscriptions/manual?${API}`,
    );
    expect(before.json.properties.provisioningState).toBe('AwaitingManualAction');
    expect(hook.validationUrl).toBeDefined();
    const v = await request(hook.validationUrl!, { dispatcher: agent });
    expect(v.statusCode).toBe(200);
    await v.body.text();
    const after = await arm(
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.EventGrid/eventSubscriptions/manual?${API}`,
    );
    expect(after.json.properties.provisioningState).toBe('Succeeded');
  });

  it('answers bad requests with ARM errors naming the field', async () => {
    const noToken = await arm(
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.EventGrid/eventSubscriptions?${API}`,
      undefined,
      null,
    );
    expect(noToken.status).toBe(401);
    expect(noToken.json.error.code).toBe('AuthenticationFailed');
    const noVersion = await arm('GET', `/subscriptions/${SUB}/providers/Microsoft.EventGrid/eventSubscriptions`);
    expect(noVersion.status).toBe(400);
    expect(noVersion.json.error.code).toBe('MissingApiVersionParameter');
    const badOp = await createSub(`/subscriptions/${SUB}`, 'bad-op', {
      filter: { advancedFilters: [{ operatorType: 'StringLike', key: 'data.operationName', values: ['x'] }] },
    });
    expect(badOp.status).toBe(400);
    expect(badOp.json.error.message).toContain('properties.filter.advancedFilters[0].operatorType');
    const plainHttp = await createSub(`/subscriptions/${SUB}`, 'plain', {}, 'http://example.com/hook');
    expect(plainHttp.status).toBe(400);
    expect(plainHttp.json.error.message).toContain('endpointUrl');
    const otherSub = await createSub(`/subscriptions/99999999-1111-2222-3333-444444444444`, 'elsewhere');
    expect(otherSub.status).toBe(404);
    expect(otherSub.json.error.code).toBe('SubscriptionNotFound');
    const garbage = await arm(
      'PUT',
      `/subscriptions/${SUB}/providers/Microsoft.EventGrid/eventSubscriptions/x1x?${API}`,
      'nope',
    );
    expect(garbage.status).toBe(400);
    expect(eg.control.subscriptions()).toHaveLength(0); // nothing half-created

    await createSub(`/subscriptions/${SUB}`, 'to-delete');
    const path = `/subscriptions/${SUB}/providers/Microsoft.EventGrid/eventSubscriptions/to-delete?${API}`;
    expect((await arm('DELETE', path)).status).toBe(200);
    expect((await arm('DELETE', path)).status).toBe(204);
    expect((await arm('GET', path)).status).toBe(404);
  });

  it('delivers Microsoft.Resources events shaped like the published samples', async () => {
    await createSub(`/subscriptions/${SUB}`, uniqueName());
    const notice = change('delete', 'Microsoft.Authorization/roleAssignments/delete', RA_ID);
    eg.notify(notice);
    await eg.control.waitForIdle();
    const [delivery] = hook.notifications();
    expect(delivery.headers['content-type']).toBe('application/json');
    const batch = delivery.json as any[];
    expect(Array.isArray(batch)).toBe(true);
    expect(batch).toHaveLength(1);
    const event = batch[0];
    const published = (fixture('eventgrid-docs-subscription-ResourceDeleteSuccess.eventgridschema.json') as any[])[0];
    expect(Object.keys(event).sort()).toEqual(Object.keys(published).sort());
    for (const k of Object.keys(published.data)) expect(event.data).toHaveProperty(k);
    for (const k of Object.keys(published.data.httpRequest)) expect(event.data.httpRequest).toHaveProperty(k);
    expect(event.eventType).toBe('Microsoft.Resources.ResourceDeleteSuccess');
    expect(event.topic).toBe(`/subscriptions/${SUB}`);
    expect(event.subject).toBe(RA_ID);
    expect(event.data.resourceUri).toBe(RA_ID);
    expect(event.data.operationName).toBe('Microsoft.Authorization/roleAssignments/delete');
    expect(event.data.authorization.action).toBe('Microsoft.Authorization/roleAssignments/delete');
    expect(event.data.resourceProvider).toBe('Microsoft.Authorization');
    expect(event.data.correlationId).toBe(notice.correlationId);
    expect(event.data.claims['http://schemas.microsoft.com/identity/claims/objectidentifier']).toBe(
      notice.actor.objectId,
    );
    expect(event.data.claims['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn']).toBe('alice@contoso.com');
    expect(event.data.status).toBe('Succeeded');
    expect([event.dataVersion, event.metadataVersion]).toEqual([published.dataVersion, published.metadataVersion]);
    expect(eg.control.deliveries().filter((d) => d.status === 'delivered')).toHaveLength(1);
  });

  it('applies includedEventTypes, StringIn on data.operationName and the subscription scope', async () => {
    await createSub(`/subscriptions/${SUB}`, 'only-ra-deletes', {
      filter: {
        includedEventTypes: ['Microsoft.Resources.ResourceWriteSuccess', 'Microsoft.Resources.ResourceDeleteSuccess'],
        advancedFilters: [
          {
            operatorType: 'StringIn',
            key: 'data.operationName',
            values: [
              'Microsoft.Authorization/roleAssignments/delete',
              'Microsoft.KeyVault/vaults/accessPolicies/write',
            ],
          },
        ],
      },
    });
    await createSub(RG, 'rg-only', {
      filter: { advancedFilters: [{ operatorType: 'StringBeginsWith', key: 'subject', values: [VAULT] }] },
    });
    eg.notify(change('write', 'Microsoft.KeyVault/vaults/write', VAULT)); // sub: no (op); rg: yes
    eg.notify(change('delete', 'Microsoft.Authorization/roleAssignments/delete', RA_ID)); // sub: yes; rg: no (outside)
    eg.notify(change('action', 'Microsoft.Authorization/roleAssignments/delete', RA_IN_RG)); // sub: no (type); rg: yes
    eg.notify(change('write', 'Microsoft.KeyVault/vaults/accessPolicies/write', `${VAULT}/accessPolicies/add`)); // both
    await eg.control.waitForIdle();
    const seen = hook.notifications().map((r) => {
      const e = (r.json as any[])[0];
      return `${e.topic === RG ? 'rg' : 'sub'} ${e.eventType.split('.').pop()} ${e.data.operationName}`;
    });
    expect(seen.sort()).toEqual(
      [
        'sub ResourceDeleteSuccess Microsoft.Authorization/roleAssignments/delete',
        'sub ResourceWriteSuccess Microsoft.KeyVault/vaults/accessPolicies/write',
        'rg ResourceWriteSuccess Microsoft.KeyVault/vaults/write',
        'rg ResourceActionSuccess Microsoft.Authorization/roleAssignments/delete',
        'rg ResourceWriteSuccess Microsoft.KeyVault/vaults/accessPolicies/write',
      ].sort(),
    );
  });

  it('retries non-2xx answers on the schedule and keeps the same event id', async () => {
    await createSub(`/subscriptions/${SUB}`, uniqueName());
    const before = eg.control.deliveries().length;
    hook.statuses = [500, 503];
    eg.notify(change('delete', 'Microsoft.Authorization/roleAssignments/delete', RA_ID));
    await eg.control.waitForIdle();
    const posts = hook.notifications();
    expect(posts).toHaveLength(3);
    expect(new Set(posts.map((p) => (p.json as any[])[0].id)).size).toBe(1);
    expect(posts.map((p) => p.headers['aeg-delivery-count'])).toEqual(['0', '1', '2']);
    const [d, ...more] = eg.control.deliveries().slice(before);
    expect(more).toHaveLength(0);
    expect(d.status).toBe('delivered');
    expect(d.attempts.map((a) => a.status)).toEqual([500, 503, 200]);
  });

  it('dead-letters at once on 400 and after maxDeliveryAttempts on 5xx', async () => {
    await createSub(`/subscriptions/${SUB}`, 'bounded', {
      retryPolicy: { maxDeliveryAttempts: 3, eventTimeToLiveInMinutes: 1440 },
    });
    const deadBefore = eg.control.deadLettered().length;
    hook.statuses = [400];
    eg.notify(change('delete', 'Microsoft.Authorization/roleAssignments/delete', RA_ID));
    await eg.control.waitForIdle();
    hook.statuses = [500, 500, 500, 500, 500];
    eg.notify(change('write', 'Microsoft.Authorization/roleAssignments/write', RA_ID));
    await eg.control.waitForIdle();
    const dead = eg.control.deadLettered().slice(deadBefore);
    expect(dead.map((d) => [d.eventType, d.deadLetterReason, d.attempts.length])).toEqual([
      ['Microsoft.Resources.ResourceDeleteSuccess', 'NonRetriableStatus', 1],
      ['Microsoft.Resources.ResourceWriteSuccess', 'MaxDeliveryAttemptsExceeded', 3],
    ]);
    expect(hook.notifications()).toHaveLength(4);
  });

  it('can duplicate, reorder and lose events on request', async () => {
    await createSub(`/subscriptions/${SUB}`, uniqueName());
    eg.control.setDelivery({ duplicate: true });
    eg.notify(change('delete', 'Microsoft.Authorization/roleAssignments/delete', RA_ID));
    await eg.control.waitForIdle();
    const dupIds = hook.notifications().map((p) => (p.json as any[])[0].id);
    expect(dupIds).toHaveLength(2);
    expect(dupIds[0]).toBe(dupIds[1]);

    hook.received = [];
    eg.control.setDelivery({ duplicate: false, reorder: true });
    eg.notify(change('write', 'Microsoft.Authorization/roleAssignments/write', RA_ID));
    eg.notify(change('delete', 'Microsoft.Authorization/roleAssignments/delete', RA_ID));
    await eg.control.waitForIdle();
    expect(hook.notifications().map((p) => (p.json as any[])[0].eventType)).toEqual([
      'Microsoft.Resources.ResourceDeleteSuccess',
      'Microsoft.Resources.ResourceWriteSuccess',
    ]);

    hook.received = [];
    eg.control.setDelivery({ reorder: false, dropNext: 1 });
    eg.notify(change('delete', 'Microsoft.Authorization/roleAssignments/delete', RA_ID));
    eg.notify(change('write', 'Microsoft.Authorization/roleAssignments/write', RA_ID));
    await eg.control.waitForIdle();
    expect(hook.notifications().map((p) => (p.json as any[])[0].eventType)).toEqual([
      'Microsoft.Resources.ResourceWriteSuccess',
    ]);
    expect(eg.control.deliveries().filter((d) => d.status === 'dropped')).toHaveLength(1);
  });

  it('speaks CloudEvents 1.0: OPTIONS handshake and structured delivery', async () => {
    const res = await createSub(RG, 'cloud', { eventDeliverySchema: 'CloudEventSchemaV1_0' });
    expect(res.json.properties.provisioningState).toBe('Succeeded');
    const options = hook.received.find((r) => r.method === 'OPTIONS');
    expect(options?.headers['webhook-request-origin']).toBe('eventgrid.azure.net');
    eg.notify(change('delete', 'Microsoft.Authorization/roleAssignments/delete', RA_IN_RG));
    await eg.control.waitForIdle();
    const [post] = hook.received.filter((r) => r.method === 'POST');
    expect(post.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
    const event = post.json as any;
    const published = (fixture('eventgrid-docs-resourcegroup-ResourceDeleteSuccess.cloudeventschema.json') as any[])[0];
    expect(Object.keys(event).sort()).toEqual(Object.keys(published).sort());
    expect(event.specversion).toBe('1.0');
    expect(event.source).toBe(RG);
    expect(event.type).toBe('Microsoft.Resources.ResourceDeleteSuccess');
    expect(event.subject).toBe(RA_IN_RG);

    hook.cloudEventsOrigin = undefined;
    const refused = await createSub(RG, 'cloud-refused', { eventDeliverySchema: 'CloudEventSchemaV1_0' });
    const op = await arm('GET', String(refused.headers['azure-asyncoperation']).replace(server.baseUrl, ''));
    expect(op.json.error.code).toBe('Url validation');
    hook.cloudEventsOrigin = '*';
  });

  it('emits Key Vault events to vault-scoped subscriptions', async () => {
    const created = await createSub(VAULT, 'kv-events', {
      filter: {
        includedEventTypes: ['Microsoft.KeyVault.KeyNearExpiry', 'Microsoft.KeyVault.VaultAccessPolicyChanged'],
      },
    });
    expect(created.json.properties?.provisioningState, JSON.stringify(created.json)).toBe('Succeeded');
    const near: KeyVaultNotice = {
      type: 'KeyNearExpiry',
      vaultId: VAULT,
      vaultName: 'kv-ear',
      subscriptionId: SUB,
      objectName: 'atlas-cmk',
      version: 'd891821e3d364e9eb88fbd3d11807b86',
      nbf: 1_700_000_000,
      exp: 1_800_000_000,
    };
    eg.control.emitKeyEvent(near);
    eg.notify({ ...near, type: 'KeyNewVersionCreated' }); // filtered out
    eg.notify({ type: 'VaultAccessPolicyChanged', vaultId: VAULT, vaultName: 'kv-ear', subscriptionId: SUB });
    eg.notify(change('write', 'Microsoft.KeyVault/vaults/write', VAULT)); // not a Key Vault topic event
    await eg.control.waitForIdle();
    const events = hook.notifications().map((p) => (p.json as any[])[0]);
    expect(events.map((e) => e.eventType)).toEqual([
      'Microsoft.KeyVault.KeyNearExpiry',
      'Microsoft.KeyVault.VaultAccessPolicyChanged',
    ]);
    const published = (fixture('eventgrid-docs-keyvault-SecretNewVersionCreated.eventgridschema.json') as any[])[0];
    expect(Object.keys(events[0]).sort()).toEqual(Object.keys(published).sort());
    // The docs sample pads "ObjectName " with a space; the data keys are otherwise the same.
    expect(Object.keys(events[0].data).sort()).toEqual(
      Object.keys(published.data)
        .map((k) => k.trim())
        .sort(),
    );
    expect(events[0]).toMatchObject({
      topic: VAULT,
      subject: 'atlas-cmk',
      data: {
        Id: 'https://kv-ear.vault.azure.net/keys/atlas-cmk/d891821e3d364e9eb88fbd3d11807b86',
        VaultName: 'kv-ear',
        ObjectType: 'Key',
        ObjectName: 'atlas-cmk',
        Version: 'd891821e3d364e9eb88fbd3d11807b86',
        NBF: 1_700_000_000,
        EXP: 1_800_000_000,
      },
    });
    expect(events[1].data.ObjectType).toBe('Vault');
  });
});

describe('https webhook trusted through a test CA', () => {
  it('validates and delivers over TLS', async () => {
    const secure = new Webhook();
    await secure.listen(tls); // the same test CA the Event Grid half was told to trust
    try {
      const res = await arm(
        'PUT',
        `/subscriptions/${SUB}/providers/Microsoft.EventGrid/eventSubscriptions/tls?${API}`,
        subscriptionBody(secure.url),
      );
      expect(res.json.properties.provisioningState).toBe('Succeeded');
      eg.notify(change('delete', 'Microsoft.Authorization/roleAssignments/delete', RA_ID));
      await eg.control.waitForIdle();
      expect(secure.notifications()).toHaveLength(1);
    } finally {
      await arm('DELETE', `/subscriptions/${SUB}/providers/Microsoft.EventGrid/eventSubscriptions/tls?${API}`);
      await secure.close();
    }
  });
});

describe('custom topic (the alert sink) with the real EventGridPublisherClient', () => {
  const clientOptions = () => ({ tlsOptions: { ca: tls.ca }, retryOptions: { maxRetries: 0 } });

  afterEach(() => eg.control.clearTopicEvents());

  it('accepts CloudEvents batches with the topic key', async () => {
    const { endpoint, key } = eg.control.topic();
    const client = new EventGridPublisherClient(endpoint, 'CloudEvent', new AzureKeyCredential(key), clientOptions());
    await client.send([
      {
        type: 'AtlasEarGuard.AccessRestored',
        source: '/ear-guard/projects/p1',
        data: { projectId: 'p1' },
        subject: 'p1',
      },
      { type: 'AtlasEarGuard.DriftDetected', source: '/ear-guard/projects/p2', data: { projectId: 'p2' } },
    ]);
    const got = eg.control.topicEvents();
    expect(got.map((e) => [e.schema, e.event.type, e.auth])).toEqual([
      ['CloudEventSchemaV1_0', 'AtlasEarGuard.AccessRestored', 'key'],
      ['CloudEventSchemaV1_0', 'AtlasEarGuard.DriftDetected', 'key'],
    ]);
    expect(got[0].event).toMatchObject({ specversion: '1.0', subject: 'p1', data: { projectId: 'p1' } });
  });

  it('accepts Event Grid schema arrays, a SAS token and a bearer token', async () => {
    const { endpoint, key } = eg.control.topic();
    const eventGrid = new EventGridPublisherClient(endpoint, 'EventGrid', new AzureKeyCredential(key), clientOptions());
    await eventGrid.send([
      { eventType: 'AtlasEarGuard.Alert', subject: 'p3', dataVersion: '1.0', data: { ok: false } },
    ]);

    const sas = await generateSharedAccessSignature(
      endpoint,
      new AzureKeyCredential(key),
      new Date(Date.now() + 600_000),
    );
    const { AzureSASCredential } = await import('@azure/core-auth');
    const viaSas = new EventGridPublisherClient(endpoint, 'CloudEvent', new AzureSASCredential(sas), clientOptions());
    await viaSas.send([{ type: 'AtlasEarGuard.Alert', source: '/sas', data: {} }]);

    const token: TokenCredential = {
      getToken: async (): Promise<AccessToken> => ({
        token: 'actor:guard',
        expiresOnTimestamp: Date.now() + 3_600_000,
      }),
    };
    const viaBearer = new EventGridPublisherClient(endpoint, 'CloudEvent', token, clientOptions());
    await viaBearer.send([{ type: 'AtlasEarGuard.Alert', source: '/bearer', data: {} }]);
    expect(eg.control.topicEvents().map((e) => [e.schema, e.auth])).toEqual([
      ['EventGridSchema', 'key'],
      ['CloudEventSchemaV1_0', 'sas'],
      ['CloudEventSchemaV1_0', 'bearer'],
    ]);
  });

  it('refuses a wrong key with 401 and a malformed event with 400, storing nothing', async () => {
    const { endpoint } = eg.control.topic();
    const wrong = new EventGridPublisherClient(
      endpoint,
      'CloudEvent',
      new AzureKeyCredential(Buffer.alloc(32, 7).toString('base64')),
      clientOptions(),
    );
    await expect(wrong.send([{ type: 't', source: '/s', data: {} }])).rejects.toMatchObject({
      statusCode: 401,
      code: 'Unauthorized',
    });
    const res = await request(`${endpoint}?api-version=2018-01-01`, {
      method: 'POST',
      headers: {
        'content-type': 'application/cloudevents-batch+json; charset=utf-8',
        'aeg-sas-key': eg.control.topic().key,
      },
      body: JSON.stringify([
        { id: '1', source: '/s', type: 't', specversion: '1.0' },
        { id: '2', type: 't', specversion: '1.0' },
      ]),
      dispatcher: agent,
    });
    expect(res.statusCode).toBe(400);
    const body = (await res.body.json()) as any;
    expect(body.error.code).toBe('BadRequest');
    expect(body.error.message).toContain("'source'");
    expect(body.error.details[0].code).toBe('InputJsonInvalid');
    const noAuth = await request(`${endpoint}?api-version=2018-01-01`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '[]',
      dispatcher: agent,
    });
    expect(noAuth.statusCode).toBe(401);
    await noAuth.body.text();
    expect(eg.control.topicEvents()).toHaveLength(0);
  });
});
