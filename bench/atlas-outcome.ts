// (7) The user's outcome: how many drifts reached a failed Atlas validation (the periodic check that shuts the
// project's clusters down), under a 10-minute propagation delay and Atlas's 15-minute cycle, time-scaled. Each
// drift deletes the Atlas principal's Crypto User assignment at a random phase of the cycle; the loop restores it
// at once and then waits for Atlas to confirm (atlasConfirm.ts). Measured per drift: grant restored, Atlas
// confirmed (both from the change, in sandbox time), and whether a periodic validation failed in between.
//
// The emulator removes at once and grants after the delay (conservative, as the issue asks), and Atlas's check
// runs on its own phase: a drift whose removal is followed by a check before the new grant propagates fails it,
// whatever the loop does after the removal. Expect about (10 min + restore) / 15 min of drifts to reach a failed
// validation; zero needs a grant that is already propagated when the drift happens (not what the loop does today).
import { ROLE_IDS } from '../src/core/builtinRoles.js';
import { createEngine } from '../src/engine.js';
import { startLocalStorage } from '../src/local/azurite.js';
import { startSandbox } from '../src/sandbox/index.js';
import { benchSettings, connectionOf, percentile, round, seed, table } from './lib.js';

export interface AtlasOutcomeResult {
  drifts: number;
  timeScale: number;
  propagationDelayMin: number;
  validationIntervalMin: number;
  restored: number;
  confirmed: number;
  /** Drifts during which at least one periodic Atlas validation failed (clusters shut down). */
  reachedFailedValidation: number;
  failedValidations: number;
  restoredP50S: number;
  confirmedP50Min: number;
  confirmedMaxMin: number;
}

const MIN = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function atlasOutcome(drifts = 20, timeScale = 0.02): Promise<AtlasOutcomeResult> {
  const sb = await startSandbox({ timeScale, rateLimit: false, atlasValidationIntervalMs: 15 * MIN });
  const storage = await startLocalStorage();
  const seeded = seed(sb, drifts, drifts, 'o');
  sb.control.setPropagationDelay({ ms: 10 * MIN });
  const engine = await createEngine({
    settings: benchSettings(sb, { EAR_GUARD_MAX_RESTORES: '1000' }),
    sandbox: connectionOf(sb),
    storageConnection: storage.connectionString,
    // The loop's own schedule (1 s first re-check, 60 s cap, 15 min window), on the sandbox's clock.
    policy: {
      targetCacheMs: 0,
      atlasConfirm: { firstMs: 1_000 * timeScale, maxMs: MIN * timeScale, windowMs: 15 * MIN * timeScale },
    },
  });
  try {
    for (const p of seeded) await engine.reconcile(p.projectId, { kind: 'timer' });
    const cycle = 15 * MIN * timeScale;
    const one = async (p: (typeof seeded)[number]) => {
      await sleep(Math.random() * 2 * cycle);
      const a = sb.control
        .roleAssignments({ scope: p.vaultId, principalId: sb.atlasPrincipalId })
        .find((x) =>
          String((x.properties as Record<string, unknown>).roleDefinitionId).endsWith(ROLE_IDS.keyVaultCryptoUser),
        );
      const changedAt = new Date().toISOString();
      const t0 = performance.now();
      sb.control.deleteAssignment({ as: 'alice', id: String(a!.id) });
      const o = await engine.reconcile(p.projectId, { kind: 'event', eventTime: changedAt });
      const restoredMs = performance.now() - t0;
      // No polling (it would compete with the loop for the CPU): wait out two cycles, then read the history once.
      await sleep(2 * cycle);
      const h = await engine.deps.state.listHistory(p.projectId, { limit: 50 });
      const c = h.find((e) => e.kind === 'atlas-confirmed' && e.at >= changedAt);
      const afterMs = (c?.detail as { afterMs?: number } | undefined)?.afterMs;
      const confirmedMs = typeof afterMs === 'number' ? afterMs : undefined;
      const failed = sb.control.atlas
        .validations({ groupId: p.projectId, failedOnly: true })
        .filter((v) => v.at >= changedAt).length;
      return { restored: o.kind === 'restored', restoredMs, confirmedMs, failed };
    };
    const rs = await Promise.all(seeded.map(one));
    const restoredS = rs.map((r) => r.restoredMs / 1000).sort((x, y) => x - y);
    const confirmedMin = rs
      .flatMap((r) => (r.confirmedMs === undefined ? [] : [r.confirmedMs / timeScale / MIN]))
      .sort((x, y) => x - y);
    return {
      drifts,
      timeScale,
      propagationDelayMin: 10,
      validationIntervalMin: 15,
      restored: rs.filter((r) => r.restored).length,
      confirmed: confirmedMin.length,
      reachedFailedValidation: rs.filter((r) => r.failed > 0).length,
      failedValidations: rs.reduce((n, r) => n + r.failed, 0),
      // Real seconds: the restore itself is not scaled (it is the loop's own speed).
      restoredP50S: percentile(restoredS, 50),
      confirmedP50Min: percentile(confirmedMin, 50),
      confirmedMaxMin: confirmedMin.at(-1) ?? NaN,
    };
  } finally {
    await engine.close();
    await storage.close();
    await sb.close();
  }
}

/** The figure as `npm run bench` prints it (one table), returning the result for results.json. */
export async function atlasOutcomeFigure(drifts: number, say: (s: string) => void): Promise<AtlasOutcomeResult> {
  const r = await atlasOutcome(drifts);
  say(
    table(
      `7. The user's outcome: drifts that reached a failed Atlas validation (propagation ${r.propagationDelayMin} min, Atlas checks every ${r.validationIntervalMin} min; time scale ${r.timeScale})`,
      [
        'drifts',
        'restored',
        'Atlas confirmed',
        'reached a failed validation',
        'failed validations',
        'restore p50 s',
        'confirmed p50 min',
        'confirmed max min',
      ],
      [
        [
          r.drifts,
          r.restored,
          r.confirmed,
          r.reachedFailedValidation,
          r.failedValidations,
          round(r.restoredP50S, 2),
          round(r.confirmedP50Min),
          round(r.confirmedMaxMin),
        ],
      ],
    ),
  );
  return r;
}
