// At-least-once from event to history: a delivery that fails must be redelivered and then handled, never dropped
// as a duplicate; a delivery answers before Event Grid's timeout and never says 200 for work still running; one
// event that names a whole vault's projects costs bounded, shared ARM reads. Real SDK clients over HTTPS against
// the sandbox, state in Azurite behind a TCP proxy that can go down like a storage outage.
import net from 'node:net';
import azureFunctions from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEvents } from '../../src/core/triage.js';
import { handleEvents, type EventDeps } from '../../src/events/handle.js';
import { Coalescer, RecentIds } from '../../src/functions/coalesce.js';
import { handleAzureEvent } from '../../src/functions/onAzureEvent.js';
import type { Engine } from '../../src/engine.js';
import type { Outcome } from '../../src/loop/index.js';
import type { ChangeNotice } from '../../src/sandbox/contract.js';
import { resourceEvent } from '../../src/sandbox/eventgrid/events.js';
import { loadSettings } from '../../src/settings.js';
import { AZURITE_ACCOUNT, AZURITE_KEY } from '../helpers/azurite.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';
import { type Rec, cryptoUserOf } from '../helpers/arm.js';

let w: World;

beforeAll(async () => {
  w = await startWorld({ env: { EAR_GUARD_MODE: 'remediate' } });
});
afterAll(async () => {
  await w?.close();
});

/** A TCP proxy in front of Azurite's table port: `down()` refuses and cuts connections, `up()` lets them through. */
async function storageProxy(target: URL): Promise<{ url: string; down(): void; up(): void; close(): Promise<void> }> {
  let isDown = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (isDown) return client.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`,
    down: () => {
      isDown = true;
      for (const s of sockets) s.destroy();
    },
    up: () => (isDown = false),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const ctx = () => new azureFunctions.InvocationContext({ functionName: 'onAzureEvent', logHandler: () => undefined });

function appFor(engine: Engine) {
  return {
    settings: loadSettings({ ATLAS_PUBLIC_KEY: 'x', ATLAS_PRIVATE_KEY: 'y', EAR_GUARD_MODE: 'remediate' }),
    engine,
    recentEvents: new RecentIds(),
    coalescer: new Coalescer<Outcome>(),
  };
}

/** Deletes the principal's Crypto User as alice; returns ARM's event for it. */
function deleteCryptoUser(p: WorldProject): Rec {
  const a = cryptoUserOf(w.sandbox.control, p);
  w.sandbox.control.deleteAssignment({ as: 'alice', id: String(a!.id) });
  const notice = w.sandbox.control.notices().at(-1) as ChangeNotice;
  return resourceEvent(notice, `/subscriptions/${w.sandbox.subscriptionId}`) as unknown as Rec;
}

const hasCryptoUser = (p: WorldProject) => cryptoUserOf(w.sandbox.control, p) !== undefined;

function armReads(): number {
  const ops = w.sandbox.control.counts().byCallerOperation['ear-guard'] ?? {};
  return Object.entries(ops)
    .filter(([op]) => /\.(get|list\w*)$/.test(op))
    .reduce((n, [, c]) => n + c, 0);
}

describe('delivery', () => {
  it('a state outage during delivery fails it, and the redelivery is handled, not dropped as a duplicate', async () => {
    const tableUrl = new URL(w.azurite.connectionString.match(/TableEndpoint=([^;]+)/)![1]!);
    const proxy = await storageProxy(tableUrl);
    try {
      const engine = await w.newEngine({
        storageConnection: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};TableEndpoint=${proxy.url};`,
      });
      const p = await w.addProject({ model: 'rbac' });
      expect((await engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
      const app = appFor(engine);
      const ev = deleteCryptoUser(p);
      proxy.down();
      await expect(handleAzureEvent(app, [ev], ctx())).rejects.toThrow();
      proxy.up();
      // Event Grid redelivers the same event.
      const [r] = await handleAzureEvent(app, [ev], ctx());
      expect(r!.duplicate).toBeUndefined();
      // The first delivery's reconcile started before its routing scan failed (the instance knew the project), so
      // it may have restored once the table was back: either way the redelivery's run is a completed check.
      expect(r!.outcomes.map((o) => o.kind)).toEqual([expect.stringMatching(/^(restored|converged)$/)]);
      expect(hasCryptoUser(p)).toBe(true);
      // Now it is handled: a third delivery is a duplicate.
      const [again] = await handleAzureEvent(app, [ev], ctx());
      expect(again!.duplicate).toBe(true);
    } finally {
      proxy.down();
      await proxy.close();
    }
  }, 60_000);

  it('a reconcile longer than the delivery deadline answers retry, and the redelivery waits for the work', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await w.engine.reconcile(p.projectId, { kind: 'timer' });
    const ev = parseEvents([deleteCryptoUser(p)]);
    const coalescer = new Coalescer<Outcome>();
    const deps = (deadlineMs: number): EventDeps => ({
      deps: w.engine.deps,
      reconcile: (id, t, o) => w.engine.reconcile(id, t, o),
      handled: new RecentIds(),
      coalesce: (id, run) => coalescer.run(id, run),
      deadlineMs,
    });
    const slow = w.sandbox.control.setFault({ path: p.vaultId }, { kind: 'latency', ms: 800 });
    try {
      const first = await handleEvents(deps(200), ev);
      // The instance knows the project, so its reconcile started before routing (which waits for it).
      expect(first.transient).toContain(`${p.projectId}: still reconciling at the delivery deadline`);
      // The redelivery is not answered as a duplicate of the unfinished work: it waits for it (and a re-check).
      const second = await handleEvents(deps(30_000), ev);
      expect(second.transient).toEqual([]);
      expect(second.results[0]!.duplicate).toBeUndefined();
      expect(['restored', 'converged']).toContain(second.results[0]!.outcomes[0]!.kind);
      expect(hasCryptoUser(p)).toBe(true);
    } finally {
      w.sandbox.control.clearFaults(slow);
    }
  }, 60_000);

  it('one event for a vault of many projects: bounded concurrency, vault reads shared across them', async () => {
    const first = await w.addProject({ model: 'rbac' });
    const projects = [first];
    for (let i = 0; i < 29; i++) projects.push(await w.addProject({ model: 'rbac', inVault: first }));
    for (const p of projects) await w.engine.reconcile(p.projectId, { kind: 'timer' });
    let inFlight = 0;
    let maxInFlight = 0;
    const d: EventDeps = {
      deps: w.engine.deps,
      reconcile: async (id, t, o) => {
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          return await w.engine.reconcile(id, t, o);
        } finally {
          inFlight--;
        }
      },
      handled: new RecentIds(),
      coalesce: (_id, run) => run(),
      concurrency: 4,
    };
    w.sandbox.control.resetCounts();
    // A vault write names the vault: every project whose key lives in it is re-checked.
    const notice: ChangeNotice = {
      kind: 'write',
      operationName: 'Microsoft.KeyVault/vaults/write',
      resourceUri: first.vaultId,
      subscriptionId: w.sandbox.subscriptionId,
      tenantId: w.sandbox.tenantId,
      actor: { name: 'alice', objectId: '00000000-0000-0000-0000-0000000a11ce', tenantId: w.sandbox.tenantId },
      correlationId: crypto.randomUUID(),
      httpMethod: 'PATCH',
      requestUrl: `https://management.azure.com${first.vaultId}`,
    };
    const out = await handleEvents(
      d,
      parseEvents([resourceEvent(notice, `/subscriptions/${w.sandbox.subscriptionId}`)]),
    );
    expect(out.results[0]!.projects).toHaveLength(projects.length);
    expect(out.results[0]!.outcomes.every((o) => o.kind === 'converged')).toBe(true);
    expect(maxInFlight).toBeLessThanOrEqual(4);
    // Shared: the vault, the principal's assignments, the deny assignments and the key list, read about once
    // (not once per project: 30 projects unshared cost 4 reads each).
    expect(armReads()).toBeLessThanOrEqual(8);
  }, 120_000);
});
