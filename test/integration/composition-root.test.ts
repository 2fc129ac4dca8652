// One composition root (engine.ts) for the Functions app, the local host and the CLI: the Atlas principal pin in
// EAR_GUARD_ATLAS_PRINCIPALS reaches all of them the same way, so `ear-guard check` (with or without --fix) refuses
// a substituted principal exactly where the app's reconcile does. Real SDK clients against the sandbox and Azurite.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../src/commands/check.js';
import { connect } from '../../src/commands/cli/connect.js';
import type { CliIo } from '../../src/commands/cli/io.js';
import { buildAppContext, type AppContext } from '../../src/functions/context.js';
import { loadSettings } from '../../src/settings.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';

let w: World;
let dir: string;
let sandboxFile: string;
let app: AppContext;
let pin: string;
let mallory: string;
const PREFIX = 'pincompose';

beforeAll(async () => {
  w = await startWorld();
  dir = await mkdtemp(join(tmpdir(), 'ear-guard-compose-'));
  sandboxFile = join(dir, 'sandbox.json');
  await writeFile(sandboxFile, JSON.stringify(w.sandbox.describe()));
  mallory = w.sandbox.control.principals().find((p) => p.name === 'mallory')!.objectId;
  pin = `${w.sandbox.tenantId.toUpperCase()}=${w.sandbox.atlasPrincipalId}`;
  app = await buildAppContext({
    settings: loadSettings({
      ATLAS_PUBLIC_KEY: w.sandbox.atlasPublicKey,
      ATLAS_PRIVATE_KEY: w.sandbox.atlasPrivateKey,
      EAR_GUARD_MODE: 'remediate',
      EAR_GUARD_TABLE_PREFIX: PREFIX,
      EAR_GUARD_ATLAS_PRINCIPALS: pin,
    }),
    sandbox: w.sandbox,
    storageConnection: w.azurite.connectionString,
  });
}, 60_000);

afterAll(async () => {
  await app?.engine.close();
  await w?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function io(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    // Only what an operator would set: the pin, in the environment.
    env: { HOME: dir, EAR_GUARD_ATLAS_PRINCIPALS: pin },
    tuning: { armRetry: { maxRetries: 1, retryDelayInMs: 5 }, atlasRetry: { maxRetries: 1, backoffMs: 5 } },
    out: () => out,
    err: () => err,
  };
}

const cliArgs = () => ['--sandbox', sandboxFile, '--storage', w.azurite.connectionString, '--table-prefix', PREFIX];

/** Someone with Atlas project rights registers another principal and points EAR's roleId at it. */
function substitute(p: WorldProject, servicePrincipalId: string): void {
  const { roleId } = w.atlas.registerServicePrincipal(p.projectId, {
    tenantId: w.sandbox.tenantId,
    servicePrincipalId,
  });
  w.atlas.setEncryptionAtRest(p.projectId, {
    enabled: true,
    roleId,
    tenantID: w.sandbox.tenantId,
    subscriptionID: w.sandbox.subscriptionId,
    resourceGroupName: p.resourceGroup,
    keyVaultName: p.vaultName,
    keyIdentifier: p.keyIdentifier,
    azureEnvironment: 'AZURE',
    requirePrivateNetworking: false,
  } as Parameters<typeof w.atlas.setEncryptionAtRest>[1]);
}

function accessPolicyOf(p: WorldProject, objectId: string): unknown {
  const v = w.sandbox.control.getVault({ vault: p.vaultName }) as { properties: { accessPolicies?: unknown[] } };
  return (v.properties.accessPolicies ?? []).find(
    (e) => (e as { objectId: string }).objectId.toLowerCase() === objectId.toLowerCase(),
  );
}

describe('one composition root: the same Atlas principal pin for the app and the CLI', () => {
  it('the CLI connection, its engine and the app context carry the pin from EAR_GUARD_ATLAS_PRINCIPALS', async () => {
    const expected = { [w.sandbox.tenantId.toLowerCase()]: w.sandbox.atlasPrincipalId };
    expect(app.engine.deps.policy.atlasPrincipals).toEqual(expected);
    const i = io();
    const conn = await connect(
      { sandbox: sandboxFile, storage: w.azurite.connectionString, 'table-prefix': PREFIX },
      i,
      {
        cloud: true,
        state: 'required',
        engine: true,
      },
    );
    try {
      expect(conn.policy.atlasPrincipals).toEqual(expected);
      expect(conn.engine!.deps.policy.atlasPrincipals).toEqual(expected);
      // The CLI's adapters are the engine's own, not a second set.
      expect(conn.atlas).toBe(conn.engine!.deps.atlas);
      expect(conn.azure).toBe(conn.engine!.deps.azure);
    } finally {
      await conn.close();
    }
  });

  it('a substituted principal: the app refuses it, and so do check and check --fix', async () => {
    const p = await w.addProject({ model: 'accessPolicy', grants: 'none' });
    substitute(p, mallory);

    const outcome = await app.engine.reconcile(p.projectId, { kind: 'timer' });
    expect(outcome).toMatchObject({ kind: 'failed', code: 'PrincipalMismatch' });
    expect('reason' in outcome && outcome.reason).toMatch(/EAR_GUARD_ATLAS_PRINCIPALS pins/);

    for (const fix of [[], ['--fix']]) {
      const i = io();
      const code = await runCheck(['--project', p.projectId, '--json', ...fix, ...cliArgs()], i);
      expect(i.err()).toBe('');
      expect(code).toBe(1);
      const [c] = JSON.parse(i.out()).projects;
      expect(c.result).toBe('invalid');
      expect(c.reason).toMatch(/EAR_GUARD_ATLAS_PRINCIPALS pins/);
      if (fix.length) expect(c.reconcile).toMatchObject({ outcome: 'failed', actions: [] });
    }
    // Nobody granted the substitute anything.
    expect(accessPolicyOf(p, mallory)).toBeUndefined();
  });
});
