// (6) Cost model: Functions GB-seconds, executions and table transactions per month at the default schedule
// (every 5 minutes), from figures measured in this run. Prices are assumptions, printed with the formula.

export const PRICING = {
  source:
    'azure.microsoft.com/pricing/details/functions (Flex Consumption, on demand) and /storage/tables; pay-as-you-go list prices, USD, region-dependent: check before relying on them',
  flexGbSecond: 0.000026,
  flexPerMillionExecutions: 0.4,
  flexFreeGbSeconds: 100_000,
  flexFreeExecutions: 250_000,
  tablePer10kTransactions: 0.00036,
  instanceMemoryGb: 2, // infra/app/app.bicep instanceMemoryMB: 2048 (Flex bills the instance memory size)
};

export interface CostInputs {
  /**
   * Instance busy seconds per project: the larger of the sweeper's own CPU per project and the ARM-bound wall time
   * per project (ARM's read rate, not this machine's shared cores: the emulator and Azurite are not on a Functions
   * instance).
   */
  secondsPerProject: number;
  /** Projects per vault in the measured sweep: the fan-out sends one message per vault. */
  projectsPerVault: number;
  /** Measured: table transactions of one healthy reconcile with warm caches. */
  tablePerReconcile: number;
  /** Fan-out threshold (default setting): above it each vault's projects are one queue-triggered execution. */
  fanoutThreshold: number;
}

export interface CostRow {
  projects: number;
  sweepsPerMonth: number;
  executionsPerMonth: number;
  gbSecondsPerMonth: number;
  tableTransactionsPerMonth: number;
  queueTransactionsPerMonth: number;
  usdFunctions: number;
  usdTables: number;
}

export const FORMULA = [
  'sweeps/month     = 30 d x 24 h x 12 (every 5 min) = 8,640',
  'executions/month = sweeps x (1 + V when N > fan-out threshold, else 1); V = vaults = N / measured projects per vault',
  'GB-s/month       = sweeps x N x max(sweeper CPU s, ARM-bound wall s) per project (measured) x 2 GB instance memory',
  'table tx/month   = sweeps x (N x measured table tx per healthy reconcile + 3 (summary row, heartbeat read + write) + ceil(N/1000) (project scan))',
  'queue tx/month   = sweeps x V x 3 (put, get, delete) when fanned out',
  'USD              = max(0, GB-s - 100,000 free) x $0.000026 + max(0, executions - 250,000 free) x $0.40/1e6 + table tx x $0.00036/1e4',
];

export function costModel(projects: number[], m: CostInputs): CostRow[] {
  const sweeps = 30 * 24 * 12;
  return projects.map((n) => {
    const fanout = n > m.fanoutThreshold;
    const vaults = Math.ceil(n / Math.max(1, m.projectsPerVault));
    const executions = sweeps * (1 + (fanout ? vaults : 0));
    const gbs = sweeps * n * m.secondsPerProject * PRICING.instanceMemoryGb;
    const table = sweeps * (n * m.tablePerReconcile + 3 + Math.ceil(n / 1000));
    const queue = fanout ? sweeps * vaults * 3 : 0;
    const usdFunctions =
      Math.max(0, gbs - PRICING.flexFreeGbSeconds) * PRICING.flexGbSecond +
      (Math.max(0, executions - PRICING.flexFreeExecutions) * PRICING.flexPerMillionExecutions) / 1e6;
    const usdTables = (table / 1e4) * PRICING.tablePer10kTransactions;
    return {
      projects: n,
      sweepsPerMonth: sweeps,
      executionsPerMonth: executions,
      gbSecondsPerMonth: gbs,
      tableTransactionsPerMonth: table,
      queueTransactionsPerMonth: queue,
      usdFunctions,
      usdTables,
    };
  });
}

/** The reference before issue 16 (bench/results.json of 2026-11-28): 10,000 projects, default schedule. */
export const BEFORE_USD_10K = 362.53 + 15.56;

export interface GoalInputs {
  arm: number;
  table: number;
  overheadP99: number;
  sweepRatio: number;
  sweepProjects: number;
  cpuMsPerProject: number;
  importMs: number;
  importRatio: number;
  usd10k: CostRow;
}

export interface GoalRow {
  figure: string;
  measured: string;
  goal: string;
  met: boolean;
}

const r1 = (n: number) => String(Math.round(n * 10) / 10);

/** Each figure of issue 16 next to its goal. */
export function goalRows(g: GoalInputs): GoalRow[] {
  const usd = g.usd10k.usdFunctions + g.usd10k.usdTables;
  return [
    { figure: 'ARM requests per healthy check (warm)', measured: r1(g.arm), goal: '<= 3', met: g.arm <= 3 },
    { figure: 'table transactions per healthy check', measured: r1(g.table), goal: '<= 1', met: g.table <= 1 },
    {
      figure: 'event to restored, p99 minus the floor (ms)',
      measured: r1(g.overheadP99),
      goal: '<= 20',
      met: g.overheadP99 <= 20,
    },
    {
      figure: `steady-state sweep of ${g.sweepProjects} projects, wall / ARM lower bound`,
      measured: `${r1(g.sweepRatio)}x`,
      goal: '<= 1.5x',
      met: g.sweepRatio <= 1.5,
    },
    {
      figure: 'sweeper CPU per project, steady-state sweep (ms)',
      measured: r1(g.cpuMsPerProject),
      goal: '<= 2',
      met: g.cpuMsPerProject <= 2,
    },
    {
      figure: 'cold start: import of the Functions bundle (ms; ratio to unbundled)',
      measured: `${r1(g.importMs)} (${Math.round(g.importRatio * 100) / 100}x)`,
      goal: '<= 150 and <= 0.30x',
      met: g.importMs <= 150 && g.importRatio <= 0.3,
    },
    {
      figure: 'cost, 10,000 projects, default schedule (USD/month)',
      measured: `${r1(usd)} (${r1(BEFORE_USD_10K / usd)}x less than ${r1(BEFORE_USD_10K)})`,
      goal: '>= 5x less',
      met: BEFORE_USD_10K / usd >= 5,
    },
  ];
}
