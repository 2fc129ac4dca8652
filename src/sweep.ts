// The health sweep: reconcile every watched project, bounded overall and per subscription (ARM throttles per
// subscription), then record a summary row and the heartbeat that /api/health reads. Used by the timer
// function, the queue fan-out's producer and `ear-guard sweep`.
import { hostname } from 'node:os';
import type { AzurePort, KeyRecord } from './azure/arm.js';
import { scopeCovers } from './core/scopes.js';
import type { DenyAssignmentDoc, RoleAssignmentDoc, VaultDoc } from './core/types.js';
import type { Engine } from './engine.js';
import { reconcileProject, type Outcome, type Trigger } from './reconcile.js';
import { writeHeartbeat } from './state/heartbeat.js';
import { recordSweep as recordSweepMetric } from './observability/telemetry.js';

export const SWEEP_PARTITION = '_sweep';

export interface SweepItem {
  projectId: string;
  outcome?: Outcome;
  /** A reconcile that threw (the loop returns typed failures; a throw is a bug or a state-store outage). */
  error?: string;
}

export interface SweepSummary {
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  total: number;
  byOutcome: Record<string, number>;
  /** Projects whose principal is missing access, or whose check failed or was indeterminate. */
  attention: string[];
  errors: number;
  items: SweepItem[];
}

export interface SweepOptions {
  projectIds?: string[];
  /** Reconciles in flight at once (default 8). */
  concurrency?: number;
  /** Reconciles in flight per subscription (default 4). */
  perSubscription?: number;
  trigger?: Trigger;
  onResult?: (item: SweepItem, done: number, total: number) => void;
  /** Write the summary row and heartbeat (default true). */
  record?: boolean;
  /**
   * Keep each project's full outcome in `items` (default true, for the CLI's table). The timer sweep keeps only
   * the project ID and the outcome's kind, so its memory does not grow with verdicts as projects are added.
   */
  keepOutcomes?: boolean;
  /**
   * Observe each vault once per sweep (vault, the principal's assignments, deny assignments), shared by every
   * project whose key lives in it; keys are still read per project. Default true. Entries live at most
   * `sharedReadTtlMs` (default 60 s) and a vault's entries are dropped after any write to it, so a restore is
   * always verified against fresh reads.
   */
  shareVaultReads?: boolean;
  sharedReadTtlMs?: number;
}

function vaultOf(scope: string): string | undefined {
  return /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults\/[^/]+)/i
    .exec(scope)?.[1]
    ?.toLowerCase();
}

/** What a listing at `scope` returns out of a listing at its vault: everything above the vault, and below it only what covers `scope`. */
function relevantTo(itemScope: string, vault: string, scope: string): boolean {
  return !scopeCovers(vault, itemScope) || scopeCovers(itemScope, scope);
}

/**
 * An AzurePort that answers vault-level reads from one read per vault (per sweep). A key-scope listing is
 * answered from the vault-scope listing (which holds everything at, above and below the vault) filtered to what
 * covers the key: the same set a key-scope listing returns. Writes pass through and invalidate their vault.
 */
export class SharedVaultReads implements AzurePort {
  private readonly entries = new Map<string, { value: Promise<unknown>; until: number }>();
  /** Underlying reads made (for the benchmark and tests). */
  reads = 0;

  constructor(
    private readonly inner: AzurePort,
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  private memo<T>(key: string, load: () => Promise<T>): Promise<T> {
    const t = this.now();
    const e = this.entries.get(key);
    if (e && e.until > t) return e.value as Promise<T>;
    this.reads++;
    const value = load();
    this.entries.set(key, { value, until: t + this.ttlMs });
    // A failed read is not cached: the next project retries it.
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    return value;
  }

  private invalidate(vaultId: string): void {
    const v = vaultId.toLowerCase();
    for (const k of [...this.entries.keys()]) if (k.endsWith(`|${v}`) || k.includes(`|${v}|`)) this.entries.delete(k);
  }

  getVault(vaultId: string): Promise<VaultDoc> {
    return this.memo(`vault|${vaultId.toLowerCase()}`, () => this.inner.getVault(vaultId));
  }

  async listPrincipalAssignments(scope: string, principalId: string): Promise<RoleAssignmentDoc[]> {
    const vault = vaultOf(scope);
    if (!vault) return this.inner.listPrincipalAssignments(scope, principalId);
    const all = await this.memo(`ra|${vault}|${principalId.toLowerCase()}`, () =>
      this.inner.listPrincipalAssignments(vault, principalId),
    );
    return all.filter((a) => relevantTo(a.scope, vault, scope));
  }

  getRoleDefinitions(ids: string[]) {
    return this.inner.getRoleDefinitions(ids);
  }

  async listDenyAssignments(scope: string): Promise<DenyAssignmentDoc[]> {
    const vault = vaultOf(scope);
    if (!vault) return this.inner.listDenyAssignments(scope);
    const all = await this.memo(`deny|${vault}`, () => this.inner.listDenyAssignments(vault));
    return all.filter((d) => relevantTo(d.scope, vault, scope));
  }

  /**
   * A vault's keys are listed once per sweep and shared (one paged read per vault instead of one GET per project).
   * The list has no current version, so the version-vs-Atlas check is left to the event path (KeyNewVersionCreated
   * triggers a reconcile that GETs the key); a key missing from the list is GET directly (a real 404 if gone).
   */
  async getKey(vaultId: string, keyName: string): Promise<KeyRecord> {
    const inner = this.inner;
    if (!inner.listKeys) return inner.getKey(vaultId, keyName);
    const keys = await this.memo(`keys|${vaultId.toLowerCase()}`, () => inner.listKeys!(vaultId));
    return keys.find((k) => k.name.toLowerCase() === keyName.toLowerCase()) ?? inner.getKey(vaultId, keyName);
  }

  async createRoleAssignment(req: Parameters<AzurePort['createRoleAssignment']>[0]) {
    const vault = vaultOf(req.scope);
    try {
      return await this.inner.createRoleAssignment(req);
    } finally {
      if (vault) this.invalidate(vault);
    }
  }

  async addAccessPolicy(req: Parameters<AzurePort['addAccessPolicy']>[0]) {
    try {
      return await this.inner.addAccessPolicy(req);
    } finally {
      this.invalidate(req.vaultId);
    }
  }
}

class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

function subscriptionOf(vaultId: string | undefined): string {
  return /^\/subscriptions\/([^/]+)/i.exec(vaultId ?? '')?.[1]?.toLowerCase() ?? '?';
}

export function needsAttention(o: Outcome | undefined): boolean {
  if (!o) return true;
  if (o.kind === 'failed' || o.kind === 'retry' || o.kind === 'alerted') return true;
  return o.verdict !== undefined && o.verdict.verdict !== 'granted' && o.kind !== 'restored';
}

export async function runSweep(engine: Engine, opts: SweepOptions = {}): Promise<SweepSummary> {
  const started = Date.now();
  const ids = opts.projectIds ?? (await engine.listProjectIds());
  const trigger: Trigger = opts.trigger ?? { kind: 'timer' };
  const state = engine.deps.state;
  // The subscription of each project's vault, from the last check (unknown projects share one bucket).
  const rows = new Map((await state.listProjects()).map((r) => [r.projectId, r]));
  const global = new Semaphore(Math.max(1, opts.concurrency ?? 8));
  const perSub = new Map<string, Semaphore>();
  const subLimit = Math.max(1, opts.perSubscription ?? 4);
  const items: SweepItem[] = [];
  const byOutcome: Record<string, number> = {};
  const attention: string[] = [];
  let errors = 0;
  let done = 0;
  const deps =
    opts.shareVaultReads === false
      ? undefined
      : { ...engine.deps, azure: new SharedVaultReads(engine.deps.azure, opts.sharedReadTtlMs) };

  await Promise.all(
    ids.map(async (projectId) => {
      const sub = subscriptionOf(rows.get(projectId)?.vaultId);
      let sem = perSub.get(sub);
      if (!sem) perSub.set(sub, (sem = new Semaphore(subLimit)));
      await sem.acquire();
      await global.acquire();
      const item: SweepItem = { projectId };
      try {
        item.outcome = deps
          ? await reconcileProject(projectId, trigger, deps)
          : await engine.reconcile(projectId, trigger);
      } catch (err) {
        item.error = err instanceof Error ? err.message : String(err);
      } finally {
        global.release();
        sem.release();
      }
      const k = item.outcome?.kind ?? 'error';
      byOutcome[k] = (byOutcome[k] ?? 0) + 1;
      if (item.error || needsAttention(item.outcome)) attention.push(projectId);
      if (item.error) errors++;
      opts.onResult?.(item, ++done, ids.length);
      items.push(opts.keepOutcomes === false ? { projectId, ...(item.error ? { error: item.error } : {}) } : item);
    }),
  );

  const finished = Date.now();
  const summary: SweepSummary = {
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationMs: finished - started,
    total: ids.length,
    byOutcome,
    attention: attention.sort(),
    errors,
    items: items.sort((a, b) => a.projectId.localeCompare(b.projectId)),
  };
  if (opts.record !== false) await recordSweep(engine, summary, trigger);
  return summary;
}

/** One history row under the `_sweep` partition, the heartbeat and its metric (only for sweeps that finished). */
export async function recordSweep(engine: Engine, s: SweepSummary, trigger: Trigger): Promise<void> {
  const state = engine.deps.state;
  await state.appendHistory({
    projectId: SWEEP_PARTITION,
    kind: 'check',
    trigger: trigger.kind,
    summary: `sweep of ${s.total} project(s) in ${s.durationMs} ms: ${
      Object.entries(s.byOutcome)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ') || 'nothing to do'
    }`,
    detail: { byOutcome: s.byOutcome, attention: s.attention, errors: s.errors, durationMs: s.durationMs },
  });
  await writeHeartbeat(state, {
    finishedAt: s.finishedAt,
    startedAt: s.startedAt,
    durationMs: s.durationMs,
    projects: s.total,
    outcomes: s.byOutcome,
    errors: s.errors,
    instance: process.env.WEBSITE_INSTANCE_ID ?? hostname(),
  });
  // The heartbeat metric, counted here only (timer, fan-out, CLI and local host all record through this), with
  // the outcome the "no completed sweep" alert rule queries.
  recordSweepMetric({ durationSeconds: s.durationMs / 1000, projects: s.total, outcome: 'completed' });
}
