// Connecting a command to Atlas, ARM and the state table (or to the sandbox named by --sandbox / EAR_GUARD_SANDBOX).
// Every adapter comes from the composition root (engine.ts), so a command gets the same principal pin, retry policy
// and credential as the Functions app.
import type { TokenCredential } from '@azure/core-auth';
import type { AtlasClient } from '../../atlas/client.js';
import type { AtlasPort } from '../../atlas/target.js';
import type { AzurePort } from '../../azure/arm.js';
import {
  buildCloudAdapters,
  createEngine,
  EngineConfigError,
  openStateStore,
  policyFromSettings,
  stateConnection,
  type AdapterOptions,
  type CloudAdapters,
  type Engine,
} from '../../engine.js';
import type { ReconcilePolicy } from '../../loop/index.js';
import {
  connectEndpoints as connectSandbox,
  endpointsStateSettings as sandboxStateSettings,
  type EndpointsConnection as SandboxConnection,
} from '../../endpoints.js';
import type { Settings } from '../../settings.js';
import type { StateStore } from '../../state/store.js';
import { settingsFrom, resolveRawSettings } from './config.js';
import { stateError, usageError } from './errors.js';
import type { CliIo } from './io.js';
import { str, type Values } from './options.js';

export interface Connected {
  settings: Settings;
  sandbox?: SandboxConnection;
  /** The raw Atlas client (migrate's POST/PATCH). */
  atlasClient?: AtlasClient;
  atlas?: AtlasPort;
  azure?: AzurePort;
  /** The project state, when a connection is configured (always, when `state: 'required'`). */
  state?: StateStore;
  /** The reconcile engine (only when asked for). */
  engine?: Engine;
  /** The app's policy for these settings, including the Atlas principal pin (`atlasPrincipals`). */
  policy: ReconcilePolicy;
  close(): Promise<void>;
}

export interface ConnectNeeds {
  /** Atlas + ARM. */
  cloud: boolean;
  state: 'required' | 'optional' | 'none';
  /** Build the reconcile engine (requires state and cloud). */
  engine?: boolean;
  policy?: Partial<ReconcilePolicy>;
  /** What the state is needed for, for the error message. */
  stateFor?: string;
}

const STORAGE_MISSING = (why: string) =>
  `${why} needs the state table: set EAR_GUARD_STORAGE (a Table Storage connection string or account URL; --storage or the config file)`;

type Closer = () => Promise<void>;

/** Closes in reverse order of opening; a failing close does not stop the others. */
function closeAll(closers: Closer[]): Closer {
  return async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
}

/** The sandbox named by --sandbox or EAR_GUARD_SANDBOX; its Atlas key pair and URL replace the settings'. */
async function openSandbox(
  values: Values,
  io: CliIo,
  raw: Record<string, string | undefined>,
  closers: Closer[],
): Promise<SandboxConnection | undefined> {
  const file = str(values, 'sandbox') ?? ((io.env ?? process.env).EAR_GUARD_SANDBOX || undefined);
  if (!file) return undefined;
  const sandbox = await connectSandbox(file);
  closers.push(() => sandbox.close());
  // The sandbox accepts only its own credentials: its key pair, or a service account it issued (ATLAS_CLIENT_ID).
  raw.ATLAS_PUBLIC_KEY = sandbox.atlasPublicKey;
  raw.ATLAS_PRIVATE_KEY = sandbox.atlasPrivateKey;
  raw.ATLAS_BASE_URL = sandbox.atlasBaseUrl;
  return sandbox;
}

function cliPolicy(settings: Settings, extra?: Partial<ReconcilePolicy>): ReconcilePolicy {
  try {
    return policyFromSettings(settings, extra);
  } catch (e) {
    throw usageError((e as Error).message);
  }
}

function cloudParts(cloud: CloudAdapters): Pick<Connected, 'atlasClient' | 'atlas' | 'azure'> {
  return { atlasClient: cloud.atlasClient, atlas: cloud.atlas, azure: cloud.azure };
}

async function withEngine(opts: AdapterOptions, connection: string, closers: Closer[]): Promise<Partial<Connected>> {
  const engine = await createEngine({ ...opts, storageConnection: connection }).catch((e) => {
    if (e instanceof EngineConfigError) throw usageError(e.message);
    throw stateError(e);
  });
  closers.push(() => engine.close());
  return { engine, state: engine.deps.state, ...cloudParts(engine.cloud) };
}

function withCloud(opts: AdapterOptions, closers: Closer[]): Partial<Connected> {
  let cloud: CloudAdapters;
  try {
    cloud = buildCloudAdapters(opts);
  } catch (e) {
    throw e instanceof EngineConfigError ? usageError(e.message) : e;
  }
  closers.push(() => cloud.close());
  return cloudParts(cloud);
}

async function withState(settings: Settings, connection: string, credential?: TokenCredential): Promise<StateStore> {
  return openStateStore(settings, connection, credential).catch((e) => {
    throw stateError(e);
  });
}

/** The settings, with placeholders for the Atlas key pair when the command never calls Atlas. */
function settingsFor(raw: Record<string, string | undefined>, needs: ConnectNeeds): Settings {
  if (!needs.cloud) {
    // Commands that only read state need no Atlas key; the placeholders are never sent anywhere.
    raw.ATLAS_PUBLIC_KEY ??= 'unused';
    raw.ATLAS_PRIVATE_KEY ??= 'unused';
  }
  return settingsFrom(raw);
}

function requireStorage(needs: ConnectNeeds, connection: string | undefined): void {
  if ((needs.state === 'required' || needs.engine) && !connection) {
    throw usageError(STORAGE_MISSING(needs.stateFor ?? 'this command'));
  }
}

/** What the composition root gets: the settings, the sandbox's endpoints if any, and test tuning. */
function adapterOptions(
  settings: Settings,
  sandbox: SandboxConnection | undefined,
  io: CliIo,
  needs: ConnectNeeds,
): AdapterOptions {
  return {
    settings,
    ...(sandbox ? { sandbox } : {}),
    credential: io.tuning?.credential ?? sandbox?.credential,
    policy: needs.policy,
    armRetry: io.tuning?.armRetry,
    atlasRetry: io.tuning?.atlasRetry,
  };
}

/** Settings from flags, environment and config file, and the adapters a command needs. */
export async function connect(values: Values, io: CliIo, needs: ConnectNeeds): Promise<Connected> {
  const raw = resolveRawSettings(values, io);
  const closers: Closer[] = [];
  const close = closeAll(closers);
  try {
    const sandbox = needs.cloud ? await openSandbox(values, io, raw, closers) : undefined;
    // The stack the sandbox file belongs to names its state table, unless one is configured.
    const sandboxFile = str(values, 'sandbox') ?? ((io.env ?? process.env).EAR_GUARD_SANDBOX || undefined);
    if (sandboxFile) Object.assign(raw, await sandboxStateSettings(sandboxFile, raw));
    const settings = settingsFor(raw, needs);
    const connection = stateConnection(settings);
    requireStorage(needs, connection);
    const opts = adapterOptions(settings, sandbox, io, needs);
    const out: Connected = {
      settings,
      policy: cliPolicy(settings, needs.policy),
      close,
      ...(sandbox ? { sandbox } : {}),
    };
    if (needs.engine) return Object.assign(out, await withEngine(opts, connection!, closers));
    if (needs.state !== 'none' && connection) out.state = await withState(settings, connection, opts.credential);
    if (needs.cloud) Object.assign(out, withCloud(opts, closers));
    return out;
  } catch (e) {
    await close();
    throw e;
  }
}
