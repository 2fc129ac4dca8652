// Builds every dependency of the reconcile loop from validated Settings (plus, optionally, a sandbox connection),
// so the Functions app, the local host and the CLI each reach reconcileProject in one line:
//
//   const engine = await createEngine({ settings: loadSettings() });
//   const outcome = await engine.reconcile(projectId, { kind: 'timer' });
import { readFileSync } from 'node:fs';
import type { TokenCredential } from '@azure/core-auth';
import { AlertPublisher, EventGridSink, WebhookSink, type AlertSink } from './alerts/index.js';
import { ArmAdapter, type AzurePort } from './azure/arm.js';
import { AzureClientFactory, type RetryOptions } from './azure/clients.js';
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
} from './reconcile.js';
import { atlasCredential, type Settings } from './settings.js';
import { StateStore } from './state/store.js';

/**
 * Where a sandbox listens: the fields of `ear-guard sandbox --json` (caCertPath) or of an in-process
 * `startSandbox()` (ca, credential).
 */
export interface SandboxConnection {
  armEndpoint: string;
  atlasBaseUrl: string;
  ca?: string;
  caCertPath?: string;
  /** When the Atlas emulator runs behind another certificate than ARM's. */
  atlasCa?: string;
  /** Default: a token credential acting as the sandbox's `ear-guard` principal. */
  credential?: TokenCredential;
  atlasPublicKey?: string;
  atlasPrivateKey?: string;
  /** The sandbox's read-only service account (used when the settings name it). */
  atlasClientId?: string;
  atlasClientSecret?: string;
  eventGridTopicEndpoint?: string;
  eventGridTopicKey?: string;
}

export interface EngineOptions {
  settings: Settings;
  sandbox?: SandboxConnection;
  /** Overrides the Azure credential (default: managed identity in Azure, DefaultAzureCredential elsewhere). */
  credential?: TokenCredential;
  /** Overrides the storage connection from settings (e.g. an in-process Azurite). */
  storageConnection?: string;
  /** Policy fields beyond what Settings carries (target cache, lease, near-expiry), or test overrides. */
  policy?: Partial<ReconcilePolicy>;
  /** SDK retry policy for ARM (default: the SDK's own: 3 retries, exponential from 1 s, Retry-After honoured). */
  armRetry?: RetryOptions;
  /** Atlas client retries (default 3) and base backoff (default 500 ms). */
  atlasRetry?: { maxRetries?: number; backoffMs?: number; maxRetryAfterMs?: number };
  /** Extra alert sinks (beyond the settings' Event Grid topic and webhook). */
  alertSinks?: AlertSink[];
  log?: Logger;
  now?: () => number;
}

export interface Engine {
  deps: ReconcileDeps;
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
    allowedRevokers: s.EAR_GUARD_ALLOWED_REVOKERS,
    maxRestores: s.EAR_GUARD_MAX_RESTORES,
    flapWindowMs: s.EAR_GUARD_FLAP_WINDOW_MINUTES * 60_000,
    dryRun: s.EAR_GUARD_DRY_RUN,
    checkFailingAfter: s.EAR_GUARD_CHECK_FAILING_AFTER,
    atlasPrincipals: parseAtlasPrincipals(s.EAR_GUARD_ATLAS_PRINCIPALS ?? []),
    ...extra,
  };
}

export async function createEngine(opts: EngineOptions): Promise<Engine> {
  const s = opts.settings;
  const sb = opts.sandbox;
  const ca = sb ? (sb.ca ?? (sb.caCertPath ? readFileSync(sb.caCertPath, 'utf8') : undefined)) : undefined;

  const sandboxCredential: TokenCredential | undefined = sb
    ? (sb.credential ?? {
        getToken: async () => ({ token: 'actor:ear-guard', expiresOnTimestamp: Date.now() + 3600_000 }),
      })
    : undefined;
  const factory = new AzureClientFactory({
    cloud: s.AZURE_CLOUD,
    endpoint: sb?.armEndpoint,
    ca,
    credential: opts.credential ?? sandboxCredential,
    managedIdentityClientId: s.AZURE_CLIENT_ID,
    retry: opts.armRetry,
  });
  const azure: AzurePort = new ArmAdapter(factory);

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
  const atlas: AtlasPort = new AtlasAdapter(atlasClient, {
    staticPrincipals: parseStaticPrincipals(s.EAR_GUARD_STATIC_PRINCIPALS),
  });

  const connection = opts.storageConnection ?? s.EAR_GUARD_STORAGE ?? s.AzureWebJobsStorage;
  if (!connection) {
    throw new EngineConfigError(
      'EAR_GUARD_STORAGE (or AzureWebJobsStorage): a Table Storage connection string or account URL is required for project state',
    );
  }
  const state = new StateStore({
    connection,
    prefix: s.EAR_GUARD_TABLE_PREFIX,
    credential: /^https?:\/\//i.test(connection) ? (opts.credential ?? factory.credential) : undefined,
  });
  await state.init();

  const sinks: AlertSink[] = [...(opts.alertSinks ?? [])];
  const egEndpoint = s.ALERT_EVENTGRID_ENDPOINT ?? sb?.eventGridTopicEndpoint;
  if (egEndpoint) {
    const key =
      s.ALERT_EVENTGRID_KEY ?? (sb && egEndpoint === sb.eventGridTopicEndpoint ? sb.eventGridTopicKey : undefined);
    sinks.push(new EventGridSink({ endpoint: egEndpoint, key, credential: key ? undefined : factory.credential, ca }));
  }
  if (s.ALERT_WEBHOOK_URL) sinks.push(new WebhookSink({ url: s.ALERT_WEBHOOK_URL, ca }));

  const deps: ReconcileDeps = {
    atlas,
    azure,
    state,
    alerts: new AlertPublisher(sinks),
    policy: policyFromSettings(s, opts.policy),
    targetCache: new TargetCache(),
    now: opts.now,
    log: opts.log,
  };
  return {
    deps,
    reconcile: (projectId, trigger = { kind: 'manual' }, overrides) =>
      reconcileProject(projectId, trigger, overrides ? { ...deps, ...overrides } : deps),
    listProjectIds: async () => (s.ATLAS_PROJECT_IDS.length ? [...s.ATLAS_PROJECT_IDS] : atlas.listProjectIds()),
    close: () => atlasClient.close(),
  };
}
