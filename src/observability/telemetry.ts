// OpenTelemetry for the remediator: traces (one span per reconcile with observe / act / verify children, the
// Azure SDKs' own spans nested beneath), metrics (names and units after the OpenTelemetry semantic conventions:
// dot-separated lowercase names, UCUM units, `{annotation}` units for counts, durations in seconds), and the
// exporter choice:
// - APPLICATIONINSIGHTS_CONNECTION_STRING set -> @azure/monitor-opentelemetry (`useAzureMonitor`), with Entra ID
//   auth when APPLICATIONINSIGHTS_AUTHENTICATION_STRING says `Authorization=AAD` (infra disables local auth);
// - else EAR_GUARD_OTEL_EXPORTER=console|otlp -> a local SDK printing to stdout or sending OTLP/HTTP;
// - else nothing is installed: every helper below is a cheap no-op through @opentelemetry/api, nothing breaks.
// Instruments are looked up per meter provider, so helpers called before `startTelemetry` are no-ops, not lost
// instruments bound to the no-op provider forever.
import {
  context,
  metrics,
  propagation,
  trace,
  SpanStatusCode,
  type Attributes,
  type AttributeValue,
  type Counter,
  type Histogram,
  type MeterProvider,
  type Span,
} from '@opentelemetry/api';
import * as coreTracing from '@azure/core-tracing';
import { redactText } from './redact.js';

export const SERVICE_NAME = 'atlas-ear-guard';
const SCOPE = 'atlas-ear-guard';

/** Attribute keys. Semantic-convention names where one exists (CloudEvents, HTTP, error.type). */
export const ATTR = {
  project: 'ear_guard.project.id',
  trigger: 'ear_guard.trigger',
  outcome: 'ear_guard.outcome',
  driftCause: 'ear_guard.drift.cause',
  model: 'ear_guard.permission_model',
  restoreKind: 'ear_guard.restore.kind',
  correlationId: 'ear_guard.correlation_id',
  api: 'ear_guard.api',
  operation: 'ear_guard.operation',
  triageReason: 'ear_guard.triage.reason',
  alertType: 'ear_guard.alert.type',
  sweepOutcome: 'ear_guard.sweep.outcome',
  eventId: 'cloudevents.event_id',
  eventType: 'cloudevents.event_type',
  eventSubject: 'cloudevents.event_subject',
  httpMethod: 'http.request.method',
  httpStatus: 'http.response.status_code',
  errorType: 'error.type',
} as const;

/** Metric names and units: the contract with infra/app/alerts.bicep and infra/app/workbook.json. */
export const METRICS = {
  reconciles: { name: 'ear_guard.reconciles', unit: '{reconcile}' },
  reconcileDuration: { name: 'ear_guard.reconcile.duration', unit: 's' },
  drifts: { name: 'ear_guard.drifts', unit: '{drift}' },
  restores: { name: 'ear_guard.restores', unit: '{restore}' },
  restoreDuration: { name: 'ear_guard.restore.duration', unit: 's' },
  apiRequestDuration: { name: 'ear_guard.api.request.duration', unit: 's' },
  sweeps: { name: 'ear_guard.sweeps', unit: '{sweep}' },
  sweepDuration: { name: 'ear_guard.sweep.duration', unit: 's' },
  sweepProjects: { name: 'ear_guard.sweep.projects', unit: '{project}' },
  eventsReceived: { name: 'ear_guard.events.received', unit: '{event}' },
  eventsDropped: { name: 'ear_guard.events.dropped', unit: '{event}' },
  alerts: { name: 'ear_guard.alerts', unit: '{alert}' },
} as const;

/** Span names: low-cardinality; the project is an attribute. */
export const SPANS = {
  reconcile: 'ear_guard.reconcile',
  observe: 'ear_guard.observe',
  act: 'ear_guard.act',
  verify: 'ear_guard.verify',
  sweep: 'ear_guard.sweep',
  event: 'ear_guard.event',
} as const;

// Restore latency spans seconds (event-driven) to tens of minutes (sweep-found drift); 900 s is Atlas's check.
const RESTORE_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600];
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SWEEP_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600];
const PROJECT_BUCKETS = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

interface Instruments {
  reconciles: Counter;
  reconcileDuration: Histogram;
  drifts: Counter;
  restores: Counter;
  restoreDuration: Histogram;
  apiRequestDuration: Histogram;
  sweeps: Counter;
  sweepDuration: Histogram;
  sweepProjects: Histogram;
  eventsReceived: Counter;
  eventsDropped: Counter;
  alerts: Counter;
}

const instrumentCache = new WeakMap<MeterProvider, Instruments>();

function instruments(): Instruments {
  const provider = metrics.getMeterProvider();
  let inst = instrumentCache.get(provider);
  if (inst) return inst;
  const meter = provider.getMeter(SCOPE);
  const counter = (m: { name: string; unit: string }, description: string) =>
    meter.createCounter(m.name, { unit: m.unit, description });
  const histogram = (m: { name: string; unit: string }, description: string, buckets: number[]) =>
    meter.createHistogram(m.name, { unit: m.unit, description, advice: { explicitBucketBoundaries: buckets } });
  inst = {
    reconciles: counter(METRICS.reconciles, 'Reconciles of one Atlas project, by outcome and trigger'),
    reconcileDuration: histogram(METRICS.reconcileDuration, 'Duration of one reconcile', REQUEST_BUCKETS.concat([60])),
    drifts: counter(METRICS.drifts, 'Access drift detected, by cause'),
    restores: counter(METRICS.restores, 'Grants restored (one per restore, verified or not)'),
    restoreDuration: histogram(
      METRICS.restoreDuration,
      'Time from the triggering change (event time, else detection) to the verified restore',
      RESTORE_BUCKETS,
    ),
    apiRequestDuration: histogram(
      METRICS.apiRequestDuration,
      'ARM and Atlas Admin API requests by operation and status',
      REQUEST_BUCKETS,
    ),
    sweeps: counter(METRICS.sweeps, 'Health sweeps finished (the heartbeat), by outcome'),
    sweepDuration: histogram(METRICS.sweepDuration, 'Duration of one health sweep', SWEEP_BUCKETS),
    sweepProjects: histogram(METRICS.sweepProjects, 'Projects checked per sweep', PROJECT_BUCKETS),
    eventsReceived: counter(METRICS.eventsReceived, 'Event Grid events received, by type'),
    eventsDropped: counter(METRICS.eventsDropped, 'Event Grid events dropped by triage, by reason'),
    alerts: counter(METRICS.alerts, 'Alerts raised, by type'),
  };
  instrumentCache.set(provider, inst);
  return inst;
}

/** Friendly attribute names accepted by the helpers; mapped to ATTR keys. Other keys pass through. */
export interface TelemetryAttrs {
  project?: string;
  trigger?: string;
  outcome?: string;
  eventId?: string;
  eventType?: string;
  correlationId?: string;
  model?: string;
  [key: string]: AttributeValue | undefined;
}

const FRIENDLY: Record<string, string> = {
  project: ATTR.project,
  trigger: ATTR.trigger,
  outcome: ATTR.outcome,
  eventId: ATTR.eventId,
  eventType: ATTR.eventType,
  correlationId: ATTR.correlationId,
  model: ATTR.model,
};

export function toAttributes(attrs: TelemetryAttrs = {}): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === '') continue;
    out[FRIENDLY[k] ?? k] = v;
  }
  return out;
}

/** Metrics must stay low-cardinality: the project ID is a span attribute, never a metric dimension. */
function metricAttributes(attrs: TelemetryAttrs = {}): Attributes {
  const { project: _p, eventId: _e, correlationId: _c, ...rest } = attrs;
  return toAttributes(rest);
}

// ---- metrics ----

/** One reconcile finished. `outcome`: converged | restored | alerted | requeue | terminal | skipped ... */
export function recordReconcile(outcome: string, attrs: TelemetryAttrs & { durationSeconds?: number } = {}): void {
  const { durationSeconds, ...rest } = attrs;
  const a = metricAttributes({ ...rest, outcome });
  instruments().reconciles.add(1, a);
  if (durationSeconds !== undefined && Number.isFinite(durationSeconds) && durationSeconds >= 0) {
    instruments().reconcileDuration.record(durationSeconds, a);
  }
}

/** Drift detected. `cause`: e.g. role-assignment-deleted | access-policy-removed | model-flipped | key-disabled. */
export function recordDrift(cause: string, attrs: TelemetryAttrs = {}): void {
  instruments().drifts.add(1, metricAttributes({ ...attrs, [ATTR.driftCause]: cause }));
}

/** A restore was performed. `kind`: rbac | accessPolicy; `result`: verified | unverified | failed. */
export function recordRestore(kind: string, result: string, attrs: TelemetryAttrs = {}): void {
  instruments().restores.add(1, metricAttributes({ ...attrs, [ATTR.restoreKind]: kind, [ATTR.outcome]: result }));
}

/**
 * Restore latency: from the change (the event's time when an event triggered it, else when drift was detected)
 * to the verified restore. Returns the seconds recorded, or undefined for unusable times.
 */
export function recordRestoreLatency(
  from: string | Date,
  verifiedAt: string | Date,
  attrs: TelemetryAttrs = {},
): number | undefined {
  const start = typeof from === 'string' ? Date.parse(from) : from.getTime();
  const end = typeof verifiedAt === 'string' ? Date.parse(verifiedAt) : verifiedAt.getTime();
  if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) return undefined;
  const seconds = (end - start) / 1000;
  instruments().restoreDuration.record(seconds, metricAttributes(attrs));
  return seconds;
}

export interface ApiRequestRecord {
  api: 'arm' | 'atlas';
  /** e.g. roleAssignments.create, vaults.get, accessPolicies.add, encryptionAtRest.get */
  operation: string;
  method?: string;
  /** HTTP status; absent when no response came back (then set errorType). */
  status?: number;
  durationSeconds: number;
  /** e.g. a service error code, ECONNRESET, timeout. */
  errorType?: string;
}

/** One ARM or Atlas request. */
export function recordApiRequest(r: ApiRequestRecord): void {
  const errorType = r.errorType ?? (r.status !== undefined && r.status >= 400 ? String(r.status) : undefined);
  instruments().apiRequestDuration.record(
    Math.max(0, r.durationSeconds),
    toAttributes({
      [ATTR.api]: r.api,
      [ATTR.operation]: r.operation,
      [ATTR.httpMethod]: r.method?.toUpperCase(),
      [ATTR.httpStatus]: r.status,
      [ATTR.errorType]: errorType,
    }),
  );
}

/** One sweep finished (the heartbeat metric). `outcome`: completed | failed. */
export function recordSweep(r: { durationSeconds: number; projects: number; outcome?: string }): void {
  const a = toAttributes({ [ATTR.sweepOutcome]: r.outcome ?? 'completed' });
  instruments().sweeps.add(1, a);
  instruments().sweepDuration.record(Math.max(0, r.durationSeconds), a);
  instruments().sweepProjects.record(Math.max(0, r.projects), a);
}

export function recordEventReceived(eventType: string, attrs: TelemetryAttrs = {}): void {
  instruments().eventsReceived.add(1, metricAttributes({ ...attrs, eventType }));
}

/** An event triage dropped (irrelevant operation, unknown scope, duplicate, ...). */
export function recordEventDropped(reason: string, attrs: TelemetryAttrs = {}): void {
  instruments().eventsDropped.add(1, metricAttributes({ ...attrs, [ATTR.triageReason]: reason }));
}

/** An alert was raised (type as in src/alerts ALERT_TYPES, e.g. AtlasEarGuard.RestoreFailed). */
export function recordAlert(type: string, attrs: TelemetryAttrs = {}): void {
  instruments().alerts.add(1, metricAttributes({ ...attrs, [ATTR.alertType]: type }));
}

// ---- traces ----

/**
 * Runs `fn` inside a new active span (a child of the current one): the Azure SDK spans started inside nest
 * under it. A throw marks the span as an error (message redacted) and is rethrown. The span ends either way.
 */
export async function withSpan<T>(name: string, attrs: TelemetryAttrs, fn: (span: Span) => T | Promise<T>): Promise<T> {
  const tracer = trace.getTracer(SCOPE);
  return tracer.startActiveSpan(name, { attributes: toAttributes(attrs) }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      const e = err as { name?: string; message?: string; code?: unknown };
      const message = redactText(String(e?.message ?? err));
      span.recordException({ name: e?.name ?? 'Error', message });
      span.setStatus({ code: SpanStatusCode.ERROR, message });
      span.setAttribute(ATTR.errorType, typeof e?.code === 'string' ? e.code : (e?.name ?? 'Error'));
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Sets attributes on the active span, if any (e.g. the outcome once known). */
export function annotateSpan(attrs: TelemetryAttrs): void {
  trace.getActiveSpan()?.setAttributes(toAttributes(attrs));
}

// ---- setup ----

export type TelemetryMode = 'azure-monitor' | 'console' | 'otlp' | 'custom' | 'none';

export interface TelemetryHandle {
  mode: TelemetryMode;
  /** Pushes buffered spans and metrics (call before a short-lived process exits). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  env?: Record<string, string | undefined>;
  /** Extra span processors / metric readers (tests use in-memory ones; any mode). */
  spanProcessors?: import('@opentelemetry/sdk-trace-base').SpanProcessor[];
  metricReaders?: import('@opentelemetry/sdk-metrics').IMetricReader[];
}

let current: TelemetryHandle | undefined;

/** The handle of the running telemetry, if `startTelemetry` ran (so a host shuts down only what it started). */
export function runningTelemetry(): TelemetryHandle | undefined {
  return current;
}

/**
 * Starts telemetry for a host (the Functions app, the local stack) without ever failing it: remediation must go on
 * when an exporter cannot be set up. The failure is reported through `onError` (a log line).
 */
export async function startTelemetrySafely(
  opts: TelemetryOptions = {},
  onError: (message: string) => void = (m) => process.stderr.write(m + '\n'),
): Promise<TelemetryHandle> {
  try {
    return await startTelemetry(opts);
  } catch (err) {
    onError(`telemetry not started: ${redactText(err instanceof Error ? err.message : String(err))}`);
    return { mode: 'none', flush: async () => {}, shutdown: async () => {} };
  }
}

/** Telemetry must never break the app: an unreachable ingestion endpoint fails the export, not the caller. */
async function quietly(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch {
    // the exporter already retried (and persisted to disk, for Azure Monitor); nothing useful to do here
  }
}

/** Parses APPLICATIONINSIGHTS_AUTHENTICATION_STRING (`Authorization=AAD;ClientId=<guid>`). */
export function parseAuthenticationString(value: string | undefined): { aad: boolean; clientId?: string } {
  const parts = Object.fromEntries(
    (value ?? '')
      .split(';')
      .map((p) => p.split('=').map((x) => x.trim()))
      .filter((kv) => kv.length === 2 && kv[0])
      .map(([k, v]) => [k!.toLowerCase(), v!]),
  );
  return { aad: (parts.authorization ?? '').toUpperCase() === 'AAD', clientId: parts.clientid || undefined };
}

/**
 * Makes @azure/core-tracing emit OpenTelemetry spans. The instrumentation normally hooks `require`, which misses a
 * bundled app (the Functions bundle inlines core-tracing), so its patch is applied to the module we import here:
 * core-tracing keeps its instrumenter in state shared across its ESM and CJS builds.
 */
async function bridgeAzureSdkTracing(): Promise<void> {
  // Loaded only with an exporter: it pulls in @opentelemetry/instrumentation, which a cold start without one skips.
  const { AzureSdkInstrumentation } = await import('@azure/opentelemetry-instrumentation-azure-sdk');
  const instrumentation = new AzureSdkInstrumentation({ enabled: false });
  for (const def of instrumentation.getModuleDefinitions()) {
    def.patch?.(coreTracing as unknown as Record<string, unknown>, '1.3.1');
  }
}

/** The managed identity the Application Insights authentication string names (AAD), if any. */
async function ingestionCredential(
  env: Record<string, string | undefined>,
): Promise<import('@azure/core-auth').TokenCredential | undefined> {
  const auth = parseAuthenticationString(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING);
  if (!auth.aad) return undefined;
  const { ManagedIdentityCredential } = await import('@azure/identity');
  return auth.clientId ? new ManagedIdentityCredential({ clientId: auth.clientId }) : new ManagedIdentityCredential();
}

/** Azure Monitor (Application Insights), through the distro. */
async function startAzureMonitor(
  connectionString: string,
  env: Record<string, string | undefined>,
  opts: TelemetryOptions,
): Promise<TelemetryHandle> {
  const { useAzureMonitor, shutdownAzureMonitor } = await import('@azure/monitor-opentelemetry');
  const credential = await ingestionCredential(env);
  useAzureMonitor({
    azureMonitorExporterOptions: { connectionString, ...(credential ? { credential } : {}) },
    instrumentationOptions: { azureSdk: { enabled: true } },
    // Every reconcile trace is kept: volume is low and a dropped trace is a drift nobody can follow. (The
    // distro's default rate limiter, 5 traces/s, also drops the first traces after start.)
    samplingRatio: 1,
    tracesPerSecond: 0,
    ...(opts.spanProcessors ? { spanProcessors: opts.spanProcessors } : {}),
    ...(opts.metricReaders
      ? { metricReaders: opts.metricReaders as import('@opentelemetry/sdk-metrics').MetricReader[] }
      : {}),
  });
  await bridgeAzureSdkTracing();
  return {
    mode: 'azure-monitor',
    flush: () =>
      quietly(async () => {
        await (metrics.getMeterProvider() as { forceFlush?: () => Promise<void> }).forceFlush?.();
      }),
    shutdown: () =>
      quietly(async () => {
        current = undefined;
        await shutdownAzureMonitor();
      }),
  };
}

type SpanProcessors = NonNullable<TelemetryOptions['spanProcessors']>;
type MetricReaders = NonNullable<TelemetryOptions['metricReaders']>;

/** The local exporters EAR_GUARD_OTEL_EXPORTER names (console or OTLP), added to the given processors and readers. */
async function localExporters(
  local: string,
  exportIntervalMillis: number,
  spanProcessors: SpanProcessors,
  readers: MetricReaders,
): Promise<void> {
  const [traceBase, sdkMetrics] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/sdk-metrics'),
  ]);
  if (local === 'console') {
    spanProcessors.push(new traceBase.SimpleSpanProcessor(new traceBase.ConsoleSpanExporter()));
    readers.push(
      new sdkMetrics.PeriodicExportingMetricReader({
        exporter: new sdkMetrics.ConsoleMetricExporter(),
        exportIntervalMillis,
      }),
    );
  }
  if (local === 'otlp') {
    // Endpoint from OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318), as the exporters read it.
    const [{ OTLPTraceExporter }, { OTLPMetricExporter }] = await Promise.all([
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/exporter-metrics-otlp-http'),
    ]);
    spanProcessors.push(new traceBase.BatchSpanProcessor(new OTLPTraceExporter()));
    readers.push(
      new sdkMetrics.PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), exportIntervalMillis }),
    );
  }
}

/** The OpenTelemetry SDK with local exporters and/or the caller's processors and readers. */
async function startOpenTelemetry(
  local: string,
  env: Record<string, string | undefined>,
  opts: TelemetryOptions,
): Promise<TelemetryHandle> {
  const [{ NodeTracerProvider }, sdkMetrics, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/resources'),
  ]);
  const resource = resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME || SERVICE_NAME });
  const spanProcessors = [...(opts.spanProcessors ?? [])];
  const readers = [...(opts.metricReaders ?? [])];
  const exportIntervalMillis = Math.max(1000, Number(env.OTEL_METRIC_EXPORT_INTERVAL) || 60_000);
  await localExporters(local, exportIntervalMillis, spanProcessors, readers);
  const tracerProvider = new NodeTracerProvider({ resource, spanProcessors });
  tracerProvider.register(); // global tracer provider + AsyncLocalStorage context manager + W3C propagator
  const meterProvider = new sdkMetrics.MeterProvider({ resource, readers });
  metrics.setGlobalMeterProvider(meterProvider);
  await bridgeAzureSdkTracing();
  const mode: TelemetryMode = local === 'console' ? 'console' : local === 'otlp' ? 'otlp' : 'custom';
  return {
    mode,
    flush: () =>
      quietly(async () => {
        await Promise.all([tracerProvider.forceFlush(), meterProvider.forceFlush()]);
      }),
    shutdown: async () => {
      current = undefined;
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
      trace.disable();
      metrics.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/**
 * Installs the exporters the environment asks for; idempotent (a second call returns the first handle).
 * Never throws for a missing configuration: no connection string and no local exporter means mode 'none'.
 */
export async function startTelemetry(opts: TelemetryOptions = {}): Promise<TelemetryHandle> {
  if (current) return current;
  const env = opts.env ?? process.env;
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim();
  const local = (env.EAR_GUARD_OTEL_EXPORTER ?? '').trim().toLowerCase();
  if (connectionString) {
    current = await startAzureMonitor(connectionString, env, opts);
  } else if (local === 'console' || local === 'otlp' || opts.spanProcessors?.length || opts.metricReaders?.length) {
    current = await startOpenTelemetry(local, env, opts);
  } else {
    current = { mode: 'none', flush: async () => {}, shutdown: async () => void (current = undefined) };
  }
  return current;
}
