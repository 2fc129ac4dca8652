// Forged, replayed and flooding events. Events are hints: each one only makes the product re-read the truth from
// ARM, so a forged event for a change that never happened writes nothing; replays are dropped by event ID; a flood
// for one project is coalesced (one reconcile in flight per project, one queued behind it), so ARM reads grow with
// the number of reconciles, not with the number of events; and the webhook answers nothing without its key.
import azureFunctions from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Coalescer, RecentIds } from '../../src/functions/coalesce.js';
import type { AppContext } from '../../src/functions/context.js';
import { handleAzureEvent } from '../../src/functions/onAzureEvent.js';
import type { Engine } from '../../src/engine.js';
import type { Outcome } from '../../src/loop/index.js';
import type { ChangeNotice } from '../../src/sandbox/contract.js';
import { resourceEvent } from '../../src/sandbox/eventgrid/events.js';
import { loadSettings } from '../../src/settings.js';
import { startLocalApp, type LocalApp } from '../../src/local/app.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';

let w: World;
type Rec = Record<string, unknown>;

beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

const ctx = () => new azureFunctions.InvocationContext({ functionName: 'onAzureEvent', logHandler: () => undefined });

/** The app context the Functions handler runs with, around an engine that counts reconciles and their overlap. */
function appWith(engine: Engine): {
  app: AppContext;
  stats: { reconciles: number; inFlight: number; maxInFlight: number };
} {
  const stats = { reconciles: 0, inFlight: 0, maxInFlight: 0 };
  const counted: Engine = {
    ...engine,
    reconcile: async (id, trigger) => {
      stats.reconciles++;
      stats.maxInFlight = Math.max(stats.maxInFlight, ++stats.inFlight);
      try {
        return await engine.reconcile(id, trigger);
      } finally {
        stats.inFlight--;
      }
    },
  };
  return {
    app: {
      settings: loadSettings({ ATLAS_PUBLIC_KEY: 'x', ATLAS_PRIVATE_KEY: 'y', EAR_GUARD_MODE: 'remediate' }),
      engine: counted,
      recentEvents: new RecentIds(),
      coalescer: new Coalescer<Outcome>(),
    },
    stats,
  };
}

/** A forged "role assignment deleted at the vault" event, claiming to come from `actor`: nothing really changed. */
function forged(p: WorldProject, actor = 'mallory'): Rec {
  const a = w.sandbox.control.principals().find((x) => x.name === actor)!;
  const notice: ChangeNotice = {
    kind: 'delete',
    operationName: 'Microsoft.Authorization/roleAssignments/delete',
    resourceUri: `${p.vaultId}/providers/Microsoft.Authorization/roleAssignments/${crypto.randomUUID()}`,
    subscriptionId: w.sandbox.subscriptionId,
    tenantId: w.sandbox.tenantId,
    actor: { name: a.name, objectId: a.objectId, tenantId: a.tenantId, ...(a.upn ? { upn: a.upn } : {}) },
    correlationId: crypto.randomUUID(),
    httpMethod: 'DELETE',
    requestUrl: 'https://management.azure.com/forged',
  };
  return resourceEvent(notice, `/subscriptions/${w.sandbox.subscriptionId}`) as unknown as Rec;
}

function armCounts(): { reads: number; writes: number } {
  const ops = w.sandbox.control.counts().byCallerOperation['ear-guard'] ?? {};
  let reads = 0;
  let writes = 0;
  for (const [op, n] of Object.entries(ops)) {
    if (/\.(get|list\w*)$/.test(op)) reads += n;
    else writes += n;
  }
  return { reads, writes };
}

describe('forged and replayed events', () => {
  it('an event for a change that never happened causes reads only, never a write, never an intent change', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const bob = w.sandbox.control.principals().find((x) => x.name === 'bob')!.objectId;
    const engine = await w.newEngine({ policy: { allowedRevokers: [bob] } });
    expect((await engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    const { app } = appWith(engine);
    w.sandbox.control.resetCounts();
    // Forged deletes, one even claiming an allow-listed revoker.
    const results = await handleAzureEvent(app, [forged(p), forged(p, 'bob'), forged(p)], ctx());
    expect(results.flatMap((r) => r.outcomes.map((o) => o.kind))).toEqual(['converged', 'converged', 'converged']);
    expect(armCounts().writes).toBe(0);
    const row = (await engine.deps.state.getProject(p.projectId))!;
    expect(row).toMatchObject({ status: 'healthy', intent: 'granted', restores: 0 });
  });

  it('a replayed event (same ID) is dropped without a reconcile', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await w.engine.reconcile(p.projectId, { kind: 'timer' });
    const { app, stats } = appWith(w.engine);
    const ev = forged(p);
    await handleAzureEvent(app, [ev], ctx());
    w.sandbox.control.resetCounts();
    const replays = await handleAzureEvent(
      app,
      Array.from({ length: 50 }, () => ev),
      ctx(),
    );
    expect(replays.every((r) => r.duplicate === true && r.outcomes.length === 0)).toBe(true);
    expect(stats.reconciles).toBe(1);
    expect(armCounts()).toEqual({ reads: 0, writes: 0 });
  });
});

describe('a multi-event batch', () => {
  it('costs one reconcile per project, not one per event', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await w.engine.reconcile(p.projectId, { kind: 'timer' });
    const { app, stats } = appWith(w.engine);
    const results = await handleAzureEvent(
      app,
      Array.from({ length: 40 }, () => forged(p)),
      ctx(),
    );
    expect(results).toHaveLength(40);
    expect(stats.reconciles).toBe(1);
    expect(new Set(results.map((r) => r.outcomes[0]?.correlationId)).size).toBe(1);
  });
});

describe('a flood of 10,000 events for one project', () => {
  it('is coalesced: ARM reads follow reconciles (one in flight per project), not events', async () => {
    const p = await w.addProject({ model: 'rbac' });
    expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    // What one event-triggered reconcile of a converged project reads from ARM (vault, assignments, key; deny
    // assignments are held between checks, see src/loop/denyCache.ts; time-bound PIM grants are read by periodic
    // checks only).
    w.sandbox.control.resetCounts();
    await w.engine.reconcile(p.projectId, { kind: 'event', eventId: 'measure-one-reconcile' });
    const perReconcile = armCounts().reads;
    expect(perReconcile).toBe(3);

    const { app, stats } = appWith(w.engine);
    // 2,500 distinct forged events, each delivered four times (replays), one event per request as infra/ configures
    // the subscriptions (maxEventsPerBatch 1), 500 requests in flight at a time.
    const unique = Array.from({ length: 2_500 }, () => forged(p));
    const deliveries = [0, 1, 2, 3].flatMap(() => unique).map((e) => [e]);
    expect(deliveries).toHaveLength(10_000);
    w.sandbox.control.resetCounts();
    let duplicates = 0;
    const one = ctx();
    for (let i = 0; i < deliveries.length; i += 500) {
      const res = await Promise.all(deliveries.slice(i, i + 500).map((d) => handleAzureEvent(app, d, one)));
      duplicates += res.flat().filter((r) => r.duplicate).length;
    }
    const { reads, writes } = armCounts();
    console.log(
      `flood: 10,000 events (2,500 distinct) -> ${stats.reconciles} reconciles run, ${reads} ARM reads, ${writes} writes, at most ${stats.maxInFlight} in flight`,
    );
    // The bound, from the design rather than from timing:
    // - replays never reach a reconcile (event-ID dedupe): 7,500 dropped;
    expect(duplicates).toBe(7_500);
    // - ARM is read only by reconciles (triage and routing read no ARM), each reading exactly `perReconcile`;
    expect(reads).toBe(perReconcile * stats.reconciles);
    // - the coalescer runs at most one reconcile per project at a time (calls arriving meanwhile share one queued run),
    //   so the ARM read rate per project is at most perReconcile per reconcile duration, whatever the event rate;
    expect(stats.maxInFlight).toBe(1);
    // - and never more runs than distinct events: reads <= perReconcile x 2,500 = 10,000 at the very worst.
    expect(stats.reconciles).toBeLessThanOrEqual(2_500);
    expect(writes).toBe(0);
    expect((await w.engine.deps.state.getProject(p.projectId))!.status).toBe('healthy');
  }, 120_000);
});

describe('the webhook', () => {
  let local: LocalApp;
  beforeAll(async () => {
    const settings = loadSettings({
      ATLAS_PUBLIC_KEY: w.sandbox.atlasPublicKey,
      ATLAS_PRIVATE_KEY: w.sandbox.atlasPrivateKey,
      EAR_GUARD_MODE: 'remediate',
      EAR_GUARD_TABLE_PREFIX: 'secevents',
    });
    local = await startLocalApp({
      settings,
      storageConnection: w.azurite.connectionString,
      sandbox: w.sandbox,
      functionKey: 'webhook-key-for-security-tests-0123',
      sweepSchedule: '0 0 0 1 1 *',
    });
  });
  afterAll(async () => {
    await local?.close();
  });

  it('requires its key: without it, or with a wrong one, 401 and nothing runs', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const url = new URL(local.webhookUrl);
    const body = JSON.stringify([forged(p)]);
    w.sandbox.control.resetCounts();
    const post = (u: URL, headers: Record<string, string> = {}) =>
      fetch(u, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification', ...headers },
        body,
      });
    const noKey = new URL(url);
    noKey.searchParams.delete('code');
    expect((await post(noKey)).status).toBe(401);
    const wrong = new URL(url);
    wrong.searchParams.set('code', 'webhook-key-for-security-tests-0124');
    expect((await post(wrong)).status).toBe(401);
    expect((await post(noKey, { 'x-functions-key': 'nope' })).status).toBe(401);
    expect(w.sandbox.control.counts().total).toBe(0);
    // With the key the event is taken (and still writes nothing: nothing changed).
    expect((await post(url)).status).toBeLessThan(300);
    expect(armCounts().writes).toBe(0);
    // The HTTP API wants the key too.
    expect((await fetch(`${local.host.url}/api/projects`)).status).toBe(401);
  });
});
