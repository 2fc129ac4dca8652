// Atlas alerts as a trigger, end to end: the local host serving POST /api/atlas/alerts (function key, X-MMS-Signature
// checked against ATLAS_WEBHOOK_SECRET), and `ear-guard atlas-alerts install` creating the alert configurations in
// the Atlas emulator through the real client, idempotently.
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EAR_ALERT_EVENT_TYPES, runAtlasAlerts } from '../../src/commands/atlasAlerts.js';
import type { CliIo } from '../../src/commands/cli/io.js';
import { verifyMmsSignature } from '../../src/functions/onAtlasAlert.js';
import { startAppWorld, type AppWorld } from '../helpers/app.js';

const SECRET = 'atlas-webhook-secret-for-tests';
let w: AppWorld;
let dir: string;
let sandboxFile: string;

const sign = (body: string, secret = SECRET, enc: 'base64' | 'hex' = 'base64') =>
  createHmac('sha1', secret).update(body).digest(enc);

function alertBody(groupId: string, id = 'a1b2c3d4e5f60718293a4b5c'): string {
  return JSON.stringify({
    id,
    groupId,
    eventTypeName: 'ENCRYPTION_AT_REST_CONFIG_NO_LONGER_VALID',
    status: 'OPEN',
    created: new Date().toISOString(),
  });
}

const post = (body: string, headers: Record<string, string>) =>
  w.api('atlas/alerts', { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

async function historyCount(projectId: string, trigger?: string): Promise<number> {
  const rows = await w.local.app.engine.deps.state.listHistory(projectId, { limit: 1000 });
  return rows.filter((r) => !trigger || r.trigger === trigger).length;
}

beforeAll(async () => {
  w = await startAppWorld({ env: { ATLAS_WEBHOOK_SECRET: SECRET } });
  dir = await mkdtemp(join(tmpdir(), 'ear-guard-alerts-'));
  sandboxFile = join(dir, 'sandbox.json');
  await writeFile(sandboxFile, JSON.stringify(w.sandbox.describe()));
}, 90_000);

afterAll(async () => {
  await w?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the app on the sandbox (as npm start runs it)', () => {
  it("reads Atlas with the sandbox's Project Read Only service account only, never the owner API key", async () => {
    w.sandbox.control.resetCounts();
    await w.sweep();
    const byCaller = w.sandbox.control.counts().byCallerOperation;
    const d = w.sandbox.describe();
    const atlasOps = (caller: string) => Object.keys(byCaller[caller] ?? {}).filter((o) => o.startsWith('atlas.'));
    // A sweep reads the EAR configuration; cloudProviderAccess only when the registration recorded in the row is
    // over an hour old or Atlas says invalid (test/integration/atlas-registration.test.ts), so not on this sweep.
    expect(atlasOps(d.atlasClientId)).toEqual(expect.arrayContaining(['atlas.encryptionAtRest.get']));
    expect(atlasOps(d.atlasPublicKey)).toEqual([]);
    expect(w.sandbox.control.counts().byOperation['atlas.forbidden'] ?? 0).toBe(0);
  });
});

describe('X-MMS-Signature', () => {
  it('accepts base64 and hex, refuses anything else', () => {
    const raw = Buffer.from('{"groupId":"x"}');
    expect(verifyMmsSignature(raw, sign(raw.toString()), SECRET)).toBe(true);
    expect(verifyMmsSignature(raw, sign(raw.toString(), SECRET, 'hex'), SECRET)).toBe(true);
    expect(verifyMmsSignature(raw, sign(raw.toString(), 'other'), SECRET)).toBe(false);
    expect(verifyMmsSignature(raw, undefined, SECRET)).toBe(false);
    expect(verifyMmsSignature(raw, 'not a signature', SECRET)).toBe(false);
  });
});

describe('POST /api/atlas/alerts', () => {
  it('a signed alert reconciles the project, recorded with the trigger atlas-alert', async () => {
    const p = w.projects[0]!;
    const body = alertBody(p.projectId);
    const r = await post(body, { 'x-mms-signature': sign(body), 'x-mms-event': 'alert.open' });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ projectId: p.projectId, outcome: 'converged' });
    expect(await historyCount(p.projectId, 'atlas-alert')).toBeGreaterThan(0);
  });

  it('a hex signature is accepted too', async () => {
    const p = w.projects[1]!;
    const body = alertBody(p.projectId, 'hex000000000000000000001');
    const r = await post(body, { 'x-mms-signature': sign(body, SECRET, 'hex') });
    expect(r.status).toBe(200);
  });

  it('missing, wrong and replayed-with-another-signature alerts get 401 and nothing is recorded', async () => {
    const p = w.projects[1]!;
    const body = alertBody(p.projectId, 'bad000000000000000000001');
    const before = await historyCount(p.projectId);
    const missing = await post(body, {});
    const wrong = await post(body, { 'x-mms-signature': sign(body, 'not-the-secret') });
    // The same body replayed with the signature of another (genuine) delivery.
    const other = alertBody(p.projectId, 'other0000000000000000001');
    const replayed = await post(body, { 'x-mms-signature': sign(other) });
    expect([missing.status, wrong.status, replayed.status]).toEqual([401, 401, 401]);
    expect(await historyCount(p.projectId)).toBe(before);
  });

  it('needs the function key like every HTTP trigger', async () => {
    const body = alertBody(w.projects[0]!.projectId);
    const r = await fetch(`${w.local.host.url}/api/atlas/alerts`, {
      method: 'POST',
      body,
      headers: { 'x-mms-signature': sign(body) },
    });
    expect(r.status).toBe(401);
  });

  it('a signed body without a project ID is a 400 naming groupId', async () => {
    const body = JSON.stringify({ eventTypeName: 'AZURE_ENCRYPTION_KEY_INVALID' });
    const r = await post(body, { 'x-mms-signature': sign(body) });
    expect(r.status).toBe(400);
    expect(JSON.stringify(await r.json())).toContain('groupId');
  });
});

async function install(argv: string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: { HOME: dir, ATLAS_WEBHOOK_SECRET: SECRET, ...env },
    tuning: { atlasRetry: { maxRetries: 0 } },
  };
  const code = await runAtlasAlerts(['install', ...argv, '--sandbox', sandboxFile], io);
  return { code, out, err };
}

describe('ear-guard atlas-alerts install', () => {
  const url = 'https://guard.example.net/api/atlas/alerts?code=function-key';

  it('creates the four EAR alert configurations with the signed webhook, and a second run creates nothing', async () => {
    const p = w.projects[0]!;
    const first = await install(['--project', p.projectId, '--url', url, '--json']);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(first.out).not.toContain('function-key');
    const rows = JSON.parse(first.out).rows as { action: string; eventTypeName: string }[];
    expect(rows.map((r) => r.action)).toEqual(['created', 'created', 'created', 'created']);
    const stored = w.sandbox.control.atlas.alertConfigs(p.projectId);
    expect(stored.map((c) => c.eventTypeName).sort()).toEqual([...EAR_ALERT_EVENT_TYPES].sort());
    expect(stored[0]!.notifications[0]).toMatchObject({ typeName: 'WEBHOOK', webhookUrl: url, webhookSecret: SECRET });

    const second = await install(['--project', p.projectId, '--url', url, '--json']);
    expect(second.code).toBe(0);
    expect((JSON.parse(second.out).rows as { action: string }[]).map((r) => r.action)).toEqual([
      'exists',
      'exists',
      'exists',
      'exists',
    ]);
    expect(w.sandbox.control.atlas.alertConfigs(p.projectId)).toHaveLength(4);
  });

  it('--all --dry-run lists what would be created and writes nothing', async () => {
    const p = w.projects[1]!;
    const r = await install(['--all', '--url', url, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`${p.projectId}  ENCRYPTION_AT_REST_CONFIG_NO_LONGER_VALID`);
    expect(r.out).toMatch(/would-create/);
    expect(w.sandbox.control.atlas.alertConfigs(p.projectId)).toHaveLength(0);
  });

  it('with the read-only service account it fails naming Project Alerts Manager (exit 4)', async () => {
    const p = w.projects[1]!;
    const d = w.sandbox.describe();
    const r = await install(['--project', p.projectId, '--url', url], {
      ATLAS_CLIENT_ID: d.atlasClientId,
      ATLAS_CLIENT_SECRET: d.atlasClientSecret,
    });
    expect(r.code).toBe(4);
    expect(r.out + r.err).toContain('Project Alerts Manager');
    expect(w.sandbox.control.atlas.alertConfigs(p.projectId)).toHaveLength(0);
  });

  it('without --project or --all, or without ATLAS_WEBHOOK_SECRET, is a usage error', async () => {
    expect((await install(['--url', url])).code).toBe(2);
    const noSecret = await install(['--all', '--url', url], { ATLAS_WEBHOOK_SECRET: '' });
    expect(noSecret.code).toBe(2);
    expect(noSecret.err).toContain('ATLAS_WEBHOOK_SECRET');
  });
});
