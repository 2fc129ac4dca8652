// (7) The user's outcome: how many drifts reached a failed Atlas validation (the periodic check that shuts the
// project's clusters down), under a 10-minute propagation delay and Atlas's 15-minute cycle, time-scaled. Each
// drift deletes the Atlas principal's Crypto User assignment at a random phase of the cycle; the loop restores it
// at once and then waits for Atlas to confirm (atlasConfirm.ts). Measured per drift: grant restored, Atlas
// confirmed (both from the change, in sandbox time), and whether a periodic validation failed in between.
//
// The emulator removes at once and grants after the delay (conservative, as the issue asks), and Atlas's check
// runs on its own phase: a drift whose removal is followed by a check before the new grant propagates fails it,
// whatever the loop does after the removal. Expect about (10 min + restore) / 15 min of drifts to reach a failed
// validation without the standby grant. Zero needs a grant that is already propagated when the drift happens: the
// second run keeps the standby (EAR_GUARD_STANDBY_GRANT=key), established and propagated before the drifts start,
// and deletes the vault's Crypto User in half the drifts and the key's in the other half.
//
// Alone (figure 7 only, results merged into bench/results.json): `npx tsx bench/atlas-outcome.ts [--drifts=20]`.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ROLE_IDS } from '../src/core/builtinRoles.js';
import { createEngine } from '../src/engine.js';
import { startLocalStorage } from '../src/local/azurite.js';
import { startSandbox } from '../src/sandbox/index.js';
import { benchSettings, connectionOf, percentile, ROOT, round, seed, table, type SeededProject } from './lib.js';
import type { Sandbox } from '../src/sandbox/index.js';

export interface AtlasOutcomeResult {
  /** The standby grant was kept (EAR_GUARD_STANDBY_GRANT=key), established and propagated before the drifts. */
  standby: boolean;
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

/** The Atlas principal's Crypto User at exactly the vault or the key (a listing by principal also shows the other). */
function cryptoUserAt(sb: Sandbox, p: SeededProject, scope: string): string | undefined {
  const a = sb.control.roleAssignments({ scope: p.vaultId, principalId: sb.atlasPrincipalId }).find((x) => {
    const props = x.properties as Record<string, unknown>;
    return (
      String(props.roleDefinitionId).endsWith(ROLE_IDS.keyVaultCryptoUser) &&
      String(props.scope).toLowerCase() === scope.toLowerCase()
    );
  });
  return a ? String(a.id) : undefined;
}

export async function atlasOutcome(drifts = 20, timeScale = 0.02, standby = false): Promise<AtlasOutcomeResult> {
  const sb = await startSandbox({ timeScale, rateLimit: false, atlasValidationIntervalMs: 15 * MIN });
  const storage = await startLocalStorage();
  const seeded = seed(sb, drifts, drifts, 'o');
  sb.control.setPropagationDelay({ ms: 10 * MIN });
  const engine = await createEngine({
    settings: benchSettings(sb, {
      EAR_GUARD_MAX_RESTORES: '1000',
      EAR_GUARD_STANDBY_GRANT: standby ? 'key' : 'off',
    }),
    sandbox: connectionOf(sb),
    storageConnection: storage.connectionString,
    // The loop's own schedule (1 s first re-check, 60 s cap, 15 min window), on the sandbox's clock.
    policy: {
      targetCacheMs: 0,
      atlasConfirm: { firstMs: 1_000 * timeScale, maxMs: MIN * timeScale, windowMs: 15 * MIN * timeScale },
    },
  });
  try {
    // With the standby, this pass adds the key's half; then the delay passes so it reaches the data plane.
    for (const p of seeded) await engine.reconcile(p.projectId, { kind: 'timer' });
    if (standby) await sleep(10 * MIN * timeScale + 500);
    const cycle = 15 * MIN * timeScale;
    const one = async (p: SeededProject, i: number) => {
      await sleep(Math.random() * 2 * cycle);
      // Without the standby only the vault holds the grant; with it, every other drift deletes the key's half.
      const scope = standby && i % 2 === 1 ? `${p.vaultId}/keys/${p.keyName}` : p.vaultId;
      const id = cryptoUserAt(sb, p, scope);
      if (!id) throw new Error(`no Crypto User at ${scope}`);
      const changedAt = new Date().toISOString();
      const t0 = performance.now();
      sb.control.deleteAssignment({ as: 'alice', id });
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
      standby,
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

const row = (r: AtlasOutcomeResult) => [
  r.standby ? 'on (vault + key)' : 'off',
  r.drifts,
  r.restored,
  r.confirmed,
  r.reachedFailedValidation,
  r.failedValidations,
  round(r.restoredP50S, 2),
  round(r.confirmedP50Min),
  round(r.confirmedMaxMin),
];

export interface AtlasOutcomeFigure {
  /** Without the standby grant (the key `atlasOutcome` in results.json). */
  plain: AtlasOutcomeResult;
  /** With EAR_GUARD_STANDBY_GRANT=key (the key `atlasOutcomeStandby`). */
  standby: AtlasOutcomeResult;
}

/** The figure as `npm run bench` prints it (one table, a row without and one with the standby grant). */
export async function atlasOutcomeFigure(drifts: number, say: (s: string) => void): Promise<AtlasOutcomeFigure> {
  const plain = await atlasOutcome(drifts);
  const standby = await atlasOutcome(drifts, undefined, true);
  say(
    table(
      `7. The user's outcome: drifts that reached a failed Atlas validation (propagation ${plain.propagationDelayMin} min, Atlas checks every ${plain.validationIntervalMin} min; time scale ${plain.timeScale})`,
      [
        'standby grant',
        'drifts',
        'restored',
        'Atlas confirmed',
        'reached a failed validation',
        'failed validations',
        'restore p50 s',
        'confirmed p50 min',
        'confirmed max min',
      ],
      [row(plain), row(standby)],
    ),
  );
  return { plain, standby };
}

// Figure 7 alone: prints it and merges its two results into bench/results.json, keeping every other key.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const drifts = Number(process.argv.find((a) => a.startsWith('--drifts='))?.split('=')[1] ?? 20);
  const fig = await atlasOutcomeFigure(drifts, (line) => process.stdout.write(line + '\n'));
  const file = `${ROOT}bench/results.json`;
  const results = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  results.atlasOutcome = fig.plain;
  results.atlasOutcomeStandby = fig.standby;
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`results: bench/results.json (atlasOutcome, atlasOutcomeStandby)\n`);
  process.exit(0);
}
