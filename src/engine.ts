// The composition root: every adapter the product uses is built here, from validated Settings (plus, optionally,
// the endpoints, CA and credential of a sandbox), so the Functions app, the local host and the CLI cannot differ in
// an Atlas principal pin, a retry policy or a credential:
//
//   const engine = await createEngine({ settings: loadSettings() });          // Functions app, local host
//   const cloud = buildCloudAdapters({ settings });                           // CLI commands that only read
//   const outcome = await engine.reconcile(projectId, { kind: 'timer' });
import { readFileSync } from 'node:fs';
import type { TokenCredential } from '@azure/core-auth';
import { AlertPublisher, EventGridSink, WebhookSink, type AlertSink } from './alerts/index.js';
import { ArmAdapter, type AzurePort } from './azure/arm.js';
import { AzureClientFactory, defaultCredential, type RetryOptions } from './azure/clients.js';
import { AtlasClient } from './atlas/client.js';
import { AtlasAdapter, parseAtlasPrincipals, parseStaticPrincipals, type AtlasPort } from './atlas/target.js';
import {
  DEFAULT_POLICY,
  TargetCache,
  reconcileProject,
  type Logger,
  type Outcome,
  type ReconcileDeps,
  type ReconcilePolicy,
  type Trigger,
} from './loop/index.js';
import type { CloudEndpoints } from './endpoints.js';
import { atlasCredential, type Settings } from './settings.js';
import { DEFAULT_ATLAS_CONFIRM } from './loop/atlasConfirm.js';
import { StateStore } from './state/store.js';
import { DenyAssignmentCache } from './loop/denyCache.js';

/** Where the clouds are when not public (an emulator is one such set); the old name stays for callers. */
export type SandboxConnection = CloudEndpoints;

/** Atlas client retries (default 3) and base backoff (default 500 ms). */
export interface AtlasRetryOptions {
  maxRetries?: number;
  backoffMs?: number;
  maxRetryAfterMs?: number;
}

/**
 * The one ARM retry policy: the SDK's own numbers (3 retries, exponential from 1 s, Retry-After honoured), stated
 * here so that no entry point picks another.
 */
export const DEFAULT_ARM_RETRY: RetryOptions = { maxRetries: 3 };

/** What every entry point hands the builder: settings, and where to connect when it is not Azure itself. */
export interface AdapterOptions {
  settings: Settings;
  sandbox?: SandboxConnection;
  /** Overrides the Azure credential (default: managed identity in Azure, DefaultAzureCredential elsewhere). */
  credential?: TokenCredential;
  /** Policy fields beyond what Settings carries (target cache, lease, near-expiry), or test overrides. */
  policy?: Partial<ReconcilePolicy>;
  /** SDK retry policy for ARM (default DEFAULT_ARM_RETRY). */
  armRetry?: RetryOptions;
  atlasRetry?: AtlasRetryOptions;
}

export interface EngineOptions extends AdapterOptions {
  /** Overrides the storage connection from settings (e.g. an in-process Azurite). */
  storageConnection?: string;
  /** Extra alert sinks (beyond the settings' Event Grid topic and webhook). */
  alertSinks?: AlertSink[];
  log?: Logger;
  now?: () => number;
  /**
   * How a pass asks for a later re-check (Atlas confirmation): the Functions app sends a delayed queue message;
   * default, a timer in this process (unref'd: a one-shot CLI command leaves the re-check to the sweep); false: none.
   */
  recheck?: ReconcileDeps['recheck'] | false;
}

/** The cloud side of the product, built once per entry point by buildCloudAdapters. */
export interface CloudAdapters {
  /** The reconcile policy, including the Atlas principal pin (EAR_GUARD_ATLAS_PRINCIPALS). */
  policy: ReconcilePolicy;
  factory: AzureClientFactory;
  azure: AzurePort;
  /** The raw Atlas client (migrate's POST/PATCH, preflight's reads). */
  atlasClient: AtlasClient;
  atlas: AtlasPort;
  /** The extra CA to trust (PEM), when the endpoints are a sandbox's. */
  ca?: string;
  /** The Azure credential every client shares. */
  credential: TokenCredential;
  close(): Promise<void>;
}

export interface Engine {
  deps: ReconcileDeps;
  /** The adapters the loop runs on (the CLI's raw Atlas client is this one's). */
  cloud: CloudAdapters;
  /** `overrides` swap a port for one run (the sweep's and an event batch's shared vault reads). */
  reconcile(projectId: string, trigger?: Trigger, overrides?: Partial<ReconcileDeps>): Promise<Outcome>;
  /** The projects to sweep: ATLAS_PROJECT_IDS, or every project the Atlas key can see. */
  listProjectIds(): Promise<string[]>;
  close(): Promise<void>;
}

export class EngineConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineConfigError';
  }
}

/** The reconcile policy that Settings describe (per-project overrides live in the project row). */
export function policyFromSettings(s: Settings, extra: Partial<ReconcilePolicy> = {}): ReconcilePolicy {
  return {
    ...DEFAULT_POLICY,
    mode: s.EAR_GUARD_MODE,
    restoreScope: s.EAR_GUARD_RESTORE_SCOPE,
    standbyGrant: s.EAR_GUARD_STANDBY_GRANT,
    allowedRevokers: s.EAR_GUARD_ALLOWED_REVOKERS,
    maxRestores: s.EAR_GUARD_MAX_RESTORES,
    flapWindowMs: s.EAR_GUARD_FLAP_WINDOW_MINUTES * 60_000,
    dryRun: s.EAR_GUARD_DRY_RUN,
    checkFailingAfter: s.EAR_GUARD_CHECK_FAILING_AFTER,
    nearExpiryMs: (s.EAR_GUARD_WARN_DAYS ?? 30) * 24 * 3600_000,
    atlasConfirm: { ...DEFAULT_ATLAS_CONFIRM, windowMs: s.EAR_GUARD_ATLAS_CONFIRM_MINUTES * 60_000 },
    atlasPrincipals: parseAtlasPrincipals(s.EAR_GUARD_ATLAS_PRINCIPALS ?? []),
    ...extra,
  };
}

/** A setting the schema accepted but a parser refused becomes an EngineConfigError (a usage error in the CLI). */
function configured<T>(build: () => T): T {
  try {
    return build();
  } catch (e) {
    throw new EngineConfigError((e as Error).message);
  }
}

function sandboxCa(sb: SandboxConnection | undefined): string | undefined {
  if (!sb) return undefined;
  return sb.ca ?? (sb.caCertPath ? readFileSync(sb.caCertPath, 'utf8') : undefined);
}

function sandboxCredential(sb: SandboxConnection | undefined): TokenCredential | undefined {
  if (!sb) return undefined;
  return (
    sb.credential ?? {
      getToken: async () => ({ token: 'actor:ear-guard', expiresOnTimestamp: Date.now() + 3600_000 }),
    }
  );
}

/**
 * The ARM and Atlas adapters and the policy, the same for every entry point. The Atlas adapter maps documents only;
 * the principal pin is the policy's (`atlasPrincipals`), which the loop and `ear-guard check` both apply.
 */
export function buildCloudAdapters(opts: AdapterOptions): CloudAdapters {
  const s = opts.settings;
  const sb = opts.sandbox;
  const ca = sandboxCa(sb);
  const policy = configured(() => policyFromSettings(s, opts.policy));
  const staticPrincipals = configured(() => parseStaticPrincipals(s.EAR_GUARD_STATIC_PRINCIPALS));
  const factory = new AzureClientFactory({
    cloud: s.AZURE_CLOUD,
    endpoint: sb?.armEndpoint,
    ca,
    credential: opts.credential ?? sandboxCredential(sb),
    managedIdentityClientId: s.AZURE_CLIENT_ID,
    retry: opts.armRetry ?? DEFAULT_ARM_RETRY,
  });
  // A service account in the settings wins (the sandbox's read-only one under `npm start`); else the sandbox's key.
  const credential =
    !s.ATLAS_CLIENT_ID && sb?.atlasPublicKey && sb.atlasPrivateKey
      ? { publicKey: sb.atlasPublicKey, privateKey: sb.atlasPrivateKey }
      : atlasCredential(s);
  const atlasClient = new AtlasClient({
    baseUrl: sb?.atlasBaseUrl ?? s.ATLAS_BASE_URL,
    ...credential,
    ca: sb?.atlasCa ?? ca,
    ...opts.atlasRetry,
  });
  return {
    policy,
    factory,
    // Deny assignments change only through their owners' writes: held between checks (see loop/denyCache.ts).
    azure: new DenyAssignmentCache(new ArmAdapter(factory)),
    atlasClient,
    atlas: new AtlasAdapter(atlasClient, { staticPrincipals }),
    ...(ca ? { ca } : {}),
    credential: factory.credential,
    close: () => atlasClient.close(),
  };
}

/** The state table connection the settings name (or the override), if any. */
export function stateConnection(s: Settings, override?: string): string | undefined {
  return override ?? s.EAR_GUARD_STORAGE ?? s.AzureWebJobsStorage;
}

/**
 * Opens the project state: a connection string, or an account URL reached with the given credential (default: the
 * managed identity in Azure, DefaultAzureCredential elsewhere).
 */
export async function openStateStore(
  s: Settings,
  connection: string,
  credential?: TokenCredential,
): Promise<StateStore> {
  const state = new StateStore({
    connection,
    prefix: s.EAR_GUARD_TABLE_PREFIX,
    credential: /^https?:\/\//i.test(connection)
      ? (credential ?? defaultCredential(s.AZURE_CLOUD, s.AZURE_CLIENT_ID))
      : undefined,
  });
  await state.init();
  return state;
}

/** The settings' Event Grid topic (or the sandbox's) and webhook, after any extra sinks. */
function alertSinks(opts: EngineOptions, cloud: CloudAdapters): AlertSink[] {
  const s = opts.settings;
  const sb = opts.sandbox;
  const sinks: AlertSink[] = [...(opts.alertSinks ?? [])];
  const egEndpoint = s.ALERT_EVENTGRID_ENDPOINT ?? sb?.eventGridTopicEndpoint;
  if (egEndpoint) {
    const key =
      s.ALERT_EVENTGRID_KEY ?? (sb && egEndpoint === sb.eventGridTopicEndpoint ? sb.eventGridTopicKey : undefined);
    sinks.push(
      new EventGridSink({ endpoint: egEndpoint, key, credential: key ? undefined : cloud.credential, ca: cloud.ca }),
    );
  }
  if (s.ALERT_WEBHOOK_URL) sinks.push(new WebhookSink({ url: s.ALERT_WEBHOOK_URL, ca: cloud.ca }));
  return sinks;
}

export async function createEngine(opts: EngineOptions): Promise<Engine> {
  const s = opts.settings;
  const connection = stateConnection(s, opts.storageConnection);
  if (!connection) {
    throw new EngineConfigError(
      'EAR_GUARD_STORAGE (or AzureWebJobsStorage): a Table Storage connection string or account URL is required for project state',
    );
  }
  const cloud = buildCloudAdapters(opts);
  const state = await openStateStore(s, connection, cloud.credential).catch(async (e) => {
    await cloud.close();
    throw e;
  });
  const deps: ReconcileDeps = {
    atlas: cloud.atlas,
    azure: cloud.azure,
    state,
    alerts: new AlertPublisher(alertSinks(opts, cloud)),
    policy: cloud.policy,
    targetCache: new TargetCache(),
    now: opts.now,
    log: opts.log,
  };
  const timers = new TimerRechecks((id) => reconcileProject(id, { kind: 'atlas-recheck' }, deps));
  if (opts.recheck !== false) deps.recheck = opts.recheck ?? ((id, ms) => timers.schedule(id, ms));
  return {
    deps,
    cloud,
    reconcile: (projectId, trigger = { kind: 'manual' }, overrides) =>
      reconcileProject(projectId, trigger, overrides ? { ...deps, ...overrides } : deps),
    listProjectIds: async () => (s.ATLAS_PROJECT_IDS.length ? [...s.ATLAS_PROJECT_IDS] : cloud.atlas.listProjectIds()),
    close: async () => {
      timers.clear();
      await cloud.close();
    },
  };
}

/** In-process re-checks: one pending timer per project (a later request replaces it), unref'd, cleared on close. */
class TimerRechecks {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  constructor(private readonly run: (projectId: string) => Promise<unknown>) {}
  schedule(projectId: string, afterMs: number): void {
    clearTimeout(this.timers.get(projectId));
    const t = setTimeout(() => {
      this.timers.delete(projectId);
      // A failed re-check is not lost: the row stays pending and the sweep confirms.
      this.run(projectId).catch(() => undefined);
    }, afterMs);
    t.unref();
    this.timers.set(projectId, t);
  }
  clear(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
