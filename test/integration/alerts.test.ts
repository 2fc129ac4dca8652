// Alert sinks: the generic webhook against a local receiver (and the publisher's failure isolation).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertPublisher, ALERT_TYPES, WebhookSink, alertText, type Alert } from '../../src/alerts/index.js';

let server: Server;
let url: string;
const received: unknown[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/fail') {
        res.writeHead(500).end();
        return;
      }
      received.push(JSON.parse(body));
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const alert: Alert = {
  type: ALERT_TYPES.AccessRestored,
  severity: 'warning',
  projectId: '65a000000000000000000001',
  vaultId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-prod',
  keyName: 'ear-key',
  principalId: '11111111-2222-3333-4444-555555555555',
  missing: ['encrypt', 'decrypt'],
  changedBy: 'alice@contoso.com',
  action: 'added Key Vault Crypto User at the vault',
  flags: [],
  at: new Date().toISOString(),
};

describe('webhook alerts', () => {
  it('posts JSON with a Teams/Slack text line naming project, vault, key, principal, missing, who and what', async () => {
    const pub = new AlertPublisher([new WebhookSink({ url: `${url}/hook` })]);
    const r = await pub.publish(alert);
    expect(r).toEqual({ sent: ['webhook'], failed: [] });
    const body = received.at(-1) as Record<string, unknown>;
    expect(body.type).toBe('AtlasEarGuard.AccessRestored');
    const text = body.text as string;
    for (const s of [
      '65a000000000000000000001',
      'kv-prod',
      'ear-key',
      '11111111-2222',
      'encrypt, decrypt',
      'alice@contoso.com',
      'Crypto User',
    ]) {
      expect(text).toContain(s);
    }
    expect(text).toBe(alertText(alert));
  });

  it('a failing sink is reported, classified, and does not stop the others', async () => {
    const pub = new AlertPublisher([new WebhookSink({ url: `${url}/fail` }), new WebhookSink({ url: `${url}/ok` })]);
    const before = received.length;
    const r = await pub.publish(alert);
    expect(r.sent).toEqual(['webhook']);
    expect(r.failed).toHaveLength(1);
    expect(r.failed[0]!.error).toMatchObject({ kind: 'transient', status: 500 });
    expect(received.length).toBe(before + 1);
  });
});
