// Service accounts end to end: the real AtlasClient (bearer tokens from POST /api/oauth/token) and the real CLI
// commands against the sandbox's Atlas emulator, which enforces per-project roles per the spec's x-rolesRequirements.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtlasClient } from '../../src/atlas/client.js';
import { ServiceAccountTokenSource, tokenUrlFor } from '../../src/atlas/token.js';
import { ClassifiedError } from '../../src/azure/errors.js';
import { runCheck } from '../../src/commands/check.js';
import { runMigrate } from '../../src/commands/migrate.js';
import { runSweepCommand } from '../../src/commands/sweep.js';
import { runPreflight } from '../../src/commands/preflight.js';
import type { CliIo } from '../../src/commands/cli/io.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';

let world: World;
let dir: string;
let sandboxFile: string;
let project: WorldProject;

const client = (cred: { clientId: string; clientSecret: string }) =>
  new AtlasClient({ baseUrl: world.sandbox.atlasBaseUrl, ca: world.sandbox.ca, maxRetries: 0, ...cred });

async function expectRejected(p: Promise<unknown>): Promise<ClassifiedError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ClassifiedError);
  return e as ClassifiedError;
}

async function cli(
  fn: (argv: string[], io: CliIo) => Promise<number>,
  argv: string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await fn([...argv, '--sandbox', sandboxFile], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: { HOME: dir, ...env },
    tuning: { atlasRetry: { maxRetries: 0 }, armRetry: { maxRetries: 1, retryDelayInMs: 5 }, pollMs: 5 },
  });
  return { code, out, err };
}

beforeAll(async () => {
  world = await startWorld();
  dir = await mkdtemp(join(tmpdir(), 'ear-guard-sa-'));
  sandboxFile = join(dir, 'sandbox.json');
  await writeFile(sandboxFile, JSON.stringify(world.sandbox.describe()));
  project = await world.addProject({ model: 'rbac' });
}, 60_000);

afterAll(async () => {
  await world?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const readOnly = () =>
  world.atlas.createServiceAccount({ name: 'ro', roles: { [project.projectId]: 'Project Read Only' } });

describe('service-account tokens', () => {
  it('the sandbox description names a read-only service account', () => {
    const d = world.sandbox.describe();
    expect(d.atlasClientId).toMatch(/^mdb_sa_id_[0-9a-f]{24}$/);
    expect(d.atlasClientSecret).toBeTruthy();
    expect(world.atlas.readOnlyServiceAccount().clientId).toBe(d.atlasClientId);
  });

  it('one mint serves many calls, concurrent first use included', async () => {
    const sa = readOnly();
    const c = client(sa);
    await Promise.all(Array.from({ length: 8 }, () => c.getEncryptionAtRest(project.projectId)));
    for (let i = 0; i < 5; i++) await c.getCloudProviderAccess(project.projectId);
    // A second client in the same process shares the token.
    const c2 = client(sa);
    await c2.getEncryptionAtRest(project.projectId);
    expect(world.atlas.tokenStats(sa.clientId)).toEqual({ mintsLastMinute: 1, activeTokens: 1 });
    expect(c.tokenSource!.mints).toBe(1);
    await Promise.all([c.close(), c2.close()]);
  });

  it('refreshes before expiry: a new token while the old one is still valid, never a 401', async () => {
    world.atlas.setTokenPolicy({ ttlSeconds: 2 });
    try {
      const sa = readOnly();
      const c = client(sa);
      await c.getEncryptionAtRest(project.projectId);
      expect(world.atlas.tokenStats(sa.clientId).mintsLastMinute).toBe(1);
      // Refresh margin is a quarter of the lifetime: at 1.6 s of 2 s the client mints again.
      await new Promise((r) => setTimeout(r, 1600));
      world.sandbox.control.resetCounts();
      await c.getEncryptionAtRest(project.projectId);
      const stats = world.atlas.tokenStats(sa.clientId);
      expect(stats.mintsLastMinute).toBe(2);
      expect(stats.activeTokens).toBe(2); // the first one had not expired yet
      expect(world.sandbox.control.counts().byOperation['atlas.bearerRejected'] ?? 0).toBe(0);
      await c.close();
    } finally {
      world.atlas.setTokenPolicy({ ttlSeconds: 3600 });
    }
  });

  it('a revoked token is replaced once, transparently', async () => {
    const sa = readOnly();
    let skew = 0;
    const c = new AtlasClient({
      baseUrl: world.sandbox.atlasBaseUrl,
      ca: world.sandbox.ca,
      maxRetries: 0,
      now: () => Date.now() + skew,
      ...sa,
    });
    await c.getEncryptionAtRest(project.projectId);
    skew = 61_000; // older than a minute: a refusal now means the token, not the account
    world.atlas.revokeTokens(sa.clientId);
    await expect(c.getEncryptionAtRest(project.projectId)).resolves.toHaveProperty('azureKeyVault');
    expect(c.tokenSource!.mints).toBe(2);
    await c.close();
  });

  it('a fresh token refused is not re-minted per request (the 401 names the settings)', async () => {
    const sa = readOnly();
    const c = client(sa);
    await c.getEncryptionAtRest(project.projectId);
    world.atlas.revokeTokens(sa.clientId);
    for (let i = 0; i < 3; i++) {
      const e = await expectRejected(c.getEncryptionAtRest(project.projectId));
      expect(e.status).toBe(401);
      expect(e.message).toContain('ATLAS_CLIENT_ID / ATLAS_CLIENT_SECRET');
    }
    expect(c.tokenSource!.mints).toBe(1);
    await c.close();
  });

  it('the mint rate limit answers 429 with Retry-After', async () => {
    world.atlas.setTokenPolicy({ mintsPerMinute: 1 });
    try {
      const sa = readOnly();
      const c = client(sa);
      await c.getEncryptionAtRest(project.projectId);
      // A second source for the same account (another process): its mint is over the limit.
      const other = new ServiceAccountTokenSource({
        tokenUrl: tokenUrlFor(world.sandbox.atlasBaseUrl),
        ...sa,
        ca: world.sandbox.ca,
      });
      const e = await expectRejected(other.get());
      expect(e.status).toBe(429);
      expect(e.transient).toBe(true);
      expect(e.retryAfterMs).toBeGreaterThan(0);
      await c.close();
    } finally {
      world.atlas.setTokenPolicy({ mintsPerMinute: 10 });
    }
  });

  it('a wrong secret is a 401 that names ATLAS_CLIENT_ID / ATLAS_CLIENT_SECRET', async () => {
    const sa = readOnly();
    const c = client({ clientId: sa.clientId, clientSecret: 'mdb_sa_sk_wrong' });
    const e = await expectRejected(c.getEncryptionAtRest(project.projectId));
    expect(e.status).toBe(401);
    expect(e.message).toContain('ATLAS_CLIENT_ID / ATLAS_CLIENT_SECRET');
    expect(e.message).not.toContain('mdb_sa_sk_wrong');
    await c.close();
  });
});

describe('least privilege (x-rolesRequirements)', () => {
  it('Project Read Only reads EAR and cloudProviderAccess; PATCH encryptionAtRest is a 403 naming Project Owner', async () => {
    const c = client(readOnly());
    expect((await c.getEncryptionAtRest(project.projectId)).azureKeyVault?.enabled).toBe(true);
    expect((await c.getCloudProviderAccess(project.projectId)).azureServicePrincipals).toHaveLength(1);
    const e = await expectRejected(
      c.updateEncryptionAtRest(project.projectId, { azureKeyVault: { enabled: true, keyVaultName: 'x' } }),
    );
    expect(e.status).toBe(403);
    expect(e.message).toContain('Project Owner');
    expect(e.message).toContain('updateEncryptionAtRest');
    expect(e.message).toContain('ATLAS_CLIENT_ID / ATLAS_CLIENT_SECRET');
    await c.close();
  });

  it('a credential without a role on the project gets 403 and does not see it in listGroups', async () => {
    const none = world.atlas.createServiceAccount({ name: 'none' });
    const c = client(none);
    expect(await c.listGroups()).toEqual([]);
    const e = await expectRejected(c.getEncryptionAtRest(project.projectId));
    expect(e.status).toBe(403);
    expect(e.message).toContain('Project Read Only');
    await c.close();
  });

  it('the CLI with a Read Only service account: check, preflight and sweep work; migrate fails naming the role', async () => {
    const sa = readOnly();
    const env = { ATLAS_CLIENT_ID: sa.clientId, ATLAS_CLIENT_SECRET: sa.clientSecret };
    const check = await cli(runCheck, ['--project', project.projectId, '--json'], env);
    expect(check.err).toBe('');
    expect(check.code).toBe(0);
    const pre = await cli(runPreflight, ['--project', project.projectId], env);
    expect(pre.err).toBe('');
    expect(pre.code).toBe(0);
    const sweep = await cli(
      runSweepCommand,
      ['--project', project.projectId, '--storage', world.azurite.connectionString, '--json'],
      env,
    );
    // The progress line names the project, whose random ID can hold "401" or "403": match the status as a word.
    expect(sweep.err).not.toMatch(/\b40[13]\b/);
    expect(sweep.code).toBe(0);
    // A project still on static credentials: migrate must register the principal (Project Owner).
    const p = await world.addProject({ model: 'rbac', grants: 'none' });
    const { groupId } = world.atlas.createProject({ name: `static-${p.vaultName}` });
    world.atlas.setEncryptionAtRest(groupId, {
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
    world.atlas.setProjectRole({ credential: sa.clientId, projectId: groupId, role: 'Project Read Only' });
    const migrate = await cli(runMigrate, ['--project', groupId, '--principal', p.principalId], env);
    expect(migrate.code).toBe(4);
    expect(migrate.err).toMatch(/403/);
    expect(migrate.err).toMatch(/Project Owner/);
    expect(migrate.err).not.toMatch(/\n\s+at /);
  });

  it('a wrong service-account secret in the CLI names the settings to fix (exit 4)', async () => {
    const sa = readOnly();
    const r = await cli(runCheck, ['--project', project.projectId], {
      ATLAS_CLIENT_ID: sa.clientId,
      ATLAS_CLIENT_SECRET: 'wrong',
    });
    expect(r.code).toBe(4);
    expect(r.out + r.err).toContain('ATLAS_CLIENT_ID / ATLAS_CLIENT_SECRET');
  });
});
