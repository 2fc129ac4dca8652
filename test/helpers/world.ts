// One world for integration tests: the sandbox (Azure + Atlas over HTTPS), Azurite (tables, in-process), and the
// engine built from Settings exactly as the Functions app and the CLI build it. Tests add projects with
// `addProject()` so each scenario owns its vault, key and Atlas project.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { createEngine, type Engine, type EngineOptions } from '../../src/engine.js';
import { loadSettings } from '../../src/settings.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/index.js';
import type { AtlasControl } from '../../src/sandbox/atlas.js';
import { remediatorCondition } from '../../src/sandbox/seed.js';
import { startAzurite, type RunningAzurite } from './azurite.js';

export interface WorldProject {
  projectId: string;
  model: 'rbac' | 'accessPolicy';
  vaultName: string;
  resourceGroup: string;
  vaultId: string;
  keyName: string;
  keyIdentifier: string;
  principalId: string;
}

export interface World {
  sandbox: Sandbox;
  /** The Atlas half's control API (projects, EAR, faults). */
  atlas: AtlasControl;
  azurite: RunningAzurite;
  engine: Engine;
  /** Alerts received by a local webhook (the generic webhook sink), newest last. */
  webhookAlerts: Record<string, unknown>[];
  remediatorId: string;
  /** A project with its own vault, or (`inVault`) with its own key in another project's vault. */
  addProject(p: {
    model: 'rbac' | 'accessPolicy';
    name?: string;
    grants?: 'full' | 'none';
    inVault?: WorldProject;
  }): Promise<WorldProject>;
  /** A second engine on the same sandbox and tables (another Functions instance). */
  newEngine(extra?: Partial<EngineOptions>): Promise<Engine>;
  close(): Promise<void>;
}

export interface WorldOptions {
  env?: Record<string, string>;
  sandbox?: SandboxOptions;
  engine?: Partial<EngineOptions>;
}

let counter = 0;
// Tables live in the run's shared Azurite (helpers/azurite.ts): a prefix no other file's world uses.
const fileTag = Math.random().toString(36).slice(2, 8);

interface AtlasControlLike {
  seedProject?: (p: Record<string, string>) => Promise<{ projectId: string }> | { projectId: string };
  createProject?: (p: { name: string }) => { groupId: string };
  registerServicePrincipal?: (g: string, sp: { servicePrincipalId: string; tenantId: string }) => { roleId: string };
  setEncryptionAtRest?: (g: string, akv: Record<string, unknown> | null) => void;
}

/** An Atlas project whose EAR points at the key through the secretless roleId (the Atlas half's control API). */
export async function seedAtlasProject(
  sandbox: Sandbox,
  atlasControl: unknown,
  p: { name: string; resourceGroupName: string; keyVaultName: string; keyIdentifier: string; principalId: string },
): Promise<string> {
  const atlas = atlasControl as AtlasControlLike | undefined;
  if (!atlas) throw new Error('no Atlas half');
  if (atlas.createProject && atlas.registerServicePrincipal && atlas.setEncryptionAtRest) {
    const { groupId } = atlas.createProject({ name: p.name });
    const { roleId } = atlas.registerServicePrincipal(groupId, {
      servicePrincipalId: p.principalId,
      tenantId: sandbox.tenantId,
    });
    atlas.setEncryptionAtRest(groupId, {
      enabled: true,
      roleId,
      tenantID: sandbox.tenantId,
      subscriptionID: sandbox.subscriptionId,
      resourceGroupName: p.resourceGroupName,
      keyVaultName: p.keyVaultName,
      keyIdentifier: p.keyIdentifier,
      azureEnvironment: 'AZURE',
      requirePrivateNetworking: false,
    });
    return groupId;
  }
  if (atlas.seedProject) {
    const r = await atlas.seedProject.call(atlas, {
      ...p,
      tenantId: sandbox.tenantId,
      subscriptionId: sandbox.subscriptionId,
    });
    return r.projectId;
  }
  throw new Error(
    'the Atlas half offers neither createProject/registerServicePrincipal/setEncryptionAtRest nor seedProject',
  );
}

export async function startWorld(opts: WorldOptions = {}): Promise<World> {
  const sandbox = await startSandbox({ timeScale: 0.001, rateLimit: false, ...opts.sandbox });
  const azurite = await startAzurite();
  const webhookAlerts: Record<string, unknown>[] = [];
  const hook: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      try {
        webhookAlerts.push(JSON.parse(body));
      } catch {
        // ignore malformed
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`;

  const atlasControl = sandbox.control.atlas as unknown as AtlasControl | undefined;
  if (!atlasControl) throw new Error('startSandbox came up without its Atlas half (control.atlas)');
  const atlasPublicKey = sandbox.atlasPublicKey;
  const atlasPrivateKey = sandbox.atlasPrivateKey;

  const c = sandbox.control;
  const remediator = c.principals().find((p) => p.name === 'ear-guard')!;
  c.assignRole({
    scope: `/subscriptions/${sandbox.subscriptionId}`,
    role: 'Reader',
    principalId: remediator.objectId,
    principalType: 'ServicePrincipal',
  });
  const writer = c.createCustomRole({
    roleName: 'EAR Guard Access Policy Writer (tests)',
    actions: ['Microsoft.KeyVault/vaults/read', 'Microsoft.KeyVault/vaults/accessPolicies/write'],
  });

  const settings = loadSettings({
    ATLAS_PUBLIC_KEY: atlasPublicKey,
    ATLAS_PRIVATE_KEY: atlasPrivateKey,
    EAR_GUARD_MODE: 'remediate',
    EAR_GUARD_TABLE_PREFIX: `w${fileTag}${++counter}`,
    ALERT_WEBHOOK_URL: hookUrl,
    ...opts.env,
  });
  const engineOptions = (extra: Partial<EngineOptions> = {}): EngineOptions => ({
    settings,
    sandbox,
    storageConnection: azurite.connectionString,
    armRetry: { maxRetries: 4, retryDelayInMs: 5, maxRetryDelayInMs: 50 },
    atlasRetry: { maxRetries: 2, backoffMs: 5, maxRetryAfterMs: 200 },
    // No background re-checks unless a test asks for them (atlas-confirm tests): counts stay the test's own.
    recheck: false,
    ...opts.engine,
    ...extra,
    policy: { targetCacheMs: 0, ...opts.engine?.policy, ...extra.policy },
  });
  const engine = await createEngine(engineOptions());

  const addToVault = async (into: WorldProject, n: string): Promise<WorldProject> => {
    const key = c.createKey({ vault: into.vaultName, key: `atlas-ear-${n}` });
    const projectId = await seedAtlasProject(sandbox, atlasControl, {
      name: n,
      resourceGroupName: into.resourceGroup,
      keyVaultName: into.vaultName,
      keyIdentifier: key.keyIdentifier,
      principalId: sandbox.atlasPrincipalId,
    });
    return { ...into, projectId, keyName: `atlas-ear-${n}`, keyIdentifier: key.keyIdentifier };
  };

  const addProject: World['addProject'] = async ({ model, name, grants = 'full', inVault }) => {
    const n = name ?? `p${Math.random().toString(36).slice(2, 8)}`;
    if (inVault) return addToVault(inVault, n);
    const rg = `rg-${n}`;
    const vault = `kv-${n}`.slice(0, 24);
    const atlas = sandbox.atlasPrincipalId;
    c.createVault({ vault, resourceGroup: rg, rbac: model === 'rbac' });
    const key = c.createKey({ vault, key: 'atlas-ear' });
    if (model === 'rbac') {
      if (grants === 'full') {
        c.assignRole({
          scope: vault,
          role: 'Key Vault Crypto User',
          principalId: atlas,
          principalType: 'ServicePrincipal',
        });
        c.assignRole({ scope: vault, role: 'Reader', principalId: atlas, principalType: 'ServicePrincipal' });
      }
    } else if (grants === 'full') {
      c.setAccessPolicy({ vault, objectId: atlas, keys: ['get', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] });
    }
    // The remediator's least privilege on every vault: ABAC-constrained RBAC admin + the access-policy writer.
    c.assignRole({
      scope: vault,
      role: ROLE_IDS.roleBasedAccessControlAdministrator,
      principalId: remediator.objectId,
      principalType: 'ServicePrincipal',
      condition: remediatorCondition(atlas),
      conditionVersion: '2.0',
    });
    c.assignRole({
      scope: vault,
      role: String(writer.id),
      principalId: remediator.objectId,
      principalType: 'ServicePrincipal',
    });
    const projectId = await seedAtlasProject(sandbox, atlasControl, {
      name: n,
      resourceGroupName: rg,
      keyVaultName: vault,
      keyIdentifier: key.keyIdentifier,
      principalId: atlas,
    });
    return {
      projectId,
      model,
      vaultName: vault,
      resourceGroup: rg,
      vaultId: String(c.getVault({ vault }).id),
      keyName: 'atlas-ear',
      keyIdentifier: key.keyIdentifier,
      principalId: atlas,
    };
  };

  const engines: Engine[] = [engine];
  return {
    sandbox,
    atlas: atlasControl,
    azurite,
    engine,
    webhookAlerts,
    remediatorId: remediator.objectId,
    addProject,
    newEngine: async (extra) => {
      const e = await createEngine(engineOptions(extra));
      engines.push(e);
      return e;
    },
    close: async () => {
      for (const e of engines) await e.close();
      await new Promise<void>((r) => hook.close(() => r()));
      await azurite.close();
      await sandbox.close();
    },
  };
}
