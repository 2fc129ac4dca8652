// The operator CLI against the sandbox (real SDK clients over HTTPS, the Atlas half with digest auth) and Azurite:
// every command in-process through run<Name>(argv, io), with --sandbox <file> as an operator would pass it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { runCheck } from '../../src/commands/check.js';
import { runHistory } from '../../src/commands/history.js';
import { runIntent } from '../../src/commands/intent.js';
import { runMigrate } from '../../src/commands/migrate.js';
import { runPreflight } from '../../src/commands/preflight.js';
import { runStatus } from '../../src/commands/status.js';
import { runSandbox } from '../../src/commands/sandbox.js';
import { runSweepCommand } from '../../src/commands/sweep.js';
import { runTriage } from '../../src/commands/triage.js';
import type { CliIo } from '../../src/commands/cli/io.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';

let world: World;
let dir: string;
let sandboxFile: string;
let storage: string;
let prefix: string;

interface Run {
  code: number;
  out: string;
  err: string;
  json: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function io(opts: { tty?: boolean } = {}): CliIo & { text: () => { out: string; err: string } } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s), isTTY: opts.tty === true },
    // An empty environment and HOME: nothing leaks in from the machine running the tests.
    env: { HOME: dir },
    tuning: {
      armRetry: { maxRetries: 1, retryDelayInMs: 5, maxRetryDelayInMs: 20 },
      atlasRetry: { maxRetries: 1, backoffMs: 5, maxRetryAfterMs: 20 },
      pollMs: 5,
    },
    text: () => ({ out, err }),
  };
}

type Runner = (argv: string[], io: CliIo) => Promise<number>;

async function run(
  fn: Runner,
  argv: string[],
  opts: { state?: boolean; sandbox?: string | false; tty?: boolean } = {},
): Promise<Run> {
  const i = io(opts);
  const extra = [
    ...(opts.sandbox === false ? [] : ['--sandbox', opts.sandbox ?? sandboxFile]),
    ...(opts.state ? ['--storage', storage, '--table-prefix', prefix] : []),
  ];
  const code = await fn([...argv, ...extra], i);
  const { out, err } = i.text();
  return { code, out, err, json: () => JSON.parse(out) };
}

const atlasControl = () =>
  world.sandbox.control.atlas as unknown as {
    createProject(p: { name: string }): { groupId: string };
    setEncryptionAtRest(g: string, akv: Record<string, unknown> | null): void;
    getProject(g: string): { servicePrincipals: { _id: string; servicePrincipalId: string }[]; encryptionAtRest: any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

function atlasAssignments(p: WorldProject) {
  return world.sandbox.control
    .roleAssignments({ scope: p.vaultId, principalId: p.principalId })
    .map((a) => a as { id: string; properties: { roleDefinitionId: string; scope: string } });
}

function deleteCryptoUser(p: WorldProject): void {
  for (const a of atlasAssignments(p)) {
    if (a.properties.roleDefinitionId.toLowerCase().endsWith(ROLE_IDS.keyVaultCryptoUser)) {
      world.sandbox.control.deleteAssignment({ as: 'alice', id: a.id });
    }
  }
}

beforeAll(async () => {
  world = await startWorld();
  dir = await mkdtemp(join(tmpdir(), 'ear-guard-cli-'));
  sandboxFile = join(dir, 'sandbox.json');
  await writeFile(sandboxFile, JSON.stringify(world.sandbox.describe()));
  storage = world.azurite.connectionString;
  prefix = world.engine.deps.state.projects.tableName.replace(/projects$/, '');
}, 60_000);

afterAll(async () => {
  await world?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('ear-guard check', () => {
  it('granted: exit 0, JSON with the verdict, key state, Atlas valid, no fix; without any state configured', async () => {
    const p = await world.addProject({ model: 'rbac' });
    const r = await run(runCheck, ['--project', p.projectId, '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = r.json();
    expect(j.exitCode).toBe(0);
    const c = j.projects[0];
    expect(c).toMatchObject({
      projectId: p.projectId,
      result: 'granted',
      atlasValid: true,
      target: { principalObjectId: p.principalId, vaultId: p.vaultId, keyName: 'atlas-ear', credentials: 'secretless' },
      key: { exists: true, enabled: true },
      fix: [],
    });
    expect(c.key.versionMatches).toBe(true);
    expect(c.verdict.permissions.get.granted).toBe(true);
    expect(c.verdict.permissions.get.via[0].roleName).toBe('Key Vault Crypto User');
  });

  it('drift: exit 1, the missing permissions with the az fix; nothing is written without --fix', async () => {
    const p = await world.addProject({ model: 'rbac' });
    deleteCryptoUser(p);
    world.sandbox.control.resetCounts();
    const r = await run(runCheck, ['--project', p.projectId]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/MISSING: get, encrypt, decrypt/);
    expect(r.out).toContain(
      `az role assignment create --assignee-object-id ${p.principalId} --assignee-principal-type ServicePrincipal --role "Key Vault Crypto User" --scope ${p.vaultId}`,
    );
    expect(r.out).toMatch(/azureKeyVault\.valid: false/);
    const ops = world.sandbox.control.counts().byOperation;
    expect(Object.keys(ops).filter((o) => /create|update|accessPolicies/i.test(o))).toEqual([]);
  });

  it('a disabled key is degraded (exit 1) with the az command that re-enables it', async () => {
    const p = await world.addProject({ model: 'accessPolicy' });
    world.sandbox.control.setKeyEnabled({ vault: p.vaultName, key: p.keyName, enabled: false });
    const r = await run(runCheck, ['--project', p.projectId, '--json']);
    expect(r.code).toBe(1);
    const c = r.json().projects[0];
    expect(c.result).toBe('degraded');
    expect(c.flags).toContain('key-disabled');
    expect(c.key.enabled).toBe(false);
    expect(c.fix).toContain(
      `az keyvault key set-attributes --vault-name ${p.vaultName} --name ${p.keyName} --enabled true`,
    );
  });

  it('a grant only through an ABAC condition is indeterminate: exit 3', async () => {
    const p = await world.addProject({ model: 'rbac', grants: 'none' });
    world.sandbox.control.assignRole({
      scope: p.vaultId,
      role: 'Key Vault Crypto User',
      principalId: p.principalId,
      principalType: 'ServicePrincipal',
      condition: "@Resource[Microsoft.KeyVault/vaults/keys:KeyName] StringEquals 'atlas-ear'",
      conditionVersion: '2.0',
    });
    const r = await run(runCheck, ['--project', p.projectId, '--json']);
    expect(r.code).toBe(3);
    expect(r.json().projects[0].result).toBe('indeterminate');
  });

  it('--fix without EAR_GUARD_STORAGE is a usage error naming the setting', async () => {
    const p = await world.addProject({ model: 'rbac' });
    const r = await run(runCheck, ['--project', p.projectId, '--fix']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/EAR_GUARD_STORAGE/);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack
  });

  it('--fix restores through the reconcile loop (recorded in history), then the project is granted', async () => {
    const p = await world.addProject({ model: 'rbac' });
    deleteCryptoUser(p);
    const r = await run(runCheck, ['--project', p.projectId, '--fix', '--json'], { state: true });
    expect(r.code).toBe(0);
    const c = r.json().projects[0];
    expect(c.reconcile.outcome).toBe('restored');
    expect(c.reconcile.actions.map((a: { result: string }) => a.result)).toContain('created');
    expect(c.result).toBe('granted');
    expect(world.sandbox.control.checkAccess({ vault: p.vaultName, key: p.keyName }).valid).toBe(true);
    const h = await run(runHistory, [p.projectId, '--json'], { state: true, sandbox: false });
    expect(h.code).toBe(0);
    expect(h.json().rows.map((x: { kind: string }) => x.kind)).toEqual(
      expect.arrayContaining(['detection', 'action', 'verification']),
    );
  });

  it('intent revoked: a later drift is not restored by --fix (exit 1), and granted lifts it', async () => {
    const p = await world.addProject({ model: 'accessPolicy' });
    const i = await run(runIntent, [p.projectId, 'revoked', '--reason', 'offboarding SEC-1', '--by', 'bob'], {
      state: true,
      sandbox: false,
    });
    expect(i.code).toBe(0);
    expect(i.out).toMatch(/deliberately revoked/);
    world.sandbox.control.setAccessPolicy({
      vault: p.vaultName,
      objectId: p.principalId,
      keys: ['get', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
      op: 'remove',
    });
    const r = await run(runCheck, ['--project', p.projectId, '--fix', '--json'], { state: true });
    expect(r.code).toBe(1);
    const c = r.json().projects[0];
    expect(c.reconcile.outcome).toBe('skipped');
    expect(c.reconcile.reason).toMatch(/intent is revoked/);
    expect(c.reconcile.actions).toEqual([]);
    expect(c.intent).toMatchObject({ intent: 'revoked', by: 'bob', reason: 'offboarding SEC-1' });
    expect(world.sandbox.control.checkAccess({ vault: p.vaultName, key: p.keyName }).valid).toBe(false);

    const s = await run(runStatus, ['--json'], { state: true, sandbox: false });
    const row = s.json().projects.find((x: { projectId: string }) => x.projectId === p.projectId);
    expect(row).toMatchObject({ status: 'revoked', intent: 'revoked', intentBy: 'bob' });
    expect(row.etag).toBeUndefined();

    const g = await run(runIntent, [p.projectId, 'granted', '--reason', 'cancelled'], { state: true, sandbox: false });
    expect(g.code).toBe(0);
    const again = await run(runCheck, ['--project', p.projectId, '--fix', '--json'], { state: true });
    expect(again.code).toBe(0);
    expect(again.json().projects[0].reconcile.outcome).toBe('restored');
    const h = await run(runHistory, [p.projectId], { state: true, sandbox: false });
    expect(h.out).toMatch(/intent set to revoked: offboarding SEC-1/);
    expect(h.out).toMatch(/intent set to granted: cancelled/);
  });

  it('Atlas 401: the message names the key settings to fix; exit 4', async () => {
    const p = await world.addProject({ model: 'rbac' });
    const bad = join(dir, 'sandbox-badkey.json');
    await writeFile(bad, JSON.stringify({ ...world.sandbox.describe(), atlasPrivateKey: 'wrong-private-key-value' }));
    const r = await run(runCheck, ['--project', p.projectId], { sandbox: bad });
    expect(r.code).toBe(4);
    expect(r.out + r.err).toMatch(/Atlas rejected the credential \(401\): check ATLAS_PUBLIC_KEY \/ ATLAS_PRIVATE_KEY/);
    expect(r.out + r.err).not.toContain('wrong-private-key-value');
  });

  it('ARM 403: the message names the permission the caller lacks; exit 4', async () => {
    const p = await world.addProject({ model: 'rbac' });
    const id = world.sandbox.control.setFault('vaults.get', {
      kind: 'error',
      status: 403,
      code: 'AuthorizationFailed',
      message: `The client 'ear-guard' with object id '${world.remediatorId}' does not have authorization to perform action 'Microsoft.KeyVault/vaults/read' over scope '${p.vaultId}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    });
    try {
      const r = await run(runCheck, ['--project', p.projectId, '--json']);
      expect(r.code).toBe(4);
      expect(r.json().projects[0].reason).toMatch(/lacks the permission 'Microsoft\.KeyVault\/vaults\/read' on scope/);
    } finally {
      world.sandbox.control.clearFaults(id);
    }
  });

  it('cannot reach Atlas/Azure: exit 4', async () => {
    const p = await world.addProject({ model: 'rbac' });
    const dead = join(dir, 'sandbox-dead.json');
    const d = world.sandbox.describe();
    // A port that was free a moment ago: nothing listens there.
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const base = `https://127.0.0.1:${port}`;
    await writeFile(dead, JSON.stringify({ ...d, armEndpoint: base, atlasBaseUrl: `${base}/api/atlas/v2` }));
    const r = await run(runCheck, ['--project', p.projectId], { sandbox: dead });
    expect(r.code).toBe(4);
    expect(r.out + r.err).toMatch(/cannot reach Atlas/);
  });

  it('usage errors: exit 2 naming the flag', async () => {
    expect((await run(runCheck, [])).err).toMatch(/--project <groupId>.*or --all/);
    const bad = await run(runCheck, ['--project', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--project 'nope' is not an Atlas project ID/);
    const unknown = await run(runCheck, ['--projects', 'x']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/--projects/);
    const missingSandbox = await run(runCheck, ['--project', 'a'.repeat(24)], { sandbox: join(dir, 'missing.json') });
    expect(missingSandbox.code).toBe(2);
    expect(missingSandbox.err).toMatch(/cannot read sandbox file/);
  });
});

describe('ear-guard check: grants that do not name the principal (groups, the tenant root group)', () => {
  const act = (argv: string[]) => run(runSandbox, ['act', ...argv]);

  function writesIn(ops: Record<string, number>): string[] {
    return Object.keys(ops).filter((o) => /create|update|accessPolicies|delete/i.test(o));
  }

  it('a grant only through a group: exit 0, the path names the group, --fix writes nothing', async () => {
    const p = await world.addProject({ model: 'rbac', grants: 'none' });
    const group = `atlas-kms-${p.projectId.slice(-6)}`;
    expect((await act(['add-to-group', '--project', p.projectId, '--group', group])).code).toBe(0);
    for (const role of ['Key Vault Crypto User', 'Reader']) {
      const g = await act(['grant-role', '--project', p.projectId, '--role', role, '--group', group]);
      expect(g.err).toBe('');
      expect(g.code).toBe(0);
    }
    const groupId = world.sandbox.control.tenant.ensureGroup({ group }).objectId;
    // Nothing names the principal directly: only the group holds the roles.
    expect(atlasAssignments(p)).toEqual([]);
    const r = await run(runCheck, ['--project', p.projectId, '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const c = r.json().projects[0];
    expect(c.result).toBe('granted');
    expect(c.atlasValid).toBe(true);
    expect(c.verdict.permissions.encrypt.via[0]).toMatchObject({ kind: 'roleAssignment', group: groupId });
    expect(c.verdict.missingRecommended).toEqual([]);
    const human = await run(runCheck, ['--project', p.projectId]);
    expect(human.out).toContain(`through group ${groupId}`);

    world.sandbox.control.resetCounts();
    const f = await run(runCheck, ['--project', p.projectId, '--fix', '--json'], { state: true });
    expect(f.code).toBe(0);
    expect(f.json().projects[0].reconcile.outcome).toBe('converged');
    expect(writesIn(world.sandbox.control.counts().byOperation)).toEqual([]);
  });

  it('a grant only at the tenant root management group: exit 0, the path names it, --fix writes nothing', async () => {
    const p = await world.addProject({ model: 'rbac', grants: 'none' });
    const root = `/providers/Microsoft.Management/managementGroups/${world.sandbox.control.tenantId}`;
    const ids: string[] = [];
    try {
      for (const role of ['Key Vault Crypto User', 'Reader']) {
        const g = await act(['grant-role', '--project', p.projectId, '--role', role, '--scope', root]);
        expect(g.code).toBe(0);
        ids.push(g.json().result.id);
      }
      const r = await run(runCheck, ['--project', p.projectId, '--json']);
      expect(r.code).toBe(0);
      const c = r.json().projects[0];
      expect(c.result).toBe('granted');
      expect(c.atlasValid).toBe(true);
      expect(c.verdict.permissions.decrypt.via[0]).toMatchObject({ kind: 'roleAssignment', scope: root });
      expect(c.verdict.permissions.decrypt.via[0].uncertain).toBeUndefined();

      world.sandbox.control.resetCounts();
      const f = await run(runCheck, ['--project', p.projectId, '--fix', '--json'], { state: true });
      expect(f.code).toBe(0);
      expect(f.json().projects[0].reconcile.outcome).toBe('converged');
      expect(writesIn(world.sandbox.control.counts().byOperation)).toEqual([]);
    } finally {
      // The root group covers every vault of the subscription: leave the other scenarios as they were.
      for (const id of ids) world.sandbox.control.deleteAssignment({ id });
    }
  });

  it('a deny assigned to a group the principal is in takes the grant away (exit 1)', async () => {
    const p = await world.addProject({ model: 'rbac' });
    const group = `deny-${p.projectId.slice(-6)}`;
    expect((await act(['add-to-group', '--project', p.projectId, '--group', group])).code).toBe(0);
    const groupId = world.sandbox.control.tenant.ensureGroup({ group }).objectId;
    world.sandbox.control.addDenyAssignment({
      scope: p.vaultId,
      principals: [{ id: groupId, type: 'Group' }],
      dataActions: ['Microsoft.KeyVault/vaults/keys/*'],
    });
    const r = await run(runCheck, ['--project', p.projectId, '--json']);
    expect(r.code).toBe(1);
    const c = r.json().projects[0];
    expect(c.result).toBe('missing');
    expect(c.verdict.permissions.encrypt.deniedBy?.length).toBe(1);
  });

  it('sandbox act: grant-role takes --group or --scope, not both; add-to-group needs --group', async () => {
    const p = await world.addProject({ model: 'rbac', grants: 'none' });
    const both = await act([
      'grant-role',
      '--project',
      p.projectId,
      '--role',
      'Reader',
      '--group',
      'g',
      '--scope',
      '/x',
    ]);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/--group or --scope/);
    const none = await act(['add-to-group', '--project', p.projectId]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/--group/);
  });
});

describe('ear-guard check: Azure Policy assignments above the vault', () => {
  const act = (argv: string[]) => run(runSandbox, ['act', ...argv]);

  it('names the policy assignment that would push RBAC: a warning (exit 0), never a write', async () => {
    const p = await world.addProject({ model: 'accessPolicy' });
    const a = await act([
      'assign-policy',
      '--project',
      p.projectId,
      '--definition',
      'Azure Key Vault should use RBAC permission model',
      '--effect',
      'Deny',
    ]);
    expect(a.err).toBe('');
    expect(a.code).toBe(0);
    const assignmentId = a.json().result.id as string;
    expect(assignmentId).toMatch(/\/providers\/Microsoft\.Authorization\/policyAssignments\//);

    world.sandbox.control.resetCounts();
    const r = await run(runCheck, ['--project', p.projectId, '--json']);
    expect(r.code).toBe(0);
    const c = r.json().projects[0];
    expect(c.result).toBe('granted');
    expect(c.flags).toContain('policy-pushes-rbac');
    const ops = world.sandbox.control.counts().byOperation;
    expect(ops['policyAssignments.list']).toBe(1);
    expect(Object.keys(ops).filter((o) => /create|update|accessPolicies|delete/i.test(o))).toEqual([]);
    const human = await run(runCheck, ['--project', p.projectId]);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/Flags: .*policy-pushes-rbac/);
    expect(human.out).toContain(
      `policy assignment 'Azure Key Vault should use RBAC permission model' (${assignmentId})`,
    );
  });

  it('assign-policy needs a known --definition', async () => {
    const p = await world.addProject({ model: 'rbac', grants: 'none' });
    const none = await act(['assign-policy', '--project', p.projectId]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/--definition/);
    const unknown = await act(['assign-policy', '--project', p.projectId, '--definition', 'No such policy']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/PolicyDefinitionNotFound|could not be found/);
  });
});

describe('ear-guard preflight', () => {
  it('fails each missing grant with its az command; --fix grants with the app restore code; then passes', async () => {
    const p = await world.addProject({ model: 'rbac', grants: 'none' });
    const r = await run(runPreflight, ['--project', p.projectId, '--json']);
    expect(r.code).toBe(1);
    const j = r.json();
    const by = (id: string) => j.checks.find((c: { id: string }) => c.id === id);
    expect(j.ready).toBe(false);
    expect(j.principal).toMatchObject({ objectId: p.principalId, registered: true });
    expect(by('principal-registered').status).toBe('pass');
    expect(by('key-permissions')).toMatchObject({ status: 'fail' });
    expect(by('key-permissions').fix[0]).toMatch(/--role "Key Vault Crypto User"/);
    expect(by('reader-on-vault')).toMatchObject({ status: 'fail' });
    expect(by('reader-on-vault').fix[0]).toMatch(/--role "Reader" --scope/);
    expect(by('key-enabled').status).toBe('pass');
    expect(by('private-networking').status).toBe('pass');

    const human = await run(runPreflight, ['--project', p.projectId]);
    expect(human.out).toMatch(/FAIL +get, encrypt, decrypt on the key/);
    expect(human.out).toMatch(/NOT READY/);

    const f = await run(runPreflight, ['--project', p.projectId, '--fix', '--json']);
    expect(f.code).toBe(0);
    const fj = f.json();
    expect(fj.ready).toBe(true);
    expect(fj.fix.actions.map((a: { roleName: string; result: string }) => `${a.roleName}:${a.result}`).sort()).toEqual(
      ['Key Vault Crypto User:created', 'Reader:created'],
    );
    // Only the Atlas principal got anything.
    const created = world.sandbox.control.roleAssignments({ scope: p.vaultId }) as {
      properties: { principalId: string; roleDefinitionId: string };
    }[];
    const forOthers = created.filter(
      (a) => a.properties.principalId !== p.principalId && a.properties.principalId !== world.remediatorId,
    );
    expect(forOthers).toEqual([]);
  });

  it('requirePrivateNetworking warns that validation is asynchronous; --principal not registered fails with the POST body', async () => {
    const p = await world.addProject({ model: 'accessPolicy' });
    const atlas = atlasControl();
    const ear = atlas.getProject(p.projectId).encryptionAtRest.azureKeyVault;
    atlas.setEncryptionAtRest(p.projectId, { ...ear, valid: undefined, requirePrivateNetworking: true });
    const r = await run(runPreflight, ['--project', p.projectId, '--json']);
    expect(r.code).toBe(0);
    const pn = r.json().checks.find((c: { id: string }) => c.id === 'private-networking');
    expect(pn.status).toBe('warn');
    expect(pn.detail).toMatch(/asynchronously/);

    const other = '11111111-2222-3333-4444-555555555555';
    const u = await run(runPreflight, ['--project', p.projectId, '--principal', other, '--json']);
    expect(u.code).toBe(1);
    const reg = u.json().checks.find((c: { id: string }) => c.id === 'principal-registered');
    expect(reg.status).toBe('fail');
    expect(reg.fix[0]).toMatch(
      /POST \/api\/atlas\/v2\/groups\/[0-9a-f]{24}\/cloudProviderAccess .*"atlasAzureAppId":"9efedfcc-2eca-4b27-a613-0cad1e114cb7"/,
    );
  });

  it('usage: --role-id and --principal exclude each other; a bad --key names the flag', async () => {
    const r = await run(runPreflight, [
      '--project',
      'a'.repeat(24),
      '--role-id',
      'b'.repeat(24),
      '--principal',
      world.remediatorId,
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/exclude each other/);
    const p = await world.addProject({ model: 'rbac' });
    const k = await run(runPreflight, ['--project', p.projectId, '--key', 'https://example.com/not-a-key']);
    expect(k.code).toBe(2);
    expect(k.err).toMatch(/--key/);
  });
});

describe('ear-guard migrate (static credentials -> secretless)', () => {
  async function staticProject(opts: { deny?: boolean } = {}) {
    const p = await world.addProject({ model: 'rbac', grants: 'none' });
    const atlas = atlasControl();
    const { groupId } = atlas.createProject({ name: `static-${p.vaultName}` });
    atlas.setEncryptionAtRest(groupId, {
      enabled: true,
      clientID: '0a0a0a0a-1111-2222-3333-444444444444',
      secret: 'static-client-secret-value',
      tenantID: world.sandbox.tenantId,
      subscriptionID: world.sandbox.subscriptionId,
      resourceGroupName: p.resourceGroup,
      keyVaultName: p.vaultName,
      keyIdentifier: p.keyIdentifier,
      azureEnvironment: 'AZURE',
      requirePrivateNetworking: false,
    });
    if (opts.deny) {
      world.sandbox.control.addDenyAssignment({
        scope: `${p.vaultId}/keys/${p.keyName}`,
        principals: [{ id: p.principalId, type: 'ServicePrincipal' }],
        dataActions: ['Microsoft.KeyVault/vaults/keys/*'],
      });
    }
    return { ...p, groupId };
  }

  it('--dry-run prints the plan and exact request bodies with secrets masked, and writes nothing', async () => {
    const p = await staticProject();
    world.sandbox.control.resetCounts();
    const r = await run(runMigrate, ['--project', p.groupId, '--principal', p.principalId, '--dry-run']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/POST https:\/\/.*\/groups\/[0-9a-f]{24}\/cloudProviderAccess/);
    expect(r.out).toContain(`"servicePrincipalId": "${p.principalId}"`);
    expect(r.out).toMatch(
      /PUT https:\/\/.*\/providers\/Microsoft\.Authorization\/roleAssignments\/[0-9a-f-]{36}\?api-version=2022-04-01/,
    );
    expect(r.out).toContain(
      `"roleDefinitionId": "/subscriptions/${world.sandbox.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${ROLE_IDS.keyVaultCryptoUser}"`,
    );
    expect(r.out).toMatch(/PATCH https:\/\/.*\/encryptionAtRest/);
    expect(r.out).toContain('"roleId": "<roleId returned by POST cloudProviderAccess>"');
    expect(r.out).toContain('********');
    expect(r.out).not.toContain(world.sandbox.atlasPrivateKey);
    expect(r.out).not.toContain('static-client-secret-value');
    // Nothing written anywhere.
    const ops = Object.keys(world.sandbox.control.counts().byOperation);
    expect(ops.filter((o) => /create|update|cloudProviderAccess\.create|accessPolicies/i.test(o))).toEqual([]);
    expect(atlasControl().getProject(p.groupId).servicePrincipals).toEqual([]);
    expect(atlasControl().getProject(p.groupId).encryptionAtRest.azureKeyVault.clientID).toBeDefined();

    const j = await run(runMigrate, ['--project', p.groupId, '--principal', p.principalId, '--dry-run', '--json']);
    expect(j.code).toBe(0);
    const jj = j.json();
    expect(jj.result).toBe('planned');
    expect(jj.before.clientID).toBe('0a0a0a0a-1111-2222-3333-444444444444');
    // Only the read is done; every write is 'would do'.
    expect(
      jj.steps.filter((s: { status: string }) => s.status === 'done').map((s: { step: string }) => s.step),
    ).toEqual(['read encryptionAtRest']);
    expect(jj.steps.filter((s: { status: string }) => s.status === 'would do').length).toBeGreaterThanOrEqual(4);
    expect(JSON.stringify(jj)).not.toContain(world.sandbox.atlasPrivateKey);
  });

  it('migrates: registers the principal, grants, preflights, PATCHes with the roleId, confirms valid', async () => {
    const p = await staticProject();
    const r = await run(runMigrate, ['--project', p.groupId, '--principal', p.principalId, '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = r.json();
    expect(j.result).toBe('migrated');
    const proj = atlasControl().getProject(p.groupId);
    expect(proj.servicePrincipals.map((s) => s.servicePrincipalId)).toEqual([p.principalId]);
    const akv = proj.encryptionAtRest.azureKeyVault;
    expect(akv).toMatchObject({ enabled: true, roleId: j.roleId, valid: true });
    expect(akv.clientID).toBeUndefined();
    expect(j.message).toMatch(/static credentials \(clientID 0a0a0a0a-1111-2222-3333-444444444444\) are gone/);
    expect(world.sandbox.control.checkAccess({ vault: p.vaultName, key: p.keyName }).valid).toBe(true);
    // Re-running is a no-op.
    const again = await run(runMigrate, ['--project', p.groupId]);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/already uses the Atlas-managed service principal/);
    // And check now watches it as a secretless project.
    const c = await run(runCheck, ['--project', p.groupId, '--json']);
    expect(c.code).toBe(0);
    expect(c.json().projects[0].target.credentials).toBe('secretless');
  });

  it('a deny assignment blocks the grants: no PATCH, Atlas keeps the static credentials (exit 1)', async () => {
    const p = await staticProject({ deny: true });
    const r = await run(runMigrate, ['--project', p.groupId, '--principal', p.principalId, '--json']);
    expect(r.code).toBe(1);
    const j = r.json();
    expect(j.result).toBe('not-ready');
    expect(j.message).toMatch(/Atlas keeps using the static credentials/);
    const akv = atlasControl().getProject(p.groupId).encryptionAtRest.azureKeyVault;
    expect(akv.roleId).toBeUndefined();
    expect(akv.clientID).toBe('0a0a0a0a-1111-2222-3333-444444444444');
  });

  it('without a registered principal and no --principal: exit 2 naming --principal and the az command', async () => {
    const p = await staticProject();
    const r = await run(runMigrate, ['--project', p.groupId]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--principal <objectId>/);
    expect(r.err).toMatch(/az ad sp list --filter "appId eq '9efedfcc-2eca-4b27-a613-0cad1e114cb7'"/);
  });
});

describe('ear-guard sweep, status, history', () => {
  it('sweeps the named projects: restores drift (mode remediate), summary table, plain progress lines off a TTY', async () => {
    const a = await world.addProject({ model: 'rbac' });
    const b = await world.addProject({ model: 'accessPolicy' });
    deleteCryptoUser(a);
    // The CLI reads its own settings (default mode alert): remediate is asked for explicitly.
    const r = await run(runSweepCommand, ['--project', a.projectId, '--project', b.projectId, '--mode', 'remediate'], {
      state: true,
    });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^PROJECT +OUTCOME +STATUS +MISSING +REASON$/m);
    expect(r.out).toMatch(new RegExp(`^${a.projectId} +restored +restored`, 'm'));
    expect(r.out).toMatch(new RegExp(`^${b.projectId} +converged +healthy`, 'm'));
    expect(r.err).toMatch(/^sweep 1\/2 /m);
    expect(r.err).toMatch(/^sweep 2\/2 /m);
    expect(r.err).not.toContain('\r');
  });

  it('mode alert: a drift makes exit 1; JSON shape; TTY progress bar', async () => {
    const a = await world.addProject({ model: 'accessPolicy' });
    world.sandbox.control.setAccessPolicy({
      vault: a.vaultName,
      objectId: a.principalId,
      keys: ['encrypt'],
      op: 'remove',
    });
    const r = await run(runSweepCommand, ['--project', a.projectId, '--mode', 'alert', '--json'], {
      state: true,
      tty: true,
    });
    expect(r.code).toBe(1);
    const j = r.json();
    expect(j.exitCode).toBe(1);
    expect(j.summary.attention).toEqual([a.projectId]);
    expect(j.projects[0]).toMatchObject({
      projectId: a.projectId,
      outcome: 'alerted',
      status: 'drifted',
      missing: ['encrypt'],
    });
    expect(r.err).toMatch(/\rsweep|\r\x1b\[2Ksweep \[#+\] 1\/1/); // eslint-disable-line no-control-regex
    expect(world.sandbox.control.checkAccess({ vault: a.vaultName, key: a.keyName }).valid).toBe(false);

    const s = await run(runStatus, [], { state: true, sandbox: false });
    expect(s.code).toBe(1);
    expect(s.out).toMatch(/^PROJECT +STATUS +VERDICT/m);
    expect(s.out).toMatch(new RegExp(`^${a.projectId} +drifted +missing +encrypt`, 'm'));
    expect(s.out).toMatch(/Last sweep: finished/);
  });

  it('sweep, status and history require EAR_GUARD_STORAGE', async () => {
    for (const [fn, args] of [
      [runSweepCommand, []],
      [runStatus, []],
      [runHistory, ['a'.repeat(24)]],
      [runIntent, ['a'.repeat(24), 'revoked', '--reason', 'x']],
    ] as [Runner, string[]][]) {
      const r = await run(fn, args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/set EAR_GUARD_STORAGE/);
    }
  });

  it('history: --since filters; bad input names the flag', async () => {
    const p = await world.addProject({ model: 'rbac' });
    await run(runCheck, ['--project', p.projectId, '--fix'], { state: true });
    const all = await run(runHistory, [p.projectId, '--since', '1h', '--json'], { state: true, sandbox: false });
    expect(all.json().rows.length).toBeGreaterThan(0);
    const future = await run(runHistory, [p.projectId, '--since', '2999-01-01T00:00:00Z'], {
      state: true,
      sandbox: false,
    });
    expect(future.out).toMatch(/No history/);
    const bad = await run(runHistory, [p.projectId, '--since', 'yesterday'], { state: true, sandbox: false });
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--since 'yesterday' is not a duration/);
    const badIntent = await run(runIntent, [p.projectId, 'maybe', '--reason', 'x'], { state: true, sandbox: false });
    expect(badIntent.code).toBe(2);
    expect(badIntent.err).toMatch(/expected 'revoked' or 'granted'/);
    const noReason = await run(runIntent, [p.projectId, 'revoked'], { state: true, sandbox: false });
    expect(noReason.code).toBe(2);
    expect(noReason.err).toMatch(/--reason/);
  });
});

describe('ear-guard triage', () => {
  function roleAssignmentDelete(scope: string) {
    const id = `${scope}/providers/Microsoft.Authorization/roleAssignments/0b8e3c4a-1111-4222-8333-944444444444`;
    return {
      id: 'evt-1',
      topic: `/subscriptions/${world.sandbox.subscriptionId}`,
      subject: id,
      eventType: 'Microsoft.Resources.ResourceDeleteSuccess',
      eventTime: new Date().toISOString(),
      dataVersion: '2',
      metadataVersion: '1',
      data: {
        operationName: 'Microsoft.Authorization/roleAssignments/delete',
        resourceUri: id,
        status: 'Succeeded',
        claims: { 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn': 'alice@contoso.com' },
      },
    };
  }

  it('classifies each event; with state it names the projects; without state it says so', async () => {
    const p = await world.addProject({ model: 'rbac' });
    await run(runCheck, ['--project', p.projectId, '--fix'], { state: true }); // indexes the vault
    const file = join(dir, 'events.json');
    const validation = {
      id: 'evt-2',
      topic: '/subscriptions/x',
      subject: '',
      eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
      eventTime: new Date().toISOString(),
      dataVersion: '1',
      data: { validationCode: 'abc' },
    };
    await writeFile(file, JSON.stringify([roleAssignmentDelete(p.vaultId), validation]));
    const r = await run(runTriage, [file, '--json'], { state: true, sandbox: false });
    expect(r.code).toBe(0);
    const [a, b] = r.json();
    expect(a).toMatchObject({ relevant: true, kind: 'roleAssignment', scope: p.vaultId, projects: [p.projectId] });
    expect(a.reason).toMatch(/roleAssignments\/delete/);
    expect(b).toMatchObject({ relevant: false, kind: 'validation', scope: null });

    const noState = await run(runTriage, [file], { sandbox: false });
    expect(noState.code).toBe(0);
    expect(noState.out).toMatch(/^EVENT +RELEVANT +KIND +SCOPE +REASON$/m);
    expect(noState.out).toMatch(/no EAR_GUARD_STORAGE: projects not mapped/);
  });

  it('bad input: exit 2 naming the field', async () => {
    const file = join(dir, 'bad-event.json');
    await writeFile(file, JSON.stringify([{ specversion: '1.0', type: 'x', source: '/s' }]));
    const r = await run(runTriage, [file], { sandbox: false });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\[0\]\.id: missing/);
    const notJson = join(dir, 'not-json.json');
    await writeFile(notJson, '{');
    expect((await run(runTriage, [notJson], { sandbox: false })).err).toMatch(/not valid JSON/);
  });
});
