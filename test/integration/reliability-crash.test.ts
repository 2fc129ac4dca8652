// kill -9 between write and record, then a restart on the same state. A real child process restores a drift; the
// restore's PUT is slowed by a sandbox latency fault and the child is killed with SIGKILL while it is in flight.
// Then a new engine on the same Azurite: the plan is in history (recorded before acting), a trigger while the dead
// process's lease is still valid gets `retry` (not a non-transient skip that Event Grid would not redeliver), and
// once the lease has expired the project is restored or converges, with the outcome recorded in history.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';
import { cryptoUserOf } from '../helpers/arm.js';

const PREFIX = 'crash';
const LEASE_MS = 6000;

let w: World;
beforeAll(async () => {
  w = await startWorld({ env: { EAR_GUARD_MODE: 'remediate', EAR_GUARD_TABLE_PREFIX: PREFIX } });
});
afterAll(async () => {
  await w?.close();
});

const cryptoUser = (p: WorldProject) => cryptoUserOf(w.sandbox.control, p);
const creates = () => w.sandbox.control.counts().byCallerOperation['ear-guard']?.['roleAssignments.create'] ?? 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, child: ChildProcess, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (child.exitCode !== null) throw new Error(`child exited (${child.exitCode}) before: ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

it('a restore killed with SIGKILL mid-PUT: plan in history, retry while leased, restored after expiry', async () => {
  const p = await w.addProject({ model: 'rbac' });
  expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
  w.sandbox.control.deleteAssignment({ as: 'alice', id: String(cryptoUser(p)!.id) });
  const file = join(mkdtempSync(join(tmpdir(), 'earguard-crash-')), 'sandbox.json');
  writeFileSync(file, JSON.stringify(w.sandbox.describe()));
  w.sandbox.control.resetCounts();
  const slow = w.sandbox.control.setFault('roleAssignments.create', { kind: 'latency', ms: 3000 });
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      resolve('test/helpers/crash-child.ts'),
      file,
      w.azurite.connectionString,
      PREFIX,
      p.projectId,
      String(LEASE_MS),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  try {
    await until('the restore PUT is in flight', () => creates() > 0, child).catch((e: Error) => {
      throw new Error(`${e.message}\nchild stderr:\n${err}`);
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    w.sandbox.control.clearFaults(slow);
  }
  const state = w.engine.deps.state;
  // The plan was written before the PUT: the crash cannot lose the record that an action was attempted.
  const history = await state.listHistory(p.projectId);
  const plan = history.find((h) => h.kind === 'plan');
  expect(plan?.summary).toMatch(/Crypto User/i);
  // The dead process still holds the lease: a trigger now is told to retry, not skipped as done.
  const row = await state.getProject(p.projectId);
  expect(row?.leaseOwner).toBeTruthy();
  const during = await w.engine.reconcile(p.projectId, { kind: 'event', eventId: 'redelivered' });
  expect(during.kind).toBe('retry');
  // After the lease has run out, a reconcile takes over and the grant is back (restored, or converged when the
  // killed PUT completed server-side), with the pass recorded.
  await sleep(Math.max(0, Date.parse(row!.leaseUntil!) - Date.now()) + 200);
  const after = await w.engine.reconcile(p.projectId, { kind: 'timer' });
  expect(['restored', 'converged']).toContain(after.kind);
  expect(cryptoUser(p)).toBeDefined();
  const newer = (await state.listHistory(p.projectId)).filter((h) => h.at >= plan!.at && h.rowKey !== plan!.rowKey);
  expect(newer.length).toBeGreaterThan(0);
  expect((await state.getProject(p.projectId))?.leaseOwner ?? '').toBe('');
}, 90_000);
