// The status page in a real browser: the npm-shipped headless Chromium driven by playwright-core, against the local
// host serving the same dashboard handler the Functions app registers, over a StateStore on Azurite.
// A project's row is changed through the real store API (as a reconcile records a drift and then a verified
// restore); the page must pick it up by itself. Screenshots (laptop and phone width) land in test/artifacts/.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import { ARTIFACTS, launchChromium, type Browser } from '../helpers/browser.js';
import { startAzurite, type RunningAzurite } from '../helpers/azurite.js';
import { StateStore } from '../../src/state/store.js';
import { writeHeartbeat } from '../../src/state/heartbeat.js';
import { startLocalHost, type LocalHost } from '../../src/local/host.js';
import { dashboardFunction, makeDashboardHandler } from '../../src/functions/dashboard.js';
import { healthFunction, makeHealthHandler } from '../../src/functions/health.js';

const KEY = 'e2e-function-key';
const VAULT = (name: string) =>
  `/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg-atlas/providers/Microsoft.KeyVault/vaults/${name}`;
const P = {
  healthy: '6650a1b2c3d4e5f6a7b8c901',
  drifting: '6650a1b2c3d4e5f6a7b8c902',
  policies: '6650a1b2c3d4e5f6a7b8c903',
};

let azurite: RunningAzurite;
let store: StateStore;
let host: LocalHost;
let browser: BrowserContext;
let chromiumHandle: Browser | undefined;

beforeAll(async () => {
  azurite = await startAzurite();
  store = new StateStore({ connection: azurite.connectionString, prefix: 'e2e' });
  await store.init();
  const now = new Date().toISOString();
  await store.updateProject(P.healthy, (r) => ({
    ...r,
    status: 'healthy',
    verdict: 'granted',
    model: 'rbac',
    vaultId: VAULT('kv-payments'),
    keyName: 'atlas-ear',
    lastCheck: now,
  }));
  await store.updateProject(P.policies, (r) => ({
    ...r,
    status: 'healthy',
    verdict: 'granted',
    model: 'accessPolicy',
    vaultId: VAULT('kv-ledger'),
    keyName: 'ear-key',
    lastCheck: now,
  }));
  await store.updateProject(P.drifting, (r) => ({
    ...r,
    status: 'healthy',
    verdict: 'granted',
    model: 'rbac',
    vaultId: VAULT('kv-orders'),
    keyName: 'atlas-ear',
    lastCheck: now,
  }));
  await writeHeartbeat(store, { finishedAt: now, projects: 3, outcomes: { converged: 3 }, errors: 0, durationMs: 900 });

  const deps = () => ({ store, sweepSchedule: '0 */5 * * * *', refreshSeconds: 1 });
  host = await startLocalHost({
    functionKey: KEY,
    http: [
      { ...dashboardFunction, handler: makeDashboardHandler(deps) },
      { ...healthFunction, handler: makeHealthHandler(deps) },
    ],
  });
  chromiumHandle = await launchChromium();
  browser = chromiumHandle.context;
}, 120_000);

afterAll(async () => {
  await chromiumHandle?.close();
  await host?.close();
  await azurite?.close();
});

const row = (id: string) => `tr[data-project="${id}"]`;

describe('status page in Chromium', () => {
  it('requires the function key', async () => {
    const page = await browser.newPage();
    const res = await page.goto(`${host.url}/api/dashboard`);
    expect(res?.status()).toBe(401);
    await page.close();
  });

  it('shows every project, then a drift, then the restore, refreshing by itself; no CSP or script errors', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    const res = await page.goto(`${host.url}/api/dashboard?code=${KEY}`);
    expect(res?.status()).toBe(200);
    for (const id of Object.values(P)) {
      await page.locator(row(id)).waitFor();
      expect(
        await page
          .locator(`${row(id)} [data-status]`)
          .first()
          .innerText(),
      ).toContain('Healthy');
    }
    expect(await page.locator(`${row(P.policies)} td[data-label="Model"]`).innerText()).toBe('Access policies');
    expect(await page.locator(`${row(P.drifting)} td[data-label="Vault / key"]`).innerText()).toContain('kv-orders');
    expect(await page.locator('#hb-state').innerText()).toContain('Watcher running');

    // A role assignment is deleted: the reconcile records the drift (as src/reconcile.ts does).
    const t0 = Date.now();
    await store.appendHistory({
      projectId: P.drifting,
      kind: 'detection',
      at: new Date(t0).toISOString(),
      trigger: 'event',
      eventId: 'evt-0001',
      correlationId: 'corr-0001',
      actor: '<script>alert("pwned")</script>',
      summary: 'missing get, encrypt, decrypt (role assignment deleted)',
    });
    await store.updateProject(P.drifting, (r) => ({
      ...r,
      status: 'drifted',
      verdict: 'missing',
      missing: ['get', 'encrypt', 'decrypt'],
    }));
    await page.locator(`${row(P.drifting)}[data-status="drifted"]`).waitFor({ timeout: 20_000 });
    expect(await page.locator(`${row(P.drifting)} td[data-label="Changed by"]`).innerText()).toBe(
      '<script>alert("pwned")</script>',
    );

    // ... restores the grant and verifies it.
    await store.appendHistory({
      projectId: P.drifting,
      kind: 'action',
      at: new Date(t0 + 3_000).toISOString(),
      trigger: 'event',
      eventId: 'evt-0001',
      summary: 'create role assignment Key Vault Crypto User at vault: created',
    });
    await store.appendHistory({
      projectId: P.drifting,
      kind: 'verification',
      at: new Date(t0 + 4_000).toISOString(),
      trigger: 'event',
      eventId: 'evt-0001',
      summary: 'after restore: granted',
      detail: { verdict: 'granted', missing: [] },
    });
    await store.updateProject(P.drifting, (r) => ({
      ...r,
      status: 'restored',
      verdict: 'granted',
      missing: [],
      restores: r.restores + 1,
      lastCheck: new Date(t0 + 4_000).toISOString(),
    }));
    await page.locator(`${row(P.drifting)}[data-status="restored"]`).waitFor({ timeout: 20_000 });
    expect(
      await page
        .locator(`${row(P.drifting)} [data-status]`)
        .first()
        .innerText(),
    ).toContain('Restored');
    expect(await page.locator(`${row(P.drifting)} td[data-label="Time to restore"]`).innerText()).toBe('4 s');
    expect(await page.locator('svg.chart rect.bar').count()).toBe(1);
    // The actor name was escaped, never executed.
    expect(await page.locator('#content script').count()).toBe(0);
    expect(problems).toEqual([]);

    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-laptop.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
    await page.close();
  }, 90_000);

  it('degrades to a plain table without JavaScript', async () => {
    const noScript = await launchChromium(undefined, { javaScriptEnabled: false });
    try {
      const page = await noScript.context.newPage();
      // A long interval, so the meta refresh does not reload the page while it is read.
      await page.goto(`${host.url}/api/dashboard?code=${KEY}&refresh=600`);
      expect(await page.locator('table#projects tbody tr').count()).toBe(3);
      expect(await page.locator('meta[http-equiv="refresh"]').getAttribute('content')).toBe('600');
      expect(await page.locator('#refresh-state').innerText()).toMatch(/Refreshes every 600 s/);
    } finally {
      await noScript.close();
    }
  }, 60_000);

  it('runs the Chromium shipped in the npm package unless EAR_GUARD_CHROMIUM names another', () => {
    const { binary } = chromiumHandle!;
    if (process.env.EAR_GUARD_CHROMIUM) expect(binary.source).toBe('EAR_GUARD_CHROMIUM');
    else expect(binary.executablePath).toMatch(/node_modules\/\.cache\/ear-guard-chromium\/[\d.]+\/chromium$/);
  });

  it('health answers 200 over the same host', async () => {
    const page = await browser.newPage();
    const res = await page.goto(`${host.url}/api/health`);
    expect(res?.status()).toBe(200);
    await page.close();
  });
});
