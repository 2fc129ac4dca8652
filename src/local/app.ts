// The whole app in one Node process: the engine, the same Functions handlers, served by the local host
// (webhook, timer, HTTP, queue), with state in the given storage. `ear-guard start` (npm start) and the e2e
// tests use it; a container or VM deployment can too.
import { QueueClient } from '@azure/storage-queue';
import { createEngine, type EngineOptions, type SandboxConnection } from '../engine.js';
import type { Outcome } from '../reconcile.js';
import type { Settings } from '../settings.js';
import { registerSecrets } from '../observability/redact.js';
import { Coalescer, RecentIds } from '../functions/coalesce.js';
import { RECONCILE_MIN_INTERVAL_MS, RECONCILE_QUEUE, setAppContext, type AppContext } from '../functions/context.js';
import { handleAzureEvent } from '../functions/onAzureEvent.js';
import { handleSweep } from '../functions/sweepProjects.js';
import { handleQueueMessage } from '../functions/reconcileProjectQueue.js';
import { projectsApiFunction } from '../functions/projectsApi.js';
import { dashboardFunction } from '../functions/dashboard.js';
import { healthFunction } from '../functions/health.js';
import { onAtlasAlertFunction } from '../functions/onAtlasAlert.js';
import contract from '../../infra/guard-contract.json' with { type: 'json' };
import { startLocalHost, type LocalHost } from './host.js';
import { startQueuePoller, type QueuePoller } from './queuePoller.js';

export interface LocalAppOptions {
  settings: Settings;
  /** Table (and optionally Queue) storage connection string. */
  storageConnection: string;
  sandbox?: SandboxConnection;
  port?: number;
  functionKey: string;
  /** Extra engine options (retry policies, clock, policy overrides). */
  engine?: Partial<EngineOptions>;
  /** Poll the fan-out queue (needs a Queue endpoint in the connection string). */
  queue?: boolean;
  queuePollMs?: number;
  /** Timer schedule override (default: the settings' NCRONTAB). */
  sweepSchedule?: string;
  log?: (line: string) => void;
  /** Per-project rate bound for reconciles (default RECONCILE_MIN_INTERVAL_MS). */
  minReconcileIntervalMs?: number;
}

export interface LocalApp {
  host: LocalHost;
  app: AppContext;
  /** The Event Grid webhook URL with its key, as an event subscription would name it. */
  webhookUrl: string;
  queuePoller?: QueuePoller;
  close(): Promise<void>;
}

export async function startLocalApp(opts: LocalAppOptions): Promise<LocalApp> {
  const s = opts.settings;
  registerSecrets(
    s.ATLAS_PRIVATE_KEY,
    s.ATLAS_PUBLIC_KEY,
    s.ATLAS_CLIENT_SECRET,
    s.ALERT_EVENTGRID_KEY,
    opts.functionKey,
  );
  const engine = await createEngine({
    settings: s,
    sandbox: opts.sandbox,
    storageConnection: opts.storageConnection,
    ...opts.engine,
  });
  const queue = opts.queue ? new QueueClient(opts.storageConnection, RECONCILE_QUEUE) : undefined;
  const app: AppContext = {
    settings: s,
    engine,
    queue,
    recentEvents: new RecentIds(),
    coalescer: new Coalescer<Outcome>(10_000, opts.minReconcileIntervalMs ?? RECONCILE_MIN_INTERVAL_MS),
  };
  setAppContext(app);
  const log = opts.log ?? (() => {});

  const host = await startLocalHost({
    port: opts.port,
    functionKey: opts.functionKey,
    log,
    eventGrid: [
      {
        name: contract.functions.eventGrid,
        handler: async (event, ctx) => void (await handleAzureEvent(app, event, ctx)),
      },
    ],
    timers: [
      {
        name: contract.functions.timer,
        schedule: opts.sweepSchedule ?? s.EAR_GUARD_SWEEP_SCHEDULE,
        handler: async (_t, ctx) => void (await handleSweep(app, ctx)),
      },
    ],
    http: [projectsApiFunction, dashboardFunction, healthFunction, onAtlasAlertFunction],
  });

  const queuePoller = queue
    ? await startQueuePoller({
        name: contract.functions.queue,
        queue,
        poison: new QueueClient(opts.storageConnection, `${RECONCILE_QUEUE}-poison`),
        handler: async (message, ctx) => void (await handleQueueMessage(app, message, ctx)),
        intervalMs: opts.queuePollMs,
        log,
      })
    : undefined;

  return {
    host,
    app,
    webhookUrl: `${host.url}/runtime/webhooks/eventgrid?functionName=${contract.functions.eventGrid}&code=${encodeURIComponent(opts.functionKey)}`,
    queuePoller,
    close: async () => {
      await queuePoller?.stop();
      await host.close();
      await engine.close();
      setAppContext(undefined);
    },
  };
}
