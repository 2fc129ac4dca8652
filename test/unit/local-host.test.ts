import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { matchRoute, startLocalHost, type LocalHost } from '../../src/local/host.js';

const KEY = 'local-key-for-tests';
const validation = JSON.parse(
  readFileSync('test/fixtures/eventgrid/eventgrid-docs-SubscriptionValidationEvent.eventgridschema.json', 'utf8'),
);

describe('local host', () => {
  let host: LocalHost;
  const seen: unknown[] = [];
  let failNext = false;
  let ticks = 0;

  beforeAll(async () => {
    host = await startLocalHost({
      functionKey: KEY,
      maxBodyBytes: 10_000,
      eventGrid: [
        {
          name: 'onAzureEvent',
          handler: async (ev) => {
            if (failNext) {
              failNext = false;
              throw new Error('transient');
            }
            seen.push(ev);
          },
        },
      ],
      http: [
        {
          name: 'projectsApi',
          route: 'projects/{id?}',
          methods: ['GET'],
          authLevel: 'function',
          handler: async (req) => ({ status: 200, jsonBody: { id: req.params.id ?? null, q: req.query.get('x') } }),
        },
      ],
      timers: [{ name: 'sweepProjects', schedule: '0 0 0 1 1 *', handler: async () => void ticks++ }],
    });
  });
  afterAll(() => host.close());

  const hook = (q = `?functionName=onAzureEvent&code=${KEY}`) => `${host.url}/runtime/webhooks/eventgrid${q}`;

  it('answers the Event Grid validation handshake with the code', async () => {
    const r = await fetch(hook(), {
      method: 'POST',
      headers: { 'aeg-event-type': 'SubscriptionValidation' },
      body: JSON.stringify(validation),
    });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ validationResponse: validation[0].data.validationCode });
  });

  it('answers the CloudEvents OPTIONS handshake', async () => {
    const r = await fetch(hook(), { method: 'OPTIONS', headers: { 'WebHook-Request-Origin': 'eventgrid.azure.net' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('webhook-allowed-origin')).toBe('eventgrid.azure.net');
  });

  it('refuses the webhook without the key (401), also with a wrong one', async () => {
    expect((await fetch(hook('?functionName=onAzureEvent'), { method: 'POST', body: '[]' })).status).toBe(401);
    expect((await fetch(hook('?functionName=onAzureEvent&code=nope'), { method: 'POST', body: '[]' })).status).toBe(
      401,
    );
    const r = await fetch(hook('?functionName=onAzureEvent'), {
      method: 'POST',
      body: '[]',
      headers: { 'x-functions-key': KEY },
    });
    expect(r.status).toBe(200);
  });

  it('rejects an oversized body with 413 and invokes nothing', async () => {
    const before = seen.length;
    const big = JSON.stringify([{ id: 'x', data: 'a'.repeat(20_000) }]);
    const r = await fetch(hook(), { method: 'POST', headers: { 'aeg-event-type': 'Notification' }, body: big });
    expect(r.status).toBe(413);
    expect(seen.length).toBe(before);
  });

  it('invokes the handler once per event and returns 500 when it throws (so Event Grid retries)', async () => {
    const before = seen.length;
    const ev = (id: string) => ({
      id,
      eventType: 'Test.Event',
      subject: '/x',
      eventTime: '2026-01-01T00:00:00Z',
      data: {},
    });
    const body = JSON.stringify([ev('1'), ev('2')]);
    const ok = await fetch(hook(), { method: 'POST', headers: { 'aeg-event-type': 'Notification' }, body });
    expect(ok.status).toBe(200);
    expect(seen.length).toBe(before + 2);
    failNext = true;
    const bad = await fetch(hook(), { method: 'POST', headers: { 'aeg-event-type': 'Notification' }, body });
    expect(bad.status).toBe(500);
    // Valid JSON that is not an event is a 400 with the reason, and no invocation.
    const after = seen.length;
    const notEvent = await fetch(hook(), {
      method: 'POST',
      headers: { 'aeg-event-type': 'Notification' },
      body: '[{"id":"1"}]',
    });
    expect(notEvent.status).toBe(400);
    expect(((await notEvent.json()) as { error: string }).error).toMatch(/\[0\]\.eventType: missing/);
    expect(seen.length).toBe(after);
  });

  it('serves HTTP routes with params and query, behind the key', async () => {
    expect((await fetch(`${host.url}/api/projects/abc`)).status).toBe(401);
    const r = await fetch(`${host.url}/api/projects/abc?x=1&code=${KEY}`);
    expect(await r.json()).toEqual({ id: 'abc', q: '1' });
    const all = await fetch(`${host.url}/api/projects`, { headers: { 'x-functions-key': KEY } });
    expect(await all.json()).toEqual({ id: null, q: null });
    expect((await fetch(`${host.url}/api/nothing?code=${KEY}`)).status).toBe(404);
  });

  it('runs timer functions', async () => {
    await host.runTimer('sweepProjects');
    expect(ticks).toBe(1);
  });

  it('matches route templates by segment', () => {
    expect(matchRoute('projects/{id}/history', 'projects/p1/history')).toEqual({ id: 'p1' });
    expect(matchRoute('projects/{id}/history', 'projects/p1')).toBeUndefined();
    expect(matchRoute('projects/{id}', 'projects/p1/extra')).toBeUndefined();
    expect(matchRoute('health', 'HEALTH')).toEqual({});
  });
});
