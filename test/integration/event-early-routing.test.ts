// An event for a project this instance already knows (its index rows, loaded by the sweep) starts the project's
// reconcile before the routing scans answer: the scans are off the path from the event to the restore. They still
// run and route what the instance does not know, and a batch with an allow-listed actor's event waits for them,
// because its revocation claim must be on the row before any reconcile starts. Real SDK clients against the sandbox,
// state in Azurite; the routing scans are slowed by a wrapper that only adds latency to them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEvents } from '../../src/core/triage.js';
import { handleEvents, type EventDeps } from '../../src/events/handle.js';
import { Coalescer, RecentIds } from '../../src/functions/coalesce.js';
import type { Engine } from '../../src/engine.js';
import type { Outcome } from '../../src/loop/index.js';
import type { ChangeNotice } from '../../src/sandbox/contract.js';
import { resourceEvent } from '../../src/sandbox/eventgrid/events.js';
import type { StateStore } from '../../src/state/store.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';
import { cryptoUserOf } from '../helpers/arm.js';

let w: World;

beforeAll(async () => {
  w = await startWorld({ env: { EAR_GUARD_MODE: 'remediate' } });
});
afterAll(async () => {
  await w?.close();
});

const SCAN_DELAY_MS = 400;

function deleteCryptoUser(p: WorldProject, as: string) {
  const a = cryptoUserOf(w.sandbox.control, p);
  w.sandbox.control.deleteAssignment({ as, id: String(a!.id) });
  const notice = w.sandbox.control.notices().at(-1) as ChangeNotice;
  return parseEvents([resourceEvent(notice, `/subscriptions/${w.sandbox.subscriptionId}`)]);
}

const hasCryptoUser = (p: WorldProject) => cryptoUserOf(w.sandbox.control, p) !== undefined;

/** The engine's own state store, its routing scans answering SCAN_DELAY_MS late; `answered` is when the last did. */
function slowScans(state: StateStore): { state: StateStore; answered: () => number } {
  let answered = 0;
  const slow = new Proxy(state, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (key !== 'projectsAffectedBy' && key !== 'projectsForAssignment')
        return typeof v === 'function' ? v.bind(target) : v;
      return async (...args: unknown[]) => {
        const r = await (v as (...a: unknown[]) => Promise<string[]>).apply(target, args);
        await new Promise((res) => setTimeout(res, SCAN_DELAY_MS));
        answered = performance.now();
        return r;
      };
    },
  });
  return { state: slow, answered: () => answered };
}

async function deliver(engine: Engine, events: ReturnType<typeof parseEvents>, deadlineMs?: number) {
  const { state, answered } = slowScans(engine.deps.state);
  const started: number[] = [];
  const deps: EventDeps = {
    deps: { ...engine.deps, state },
    reconcile: (id, t, o) => {
      started.push(performance.now());
      return engine.reconcile(id, t, o);
    },
    handled: new RecentIds(),
    coalesce: (id, run) => new Coalescer<Outcome>().run(id, run),
    ...(deadlineMs ? { deadlineMs } : {}),
  };
  const r = await handleEvents(deps, events);
  return { r, started, scansAnswered: answered(), handled: deps.handled };
}

/** A new project, checked once by `engine` (so that instance has indexed it). */
async function checkedProject(engine: Engine = w.engine): Promise<WorldProject> {
  const p = await w.addProject({ model: 'rbac' });
  expect((await engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
  return p;
}

describe('early routing', () => {
  it('a known project reconciles before the scans answer, and is restored', async () => {
    const p = await checkedProject();
    const { r, started, scansAnswered } = await deliver(w.engine, deleteCryptoUser(p, 'alice'));
    expect(r.results[0]!.projects).toEqual([p.projectId]);
    expect(r.results[0]!.outcomes.map((o) => o.kind)).toEqual(['restored']);
    expect(started).toHaveLength(1);
    expect(started[0]!).toBeLessThan(scansAnswered);
    expect(hasCryptoUser(p)).toBe(true);
  });

  it('an instance that does not know the project still routes it through the scans and restores', async () => {
    const p = await checkedProject();
    const fresh = await w.newEngine({});
    const { r, started, scansAnswered } = await deliver(fresh, deleteCryptoUser(p, 'alice'));
    expect(r.results[0]!.outcomes.map((o) => o.kind)).toEqual(['restored']);
    expect(started[0]!).toBeGreaterThanOrEqual(scansAnswered);
    expect(hasCryptoUser(p)).toBe(true);
  });

  it('routing still running at the delivery deadline answers retry and leaves the event unhandled', async () => {
    const p = await checkedProject();
    const fresh = await w.newEngine({});
    const events = deleteCryptoUser(p, 'alice');
    const { r, handled } = await deliver(fresh, events, 100);
    expect(r.transient).toContain('routing (state index scans) still running at the delivery deadline');
    expect(handled.has(events[0]!.id)).toBe(false);
  });

  it("an allow-listed actor's removal waits for the scans and the claim: the revocation is honoured", async () => {
    const engine = await w.newEngine({ policy: { allowedRevokers: ['alice'] } });
    const p = await checkedProject(engine);
    const { r, started, scansAnswered } = await deliver(engine, deleteCryptoUser(p, 'alice'));
    expect(started[0]!).toBeGreaterThanOrEqual(scansAnswered);
    expect(r.results[0]!.outcomes.map((o) => o.kind)).not.toContain('restored');
    expect(hasCryptoUser(p)).toBe(false);
  });
});
