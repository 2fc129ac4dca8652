// The standby grant (EAR_GUARD_STANDBY_GRANT=key), end to end: the real SDK clients against the HTTPS sandbox with
// a propagation delay (a new grant reaches Key Vault's data plane, and so Atlas, only after it; a removal at once),
// state in Azurite. The sandbox runs at timeScale 0.001: a 10-minute delay is 600 ms of real time. Atlas's verdict is
// the emulator's own validation (`validate`), the one its periodic check runs.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../src/commands/check.js';
import type { CliIo } from '../../src/commands/cli/io.js';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import type { Engine } from '../../src/engine.js';
import { recordRevocationClaims, setIntent, type Trigger } from '../../src/loop/index.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';
import { type Rec, props, guidOf } from '../helpers/arm.js';

let w: World;
const DELAY = 10 * 60_000; // sandbox ms: 600 ms real
const REAL_DELAY = DELAY * 0.001;
const BOB = 'bob@contoso.com';

beforeAll(async () => {
  w = await startWorld({
    env: { EAR_GUARD_STANDBY_GRANT: 'key', EAR_GUARD_ALLOWED_REVOKERS: BOB },
    sandbox: { atlasValidationIntervalMs: 0 },
  });
});
afterAll(async () => {
  await w?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const keyScopeOf = (p: WorldProject) => `${p.vaultId}/keys/${p.keyName}`;

/** The principal's Crypto User assignment at exactly this scope (not above or below), if any. */
function cryptoUserAt(p: WorldProject, scope: string): Rec | undefined {
  return w.sandbox.control
    .roleAssignments({ scope: p.vaultId, principalId: p.principalId })
    .find(
      (x: Rec) =>
        guidOf(props(x).roleDefinitionId) === ROLE_IDS.keyVaultCryptoUser &&
        String(props(x).scope).toLowerCase() === scope.toLowerCase(),
    );
}
function drop(p: WorldProject, scope: string, as = 'alice'): void {
  const a = cryptoUserAt(p, scope);
  if (!a) throw new Error(`no Crypto User assignment at ${scope}`);
  w.sandbox.control.deleteAssignment({ as, id: String(a.id) });
}
function eventTrigger(): Trigger {
  return { kind: 'event', eventId: `ev-${Math.random().toString(36).slice(2)}`, eventTime: new Date().toISOString() };
}
const atlasValid = (p: WorldProject) => w.atlas.validate(p.projectId).valid;
const alertsFor = (p: WorldProject) => w.webhookAlerts.filter((a) => a.projectId === p.projectId);

/** A project whose standby pair is established and propagated: seeded at the vault, the key half added by the loop. */
async function withStandby(engine: Engine = w.engine): Promise<WorldProject> {
  const p = await w.addProject({ model: 'rbac' });
  // What exists when the delay is set counts as propagated (the seeded vault grant is not fresh).
  w.sandbox.control.setPropagationDelay({ ms: DELAY });
  const first = await engine.reconcile(p.projectId, { kind: 'timer' });
  expect(first.kind).toBe('restored');
  expect(first.actions.map((a) => [a.scope, a.result])).toEqual([[keyScopeOf(p), 'created']]);
  // Let the key half reach the data plane, as it does once the delay has passed after enabling the setting.
  await sleep(REAL_DELAY + 100);
  expect((await engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
  return p;
}

describe('standby grant under a propagation delay (remediate)', () => {
  it('the first pass adds the key half, recorded in history; the pair then converges with no write', async () => {
    const p = await withStandby();
    const h = await w.engine.deps.state.listHistory(p.projectId);
    expect(
      h.some((e) => e.kind === 'action' && /at the key \(standby/.test(e.summary) && /created/.test(e.summary)),
    ).toBe(true);
    expect(cryptoUserAt(p, p.vaultId)).toBeDefined();
    expect(cryptoUserAt(p, keyScopeOf(p))).toBeDefined();
    const row = await w.engine.deps.state.getProject(p.projectId);
    expect(row?.flags ?? []).not.toContain('standby-missing:key');
  });

  it('a warm healthy check of the pair costs no more ARM reads: the listed assignments show both scopes', async () => {
    const p = await withStandby();
    w.sandbox.control.resetCounts();
    const o = await w.engine.reconcile(p.projectId, { kind: 'event', eventId: `warm-${p.projectId}` });
    expect(o.kind).toBe('converged');
    expect(o.status).toBe('healthy');
    const ops = w.sandbox.control.counts().byCallerOperation['ear-guard'] ?? {};
    expect(Object.values(ops).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(3);
  });

  it('deleting the vault-scope assignment leaves Atlas valid, and the loop re-adds it at the vault', async () => {
    const p = await withStandby();
    drop(p, p.vaultId);
    // The key half has propagated: Atlas's validation still passes right after the removal.
    expect(atlasValid(p)).toBe(true);
    const o = await w.engine.reconcile(p.projectId, eventTrigger());
    expect(o.kind).toBe('restored');
    expect(o.verdict?.verdict).toBe('granted');
    expect(o.actions.map((a) => [a.roleDefinitionGuid, a.scope, a.result])).toEqual([
      [ROLE_IDS.keyVaultCryptoUser, p.vaultId, 'created'],
    ]);
    expect(cryptoUserAt(p, p.vaultId)).toBeDefined();
    // Atlas never lapsed: valid throughout, also while the re-added vault grant propagates.
    expect(atlasValid(p)).toBe(true);
    const h = await w.engine.deps.state.listHistory(p.projectId);
    expect(h.some((e) => e.kind === 'detection' && /at the vault \(standby\)/.test(e.summary))).toBe(true);
    expect(h.some((e) => e.kind === 'action' && /at the vault/.test(e.summary) && /created/.test(e.summary))).toBe(
      true,
    );
  });

  it('deleting the key-scope assignment leaves Atlas valid, and the loop restores it at the key', async () => {
    const p = await withStandby();
    drop(p, keyScopeOf(p));
    expect(atlasValid(p)).toBe(true);
    const o = await w.engine.reconcile(p.projectId, eventTrigger());
    expect(o.kind).toBe('restored');
    expect(o.actions.map((a) => [a.scope, a.result])).toEqual([[keyScopeOf(p), 'created']]);
    expect(cryptoUserAt(p, keyScopeOf(p))).toBeDefined();
    expect(atlasValid(p)).toBe(true);
    const types = alertsFor(p).map((a) => a.type);
    expect(types.at(-1)).toBe('AtlasEarGuard.AccessRestored');
  });

  it('without the standby the same removal lapses Atlas until the restored grant propagates (the contrast)', async () => {
    const p = await w.addProject({ model: 'rbac' });
    w.sandbox.control.setPropagationDelay({ ms: DELAY });
    const plain = await w.newEngine({ policy: { standbyGrant: 'off' } });
    expect((await plain.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    drop(p, p.vaultId);
    expect((await plain.reconcile(p.projectId, eventTrigger())).kind).toBe('restored');
    expect(atlasValid(p)).toBe(false);
  });
});

describe('standby grant: the row while the half is re-added', () => {
  it('says degraded (access intact), not drifted, while the PUT is in flight', async () => {
    const p = await withStandby();
    drop(p, keyScopeOf(p));
    const slow = w.sandbox.control.setFault('roleAssignments.create', { kind: 'latency', ms: 1500 });
    try {
      w.sandbox.control.resetCounts();
      const running = w.engine.reconcile(p.projectId, { kind: 'timer' });
      const deadline = Date.now() + 10_000;
      const creates = () => w.sandbox.control.counts().byCallerOperation['ear-guard']?.['roleAssignments.create'] ?? 0;
      while (Date.now() < deadline && creates() === 0) await sleep(20);
      expect((await w.engine.deps.state.getProject(p.projectId))?.status).toBe('degraded');
      expect((await running).kind).toBe('restored');
    } finally {
      w.sandbox.control.clearFaults(slow);
    }
  });
});

describe('standby grant: guards', () => {
  it('alert mode flags and alerts a missing half as a warning (degraded), and writes nothing', async () => {
    const p = await withStandby();
    const alerting = await w.newEngine({ policy: { mode: 'alert' } });
    drop(p, keyScopeOf(p));
    const o = await alerting.reconcile(p.projectId, eventTrigger());
    expect(o.kind).toBe('alerted');
    expect(o.status).toBe('degraded');
    expect(o.flags).toContain('standby-missing:key');
    expect(o.actions).toEqual([]);
    expect(cryptoUserAt(p, keyScopeOf(p))).toBeUndefined();
    expect(atlasValid(p)).toBe(true);
    const last = alertsFor(p).at(-1)!;
    expect(last).toMatchObject({ type: 'AtlasEarGuard.AccessDrifted', severity: 'warning' });
    expect(String(last.reason)).toMatch(/standby grant missing/);
  });

  it('dry run plans the missing half and writes nothing', async () => {
    const p = await withStandby();
    const dry = await w.newEngine({ policy: { dryRun: true } });
    drop(p, p.vaultId);
    const o = await dry.reconcile(p.projectId, eventTrigger());
    expect(o.kind).toBe('skipped');
    expect(o.status).toBe('degraded');
    expect(o.plan.map((a) => a.scope)).toEqual([p.vaultId]);
    expect(cryptoUserAt(p, p.vaultId)).toBeUndefined();
  });

  it("an allow-listed actor's removal is a revocation: nothing is re-added, not even after the second half goes", async () => {
    const p = await withStandby();
    // The event adapter records the claim before the request (as onAzureEvent does for an allow-listed caller).
    await recordRevocationClaims(w.engine.deps.state, [p.projectId], { actor: { upn: BOB } }, [BOB]);
    drop(p, p.vaultId, BOB);
    const o = await w.engine.reconcile(p.projectId, eventTrigger());
    expect(o.kind).toBe('skipped');
    expect(o.status).toBe('revoked');
    expect(o.actions).toEqual([]);
    expect(cryptoUserAt(p, p.vaultId)).toBeUndefined();
    const row = await w.engine.deps.state.getProject(p.projectId);
    expect(row?.intent).toBe('revoked');
    drop(p, keyScopeOf(p), BOB);
    const second = await w.engine.reconcile(p.projectId, eventTrigger());
    expect(second.kind).toBe('skipped');
    expect(second.actions).toEqual([]);
    expect(cryptoUserAt(p, keyScopeOf(p))).toBeUndefined();
    expect(atlasValid(p)).toBe(false);
  });

  it('intent revoked: a missing half is not re-added', async () => {
    const p = await withStandby();
    await setIntent(w.engine.deps.state, p.projectId, 'revoked', 'carol', 'offboarding');
    drop(p, keyScopeOf(p));
    const o = await w.engine.reconcile(p.projectId, eventTrigger());
    expect(o.status).toBe('revoked');
    expect(o.actions).toEqual([]);
    expect(cryptoUserAt(p, keyScopeOf(p))).toBeUndefined();
  });

  it('restoreScope key: the standby adds nothing, and a restore goes to the key, never to the vault', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const atKey = await w.newEngine({ policy: { restoreScope: 'key' } });
    expect(atKey.cloud.policy.standbyGrant).toBe('key');
    const first = await atKey.reconcile(p.projectId, { kind: 'timer' });
    expect(first.kind).toBe('converged');
    expect(first.flags.filter((f) => f.startsWith('standby'))).toEqual([]);
    expect(cryptoUserAt(p, keyScopeOf(p))).toBeUndefined();
    drop(p, p.vaultId);
    const o = await atKey.reconcile(p.projectId, eventTrigger());
    expect(o.kind).toBe('restored');
    expect(o.actions.filter((a) => a.roleDefinitionGuid === ROLE_IDS.keyVaultCryptoUser).map((a) => a.scope)).toEqual([
      keyScopeOf(p),
    ]);
    expect(cryptoUserAt(p, p.vaultId)).toBeUndefined();
  });
});

describe('ear-guard check shows the standby', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ear-guard-standby-'));
    file = join(dir, 'sandbox.json');
    await writeFile(file, JSON.stringify(w.sandbox.describe()));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A project whose seeded grants count as propagated (earlier tests left a delay set). */
  async function settled(): Promise<WorldProject> {
    const p = await w.addProject({ model: 'rbac' });
    w.sandbox.control.setPropagationDelay({ ms: DELAY });
    return p;
  }

  async function check(projectId: string, env: Record<string, string>): Promise<{ code: number; out: string }> {
    let out = '';
    const io: CliIo = {
      stdout: { write: (x: string) => (out += x) },
      stderr: { write: () => true },
      env: { HOME: dir, ...env },
      tuning: { armRetry: { maxRetries: 1, retryDelayInMs: 5, maxRetryDelayInMs: 20 }, pollMs: 5 },
    };
    const code = await runCheck(['--project', projectId, '--sandbox', file], io);
    return { code, out };
  }

  it('a missing half: granted (exit 0), flagged, and the Standby line says which scope', async () => {
    const p = await settled();
    const r = await check(p.projectId, { EAR_GUARD_STANDBY_GRANT: 'key' });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/GRANTED/);
    expect(r.out).toMatch(/Flags:.*standby-missing:key/);
    expect(r.out).toMatch(/Standby: +missing at the key/);
  });

  it('restoreScope key: the Standby line says the setting has no effect', async () => {
    const p = await settled();
    const r = await check(p.projectId, { EAR_GUARD_STANDBY_GRANT: 'key', EAR_GUARD_RESTORE_SCOPE: 'key' });
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/standby-missing/);
    expect(r.out).toMatch(/Standby: +EAR_GUARD_STANDBY_GRANT=key has no effect: EAR_GUARD_RESTORE_SCOPE is key/);
  });
});
