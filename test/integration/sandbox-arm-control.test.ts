// The control API over HTTP (token-guarded), the demo seed, and the standalone command: `ear-guard sandbox
// --json --out <file>` in its own process, driven by `ear-guard sandbox act --sandbox <file> --as alice ...`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { runSandboxAct } from '../../src/commands/sandbox.js';
import type { ChangeNotice } from '../../src/sandbox/contract.js';
import { connectSandbox } from '../../src/sandbox/connect.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { props } from '../helpers/arm.js';
import { clients, rawFetch } from './sandbox-arm.helpers.js';

function capture() {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } },
    out: () => out,
    err: () => err,
  };
}

describe('control API over HTTP', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({ seed: 'demo', timeScale: 0.001 });
  });
  afterAll(async () => {
    await sb?.close();
  });

  it('requires the control token and answers {result} or an ARM-shaped error', async () => {
    const f = rawFetch(sb);
    const denied = await f('/_sandbox/control/arm/counts', { method: 'POST', body: '{}' });
    expect(denied.status).toBe(401);
    expect(denied.json).toMatchObject({ error: { code: 'ControlTokenRequired' } });
    const headers = { 'x-sandbox-control-token': sb.controlToken, 'content-type': 'application/json' };
    const list = await f('/_sandbox/control', { headers });
    expect((list.json as { surfaces: Record<string, string[]> }).surfaces.arm).toEqual(
      expect.arrayContaining(['assignRole', 'deleteAssignment', 'setFault', 'counts']),
    );
    const bad = await f('/_sandbox/control/arm/getVault', {
      method: 'POST',
      headers,
      body: JSON.stringify({ vault: 'nope' }),
    });
    expect(bad.status).toBe(404);
    expect(bad.json).toMatchObject({ error: { code: 'ResourceNotFound' } });
    const garbage = await f('/_sandbox/control/arm/getVault', { method: 'POST', headers, body: '{' });
    expect(garbage.status).toBe(400);
    const unknown = await f('/_sandbox/control/arm/constructor', { method: 'POST', headers, body: '{}' });
    expect(unknown.status).toBe(404);
  });

  it('the demo seed: an RBAC vault and an access-policy vault whose keys the Atlas principal can use', async () => {
    expect(sb.demo?.vaults.map((v) => v.model)).toEqual(['rbac', 'accessPolicy']);
    for (const v of sb.demo!.vaults) {
      expect(sb.control.checkAccess({ vault: v.vaultName, key: v.keyName })).toEqual({ valid: true });
    }
    const { kv } = clients(sb);
    const rbac = await kv.vaults.get('rg-ear-demo', 'kv-ear-rbac');
    const policy = await kv.vaults.get('rg-ear-demo', 'kv-ear-policy');
    expect(rbac.properties.enableRbacAuthorization).toBe(true);
    expect(policy.properties.enableRbacAuthorization).toBe(false);
    expect(policy.properties.accessPolicies?.find((p) => p.objectId === sb.atlasPrincipalId)?.permissions.keys).toEqual(
      ['get', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
    );
    // Each vault has an Atlas project whose EAR points at its key, and Atlas's own check passes.
    for (const v of sb.demo!.vaults) {
      expect(v.projectId).toMatch(/^[0-9a-f]{24}$/);
      expect(sb.control.atlas.validate(v.projectId!)).toEqual({ valid: true });
      expect(sb.control.projectTarget({ projectId: v.projectId! })).toMatchObject({
        keyVaultName: v.vaultName,
        keyName: v.keyName,
        principalId: sb.atlasPrincipalId,
      });
    }
  });

  it('a separate client acts as alice through connect.ts; the change carries her identity', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sbx-'));
    try {
      const file = join(dir, 'sandbox.json');
      await import('node:fs/promises').then((fs) => fs.writeFile(file, JSON.stringify(sb.describe())));
      sb.control.clearNotices();
      const cap = capture();
      const code = await runSandboxAct(
        ['--sandbox', file, '--as', 'alice', 'delete-assignment', '--vault', 'kv-ear-rbac'],
        cap.io,
      );
      expect(cap.err()).toBe('');
      expect(code).toBe(0);
      const out = JSON.parse(cap.out()) as { result: { deleted: string[] } };
      expect(out.result.deleted).toHaveLength(1);
      const ns = sb.control.notices() as ChangeNotice[];
      expect(ns.map((n) => [n.operationName, n.actor.name, n.resourceUri])).toEqual([
        ['Microsoft.Authorization/roleAssignments/delete', 'alice', out.result.deleted[0]],
      ]);
      expect(sb.control.checkAccess({ vault: 'kv-ear-rbac', key: 'atlas-ear' })).toMatchObject({ valid: false });

      const conn = await connectSandbox(file);
      const counts = await conn.call<{ total: number }>('arm', 'counts');
      expect(counts.total).toBeGreaterThan(0);
      await conn.close();

      const miss = capture();
      expect(
        await runSandboxAct(['--sandbox', file, 'set-model', 'sideways', '--vault', 'kv-ear-policy'], miss.io),
      ).toBe(2);
      expect(miss.err()).toContain("set-model takes 'rbac' or 'accessPolicy'");
      const nofile = capture();
      expect(await runSandboxAct(['--sandbox', join(dir, 'missing.json'), 'counts'], nofile.io)).toBe(1);
      expect(nofile.err()).toContain('cannot read sandbox file');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('deletes only the half at the scope named (a standby pair keeps the other), and refuses an unknown scope', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sbx-scope-'));
    try {
      const file = join(dir, 'sandbox.json');
      await import('node:fs/promises').then((fs) => fs.writeFile(file, JSON.stringify(sb.describe())));
      const v = sb.demo!.vaults.find((x) => x.vaultName === 'kv-ear-rbac')!;
      const vaultId = `/subscriptions/${sb.subscriptionId}/resourceGroups/rg-ear-demo/providers/Microsoft.KeyVault/vaults/${v.vaultName}`;
      const keyScopeId = `${vaultId}/keys/${v.keyName}`;
      const scopesHeld = () =>
        sb.control
          .roleAssignments({ scope: keyScopeId, principalId: sb.atlasPrincipalId })
          .filter((a) => String(props(a).roleDefinitionId).endsWith(ROLE_IDS.keyVaultCryptoUser))
          .map((a) => String(props(a).scope).toLowerCase())
          .sort();
      const grant = (scope: string) =>
        sb.control.assignRole({
          scope,
          role: 'Key Vault Crypto User',
          principalId: sb.atlasPrincipalId,
          principalType: 'ServicePrincipal',
        });
      // The pair: the vault's half (an earlier test may have deleted it) and the key's.
      if (!scopesHeld().includes(vaultId.toLowerCase())) grant(vaultId);
      grant(keyScopeId);
      expect(scopesHeld()).toEqual([vaultId.toLowerCase(), keyScopeId.toLowerCase()].sort());

      const cap = capture();
      const args = [
        '--sandbox',
        file,
        '--as',
        'alice',
        'delete-assignment',
        '--vault',
        v.vaultName,
        '--key',
        v.keyName,
      ];
      expect(await runSandboxAct([...args, '--scope', 'vault'], cap.io)).toBe(0);
      expect((JSON.parse(cap.out()) as { result: { deleted: string[] } }).result.deleted).toHaveLength(1);
      expect(scopesHeld()).toEqual([keyScopeId.toLowerCase()]);
      // The key's half still grants: Atlas's check passes (no propagation delay here).
      expect(sb.control.checkAccess({ vault: v.vaultName, key: v.keyName })).toEqual({ valid: true });

      const bad = capture();
      expect(await runSandboxAct([...args, '--scope', 'sideways'], bad.io)).toBe(2);
      expect(bad.err()).toContain("delete-assignment --scope takes vault, key or a scope ID starting with '/'");
      expect(scopesHeld()).toEqual([keyScopeId.toLowerCase()]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ear-guard sandbox (standalone process)', () => {
  it('prints exactly one JSON line when ready, serves until SIGTERM, and leaves nothing behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sbx-cli-'));
    const file = join(dir, 'sandbox.json');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { main } = await import(${JSON.stringify(new URL('../../src/cli.ts', import.meta.url).href)});
         process.exitCode = await main(['sandbox', '--seed', 'demo', '--json', '--out', ${JSON.stringify(file)}, '--time-scale', '0.001']);`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const lines = createInterface({ input: child.stdout });
      const first = await new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        child.once('exit', () => reject(new Error(`sandbox exited early: ${stderr}`)));
      });
      const d = JSON.parse(first) as Record<string, string> & { demo?: unknown };
      for (const k of [
        'armEndpoint',
        'atlasBaseUrl',
        'caCertPath',
        'tenantId',
        'subscriptionId',
        'atlasPublicKey',
        'atlasPrivateKey',
        'controlUrl',
        'controlToken',
      ]) {
        expect(typeof d[k], k).toBe('string');
      }
      expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(d);
      expect(existsSync(d.caCertPath)).toBe(true);

      const demo = d.demo as unknown as { vaults: { model: string; projectId: string }[] };
      const project = demo.vaults.find((v) => v.model === 'accessPolicy')!.projectId;
      const cap = capture();
      const args = [
        '--sandbox',
        file,
        '--as',
        'mallory',
        'strip-policy',
        '--project',
        project,
        '--permissions',
        'decrypt',
      ];
      expect(await runSandboxAct(args, cap.io)).toBe(0);
      expect(JSON.parse(cap.out())).toMatchObject({
        action: 'strip-policy',
        as: 'mallory',
        result: { removed: ['decrypt'], vault: 'kv-ear-policy' },
      });
      const conn = await connectSandbox(file);
      const access = await conn.call<{ valid: boolean }>('arm', 'checkAccess', {
        vault: 'kv-ear-policy',
        key: 'atlas-ear',
      });
      expect(access.valid).toBe(false);
      const atlasView = await conn.call<{ valid: boolean }>('atlas', 'validate', { args: [project] });
      expect(atlasView.valid).toBe(false);
      const counts = await conn.call<{ byCaller: Record<string, number> }>('arm', 'counts');
      expect(counts).toBeTruthy();
      await conn.close();

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(existsSync(d.caCertPath)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
