// `npm run bench`: every figure measured against the sandbox in one run, each next to its comparison, printed as
// tables and written to bench/results.json. Options: --sizes=1000,2000 (sweep sizes; --full = 1000,10000), --naive=200,
// --changes=200 (event-to-restored samples), --out=<file> (default bench/results.json), --quick (small sizes, for a smoke run). Never part of `npm test`.
import { writeFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { armRequests } from './arm-requests.js';
import { atlasOutcomeFigure } from './atlas-outcome.js';
import { coldStart } from './coldstart.js';
import { costModel, FORMULA, goalRows, PRICING } from './cost.js';
import { eventToRestored } from './latency.js';
import { ROOT, round, table } from './lib.js';
import { sweepAtScale, type SweepScaleResult } from './sweep.js';
import { triageThroughput } from './triage.js';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const quick = process.argv.includes('--quick');
const full = process.argv.includes('--full');
const sizes = (arg('sizes') ?? (full ? '1000,10000' : quick ? '200,400' : '1000,2000')).split(',').map(Number);
const changes = Number(arg('changes') ?? (quick ? 20 : 200));
const t0 = performance.now();
const out: Record<string, unknown> = {
  startedAt: new Date().toISOString(),
  machine: {
    cpus: availableParallelism(),
    model: cpus()[0]?.model,
    memGb: round(totalmem() / 2 ** 30),
    loadavg: loadavg(),
    node: process.version,
  },
};
const say = (s: string) => process.stdout.write(s + '\n');
const step = (s: string) => process.stderr.write(`[bench ${round((performance.now() - t0) / 1000, 0)}s] ${s}\n`);

step('1/6 ARM requests per reconcile');
const ar = await armRequests(20);
out.armRequests = ar;
say(
  table(
    '1. ARM requests per reconcile (one project, 20 other assignments at the vault)',
    ['case', 'ARM requests', 'Atlas requests', 'table tx', 'detail'],
    [
      [
        'healthy, warm caches (goal: <= 3 ARM, <= 1 table tx)',
        ar.healthyWarm.arm,
        ar.healthyWarm.atlas,
        ar.healthyWarm.table,
        Object.entries(ar.healthyWarm.byOperation)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
      ],
      [
        'healthy, cold (first check)',
        ar.healthyCold.arm,
        ar.healthyCold.atlas,
        ar.healthyCold.table,
        'Atlas target loaded (then cached 30 s)',
      ],
      [
        'drifted (1 grant missing)',
        ar.drifted.arm,
        '-',
        ar.drifted.table,
        `observe + ${ar.drifted.writes} write + verify (verification reads fresh)`,
      ],
      [
        'naive (list all at vault + GET each role def)',
        ar.naive.arm,
        '-',
        '-',
        Object.entries(ar.naive.byOperation)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
      ],
    ],
  ),
);

step(`2/6 event to restored (${changes} changes)`);
const lat = await eventToRestored(changes, 50);
out.eventToRestored = lat;
say(
  table(
    `2. Event -> restored grant via the local host webhook, ${lat.armLatencyMs} ms added to every ARM request`,
    [
      'changes',
      'restored',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'max ms',
      'ARM round trips on path',
      'floor ms',
      'p50 overhead ms',
    ],
    [
      [
        lat.changes,
        lat.restored,
        round(lat.p50),
        round(lat.p95),
        round(lat.p99),
        round(lat.max),
        lat.criticalPathRoundTrips,
        lat.floorMs,
        round(lat.overheadP50),
      ],
    ],
  ),
);

const sweeps: SweepScaleResult[] = [];
for (const n of sizes) {
  step(`3/6 sweep of ${n} projects over 100 vaults (ARM token bucket, real time)`);
  // Then a steady-state sweep of the same projects in a fresh process: what every scheduled sweep after the first is.
  sweeps.push(...(await sweepAtScale(n, 100, { timeScale: 1, shareVaultReads: true, steady: true })));
}
// The comparison without shared vault reads needs 4 reads per project: a smaller sweep keeps the run short.
const naiveN = Number(arg('naive') ?? (quick ? 100 : 200));
step(`3/6 sweep of ${naiveN} projects without shared vault reads (time scale 0.25)`);
sweeps.push(...(await sweepAtScale(naiveN, 100, { timeScale: 0.25, shareVaultReads: false })));
out.sweep = sweeps;
say(
  table(
    '3. Sweep at scale, 100 vaults, ARM reads 250 burst + 25/s (sandbox seconds; time scale given)',
    [
      'projects',
      'sweep',
      'vault reads shared',
      'time scale',
      'ARM reads',
      'reads/project',
      'lower bound s',
      'wall s',
      'wall/bound',
      '429s',
      'outcomes',
      'sweeper peak RSS MB',
      'sweeper CPU s',
    ],
    sweeps.map((s) => [
      s.projects,
      s.pass,
      s.shareVaultReads ? 'yes' : 'no',
      s.timeScale,
      s.armReads,
      round(s.armReadsPerProject, 2),
      round(s.lowerBoundSandboxS),
      round(s.wallSandboxS),
      round(s.ratio, 2),
      s.throttled429,
      Object.entries(s.byOutcome)
        .map(([k, v]) => `${v} ${k}`)
        .join(', '),
      round(s.peakRssMb),
      round(s.cpuS),
    ]),
  ),
);

step('4/6 cold start');
const cs = await coldStart(7);
out.coldStart = cs;
say(
  table(
    '4. Cold start: import of the Functions entry in a fresh node process (median of 7)',
    ['build', 'import ms', 'process ms', 'RSS MB', 'heap MB'],
    [
      [
        'deployed bundle (dist/functions/index.js)',
        round(cs.bundled.importMsP50),
        round(cs.bundled.processMsP50),
        round(cs.bundled.rssMbP50),
        round(cs.bundled.heapMbP50),
      ],
      [
        'unbundled (one file per source, node_modules)',
        round(cs.unbundled.importMsP50),
        round(cs.unbundled.processMsP50),
        round(cs.unbundled.rssMbP50),
        round(cs.unbundled.heapMbP50),
      ],
    ],
  ),
);

step('5/6 triage throughput');
const tr = triageThroughput(100, 2);
out.triage = tr;
say(
  table(
    '5. Triage: irrelevant events dropped per second, one core (JSON body parse + triage, batches of 100)',
    ['schema', 'events/s', 'µs/event'],
    [
      ['Event Grid', Math.round(tr.eventGridPerSec), round(1e6 / tr.eventGridPerSec, 2)],
      ['CloudEvents 1.0', Math.round(tr.cloudEventsPerSec), round(1e6 / tr.cloudEventsPerSec, 2)],
    ],
  ),
);

step('6/6 cost model');
// Every scheduled sweep but the first is a steady-state one: the cost and the goals take the largest of those.
const ref = sweeps.filter((s) => s.shareVaultReads && s.pass === 'steady').at(-1)!;
const inputs = {
  secondsPerProject: Math.max(ref.cpuS, ref.lowerBoundSandboxS) / ref.projects,
  projectsPerVault: ref.projects / ref.vaults,
  tablePerReconcile: ar.healthyWarm.table,
  fanoutThreshold: 50,
};
const cost = costModel([100, 10_000], inputs);
out.cost = { inputs, pricing: PRICING, formula: FORMULA, rows: cost };
say(
  table(
    `6. Cost per month at the default schedule (measured: ${round(inputs.secondsPerProject * 1000)} ms busy per project from the ${ref.projects}-project sweep, ${inputs.tablePerReconcile} table tx per healthy reconcile, fan-out per vault)`,
    ['projects', 'executions', 'GB-s', 'table tx', 'queue tx', 'Functions USD', 'Tables USD'],
    cost.map((c) => [
      c.projects,
      c.executionsPerMonth.toLocaleString('en'),
      Math.round(c.gbSecondsPerMonth).toLocaleString('en'),
      c.tableTransactionsPerMonth.toLocaleString('en'),
      c.queueTransactionsPerMonth.toLocaleString('en'),
      round(c.usdFunctions, 2),
      round(c.usdTables, 2),
    ]),
  ),
);
say(FORMULA.map((f) => `  ${f}`).join('\n'));
say(`  pricing assumptions: ${JSON.stringify(PRICING)}`);

const outcome = await atlasOutcomeFigure(quick ? 8 : 20, say);
out.atlasOutcome = outcome.plain;
out.atlasOutcomeStandby = outcome.standby;
out.finishedAt = new Date().toISOString();
out.durationS = round((performance.now() - t0) / 1000);
const largest = ref;
const goals = goalRows({
  arm: ar.healthyWarm.arm,
  table: ar.healthyWarm.table,
  overheadP99: lat.p99 - lat.floorMs,
  sweepRatio: largest.ratio,
  sweepProjects: largest.projects,
  cpuMsPerProject: (largest.cpuS * 1000) / largest.projects,
  importMs: cs.bundled.importMsP50,
  importRatio: cs.bundled.importMsP50 / cs.unbundled.importMsP50,
  usd10k: cost.find((c) => c.projects === 10_000)!,
});
out.goals = goals;
say(
  table(
    'Goals (issue 16): each figure next to its goal',
    ['figure', 'measured', 'goal', 'met'],
    goals.map((g) => [g.figure, g.measured, g.goal, g.met ? 'yes' : 'NO']),
  ),
);
const resultsFile = arg('out') ?? 'bench/results.json';
writeFileSync(isAbsolute(resultsFile) ? resultsFile : `${ROOT}${resultsFile}`, JSON.stringify(out, null, 2) + '\n');
say(
  `\nbench took ${out.durationS} s; machine: ${availableParallelism()} cores, load ${loadavg()
    .map((x) => round(x))
    .join(' ')}, sweeper RSS peak ${sweeps.map((s) => `${s.projects}: ${round(s.peakRssMb)} MB`).join(', ')}`,
);
say(`results: ${resultsFile}`);
process.exit(0);
