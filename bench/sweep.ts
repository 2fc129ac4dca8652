// (3) Sweep at scale under ARM's read token bucket (250 burst + 25/s per subscription), sandbox time scaled.
// The sandbox and Azurite run here; the sweep runs in a child process (its RSS is the product's alone).
import { Faults, ARM_RATE_LIMITS } from '../src/sandbox/faults.js';
import { startSandbox } from '../src/sandbox/index.js';
import { startLocalStorage } from '../src/local/azurite.js';
import { connectionOf, runChild, seed } from './lib.js';

// Bench instrumentation of the emulator (not the product): count the 429s the token bucket answers.
let throttled = 0;
const take = Faults.prototype.takeToken;
Faults.prototype.takeToken = function (this: Faults, ...a: Parameters<Faults['takeToken']>) {
  const ok = take.apply(this, a);
  if (!ok) throttled++;
  return ok;
};

export interface SweepScaleResult {
  projects: number;
  vaults: number;
  shareVaultReads: boolean;
  timeScale: number;
  seedMs: number;
  wallRealS: number;
  wallSandboxS: number;
  cpuS: number;
  armReads: number;
  armReadsPerProject: number;
  /** Atlas Admin API requests per project (the service account's token requests not counted). */
  atlasRequestsPerProject: number;
  /** HTTP requests the sweeper sent, by client and host. */
  requests?: Record<string, number>;
  lowerBoundSandboxS: number;
  ratio: number;
  throttled429: number;
  byOutcome: Record<string, number>;
  errors: number;
  peakRssMb: number;
  rssBeforeMb: number;
  /** `first`: every row, history entry and index row is new; `steady`: a later sweep of the same, healthy state. */
  pass: 'first' | 'steady';
}

/** What one sweep child reports. */
interface ChildRun {
  wallMs: number;
  cpuMs: number;
  byOutcome: Record<string, number>;
  errors: number;
  /** HTTP requests the sweep sent, by client and host (bench instrumentation). */
  requests?: Record<string, number>;
  peakRss: number;
  rssBefore: number;
  maxRss: number;
}

interface RunInfo {
  projects: number;
  vaults: number;
  shareVaultReads: boolean;
  timeScale: number;
  seedMs: number;
  pass: SweepScaleResult['pass'];
}

/** One child's figures against the ARM bound of the reads it made (the 429s it took are not reads). */
function resultOf(
  counts: Record<string, number>,
  atlasCounts: Record<string, number>,
  r: ChildRun,
  info: RunInfo,
): SweepScaleResult {
  const armReadOps = Object.entries(counts).filter(([op]) => /\.(get|list)/i.test(op));
  const attempts = armReadOps.reduce((s, [, n]) => s + n, 0);
  const reads = attempts - throttled;
  const { burst, perSecond } = ARM_RATE_LIMITS.reads;
  const bound = Math.max(0, (reads - burst) / perSecond);
  const wallSandboxS = r.wallMs / 1000 / info.timeScale;
  return {
    ...info,
    wallRealS: r.wallMs / 1000,
    wallSandboxS,
    cpuS: r.cpuMs / 1000,
    armReads: reads,
    armReadsPerProject: reads / info.projects,
    atlasRequestsPerProject:
      Object.entries(atlasCounts)
        .filter(([op]) => op.startsWith('atlas.') && !op.startsWith('atlas.oauth'))
        .reduce((s, [, n]) => s + n, 0) / info.projects,
    lowerBoundSandboxS: bound,
    ratio: bound > 0 ? wallSandboxS / bound : NaN,
    throttled429: throttled,
    byOutcome: r.byOutcome,
    errors: r.errors,
    requests: r.requests,
    peakRssMb: Math.max(r.peakRss, r.maxRss) / 1024 / 1024,
    rssBeforeMb: r.rssBefore / 1024 / 1024,
  };
}

/**
 * `projects` over `vaults`, swept by a fresh process with a full ARM bucket: the first sweep (rows, history and
 * index written for every project) and, with `steady`, a second one in another fresh process over the same state:
 * what every later scheduled sweep is (nothing drifted, nothing to write).
 */
export async function sweepAtScale(
  projects: number,
  vaults: number,
  opts: { timeScale: number; shareVaultReads: boolean; steady?: boolean; nodeArgs?: string[] },
): Promise<SweepScaleResult[]> {
  const sb = await startSandbox({ timeScale: opts.timeScale });
  const storage = await startLocalStorage();
  try {
    const t0 = performance.now();
    const seeded = seed(sb, projects, vaults);
    const seedMs = performance.now() - t0;
    const out: SweepScaleResult[] = [];
    for (const pass of opts.steady ? (['first', 'steady'] as const) : (['first'] as const)) {
      sb.control.resetCounts();
      throttled = 0;
      // A full bucket at the start, as after a quiet period.
      sb.control.setRateLimit({ enabled: true });
      const r = await runChild<ChildRun>(
        'sweep-child.ts',
        {
          sandbox: connectionOf(sb),
          storage: storage.connectionString,
          projectIds: seeded.map((p) => p.projectId),
          shareVaultReads: opts.shareVaultReads,
          prefix: `s${projects}${opts.shareVaultReads ? 'y' : 'n'}`,
        },
        opts.nodeArgs,
      );
      const all = sb.control.counts();
      const counts = all.byCallerOperation['ear-guard'] ?? {};
      const { timeScale, shareVaultReads } = opts;
      out.push(resultOf(counts, all.byOperation, r, { projects, vaults, shareVaultReads, timeScale, seedMs, pass }));
    }
    return out;
  } finally {
    await sb.close();
    await storage.close();
  }
}
