// The local stack behind `npm start`, `npm run demo` and the end-to-end tests: a sandbox (in-process with the
// demo seed, or a running one from its JSON file) or real Azure, state in EAR_GUARD_STORAGE or an in-process
// Azurite, the local host serving the Functions handlers, and the webhook subscribed to the sandbox's events
// through the Event Grid ARM route.
import { randomBytes } from 'node:crypto';
import { loadSettings, type Settings } from '../settings.js';
import type { EngineOptions, SandboxConnection } from '../engine.js';
import type { Sandbox, SandboxOptions, DemoSeed } from '../sandbox/index.js';
import type { DemoVault } from '../sandbox/seed.js';
import type { SandboxFileContents, SandboxState } from '../sandbox/connect.js';
import { runningTelemetry, startTelemetrySafely } from '../observability/telemetry.js';
import { startLocalApp, type LocalApp } from './app.js';

export interface LocalStackOptions {
  env: Record<string, string | undefined>;
  /** Connect to a running sandbox (its `--out` JSON file) instead of starting one. */
  sandboxFile?: string;
  /** Start an in-process sandbox even when ATLAS_PUBLIC_KEY is set (demo, tests). */
  forceSandbox?: boolean;
  sandboxOptions?: SandboxOptions;
  port?: number;
  sweepSchedule?: string;
  queuePollMs?: number;
  engine?: Partial<EngineOptions>;
  /** Settings that win over the environment (demo/test policy). */
  overrides?: Record<string, string>;
  subscribe?: boolean;
  log?: (line: string) => void;
}

export interface LocalStack {
  settings: Settings;
  local: LocalApp;
  /** The in-process sandbox, when this stack started one. */
  sandbox?: Sandbox;
  /** How the engine reaches the sandbox (in-process or from a file). */
  connection?: SandboxConnection & { subscriptionId: string };
  vaults: DemoVault[];
  demo?: DemoSeed;
  functionKey: string;
  generatedKey: boolean;
  storageConnection: string;
  /** The state this stack started in-process (Azurite), for the sandbox file other commands read. */
  localState?: SandboxState;
  close(): Promise<void>;
}

type Closers = (() => Promise<unknown>)[];

export async function startLocalStack(o: LocalStackOptions): Promise<LocalStack> {
  const closers: Closers = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const env = o.env;
    await startStackTelemetry(o, closers);
    const { connection, sandbox, vaults, demo, fileState } = await sandboxFor(o, closers);
    const settings = stackSettings(o, connection, fileState);

    // Against real Azure the embedded state persists (issue 18 item 4); the sandbox's lives and dies with it.
    const persistDir = connection ? undefined : (await import('./azurite.js')).azuriteDataDir(env);
    const { storageConnection, queue, localState } = await stateFor(settings, closers, persistDir);

    const generatedKey = !env.LOCAL_FUNCTION_KEY;
    const functionKey = env.LOCAL_FUNCTION_KEY || randomBytes(24).toString('base64url');
    const local = await startLocalApp({
      settings,
      sandbox: connection,
      storageConnection,
      port: o.port,
      functionKey,
      queue,
      queuePollMs: o.queuePollMs,
      sweepSchedule: o.sweepSchedule,
      engine: o.engine,
      log: o.log,
    });
    closers.push(() => local.close());

    if (connection && o.subscribe !== false) await subscribeToSandbox(connection, local, vaults);
    return {
      settings,
      local,
      sandbox,
      connection,
      vaults,
      demo,
      functionKey,
      generatedKey,
      storageConnection,
      ...(localState ? { localState } : {}),
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Telemetry before any SDK client: nothing unless EAR_GUARD_OTEL_EXPORTER (console|otlp) or
 *  APPLICATIONINSIGHTS_CONNECTION_STRING asks for it. One already running (a test's) is kept and left running. */
async function startStackTelemetry(o: LocalStackOptions, closers: Closers): Promise<void> {
  if (runningTelemetry()) return;
  const telemetry = await startTelemetrySafely({ env: o.env }, (m) => o.log?.(m));
  closers.push(() => telemetry.shutdown());
}

interface StackSandbox {
  connection?: LocalStack['connection'];
  sandbox?: Sandbox;
  vaults: DemoVault[];
  demo?: DemoSeed;
  /** State settings of a sandbox file (its Azurite), which win over the environment. */
  fileState: Record<string, string>;
}

/** A running sandbox from its file, an in-process one (no Atlas credential, or forced), or none (real Azure). */
async function sandboxFor(o: LocalStackOptions, closers: Closers): Promise<StackSandbox> {
  const env = o.env;
  if (o.sandboxFile) {
    const { connectSandbox, sandboxStateSettings } = await import('../sandbox/connect.js');
    // A sandbox started by `ear-guard sandbox` brings its Azurite: the app and the CLI share that state.
    const fileState = await sandboxStateSettings(o.sandboxFile, { ...env, ...o.overrides });
    const conn = await connectSandbox(o.sandboxFile);
    closers.push(() => conn.close());
    const demo = conn.description.demo;
    return { connection: conn, demo, vaults: demo?.vaults ?? [], fileState };
  }
  if (o.forceSandbox || (!env.ATLAS_PUBLIC_KEY && !env.ATLAS_CLIENT_ID)) {
    const { startSandbox } = await import('../sandbox/index.js');
    const sandbox = await startSandbox({ seed: 'demo', ...o.sandboxOptions });
    closers.push(() => sandbox.close());
    const demo = sandbox.demo;
    return { connection: sandbox, sandbox, demo, vaults: demo?.vaults ?? [], fileState: {} };
  }
  return { vaults: [], fileState: {} };
}

/** The app's settings: against a sandbox, its Atlas credentials and endpoints win over everything. */
function stackSettings(
  o: LocalStackOptions,
  connection: LocalStack['connection'],
  fileState: Record<string, string>,
): Settings {
  if (!connection) return loadSettings({ ...o.env, ...o.overrides });
  return loadSettings({
    EAR_GUARD_MODE: 'remediate',
    ...o.env,
    ...o.overrides,
    ...fileState,
    ATLAS_PUBLIC_KEY: connection.atlasPublicKey,
    ATLAS_PRIVATE_KEY: connection.atlasPrivateKey,
    // The sandbox's read-only service account: the app proves it needs no more than Project Read Only.
    ATLAS_CLIENT_ID: connection.atlasClientId ?? '',
    ATLAS_CLIENT_SECRET: connection.atlasClientSecret ?? '',
    ATLAS_BASE_URL: connection.atlasBaseUrl,
  });
}

/** Subscribes the local webhook to the sandbox vaults' events through the Event Grid ARM route. */
async function subscribeToSandbox(
  connection: NonNullable<LocalStack['connection']>,
  local: LocalApp,
  vaults: DemoVault[],
): Promise<void> {
  const { subscribeWebhook } = await import('./subscribe.js');
  await subscribeWebhook({
    credential: connection.credential!,
    subscriptionId: connection.subscriptionId,
    clientOptions: { endpoint: connection.armEndpoint, tlsOptions: { ca: connection.ca! } },
    webhookUrl: local.webhookUrl,
    vaultIds: vaults.map((v) => v.vaultId),
  });
}

interface StackState {
  storageConnection: string;
  /** Whether the connection has a queue (sweep fan-out); else the sweep reconciles inline. */
  queue: boolean;
  localState?: SandboxState;
}

/** The configured state store, else an in-process Azurite (tables + queue, in `persistDir` when given). */
async function stateFor(settings: Settings, closers: Closers, persistDir?: string): Promise<StackState> {
  const configured = settings.EAR_GUARD_STORAGE ?? settings.AzureWebJobsStorage;
  if (configured) {
    return { storageConnection: configured, queue: /QueueEndpoint=|UseDevelopmentStorage=true/i.test(configured) };
  }
  const { startLocalStorage } = await import('./azurite.js');
  const storage = await startLocalStorage({ queue: true, location: persistDir });
  closers.push(() => storage.close());
  return {
    storageConnection: storage.connectionString,
    queue: true,
    localState: { stateConnection: storage.connectionString, tablePrefix: settings.EAR_GUARD_TABLE_PREFIX },
  };
}

/** The sandbox file `ear-guard start` writes for an in-process sandbox: the emulator's description plus the
 *  state this stack started, so `ear-guard status --sandbox <file>` reads what the app writes. */
export function stackSandboxFile(stack: LocalStack): SandboxFileContents | undefined {
  if (!stack.sandbox) return undefined;
  return { ...stack.sandbox.describe(), ...stack.localState };
}

/** Runs the sweep now (as the timer would), e.g. at start so the indexes that route events are filled. */
export async function sweepNow(stack: LocalStack, log: (line: string) => void = () => {}) {
  const { handleSweep } = await import('../functions/sweepProjects.js');
  const azureFunctions = (await import('@azure/functions')).default;
  return handleSweep(
    stack.local.app,
    new azureFunctions.InvocationContext({
      functionName: 'sweepProjects',
      logHandler: (level, ...a) => log(`[sweepProjects] ${level} ${a.join(' ')}`),
    }),
  );
}
