// Failure modes that look like safety. A revoked intent (which stops restores) can only be set by an authenticated
// caller and is recorded with who set it; an unverified identity header is recorded as a claim, not as the caller.
// And an error never reads as healthy: with ARM refusing everything, every check is failing, never converged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalApp, type LocalApp } from '../../src/local/app.js';
import { loadSettings } from '../../src/settings.js';
import { startWorld, type World } from '../helpers/world.js';
import { cryptoUserOf } from '../helpers/arm.js';

const KEY = 'intent-tests-function-key-0123456789';
let w: World;
let local: LocalApp;

beforeAll(async () => {
  w = await startWorld();
  local = await startLocalApp({
    settings: loadSettings({
      ATLAS_PUBLIC_KEY: w.sandbox.atlasPublicKey,
      ATLAS_PRIVATE_KEY: w.sandbox.atlasPrivateKey,
      EAR_GUARD_MODE: 'remediate',
      EAR_GUARD_TABLE_PREFIX: 'secintent',
    }),
    storageConnection: w.azurite.connectionString,
    sandbox: w.sandbox,
    functionKey: KEY,
    sweepSchedule: '0 0 0 1 1 *',
    engine: {
      armRetry: { maxRetries: 1, retryDelayInMs: 5, maxRetryDelayInMs: 20 },
      policy: { targetCacheMs: 0 },
    },
  });
});
afterAll(async () => {
  await local?.close();
  await w?.close();
});

const intent = (projectId: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${local.host.url}/api/projects/${projectId}/intent`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

describe('revoked intent', () => {
  it('cannot be set without the function key; nothing is recorded', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await local.app.engine.reconcile(p.projectId, { kind: 'timer' });
    const attempts: Record<string, string>[] = [
      {},
      { 'x-functions-key': 'wrong' },
      { 'x-ms-client-principal-name': 'admin@contoso.example' },
    ];
    for (const headers of attempts) {
      expect((await intent(p.projectId, { intent: 'revoked', reason: 'r' }, headers)).status).toBe(401);
    }
    const row = (await local.app.engine.deps.state.getProject(p.projectId))!;
    expect(row.intent).toBe('granted');
    expect((await local.app.engine.deps.state.listHistory(p.projectId)).some((h) => h.kind === 'intent')).toBe(false);
  });

  it('set with the key, is recorded with who set it, and a spoofed identity header stays an unverified claim', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await local.app.engine.reconcile(p.projectId, { kind: 'timer' });
    const res = await intent(
      p.projectId,
      { intent: 'revoked', reason: 'customer revoked EAR access' },
      { 'x-functions-key': KEY, 'x-ms-client-principal-name': 'ceo@contoso.example' },
    );
    expect(res.status).toBe(200);
    const row = (await local.app.engine.deps.state.getProject(p.projectId))!;
    expect(row).toMatchObject({ intent: 'revoked', intentReason: 'customer revoked EAR access' });
    expect(row.intentBy).toBe('function-key holder (unverified claim: ceo@contoso.example)');
    expect(row.intentAt).toBeTruthy();
    const hist = await local.app.engine.deps.state.listHistory(p.projectId);
    expect(hist.find((h) => h.kind === 'intent')).toMatchObject({ actor: row.intentBy });
    // And it holds: a later drift is not restored, with the reason naming who set it.
    const a = cryptoUserOf(w.sandbox.control, p)!;
    w.sandbox.control.deleteAssignment({ as: 'alice', id: String(a.id) });
    const o = await local.app.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(o.kind).toBe('skipped');
    expect(o.status).toBe('revoked');
    expect('reason' in o && o.reason).toMatch(/function-key holder/);
  });

  it('behind App Service authentication (WEBSITE_AUTH_ENABLED), the authenticated principal is recorded', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const before = process.env.WEBSITE_AUTH_ENABLED;
    process.env.WEBSITE_AUTH_ENABLED = 'True';
    try {
      const res = await intent(
        p.projectId,
        { intent: 'revoked', reason: 'planned key rotation' },
        { 'x-functions-key': KEY, 'x-ms-client-principal-name': 'ops@contoso.example' },
      );
      expect(res.status).toBe(200);
    } finally {
      if (before === undefined) delete process.env.WEBSITE_AUTH_ENABLED;
      else process.env.WEBSITE_AUTH_ENABLED = before;
    }
    expect((await local.app.engine.deps.state.getProject(p.projectId))!.intentBy).toBe('ops@contoso.example');
  });

  it('a bad body is a 400 naming each field and what was expected; nothing is recorded', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await local.app.engine.reconcile(p.projectId, { kind: 'timer' });
    const details = async (body: unknown) => {
      const res = await intent(p.projectId, body, { 'x-functions-key': KEY });
      expect(res.status).toBe(400);
      return ((await res.json()) as { details: string[] }).details;
    };
    expect(await details({ intent: 'paused', reason: 7 })).toEqual([
      'intent: expected "revoked" or "granted"',
      'reason: expected a string',
    ]);
    // The reason is trimmed before its length is checked.
    expect(await details({ intent: 'revoked', reason: '   ' })).toEqual(['reason: a reason is required']);
    expect(await details({ intent: 'revoked', reason: 'x'.repeat(501) })).toEqual(['reason: at most 500 characters']);
    // zod's own message for a body that is not an object: English, not a bare "Invalid input".
    expect(await details(['revoked'])).toEqual(['body: Invalid input: expected object, received array']);
    expect((await local.app.engine.deps.state.getProject(p.projectId))!.intent).toBe('granted');
  });
});

describe('an error never reads as healthy', () => {
  it('with ARM answering 403 to everything, every check is failing (never healthy, converged or restored)', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const drifted = await w.addProject({ model: 'accessPolicy', grants: 'none' });
    expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
    const fault = w.sandbox.control.setFault(
      { path: '/subscriptions/' },
      {
        kind: 'error',
        status: 403,
        code: 'AuthorizationFailed',
        message: 'The client does not have authorization to perform this action.',
      },
    );
    try {
      for (const project of [p, drifted]) {
        for (let i = 0; i < 2; i++) {
          const o = await w.engine.reconcile(project.projectId, { kind: 'timer' });
          expect(o.kind).toBe('failed');
          expect(o.status).toBe('failing');
          if (o.kind === 'failed') expect(o.code).toBe('AuthorizationFailed');
          const row = (await w.engine.deps.state.getProject(project.projectId))!;
          expect(row.status).toBe('failing');
          expect(row.lastError).toMatch(/403/);
        }
      }
      // Through the HTTP "check now": an error status, not 200.
      const check = await fetch(`${local.host.url}/api/projects/${p.projectId}/check`, {
        method: 'POST',
        headers: { 'x-functions-key': KEY },
      });
      expect(check.status).toBeGreaterThanOrEqual(500);
      expect(((await check.json()) as { status: string }).status).toBe('failing');
    } finally {
      w.sandbox.control.clearFaults(fault);
    }
    // The alert said so, and only once per project (CheckFailing on the transition).
    const failing = w.webhookAlerts.filter(
      (a) => a.projectId === p.projectId && a.type === 'AtlasEarGuard.CheckFailing',
    );
    expect(failing).toHaveLength(1);
    expect((await w.engine.reconcile(p.projectId, { kind: 'timer' })).kind).toBe('converged');
  });
});
