// The app context for the Functions handlers: settings validated once, one engine (from the composition root,
// engine.ts), the fan-out queue, and the per-instance event memory. buildAppContext is the one way to make it: from
// the environment on the first invocation in Azure (getAppContext), and by the local host (sandbox + Azurite).
import { QueueClient } from '@azure/storage-queue';
import contract from '../../infra/guard-contract.json' with { type: 'json' };
import { defaultCredential } from '../azure/clients.js';
import { createEngine, type Engine, type EngineOptions } from '../engine.js';
import type { Outcome } from '../loop/index.js';
import { standbyApplies, standbyNotice } from '../loop/standby.js';
import { createLogger } from '../observability/logger.js';
import { loadSettings, type Settings } from '../settings.js';
import { setObservabilityDeps } from '../observability/deps.js';
import { registerSecrets } from '../observability/redact.js';
import { startTelemetrySafely } from '../observability/telemetry.js';
import { Coalescer, RecentIds } from './coalesce.js';

export const RECONCILE_QUEUE = contract.reconcileQueueName;

/** Reconciles of one project start at least this far apart (a flood of events costs one reconcile per second). */
export const RECONCILE_MIN_INTERVAL_MS = 1000;

export interface AppContext {
  settings: Settings;
  engine: Engine;
  /** The sweep fan-out queue (one message per project); absent when no queue storage is configured. */
  queue?: QueueClient;
  recentEvents: RecentIds;
  coalescer: Coalescer<Outcome>;
}

export interface AppContextOptions extends EngineOptions {
  /** The sweep fan-out queue, when queue storage is configured. */
  queue?: QueueClient;
  /** Per-project rate bound for reconciles (default RECONCILE_MIN_INTERVAL_MS). */
  minReconcileIntervalMs?: number;
  /** Secrets beyond the settings' own that must never reach a log line (the local host's function key). */
  secrets?: string[];
}

/** The app context every entry point runs on: the secrets registered for redaction, then the engine. */
export async function buildAppContext(opts: AppContextOptions): Promise<AppContext> {
  const { queue, minReconcileIntervalMs, secrets, ...engineOptions } = opts;
  const s = opts.settings;
  registerSecrets(
    s.ATLAS_PRIVATE_KEY,
    s.ATLAS_PUBLIC_KEY,
    s.ATLAS_CLIENT_SECRET,
    s.ALERT_EVENTGRID_KEY,
    ...(secrets ?? []),
  );
  const engine = await createEngine({
    ...engineOptions,
    // Atlas confirmation re-checks ride the fan-out queue (a delayed message) so no invocation waits for them.
    ...(queue && engineOptions.recheck === undefined ? { recheck: queueRecheck(queue) } : {}),
  });
  logStandby(engine);
  return {
    settings: s,
    engine,
    ...(queue ? { queue } : {}),
    recentEvents: new RecentIds(),
    coalescer: new Coalescer<Outcome>(10_000, minReconcileIntervalMs ?? RECONCILE_MIN_INTERVAL_MS),
  };
}

/** At start, what EAR_GUARD_STANDBY_GRANT does under the restore scope: a warning when it can have no effect. */
function logStandby(engine: Engine): void {
  const policy = engine.cloud.policy;
  const notice = standbyNotice(policy);
  if (!notice) return;
  const log = createLogger();
  if (standbyApplies(policy)) log.info(notice, { setting: 'EAR_GUARD_STANDBY_GRANT' });
  else log.warn(notice, { setting: 'EAR_GUARD_STANDBY_GRANT' });
}

/** A re-check as a queue message that becomes visible after the delay (the queue trigger reconciles it). */
export function queueRecheck(queue: QueueClient): (projectId: string, afterMs: number) => Promise<void> {
  return async (projectId, afterMs) => {
    const text = Buffer.from(JSON.stringify({ projectId, recheck: 'atlas' })).toString('base64');
    await queue.sendMessage(text, { visibilityTimeout: Math.max(1, Math.ceil(afterMs / 1000)) });
  };
}

let current: Promise<AppContext> | undefined;

/** Installs a ready context (local host, tests) and wires the status page and health probe to it. */
export function setAppContext(ctx: AppContext | undefined): void {
  current = ctx ? Promise.resolve(ctx) : undefined;
  if (ctx) {
    setObservabilityDeps(() => ({
      store: ctx.engine.deps.state,
      sweepSchedule: ctx.settings.EAR_GUARD_SWEEP_SCHEDULE,
      healthMaxFailedShare: ctx.settings.EAR_GUARD_HEALTH_MAX_FAILED_SHARE,
    }));
  }
}

/**
 * The fan-out queue from the Functions host's own storage settings: a connection string in
 * `AzureWebJobsStorage`, or identity-based `AzureWebJobsStorage__queueServiceUri` (what infra/ deploys).
 */
export function queueFromEnvironment(
  env: Record<string, string | undefined>,
  settings: Settings,
): QueueClient | undefined {
  const conn = env.AzureWebJobsStorage;
  if (conn && /AccountName=|UseDevelopmentStorage=true/i.test(conn)) {
    return new QueueClient(conn, RECONCILE_QUEUE);
  }
  const uri = env.AzureWebJobsStorage__queueServiceUri;
  if (uri) {
    const credential = defaultCredential(
      settings.AZURE_CLOUD,
      env.AzureWebJobsStorage__clientId ?? settings.AZURE_CLIENT_ID,
    );
    return new QueueClient(`${uri.replace(/\/$/, '')}/${RECONCILE_QUEUE}`, credential);
  }
  return undefined;
}

/** Builds the context from the environment once per instance (first invocation). A bad setting fails loudly. */
export function getAppContext(): Promise<AppContext> {
  if (!current) {
    current = (async () => {
      // Telemetry first, before any Azure SDK client exists (the engine, the queue). Here rather than at module
      // load: every handler reaches this before it does anything, it runs once per instance, and it needs no
      // top-level await in the bundle (esbuild would make the whole bundle's evaluation wait on it). The Azure SDK
      // spans would survive either order (@azure/core-tracing looks its instrumenter up per span), but nothing the
      // engine records before the providers exist is kept.
      await startTelemetrySafely();
      const settings = loadSettings(process.env);
      const ctx = await buildAppContext({ settings, queue: queueFromEnvironment(process.env, settings) });
      setAppContext(ctx);
      return ctx;
    })();
    current.catch(() => (current = undefined));
  }
  return current;
}
