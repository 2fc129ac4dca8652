// The whole product as `npm start` runs it, for end-to-end tests: the sandbox (demo seed), Azurite (tables +
// queue) in-process, the local host serving the Functions handlers, and the webhook subscribed to the
// sandbox's events through the Event Grid ARM route. No mocks: real SDK clients, real HTTP, real events.
import azureFunctions from '@azure/functions';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/index.js';
import { startLocalStorage, type LocalStorage } from '../../src/local/azurite.js';
import { startLocalApp, type LocalApp } from '../../src/local/app.js';
import { subscribeWebhook } from '../../src/local/subscribe.js';
import { loadSettings } from '../../src/settings.js';
import { handleSweep } from '../../src/functions/sweepProjects.js';

export interface AppWorld {
  sandbox: Sandbox;
  storage: LocalStorage;
  local: LocalApp;
  functionKey: string;
  logs: string[];
  /** Demo projects: [rbac, accessPolicy]. */
  projects: { projectId: string; vaultId: string; vaultName: string; model: 'rbac' | 'accessPolicy' }[];
  api(path: string, init?: RequestInit): Promise<Response>;
  sweep(): ReturnType<typeof handleSweep>;
  close(): Promise<void>;
}

export function invocation(name: string, logs: string[]) {
  return new azureFunctions.InvocationContext({
    functionName: name,
    logHandler: (level, ...a) => logs.push(`[${name}] ${level} ${a.join(' ')}`),
  });
}

export async function startAppWorld(
  opts: { env?: Record<string, string>; sandbox?: SandboxOptions; subscribe?: boolean } = {},
): Promise<AppWorld> {
  // Delays are scaled down 1000x; the webhook response timeout is kept at Event Grid's real 30 s so a slow
  // reconcile on a busy machine is not mistaken for a failed delivery.
  const sandbox = await startSandbox({
    seed: 'demo',
    timeScale: 0.001,
    rateLimit: false,
    eventGrid: { responseTimeoutMs: 30_000 * 1000 },
    ...opts.sandbox,
  });
  const storage = await startLocalStorage({ queue: true });
  const functionKey = 'e2e-function-key-0123456789';
  const logs: string[] = [];
  const settings = loadSettings({
    ATLAS_PUBLIC_KEY: sandbox.atlasPublicKey,
    ATLAS_PRIVATE_KEY: sandbox.atlasPrivateKey,
    ATLAS_BASE_URL: sandbox.atlasBaseUrl,
    EAR_GUARD_MODE: 'remediate',
    ...opts.env,
  });
  const local = await startLocalApp({
    settings,
    sandbox,
    storageConnection: storage.connectionString,
    functionKey,
    queue: true,
    queuePollMs: 60_000,
    // Far away: tests run the timer themselves.
    sweepSchedule: '0 0 0 1 1 *',
    engine: {
      armRetry: { maxRetries: 4, retryDelayInMs: 5, maxRetryDelayInMs: 50 },
      atlasRetry: { maxRetries: 2, backoffMs: 5, maxRetryAfterMs: 200 },
      policy: { targetCacheMs: 0 },
    },
    log: (l) => logs.push(l),
  });
  const vaults = sandbox.demo?.vaults ?? [];
  if (opts.subscribe !== false) {
    await subscribeWebhook({
      credential: sandbox.credential,
      subscriptionId: sandbox.subscriptionId,
      clientOptions: sandbox.clientOptions(),
      webhookUrl: local.webhookUrl,
      vaultIds: vaults.map((v) => v.vaultId),
    });
  }
  const sweep = () => handleSweep(local.app, invocation('sweepProjects', logs));
  await sweep();
  return {
    sandbox,
    storage,
    local,
    functionKey,
    logs,
    projects: vaults.map((v) => ({
      projectId: v.projectId!,
      vaultId: v.vaultId,
      vaultName: v.vaultName,
      model: v.model,
    })),
    api: (path, init) =>
      fetch(`${local.host.url}/api/${path}`, {
        ...init,
        headers: { 'x-functions-key': functionKey, ...(init?.headers as Record<string, string>) },
      }),
    sweep,
    close: async () => {
      await local.close();
      await sandbox.close();
      await storage.close();
    },
  };
}
