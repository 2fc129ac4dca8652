// Telemetry through the real OpenTelemetry SDK with in-memory exporters: span nesting and attributes, error
// redaction, metric names/units/attributes. One process per test file (vitest forks), so global providers are ours.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MetricReader, DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import {
  ATTR,
  METRICS,
  SPANS,
  annotateSpan,
  parseAuthenticationString,
  recordAlert,
  recordApiRequest,
  recordDrift,
  recordEventDropped,
  recordReconcile,
  recordRestore,
  recordRestoreLatency,
  recordSweep,
  startTelemetry,
  withSpan,
  type TelemetryHandle,
} from '../../src/observability/telemetry.js';
import { clearRegisteredSecrets, registerSecrets } from '../../src/observability/redact.js';
import { createLogger } from '../../src/observability/logger.js';

class CollectingReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
  async metricsByName(): Promise<Map<string, MetricData>> {
    const { resourceMetrics } = await this.collect();
    const out = new Map<string, MetricData>();
    for (const sm of resourceMetrics.scopeMetrics) for (const m of sm.metrics) out.set(m.descriptor.name, m);
    return out;
  }
}

describe('with no exporter configured', () => {
  it('installs nothing and every helper is a harmless no-op', async () => {
    const t = await startTelemetry({ env: {} });
    expect(t.mode).toBe('none');
    recordReconcile('converged');
    recordDrift('role-assignment-deleted');
    recordSweep({ durationSeconds: 1, projects: 2 });
    await expect(withSpan(SPANS.reconcile, { project: 'p' }, () => 42)).resolves.toBe(42);
    await expect(withSpan(SPANS.reconcile, {}, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await t.shutdown();
  });
});

describe('with an SDK installed', () => {
  const spans = new InMemorySpanExporter();
  const reader = new CollectingReader();
  let t: TelemetryHandle;
  beforeAll(async () => {
    t = await startTelemetry({ env: {}, spanProcessors: [new SimpleSpanProcessor(spans)], metricReaders: [reader] });
  });
  afterAll(async () => {
    clearRegisteredSecrets();
    await t.shutdown();
  });

  it('starts once', async () => {
    expect(t.mode).toBe('custom');
    expect(await startTelemetry({ env: {} })).toBe(t);
  });

  it('nests observe / act / verify under one reconcile span carrying the event ID and correlation ID', async () => {
    spans.reset();
    const result = await withSpan(
      SPANS.reconcile,
      { project: 'p1', trigger: 'event', eventId: 'ev-42', correlationId: 'corr-7' },
      async () => {
        await withSpan(SPANS.observe, { project: 'p1' }, async () => undefined);
        await withSpan(SPANS.act, { project: 'p1' }, () => annotateSpan({ outcome: 'restored' }));
        await withSpan(SPANS.verify, { project: 'p1' }, async () => undefined);
        annotateSpan({ outcome: 'restored' });
        return 'done';
      },
    );
    expect(result).toBe('done');
    const finished = spans.getFinishedSpans();
    const root = finished.find((s) => s.name === SPANS.reconcile)!;
    expect(root.attributes).toMatchObject({
      [ATTR.project]: 'p1',
      [ATTR.trigger]: 'event',
      [ATTR.eventId]: 'ev-42',
      [ATTR.correlationId]: 'corr-7',
      [ATTR.outcome]: 'restored',
    });
    const children = finished.filter((s) => s !== root);
    expect(children.map((s) => s.name)).toEqual([SPANS.observe, SPANS.act, SPANS.verify]);
    for (const c of children) {
      expect(c.spanContext().traceId).toBe(root.spanContext().traceId);
      expect(c.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    }
    expect(children[1]!.attributes[ATTR.outcome]).toBe('restored');
  });

  it('marks a failed span as an error with a redacted message and rethrows', async () => {
    spans.reset();
    registerSecrets('atlas-private-key-value-1234');
    const err = Object.assign(new Error('digest with atlas-private-key-value-1234 rejected'), { code: 'UNAUTHORIZED' });
    await expect(withSpan(SPANS.act, { project: 'p2' }, () => Promise.reject(err))).rejects.toBe(err);
    const [span] = spans.getFinishedSpans();
    expect(span!.status.code).toBe(2); // SpanStatusCode.ERROR
    expect(span!.status.message).not.toContain('atlas-private-key-value-1234');
    expect(span!.attributes[ATTR.errorType]).toBe('UNAUTHORIZED');
    expect(JSON.stringify(span!.events)).not.toContain('atlas-private-key-value-1234');
  });

  it('stamps log lines with the active trace and span IDs', async () => {
    spans.reset();
    const lines: string[] = [];
    const log = createLogger({ sink: (l) => lines.push(l) });
    await withSpan(SPANS.observe, {}, () => log.info('inside'));
    log.info('outside');
    const [inside, outside] = lines.map((l) => JSON.parse(l));
    const span = spans.getFinishedSpans()[0]!;
    expect(inside).toMatchObject({ traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
    expect(outside.traceId).toBeUndefined();
  });

  it('records metrics with semantic-convention names, units and low-cardinality attributes', async () => {
    recordReconcile('restored', { trigger: 'event', project: 'p1', durationSeconds: 0.4 });
    recordReconcile('converged', { trigger: 'sweep' });
    recordReconcile('converged', { trigger: 'sweep' });
    recordDrift('role-assignment-deleted', { model: 'rbac' });
    recordRestore('rbac', 'verified');
    expect(recordRestoreLatency('2026-01-01T00:00:00Z', '2026-01-01T00:00:12.5Z')).toBe(12.5);
    expect(recordRestoreLatency('2026-01-01T00:01:00Z', '2026-01-01T00:00:00Z')).toBeUndefined();
    recordApiRequest({
      api: 'arm',
      operation: 'roleAssignments.create',
      method: 'put',
      status: 201,
      durationSeconds: 0.2,
    });
    recordApiRequest({ api: 'atlas', operation: 'encryptionAtRest.get', status: 429, durationSeconds: 0.1 });
    recordSweep({ durationSeconds: 3, projects: 7 });
    recordEventDropped('irrelevant-operation');
    recordAlert('AtlasEarGuard.RestoreFailed');

    const m = await reader.metricsByName();
    for (const spec of Object.values(METRICS)) {
      if (!m.has(spec.name)) continue;
      expect(m.get(spec.name)!.descriptor.unit).toBe(spec.unit);
      expect(spec.name).toMatch(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/);
    }
    const reconciles = m.get(METRICS.reconciles.name)!;
    const byOutcome = Object.fromEntries(
      reconciles.dataPoints.map((d) => [`${d.attributes[ATTR.outcome]}/${d.attributes[ATTR.trigger]}`, d.value]),
    );
    expect(byOutcome).toEqual({ 'restored/event': 1, 'converged/sweep': 2 });
    // The project ID is a span attribute, never a metric dimension (cardinality).
    expect(reconciles.dataPoints.every((d) => !(ATTR.project in d.attributes))).toBe(true);

    const latency = m.get(METRICS.restoreDuration.name)!;
    expect(latency.dataPointType).toBe(DataPointType.HISTOGRAM);
    const lp = latency.dataPoints[0]!.value as { count: number; sum: number; buckets: { boundaries: number[] } };
    expect(lp.count).toBe(1);
    expect(lp.sum).toBe(12.5);
    expect(lp.buckets.boundaries).toContain(900);

    const api = m.get(METRICS.apiRequestDuration.name)!;
    const apiAttrs = api.dataPoints.map((d) => d.attributes);
    expect(apiAttrs).toContainEqual({
      [ATTR.api]: 'arm',
      [ATTR.operation]: 'roleAssignments.create',
      [ATTR.httpMethod]: 'PUT',
      [ATTR.httpStatus]: 201,
    });
    expect(apiAttrs).toContainEqual({
      [ATTR.api]: 'atlas',
      [ATTR.operation]: 'encryptionAtRest.get',
      [ATTR.httpStatus]: 429,
      [ATTR.errorType]: '429',
    });
    expect(m.get(METRICS.sweeps.name)!.dataPoints[0]!.value).toBe(1);
    expect((m.get(METRICS.sweepProjects.name)!.dataPoints[0]!.value as { sum: number }).sum).toBe(7);
    expect(m.get(METRICS.eventsDropped.name)!.dataPoints[0]!.attributes[ATTR.triageReason]).toBe(
      'irrelevant-operation',
    );
    expect(m.get(METRICS.drifts.name)!.dataPoints[0]!.attributes).toEqual({
      [ATTR.driftCause]: 'role-assignment-deleted',
      [ATTR.model]: 'rbac',
    });
    expect(m.get(METRICS.alerts.name)!.dataPoints[0]!.attributes[ATTR.alertType]).toBe('AtlasEarGuard.RestoreFailed');
  });
});

describe('APPLICATIONINSIGHTS_AUTHENTICATION_STRING', () => {
  it('recognizes Entra ID auth and the managed identity client ID', () => {
    expect(parseAuthenticationString('Authorization=AAD;ClientId=1c5b6e3a-0000-4000-8000-000000000001')).toEqual({
      aad: true,
      clientId: '1c5b6e3a-0000-4000-8000-000000000001',
    });
    expect(parseAuthenticationString('ClientId=x;Authorization=aad')).toEqual({ aad: true, clientId: 'x' });
    expect(parseAuthenticationString(undefined)).toEqual({ aad: false, clientId: undefined });
  });
});
