// The heartbeat and /api/health against Table Storage (Azurite in-process) with the real @azure/data-tables
// client, and the Azure SDK's own spans nesting under ours once telemetry is installed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import azureFunctions from '@azure/functions';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startAzurite, AZURITE_ACCOUNT, type RunningAzurite } from '../helpers/azurite.js';
import { StateStore } from '../../src/state/store.js';
import { readHeartbeat, writeHeartbeat } from '../../src/state/heartbeat.js';
import { makeHealthHandler } from '../../src/functions/health.js';
import { makeDashboardHandler } from '../../src/functions/dashboard.js';
import { startTelemetry, withSpan, SPANS, type TelemetryHandle } from '../../src/observability/telemetry.js';

const { HttpRequest, InvocationContext } = azureFunctions;
const SCHEDULE = '0 */5 * * * *';

let azurite: RunningAzurite;
let store: StateStore;
let telemetry: TelemetryHandle;
const spans = new InMemorySpanExporter();

beforeAll(async () => {
  telemetry = await startTelemetry({ env: {}, spanProcessors: [new SimpleSpanProcessor(spans)] });
  azurite = await startAzurite();
  store = new StateStore({ connection: azurite.connectionString, prefix: 'hb' });
  await store.init();
});
afterAll(async () => {
  await azurite?.close();
  await telemetry?.shutdown();
});

const ctx = () => new InvocationContext({ invocationId: 'test-inv', functionName: 'health' });
const get = (path: string) => new HttpRequest({ method: 'GET', url: `http://localhost/api/${path}` });

describe('heartbeat in the state table', () => {
  it('reads nothing before the first sweep, then the latest; never moves backwards', async () => {
    expect(await readHeartbeat(store)).toBeUndefined();
    await writeHeartbeat(store, {
      finishedAt: '2026-03-01T11:55:00.000Z',
      projects: 4,
      outcomes: { converged: 4 },
      errors: 0,
    });
    await writeHeartbeat(store, { finishedAt: '2026-03-01T11:50:00.000Z', projects: 1, outcomes: {}, errors: 1 });
    expect(await readHeartbeat(store)).toMatchObject({
      finishedAt: '2026-03-01T11:55:00.000Z',
      projects: 4,
      outcomes: { converged: 4 },
    });
    // Not a project: listProjects ignores the heartbeat row.
    expect(await store.listProjects()).toEqual([]);
  });
});

describe('GET /api/health', () => {
  it('200 when the last sweep finished within two periods', async () => {
    const h = makeHealthHandler(() => ({
      store,
      sweepSchedule: SCHEDULE,
      now: () => new Date('2026-03-01T12:04:00Z'),
    }));
    const res = await h(get('health'), ctx());
    expect(res.status).toBe(200);
    expect(res.jsonBody).toMatchObject({
      status: 'healthy',
      storage: 'reachable',
      sweepAgeSeconds: 540,
      maxSweepAgeSeconds: 600,
    });
  });

  it('503 with the reason when the sweep is late', async () => {
    const h = makeHealthHandler(() => ({
      store,
      sweepSchedule: SCHEDULE,
      now: () => new Date('2026-03-01T12:06:00Z'),
    }));
    const res = await h(get('health'), ctx());
    expect(res.status).toBe(503);
    expect(res.jsonBody.reasons[0]).toMatch(/last sweep finished 11 min ago/);
  });

  it('503 when state storage rejects us, naming storage and never echoing the key', async () => {
    const badKey = Buffer.from('not-the-azurite-key-not-the-azurite-key-1234').toString('base64');
    const bad = new StateStore({
      connection: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${badKey};TableEndpoint=${azurite.tableEndpoint};`,
      prefix: 'hb',
    });
    const h = makeHealthHandler(() => ({ store: bad, sweepSchedule: SCHEDULE }));
    const res = await h(get('health'), ctx());
    expect(res.status).toBe(503);
    expect(res.jsonBody.storage).toBe('unreachable');
    expect(res.jsonBody.reasons[0]).toMatch(/^state storage unreachable: state 403/);
    expect(JSON.stringify(res.jsonBody)).not.toContain(badKey);
  });

  it('503 (not a throw) when the app did not configure its dependencies', async () => {
    const h = makeHealthHandler(() => {
      throw new Error('observability dependencies not set');
    });
    const res = await h(get('health'), ctx());
    expect(res.status).toBe(503);
  });
});

describe('GET /api/dashboard', () => {
  it('serves HTML with a CSP nonce matching the inline script, and JSON on ?format=json', async () => {
    await store.updateProject('65f0a1b2c3d4e5f6a7b8c9d0', (r) => ({ ...r, status: 'healthy', model: 'rbac' }));
    const h = makeDashboardHandler(() => ({
      store,
      sweepSchedule: SCHEDULE,
      now: () => new Date('2026-03-01T12:00:00Z'),
    }));
    const res = await h(get('dashboard'), ctx());
    expect(res.status).toBe(200);
    const headers = res.headers as Record<string, string>;
    const nonce = /script-src 'nonce-([^']+)'/.exec(headers['content-security-policy']!)![1]!;
    expect(String(res.body)).toContain(`<script nonce="${nonce}">`);
    expect(String(res.body)).toContain('65f0a1b2c3d4e5f6a7b8c9d0');
    const json = await h(new HttpRequest({ method: 'GET', url: 'http://localhost/api/dashboard?format=json' }), ctx());
    expect(json.jsonBody.projects).toEqual([
      expect.objectContaining({ projectId: '65f0a1b2c3d4e5f6a7b8c9d0', status: 'healthy' }),
    ]);
  });
});

describe('Azure SDK spans', () => {
  it('nest under our span once telemetry is installed', async () => {
    spans.reset();
    await withSpan(SPANS.observe, { project: 'p1' }, () => store.listProjects());
    const finished = spans.getFinishedSpans();
    const ours = finished.find((s) => s.name === SPANS.observe)!;
    const sdk = finished.filter((s) => s !== ours);
    expect(sdk.length).toBeGreaterThan(0);
    expect(sdk.some((s) => s.parentSpanContext?.spanId === ours.spanContext().spanId)).toBe(true);
    expect(sdk.every((s) => s.spanContext().traceId === ours.spanContext().traceId)).toBe(true);
  });
});
