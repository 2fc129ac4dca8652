// The local host's webhook and HTTP API under input that must not poison delivery, and its batching: the events of
// one POST run concurrently (as the Functions host runs invocations), so the per-instance coalescer merges them;
// valid JSON that is not an event is a 400; an event that can never be handled is dropped (dead-lettered in the
// log) and answered 200 naming it, never a 500 that Event Grid would retry for 24 hours; malformed paths and
// durations are 400; actions on a project neither Atlas nor the state knows are 404 and leave no row.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import type { ChangeNotice } from '../../src/sandbox/contract.js';
import { resourceEvent } from '../../src/sandbox/eventgrid/events.js';
import { startAppWorld, type AppWorld } from '../helpers/app.js';
import { type Rec, props } from '../helpers/arm.js';

let a: AppWorld;
beforeAll(async () => {
  a = await startAppWorld({ subscribe: false });
}, 60_000);
afterAll(async () => {
  await a?.close();
});

const post = (body: string) =>
  fetch(a.local.webhookUrl, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
  });

/** Deletes the rbac project's Crypto User grant as alice; returns ARM's event for it. */
function stripCryptoUser(): Rec {
  const p = a.projects.find((x) => x.model === 'rbac')!;
  const grant = a.sandbox.control
    .roleAssignments({ scope: p.vaultId })
    .find((x) => String(props(x).roleDefinitionId).toLowerCase().endsWith(ROLE_IDS.keyVaultCryptoUser));
  if (!grant) throw new Error('no Crypto User grant to strip');
  a.sandbox.control.deleteAssignment({ as: 'alice', id: String(grant.id) });
  const notice = a.sandbox.control.notices().at(-1) as ChangeNotice;
  return resourceEvent(notice, `/subscriptions/${a.sandbox.subscriptionId}`) as unknown as Rec;
}

/** ARM role-assignment list calls by the app: each reconcile of an rbac project makes the same number. */
function assignmentReads(): number {
  const ops = a.sandbox.control.counts().byCallerOperation['ear-guard'] ?? {};
  return Object.entries(ops)
    .filter(([op]) => /^roleAssignments\.list/.test(op))
    .reduce((n, [, c]) => n + c, 0);
}

describe('webhook batches', () => {
  it('30 relevant events for one project in one POST cost at most 2 reconciles', async () => {
    a.sandbox.control.resetCounts();
    const one = await post(JSON.stringify([stripCryptoUser()]));
    expect(one.status).toBe(200);
    const perReconcile = assignmentReads();
    expect(perReconcile).toBeGreaterThan(0);
    // The coalescer spaces runs of one project 1 s apart: start the batch after that window.
    await new Promise((r) => setTimeout(r, 1100));
    a.sandbox.control.resetCounts();
    const ev = stripCryptoUser();
    const batch = Array.from({ length: 30 }, (_, i) => ({ ...ev, id: `${String(ev.id)}-${i}` }));
    const started = Date.now();
    const r = await post(JSON.stringify(batch));
    expect(r.status).toBe(200);
    expect(assignmentReads()).toBeLessThanOrEqual(2 * perReconcile);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 60_000);
});

describe('webhook input that can never succeed', () => {
  it('valid JSON that is not an event is a 400 naming the reason', async () => {
    const cases: [string, RegExp][] = [
      ['null', /body: expected an event object/],
      ['42', /body: expected an event object/],
      ['[{"eventType":"Microsoft.Resources.ResourceDeleteSuccess","subject":"/x","data":{}}]', /\[0\]\.id: missing/],
      ['[{"specversion":"0.3","id":"1","type":"t","source":"s"}]', /specversion: expected "1.0"/],
      ['[1]', /\[0\]: expected an event object/],
    ];
    for (const [body, reason] of cases) {
      const r = await post(body);
      expect(r.status, body).toBe(400);
      expect(((await r.json()) as { error: string }).error, body).toMatch(reason);
    }
  });

  it('a lone surrogate or a 3 KB resource ID is dropped, dead-lettered and answered 200 (not retried)', async () => {
    const p = a.projects.find((x) => x.model === 'rbac')!;
    const base = (id: string, resourceUri: string) => ({
      id,
      eventType: 'Microsoft.Resources.ResourceDeleteSuccess',
      subject: resourceUri,
      eventTime: new Date().toISOString(),
      dataVersion: '2',
      data: { operationName: 'Microsoft.Authorization/roleAssignments/delete', resourceUri },
    });
    const long = `${p.vaultId}/providers/Microsoft.Authorization/roleAssignments/${'a'.repeat(3000)}`;
    const lone = `${p.vaultId}/providers/Microsoft.Authorization/roleAssignments/\ud800x`;
    for (const ev of [base('too-long', long), base('lone-surrogate', lone)]) {
      const r = await post(JSON.stringify([ev]));
      expect(r.status, ev.id).toBe(200);
      const body = (await r.json()) as { dropped: { eventId: string; reason: string }[] };
      expect(body.dropped.map((d) => d.eventId)).toEqual([ev.id]);
      expect(
        a.logs.some((l) => l.includes('event dead-lettered') && l.includes(ev.id)),
        ev.id,
      ).toBe(true);
    }
    // A real ID of the longest realistic length still routes and reconciles.
    const ok = await post(
      JSON.stringify([
        base('plausible', `${p.vaultId}/providers/Microsoft.Authorization/roleAssignments/${'b'.repeat(36)}`),
      ]),
    );
    expect(ok.status).toBe(200);
  }, 30_000);
});

describe('HTTP API input', () => {
  it('malformed percent-encoding and an unrepresentable duration are 400', async () => {
    const bad = await a.api('projects/%E0%A4%A');
    expect(bad.status).toBe(400);
    const p = a.projects[0]!;
    const since = await a.api(`projects/${p.projectId}/history?since=99999999999d`);
    expect(since.status).toBe(400);
    expect(((await since.json()) as { error: string }).error).toMatch(/^since:/);
  });

  it('PUT intent and POST check on a project neither Atlas nor the state knows are 404 and create no row', async () => {
    const phantom = 'f'.repeat(24);
    const intent = await a.api(`projects/${phantom}/intent`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ intent: 'revoked', reason: 'phantom' }),
    });
    expect(intent.status).toBe(404);
    const check = await a.api(`projects/${phantom}/check`, { method: 'POST' });
    expect(check.status).toBe(404);
    expect(await a.local.app.engine.deps.state.getProject(phantom)).toBeUndefined();
    // A known project still works.
    const known = await a.api(`projects/${a.projects[0]!.projectId}/check`, { method: 'POST' });
    expect(known.status).toBe(200);
  }, 30_000);
});
