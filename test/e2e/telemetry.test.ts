// Telemetry of the running product (the local stack: sandbox + Azurite + the Functions handlers on the local host),
// read back through the OpenTelemetry SDK's in-memory exporters: a change made by a sandbox actor arrives as an
// Event Grid event and its restore is one trace (reconcile > observe / act / verify, with the Azure SDK's own spans
// beneath), the metrics count it (reconcile, drift by cause, restore, restore latency from the event time, ARM and
// Atlas requests by operation and status, one sweep per sweep), and no secret reaches a span or a log line.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { MetricReader, type DataPoint, type Histogram, type MetricData } from '@opentelemetry/sdk-metrics';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { ATTR, METRICS, SPANS, startTelemetry, type TelemetryHandle } from '../../src/observability/telemetry.js';
import { startAppWorld, type AppWorld } from '../helpers/app.js';

class CollectingReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
  async byName(name: string): Promise<MetricData | undefined> {
    const { resourceMetrics } = await this.collect();
    for (const sm of resourceMetrics.scopeMetrics) for (const m of sm.metrics) if (m.descriptor.name === name) return m;
    return undefined;
  }
}

const spans = new InMemorySpanExporter();
const reader = new CollectingReader();
let telemetry: TelemetryHandle;
let w: AppWorld;

beforeAll(async () => {
  // Installed before the stack, as the Functions app and `npm start` do; the stack keeps a running one.
  telemetry = await startTelemetry({
    env: {},
    spanProcessors: [new SimpleSpanProcessor(spans)],
    metricReaders: [reader],
  });
  w = await startAppWorld();
}, 90_000);
afterAll(async () => {
  await w?.close();
  await telemetry?.shutdown();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
const j = async (r: Response | Promise<Response>): Promise<any> => (await r).json();
const rbac = () => w.projects.find((p) => p.model === 'rbac')!;
const eg = () => w.sandbox.control.eventGrid!;
const cryptoUserOf = (vaultId: string) =>
  w.sandbox.control
    .roleAssignments({ scope: vaultId, principalId: w.sandbox.atlasPrincipalId })
    .filter((a) =>
      String((a.properties as { roleDefinitionId: string }).roleDefinitionId).endsWith(ROLE_IDS.keyVaultCryptoUser),
    );

/** Sum of a counter's points (or a histogram's counts) whose attributes include `match`. */
async function total(name: string, match: Record<string, unknown> = {}): Promise<number> {
  const m = await reader.byName(name);
  const points = (m?.dataPoints ?? []) as DataPoint<number | Histogram>[];
  return points
    .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
    .reduce((n, p) => n + (typeof p.value === 'number' ? p.value : p.value.count), 0);
}

function ancestors(s: ReadableSpan, all: ReadableSpan[]): ReadableSpan[] {
  const out: ReadableSpan[] = [];
  let cur: ReadableSpan | undefined = s;
  while (cur?.parentSpanContext) {
    const parentId: string = cur.parentSpanContext.spanId;
    cur = all.find((x) => x.spanContext().spanId === parentId);
    if (cur) out.push(cur);
  }
  return out;
}

describe('telemetry of the running product', () => {
  let restoreTrace: ReadableSpan[] = [];
  let root: ReadableSpan;

  it("alice deletes the Atlas principal's assignment: the event's restore is one trace, Azure SDK spans nested", async () => {
    const p = rbac();
    await eg().waitForIdle();
    spans.reset();
    const [before] = cryptoUserOf(p.vaultId);
    w.sandbox.control.deleteAssignment({ as: 'alice', id: before!.id as string });
    await eg().waitForIdle();
    expect(cryptoUserOf(p.vaultId)).toHaveLength(1);

    const all = spans.getFinishedSpans();
    const reconciles = all.filter(
      (s) =>
        s.name === SPANS.reconcile &&
        s.attributes[ATTR.project] === p.projectId &&
        s.attributes[ATTR.outcome] === 'restored',
    );
    expect(reconciles).toHaveLength(1);
    root = reconciles[0]!;
    expect(root.attributes).toMatchObject({
      [ATTR.project]: p.projectId,
      [ATTR.trigger]: 'event',
      [ATTR.outcome]: 'restored',
      [ATTR.model]: 'rbac',
    });
    expect(root.attributes[ATTR.eventId]).toEqual(expect.any(String));
    expect(root.attributes[ATTR.correlationId]).toEqual(expect.any(String));
    const traceId = root.spanContext().traceId;
    restoreTrace = all.filter((s) => s.spanContext().traceId === traceId);

    const children = restoreTrace.filter((s) => s.parentSpanContext?.spanId === root.spanContext().spanId);
    const names = children.map((s) => s.name);
    expect(names.filter((n) => n === SPANS.observe)).toHaveLength(1);
    expect(names.filter((n) => n === SPANS.act)).toHaveLength(1);
    expect(names.filter((n) => n === SPANS.verify)).toHaveLength(1);
    const verify = children.find((s) => s.name === SPANS.verify)!;
    expect(verify.attributes['ear_guard.verdict']).toBe('granted');

    // The Azure SDK's spans nest under our steps: the ARM clients' HTTP spans (core-rest-pipeline) under
    // observe / act / verify, the Tables client's operation spans under the reconcile.
    const sdkUnder = (step: string) =>
      restoreTrace
        .filter((s) => ancestors(s, restoreTrace).some((a) => a.name === step))
        .map(
          (s) =>
            `${String(s.attributes['http.method'])} ${String(s.attributes['http.url'])} ${String(s.attributes['http.status_code'])}`,
        );
    expect(sdkUnder(SPANS.act)).toContainEqual(
      expect.stringMatching(
        /^PUT https:\/\/\S+\/providers\/Microsoft\.Authorization\/roleAssignments\/[0-9a-f-]+\?\S+ 201$/,
      ),
    );
    expect(sdkUnder(SPANS.observe)).toContainEqual(
      expect.stringMatching(/^GET https:\/\/\S+\/providers\/Microsoft\.KeyVault\/vaults\/[^/?]+\?\S+ 200$/),
    );
    expect(sdkUnder(SPANS.verify)).toContainEqual(
      expect.stringMatching(/^GET https:\/\/\S+\/providers\/Microsoft\.Authorization\/roleAssignments\?\S+ 200$/),
    );
    expect(restoreTrace.map((s) => s.name)).toEqual(
      expect.arrayContaining(['TableClient.updateEntity', 'EventGridPublisherClient.send']),
    );
    // Every span of the trace hangs off the reconcile span (nothing orphaned).
    for (const s of restoreTrace.filter((x) => x !== root)) expect(ancestors(s, restoreTrace)).toContain(root);
  });

  it('counts the reconcile, the drift by cause, the restore and its latency from the event time', async () => {
    expect(await total(METRICS.reconciles.name, { [ATTR.outcome]: 'restored', [ATTR.trigger]: 'event' })).toBe(1);
    expect(
      await total(METRICS.drifts.name, { [ATTR.driftCause]: 'role-assignment-deleted', [ATTR.model]: 'rbac' }),
    ).toBe(1);
    expect(await total(METRICS.restores.name, { [ATTR.restoreKind]: 'rbac', [ATTR.outcome]: 'verified' })).toBe(1);
    expect(await total(METRICS.restores.name, { [ATTR.outcome]: 'failed' })).toBe(0);

    // The latency starts at the event's time, which the detection row carries for the status page too.
    const hist = await j(w.api(`projects/${rbac().projectId}/history`));
    const detection = hist.history.find((h: { kind: string }) => h.kind === 'detection');
    const verification = hist.history.find((h: { kind: string }) => h.kind === 'verification');
    expect(detection.detail.eventTime).toEqual(expect.any(String));
    expect(detection.eventId).toBe(root.attributes[ATTR.eventId]);
    const latency = (await reader.byName(METRICS.restoreDuration.name))!;
    expect(latency.dataPoints).toHaveLength(1);
    const h = latency.dataPoints[0]!.value as Histogram;
    expect(h.count).toBe(1);
    const expected = (Date.parse(verification.at) - Date.parse(detection.detail.eventTime)) / 1000;
    // Same two instants as the history rows (verified a statement apart): within a few milliseconds.
    expect(Math.abs(h.sum! - expected)).toBeLessThanOrEqual(0.005);
    const dash = await j(w.api('dashboard?format=json'));
    const row = dash.projects.find((x: { projectId: string }) => x.projectId === rbac().projectId);
    expect(row.timeToRestoreSeconds).toBe(expected);
  });

  it("a late event's time (bounded by the last healthy check), not the detection's, starts the latency", async () => {
    const p = w.projects.find((x) => x.model === 'accessPolicy')!;
    // The change's own event is lost; a redelivery arrives two minutes after the change.
    eg().setDelivery({ dropNext: 10 });
    w.sandbox.control.setAccessPolicy({
      as: 'bob',
      vault: p.vaultName,
      objectId: w.sandbox.atlasPrincipalId,
      keys: ['decrypt'],
      op: 'remove',
    });
    await eg().waitForIdle();
    eg().setDelivery({ dropNext: 0 });
    const sumBefore = ((await reader.byName(METRICS.restoreDuration.name))!.dataPoints[0]!.value as Histogram).sum!;
    const eventTime = new Date(Date.now() - 120_000).toISOString();
    // The loop vouches for no earlier change than its last check that found the project healthy.
    const lastGood = (await w.local.app.engine.deps.state.getProject(p.projectId))!.lastCheck!;
    const start = new Date(Math.max(Date.parse(eventTime), Date.parse(lastGood))).toISOString();
    const outcome = await w.local.app.engine.reconcile(p.projectId, {
      kind: 'event',
      eventId: 'evt-late-0001',
      eventTime,
      operationName: 'Microsoft.KeyVault/vaults/accessPolicies/write',
    });
    expect(outcome.kind).toBe('restored');
    const hist = await j(w.api(`projects/${p.projectId}/history`));
    const rows = hist.history.filter((h: { eventId?: string }) => h.eventId === 'evt-late-0001');
    const detection = rows.find((h: { kind: string }) => h.kind === 'detection');
    const verification = rows.find((h: { kind: string }) => h.kind === 'verification');
    expect(detection.detail.eventTime).toBe(start);
    const expected = (Date.parse(verification.at) - Date.parse(start)) / 1000;
    // Late: the change is older than its detection.
    expect(Date.parse(start)).toBeLessThan(Date.parse(detection.at));
    const h = (await reader.byName(METRICS.restoreDuration.name))!.dataPoints[0]!.value as Histogram;
    expect(Math.abs(h.sum! - sumBefore - expected)).toBeLessThanOrEqual(0.005);
    const dash = await j(w.api('dashboard?format=json'));
    expect(dash.projects.find((x: { projectId: string }) => x.projectId === p.projectId).timeToRestoreSeconds).toBe(
      expected,
    );
    expect(
      await total(METRICS.drifts.name, { [ATTR.driftCause]: 'access-policy-removed', [ATTR.model]: 'accessPolicy' }),
    ).toBe(1);
    expect(await total(METRICS.restores.name, { [ATTR.restoreKind]: 'accessPolicy', [ATTR.outcome]: 'verified' })).toBe(
      1,
    );
  });

  it('counts ARM and Atlas requests by operation and status', async () => {
    const arm = { [ATTR.api]: 'arm' };
    expect(
      await total(METRICS.apiRequestDuration.name, {
        ...arm,
        [ATTR.operation]: 'roleAssignments.create',
        [ATTR.httpStatus]: 201,
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await total(METRICS.apiRequestDuration.name, { ...arm, [ATTR.operation]: 'vaults.get', [ATTR.httpStatus]: 200 }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await total(METRICS.apiRequestDuration.name, {
        [ATTR.api]: 'atlas',
        [ATTR.operation]: 'encryptionAtRest.get',
        [ATTR.httpStatus]: 200,
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('counts each sweep once, as completed (what the stale-sweep alert rule queries)', async () => {
    const before = await total(METRICS.sweeps.name, { [ATTR.sweepOutcome]: 'completed' });
    const all = await total(METRICS.sweeps.name);
    await w.sweep();
    expect(await total(METRICS.sweeps.name, { [ATTR.sweepOutcome]: 'completed' })).toBe(before + 1);
    expect(await total(METRICS.sweeps.name)).toBe(all + 1);
  });

  it('no secret in any exported span (attributes, events, status) or log line', async () => {
    const secrets = [
      w.sandbox.atlasPrivateKey,
      w.sandbox.atlasPublicKey,
      w.functionKey,
      w.sandbox.describe().eventGridTopicKey,
    ].filter((s): s is string => typeof s === 'string' && s.length >= 6);
    expect(secrets.length).toBeGreaterThanOrEqual(3);
    const exported = spans
      .getFinishedSpans()
      .map((s) =>
        JSON.stringify({ name: s.name, attributes: s.attributes, events: s.events, status: s.status, links: s.links }),
      );
    expect(exported.length).toBeGreaterThan(10);
    expect(w.logs.length).toBeGreaterThan(3);
    for (const text of [...exported, ...w.logs]) {
      for (const secret of secrets) expect(text).not.toContain(secret);
      expect(text).not.toMatch(/Bearer\s+(?!\[REDACTED\])\S/);
      expect(text).not.toMatch(/Digest\s+(?!\[REDACTED\])\w+=/);
    }
  });
});
