// The whole app in one Node process: the engine, the same Functions handlers, served by the local host
// (webhook, timer, HTTP, queue), with state in the given storage. `ear-guard start` (npm start) and the e2e
// tests use it; a container or VM deployment can too.
import { QueueClient } from '@azure/storage-queue';
import type { EngineOptions, SandboxConnection } from '../engine.js';
import type { Settings } from '../settings.js';
import { buildAppContext, RECONCILE_QUEUE, setAppContext, type AppContext } from '../functions/context.js';
import { FUNCTIONS, resolveSetting } from '../functions/registry.js';
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
  const queue = opts.queue ? new QueueClient(opts.storageConnection, RECONCILE_QUEUE) : undefined;
  const app = await buildAppContext({
    settings: s,
    sandbox: opts.sandbox,
    storageConnection: opts.storageConnection,
    ...opts.engine,
    queue,
    minReconcileIntervalMs: opts.minReconcileIntervalMs,
    secrets: [opts.functionKey],
  });
  setAppContext(app);
  const log = opts.log ?? (() => {});
  const { eventGrid, timer } = FUNCTIONS;

  const host = await startLocalHost({
    port: opts.port,
    functionKey: opts.functionKey,
    log,
    eventGrid: [{ name: eventGrid.name, handler: (event, ctx) => eventGrid.run(app, event, ctx) }],
    timers: [
      {
        name: timer.name,
        schedule: opts.sweepSchedule ?? resolveSetting(timer.schedule, s),
        handler: (t, ctx) => timer.run(app, t, ctx),
      },
    ],
    http: [...FUNCTIONS.http],
  });
  const queuePoller = queue ? await startPoller(app, queue, opts, log) : undefined;

  return {
    host,
    app,
    webhookUrl: `${host.url}/runtime/webhooks/eventgrid?functionName=${eventGrid.name}&code=${encodeURIComponent(opts.functionKey)}`,
    queuePoller,
    close: async () => {
      await queuePoller?.stop();
      await host.close();
      await app.engine.close();
      setAppContext(undefined);
    },
  };
}

/** Polls the fan-out queue as the Functions host's queue trigger would (poison queue included). */
function startPoller(
  app: AppContext,
  queue: QueueClient,
  opts: LocalAppOptions,
  log: (line: string) => void,
): Promise<QueuePoller> {
  const fn = FUNCTIONS.queue;
  return startQueuePoller({
    name: fn.name,
    queue,
    poison: new QueueClient(opts.storageConnection, `${fn.queueName}-poison`),
    handler: (message, ctx) => fn.run(app, message, ctx),
    intervalMs: opts.queuePollMs,
    log,
  });
}
