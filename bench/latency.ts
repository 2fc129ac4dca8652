// (2) Event to restored grant through the local host's webhook: the sandbox adds a fixed latency to every ARM
// request; each change deletes the Atlas principal's Crypto User assignment (as alice), Event Grid delivers the
// event to the webhook, and the app restores. Measured from the delete to the moment the grant exists again.
import { ROLE_IDS } from '../src/core/builtinRoles.js';
import { startLocalApp } from '../src/local/app.js';
import { startLocalStorage } from '../src/local/azurite.js';
import { subscribeWebhook } from '../src/local/subscribe.js';
import { startSandbox } from '../src/sandbox/index.js';
import { benchSettings, connectionOf, percentile, seed } from './lib.js';

export interface LatencyResult {
  changes: number;
  restored: number;
  armLatencyMs: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  criticalPathRoundTrips: number;
  floorMs: number;
  overheadP50: number;
}

export async function eventToRestored(changes = 200, latencyMs = 50, projects = 4): Promise<LatencyResult> {
  // Real time: Event Grid's 30 s response timeout and 10 s first retry as in Azure.
  const sb = await startSandbox({ timeScale: 1, rateLimit: false });
  const storage = await startLocalStorage();
  const seeded = seed(sb, projects, projects, 'l');
  const local = await startLocalApp({
    // Hundreds of deliberate drifts on a few projects: lift the flapping guard (it would stop after 3 restores/hour).
    settings: benchSettings(sb, { EAR_GUARD_MAX_RESTORES: '100000' }),
    sandbox: connectionOf(sb),
    storageConnection: storage.connectionString,
    functionKey: 'bench-function-key-0123456789',
    sweepSchedule: '0 0 0 1 1 *',
  });
  try {
    await subscribeWebhook({
      credential: sb.credential,
      subscriptionId: sb.subscriptionId,
      clientOptions: sb.clientOptions(),
      webhookUrl: local.webhookUrl,
      vaultIds: seeded.map((p) => p.vaultId),
    });
    // A first check of each project fills the routing indexes (as the first sweep does).
    for (const p of seeded) await local.app.engine.reconcile(p.projectId, { kind: 'timer' });
    await sb.control.eventGrid!.waitForIdle(10_000);
    sb.control.setFault({ path: /^\/subscriptions\//i }, { kind: 'latency', ms: latencyMs });

    const cryptoOf = (vaultId: string) =>
      sb.control
        .roleAssignments({ scope: vaultId, principalId: sb.atlasPrincipalId })
        .find((a) =>
          String((a.properties as Record<string, unknown>).roleDefinitionId).endsWith(ROLE_IDS.keyVaultCryptoUser),
        );
    const samples: number[] = [];
    let timeouts = 0;
    for (let i = 0; i < changes; i++) {
      const p = seeded[i % seeded.length]!;
      const a = cryptoOf(p.vaultId);
      if (!a) throw new Error('the grant to delete is missing');
      const t0 = performance.now();
      sb.control.deleteAssignment({ as: 'alice', id: String(a.id) });
      let back = false;
      while (performance.now() - t0 < 10_000) {
        if (cryptoOf(p.vaultId)) {
          back = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      if (!back) {
        timeouts++;
        continue;
      }
      samples.push(performance.now() - t0);
      // Let the restore's own events and verification settle before the next change.
      await sb.control.eventGrid!.waitForIdle(10_000);
      await new Promise((r) => setTimeout(r, 20));
    }
    sb.control.clearFaults();
    const s = [...samples].sort((a, b) => a - b);
    // On the path from event to grant: observe (vault, assignments, key; deny assignments are held: one parallel round
    // trip) then the role-assignment PUT. Atlas's target is cached (30 s); verification runs after the grant exists.
    const criticalPathRoundTrips = 2;
    const floor = criticalPathRoundTrips * latencyMs;
    return {
      changes,
      restored: samples.length,
      armLatencyMs: latencyMs,
      p50: percentile(s, 50),
      p95: percentile(s, 95),
      p99: percentile(s, 99),
      max: s.at(-1) ?? NaN,
      criticalPathRoundTrips,
      floorMs: floor,
      overheadP50: percentile(s, 50) - floor,
      ...(timeouts ? { timeouts } : {}),
    };
  } finally {
    await local.close();
    await sb.close();
    await storage.close();
  }
}
