// The status page of the running product in a real browser: the npm-shipped headless Chromium (playwright-core) against
// the local stack `npm start` runs (sandbox with its demo projects, Azurite, the Functions handlers on the local
// host, the webhook subscribed to the sandbox's events). A sandbox actor deletes the Atlas principal's role
// assignment; the event reaches the webhook, the grant is restored, and the open page shows the row as restored
// by refreshing itself. Screenshot: test/artifacts/dashboard-stack.png.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import { ARTIFACTS, launchChromium, type Browser } from '../helpers/browser.js';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { startAppWorld, type AppWorld } from '../helpers/app.js';

let w: AppWorld;
let browser: BrowserContext;
let chromiumHandle: Browser | undefined;

beforeAll(async () => {
  w = await startAppWorld();
  chromiumHandle = await launchChromium();
  browser = chromiumHandle.context;
}, 120_000);

afterAll(async () => {
  await chromiumHandle?.close();
  await w?.close();
});

const row = (id: string) => `tr[data-project="${id}"]`;

describe('status page of the running local stack, in Chromium', () => {
  it('shows every demo project; a drift made in the sandbox turns its row to restored by itself', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    const res = await page.goto(
      `${w.local.host.url}/api/dashboard?code=${encodeURIComponent(w.functionKey)}&refresh=1`,
    );
    expect(res?.status()).toBe(200);

    // Every demo project, checked by the sweep at start.
    expect(w.projects.length).toBeGreaterThanOrEqual(2);
    expect(await page.locator('table#projects tbody tr').count()).toBe(w.projects.length);
    for (const p of w.projects) {
      await page.locator(row(p.projectId)).waitFor();
      expect(
        await page
          .locator(`${row(p.projectId)} [data-status]`)
          .first()
          .innerText(),
      ).toContain('Healthy');
      expect(await page.locator(`${row(p.projectId)} td[data-label="Vault / key"]`).innerText()).toContain(p.vaultName);
    }
    expect(await page.locator('#hb-state').innerText()).toContain('Watcher running');

    // alice deletes the Atlas principal's Key Vault Crypto User assignment on the RBAC vault.
    const p = w.projects.find((x) => x.model === 'rbac')!;
    const [assignment] = w.sandbox.control
      .roleAssignments({ scope: p.vaultId, principalId: w.sandbox.atlasPrincipalId })
      .filter((a) =>
        String((a.properties as { roleDefinitionId: string }).roleDefinitionId).endsWith(ROLE_IDS.keyVaultCryptoUser),
      );
    w.sandbox.control.deleteAssignment({ as: 'alice', id: assignment!.id as string });

    // The page picks the restore up by itself (no reload).
    await page.locator(`${row(p.projectId)}[data-status="restored"]`).waitFor({ timeout: 30_000 });
    expect(
      await page
        .locator(`${row(p.projectId)} [data-status]`)
        .first()
        .innerText(),
    ).toContain('Restored');
    expect(await page.locator(`${row(p.projectId)} td[data-label="Changed by"]`).innerText()).toMatch(/alice/);
    expect(await page.locator(`${row(p.projectId)} td[data-label="Time to restore"]`).innerText()).toMatch(
      /^\d+(\.\d+)? (ms|s)$/,
    );
    expect(await page.locator('svg.chart rect.bar').count()).toBeGreaterThanOrEqual(1);
    // The other project was not touched.
    const other = w.projects.find((x) => x.projectId !== p.projectId)!;
    expect(
      await page
        .locator(`${row(other.projectId)} [data-status]`)
        .first()
        .innerText(),
    ).toContain('Healthy');
    expect(problems).toEqual([]);

    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-stack.png'), fullPage: true });
    await page.close();
  }, 90_000);
});
