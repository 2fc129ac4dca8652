// Shared pieces of the benchmark: a world on the sandbox (seeded through the in-process control API), percentiles,
// child processes, and the table printer. Benchmarks print figures; nothing here asserts.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROLE_IDS } from '../src/core/builtinRoles.js';
import type { Sandbox } from '../src/sandbox/index.js';
import { remediatorCondition } from '../src/sandbox/seed.js';
import { loadSettings, type Settings } from '../src/settings.js';
import type { SandboxConnection } from '../src/engine.js';

export const ROOT = new URL('..', import.meta.url).pathname;

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
export const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);

export function connectionOf(sb: Sandbox): SandboxConnection {
  return {
    armEndpoint: sb.armEndpoint,
    atlasBaseUrl: sb.atlasBaseUrl,
    ca: sb.ca,
    atlasPublicKey: sb.atlasPublicKey,
    atlasPrivateKey: sb.atlasPrivateKey,
    // The sandbox's Project Read Only service account: the credential Atlas recommends and the app runs with.
    atlasClientId: sb.atlasClientId,
    atlasClientSecret: sb.atlasClientSecret,
  };
}

export function benchSettings(sb: Sandbox, env: Record<string, string> = {}): Settings {
  return loadSettings({
    ATLAS_PUBLIC_KEY: sb.atlasPublicKey,
    ATLAS_PRIVATE_KEY: sb.atlasPrivateKey,
    ATLAS_BASE_URL: sb.atlasBaseUrl,
    EAR_GUARD_MODE: 'remediate',
    ...env,
  });
}

export interface SeededProject {
  projectId: string;
  vaultName: string;
  vaultId: string;
  keyName: string;
}

/**
 * `projects` Atlas projects over `vaults` RBAC vaults (one key per project; the Atlas principal holds Key Vault
 * Crypto User + Reader at each vault), with the remediator's least privilege (Reader on the subscription,
 * ABAC-constrained RBAC admin on each vault). Everything through the in-process control API: no HTTP, no tokens.
 */
export function seed(sb: Sandbox, projects: number, vaults: number, tag = 'b'): SeededProject[] {
  const c = sb.control;
  const atlasSp = sb.atlasPrincipalId;
  const remediator = c.principals().find((p) => p.name === 'ear-guard')!;
  c.assignRole({ scope: `/subscriptions/${sb.subscriptionId}`, role: 'Reader', principalId: remediator.objectId });
  const vaultRefs: { name: string; rg: string; id: string }[] = [];
  for (let v = 0; v < vaults; v++) {
    const name = `kv-${tag}${v}`;
    const rg = `rg-${tag}${v % 10}`;
    c.createVault({ vault: name, resourceGroup: rg, rbac: true });
    c.assignRole({
      scope: name,
      role: 'Key Vault Crypto User',
      principalId: atlasSp,
      principalType: 'ServicePrincipal',
    });
    c.assignRole({ scope: name, role: 'Reader', principalId: atlasSp, principalType: 'ServicePrincipal' });
    c.assignRole({
      scope: name,
      role: ROLE_IDS.roleBasedAccessControlAdministrator,
      principalId: remediator.objectId,
      principalType: 'ServicePrincipal',
      condition: remediatorCondition(atlasSp),
      conditionVersion: '2.0',
    });
    vaultRefs.push({ name, rg, id: String(c.getVault({ vault: name }).id) });
  }
  const atlas = c.atlas;
  const out: SeededProject[] = [];
  for (let i = 0; i < projects; i++) {
    const v = vaultRefs[i % vaults]!;
    const keyName = `ear-${i}`;
    const key = c.createKey({ vault: v.name, key: keyName });
    const { groupId } = atlas.createProject({ name: `${tag}-project-${i}` });
    // The app's service account reads each project with Project Read Only, as in production.
    atlas.setProjectRole({ credential: sb.atlasClientId, projectId: groupId, role: 'Project Read Only' });
    const { roleId } = atlas.registerServicePrincipal(groupId, { servicePrincipalId: atlasSp, tenantId: sb.tenantId });
    atlas.setEncryptionAtRest(groupId, {
      enabled: true,
      roleId,
      tenantID: sb.tenantId,
      subscriptionID: sb.subscriptionId,
      resourceGroupName: v.rg,
      keyVaultName: v.name,
      keyIdentifier: key.keyIdentifier,
      azureEnvironment: 'AZURE',
      requirePrivateNetworking: false,
    } as never);
    out.push({ projectId: groupId, vaultName: v.name, vaultId: v.id, keyName });
  }
  c.clearNotices();
  return out;
}

/** Runs `bench/<script>` under tsx in a child process; resolves with the JSON it prints on its last stdout line. */
export function runChild<T>(script: string, config: unknown, extraArgs: string[] = []): Promise<T> {
  // The config travels in a file: 10,000 project IDs do not fit in an environment variable (E2BIG).
  const configFile = join(mkdtempSync(join(tmpdir(), 'earguard-bench-')), 'config.json');
  writeFileSync(configFile, JSON.stringify(config));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...extraArgs, '--import', 'tsx', `${ROOT}bench/${script}`], {
      cwd: ROOT,
      env: { ...process.env, BENCH_CONFIG_FILE: configFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${script} exited ${code}: ${err.slice(-2000)}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${script}: no JSON result (${err.slice(-1000)})`));
      }
    });
  });
}

/** Prints rows as an aligned text table. */
export function table(title: string, header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const w = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(w[i]!)).join(' | ') + ' |';
  return [
    `\n## ${title}`,
    line(header),
    '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|',
    ...cells.slice(1).map(line),
  ].join('\n');
}
