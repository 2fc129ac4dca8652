// createEngine: everything wired from Settings plus the sandbox's JSON description (what `ear-guard sandbox --out`
// writes and `--sandbox <file>` reads): CA from caCertPath, the sandbox credential acting as `ear-guard`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, EngineConfigError, policyFromSettings } from '../../src/engine.js';
import { loadSettings } from '../../src/settings.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { startAzurite, type RunningAzurite } from '../helpers/azurite.js';

let sb: Sandbox;
let az: RunningAzurite;

beforeAll(async () => {
  [sb, az] = await Promise.all([startSandbox({ timeScale: 0.001, rateLimit: false }), startAzurite()]);
});
afterAll(async () => {
  await az?.close();
  await sb?.close();
});

const env = { ATLAS_PUBLIC_KEY: 'pub', ATLAS_PRIVATE_KEY: 'priv' };

describe('createEngine', () => {
  it('wires ARM from the sandbox description (caCertPath) and acts as the ear-guard principal', async () => {
    sb.control.createVault({ vault: 'kv-engine', resourceGroup: 'rg-engine', rbac: true });
    const engine = await createEngine({
      settings: loadSettings({ ...env, EAR_GUARD_STORAGE: az.connectionString, EAR_GUARD_TABLE_PREFIX: 'engine' }),
      sandbox: sb.describe(),
    });
    sb.control.resetCounts();
    const v = await engine.deps.azure.getVault(String(sb.control.getVault({ vault: 'kv-engine' }).id));
    expect(v.enableRbacAuthorization).toBe(true);
    expect(sb.control.counts().byCaller['ear-guard']).toBe(1);
    // Tables exist and are named from the prefix.
    expect(engine.deps.state.projects.tableName).toBe('engineprojects');
    expect(await engine.deps.state.listProjects()).toEqual([]);
    await engine.close();
  });

  it('maps settings to the policy (mode, scope, allow-list, flapping, dry-run)', () => {
    const p = policyFromSettings(
      loadSettings({
        ...env,
        EAR_GUARD_MODE: 'remediate',
        EAR_GUARD_RESTORE_SCOPE: 'key',
        EAR_GUARD_ALLOWED_REVOKERS: 'a@contoso.com, 0a0a0a0a-1111-2222-3333-444444444444',
        EAR_GUARD_MAX_RESTORES: '5',
        EAR_GUARD_FLAP_WINDOW_MINUTES: '10',
        EAR_GUARD_DRY_RUN: 'true',
      }),
    );
    expect(p).toMatchObject({
      mode: 'remediate',
      restoreScope: 'key',
      allowedRevokers: ['a@contoso.com', '0a0a0a0a-1111-2222-3333-444444444444'],
      maxRestores: 5,
      flapWindowMs: 600_000,
      dryRun: true,
    });
  });

  it('without a storage setting it stops with a message naming the setting', async () => {
    const err = await createEngine({ settings: loadSettings(env), sandbox: sb.describe() }).catch((e) => e);
    expect(err).toBeInstanceOf(EngineConfigError);
    expect(err.message).toMatch(/EAR_GUARD_STORAGE/);
  });
});
