// The whole product as `npm start` runs it (src/local/stack.ts), for end-to-end tests: the sandbox (demo seed),
// Azurite (tables + queue) in-process, the local host serving the Functions handlers, and the webhook subscribed
// to the sandbox's events through the Event Grid ARM route. No mocks: real SDK clients, real HTTP, real events.
import azureFunctions from '@azure/functions';
import type { Sandbox, SandboxOptions } from '../../src/sandbox/index.js';
import type { LocalApp } from '../../src/local/app.js';
import { startLocalStack, sweepNow } from '../../src/local/stack.js';

export interface AppWorld {
  sandbox: Sandbox;
  /** Table + Queue connection string (in-process Azurite). */
  storage: { connectionString: string };
  local: LocalApp;
  functionKey: string;
  logs: string[];
  /** Demo projects: [rbac, accessPolicy]. */
  projects: { projectId: string; vaultId: string; vaultName: string; model: 'rbac' | 'accessPolicy' }[];
  api(path: string, init?: RequestInit): Promise<Response>;
  sweep(): ReturnType<typeof sweepNow>;
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
  const logs: string[] = [];
  const functionKey = 'e2e-function-key-0123456789';
  const stack = await startLocalStack({
    env: { LOCAL_FUNCTION_KEY: functionKey },
    overrides: { EAR_GUARD_MODE: 'remediate', ...opts.env },
    forceSandbox: true,
    // Delays are scaled down 1000x; the webhook response timeout is kept at Event Grid's real 30 s so a slow
    // reconcile on a busy machine is not mistaken for a failed delivery.
    sandboxOptions: {
      timeScale: 0.001,
      rateLimit: false,
      eventGrid: { responseTimeoutMs: 30_000 * 1000 },
      ...opts.sandbox,
    },
    queuePollMs: 60_000,
    // Far away: tests run the timer themselves.
    sweepSchedule: '0 0 0 1 1 *',
    engine: {
      armRetry: { maxRetries: 4, retryDelayInMs: 5, maxRetryDelayInMs: 50 },
      atlasRetry: { maxRetries: 2, backoffMs: 5, maxRetryAfterMs: 200 },
      policy: { targetCacheMs: 0 },
    },
    subscribe: opts.subscribe,
    log: (l) => logs.push(l),
  });
  const sandbox = stack.sandbox!;
  const sweep = () => sweepNow(stack, (l) => logs.push(l));
  await sweep();
  return {
    sandbox,
    storage: { connectionString: stack.storageConnection },
    local: stack.local,
    functionKey,
    logs,
    projects: stack.vaults.map((v) => ({
      projectId: v.projectId!,
      vaultId: v.vaultId,
      vaultName: v.vaultName,
      model: v.model,
    })),
    api: (path, init) =>
      fetch(`${stack.local.host.url}/api/${path}`, {
        ...init,
        headers: { 'x-functions-key': functionKey, ...(init?.headers as Record<string, string>) },
      }),
    sweep,
    close: () => stack.close(),
  };
}
