/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON, asserted field by field */
// Event Grid through the assembled sandbox (startSandbox): a change made with the real ARM SDK by
// "alice" reaches a real webhook as Azure's event, with her claims; Key Vault events on demand; the
// alert sink takes the real EventGridPublisherClient.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { AzureKeyCredential, EventGridPublisherClient } from '@azure/eventgrid';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';

interface Hit {
  headers: IncomingMessage['headers'];
  json: any;
}

let sb: Sandbox;
let hook: Server;
let hookUrl = '';
const hits: Hit[] = [];
let agent: Agent;

async function arm(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await request(`${sb.armEndpoint}${path}`, {
    method: method as 'PUT',
    headers: { authorization: 'Bearer actor:ear-guard', 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    dispatcher: agent,
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
}

const events = (): any[] =>
  hits.filter((h) => h.headers['aeg-event-type'] === 'Notification').flatMap((h) => h.json as any[]);

beforeAll(async () => {
  sb = await startSandbox({ timeScale: 0.001, rateLimit: false, eventGrid: { responseTimeoutMs: 5_000_000 } });
  agent = new Agent({ connect: { ca: sb.ca } });
  hook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const json = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
      hits.push({ headers: req.headers, json });
      if (req.headers['aeg-event-type'] === 'SubscriptionValidation') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ validationResponse: json[0].data.validationCode }));
        return;
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://localhost:${(hook.address() as AddressInfo).port}/runtime/webhooks/EventGrid?functionName=onAzureEvent`;
});

afterAll(async () => {
  await sb.close();
  await new Promise<void>((r) => hook.close(() => r()));
  await agent.close();
});

describe('Event Grid inside startSandbox', () => {
  it('delivers alice deleting a role assignment (real ARM SDK) with her claims', async () => {
    const created = await arm(
      'PUT',
      `/subscriptions/${sb.subscriptionId}/providers/Microsoft.EventGrid/eventSubscriptions/ear-guard-events?api-version=2025-02-15`,
      {
        properties: {
          destination: { endpointType: 'WebHook', properties: { endpointUrl: hookUrl } },
          filter: {
            includedEventTypes: [
              'Microsoft.Resources.ResourceWriteSuccess',
              'Microsoft.Resources.ResourceDeleteSuccess',
            ],
            advancedFilters: [
              {
                operatorType: 'StringIn',
                key: 'data.operationName',
                values: [
                  'Microsoft.Authorization/roleAssignments/write',
                  'Microsoft.Authorization/roleAssignments/delete',
                ],
              },
            ],
          },
        },
      },
    );
    expect(created.status).toBe(201);
    expect(created.json.properties.provisioningState).toBe('Succeeded');

    sb.control.createVault({ vault: 'kv-eg', rbac: true }); // vault write: filtered out
    const assignment = sb.control.assignRole({
      scope: 'kv-eg',
      role: 'Key Vault Crypto User',
      principalId: sb.atlasPrincipalId,
      principalType: 'ServicePrincipal',
    });
    const id = String(assignment.id);
    const scope = id.slice(0, id.toLowerCase().indexOf('/providers/microsoft.authorization/')).replace(/^\//, '');
    const asAlice = new AuthorizationManagementClient(sb.credentialFor('alice'), sb.subscriptionId, sb.clientOptions());
    await asAlice.roleAssignments.delete(scope, String(assignment.name));
    await sb.control.eventGrid!.waitForIdle();

    const got = events();
    expect(got.map((e) => [e.eventType, e.data.operationName])).toEqual([
      ['Microsoft.Resources.ResourceWriteSuccess', 'Microsoft.Authorization/roleAssignments/write'],
      ['Microsoft.Resources.ResourceDeleteSuccess', 'Microsoft.Authorization/roleAssignments/delete'],
    ]);
    const deleted = got[1];
    expect(deleted.subject.toLowerCase()).toBe(id.toLowerCase());
    expect(deleted.data.resourceUri).toBe(deleted.subject);
    expect(deleted.topic).toBe(`/subscriptions/${sb.subscriptionId}`);
    const alice = sb.control.principals().find((p) => p.name === 'alice')!;
    expect(deleted.data.claims['http://schemas.microsoft.com/identity/claims/objectidentifier']).toBe(alice.objectId);
    expect(deleted.data.httpRequest.method).toBe('DELETE');
    expect(deleted.data.tenantId).toBe(sb.tenantId);
  });

  it('sends Key Vault events to a vault-scoped subscription', async () => {
    sb.control.createKey({ vault: 'kv-eg', key: 'atlas-cmk' });
    const vaultId = String(sb.control.getVault({ vault: 'kv-eg' }).id);
    const res = await arm(
      'PUT',
      `${vaultId}/providers/Microsoft.EventGrid/eventSubscriptions/kv-events?api-version=2025-02-15`,
      {
        properties: {
          destination: { endpointType: 'WebHook', properties: { endpointUrl: hookUrl } },
          filter: { includedEventTypes: ['Microsoft.KeyVault.KeyNearExpiry'] },
        },
      },
    );
    expect(res.json.properties.provisioningState).toBe('Succeeded');
    hits.length = 0;
    sb.control.emitKeyEvent({ vault: 'kv-eg', key: 'atlas-cmk', type: 'KeyNearExpiry' });
    await sb.control.eventGrid!.waitForIdle();
    const [e] = events();
    expect(e).toMatchObject({
      eventType: 'Microsoft.KeyVault.KeyNearExpiry',
      topic: vaultId,
      subject: 'atlas-cmk',
      data: { VaultName: 'kv-eg', ObjectType: 'Key', ObjectName: 'atlas-cmk' },
    });
  });

  it('takes alerts on the custom topic from the real EventGridPublisherClient', async () => {
    const client = new EventGridPublisherClient(
      sb.eventGridTopicEndpoint!,
      'CloudEvent',
      new AzureKeyCredential(sb.eventGridTopicKey!),
      { tlsOptions: { ca: sb.ca } },
    );
    await client.send([{ type: 'AtlasEarGuard.AccessRestored', source: '/ear-guard', data: { projectId: 'p' } }]);
    expect(sb.control.eventGrid!.topicEvents().map((e) => e.event.type)).toEqual(['AtlasEarGuard.AccessRestored']);
  });
});
