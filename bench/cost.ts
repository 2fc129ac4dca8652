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
  /** Measured: sweep wall seconds per project (instance busy time; concurrency as the product bounds it). */
  secondsPerProject: number;
  /** Measured: table transactions of one healthy reconcile with warm caches. */
  tablePerReconcile: number;
  /** Fan-out threshold (default setting): above it each project is one queue-triggered execution. */
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
  'executions/month = sweeps x (1 + N when N > fan-out threshold, else 1)',
  'GB-s/month       = sweeps x N x (measured sweep seconds per project) x 2 GB instance memory',
  'table tx/month   = sweeps x (N x measured table tx per healthy reconcile + 2 (summary row, heartbeat) + ceil(N/1000) (project scan))',
  'queue tx/month   = sweeps x N x 3 (put, get, delete) when fanned out',
  'USD              = max(0, GB-s - 100,000 free) x $0.000026 + max(0, executions - 250,000 free) x $0.40/1e6 + table tx x $0.00036/1e4',
];

export function costModel(projects: number[], m: CostInputs): CostRow[] {
  const sweeps = 30 * 24 * 12;
  return projects.map((n) => {
    const fanout = n > m.fanoutThreshold;
    const executions = sweeps * (1 + (fanout ? n : 0));
    const gbs = sweeps * n * m.secondsPerProject * PRICING.instanceMemoryGb;
    const table = sweeps * (n * m.tablePerReconcile + 2 + Math.ceil(n / 1000));
    const queue = fanout ? sweeps * n * 3 : 0;
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
