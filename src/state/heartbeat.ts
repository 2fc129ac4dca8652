// The sweep heartbeat: every finished sweep writes one row (PartitionKey 'heartbeat', RowKey 'sweep') in the
// projects table, which `StateStore.listProjects` never sees (it reads PartitionKey 'project' only).
// /api/health and the status page read it: "is the watcher itself still running?".
import type { StateStore } from './store.js';
import { classifyError } from '../azure/errors.js';

export interface Heartbeat {
  /** ISO time the last sweep finished. */
  finishedAt: string;
  startedAt?: string;
  durationMs?: number;
  /** Projects the sweep checked. */
  projects: number;
  /** Per-outcome counts, e.g. { converged: 4, restored: 1 }. */
  outcomes: Record<string, number>;
  /** Projects whose reconcile threw (transient or terminal). */
  errors: number;
  /** Who wrote it (host/instance name), for multi-instance debugging. */
  instance?: string;
}

const PK = 'heartbeat';
const RK = 'sweep';

/**
 * Records a finished sweep. Never moves the heartbeat backwards: a slow sweep that finishes after a newer one
 * leaves the newer row (ETag-checked write; a lost race re-reads once and gives up if the row is newer).
 */
export async function writeHeartbeat(store: StateStore, hb: Heartbeat): Promise<void> {
  const entity = {
    partitionKey: PK,
    rowKey: RK,
    finishedAt: hb.finishedAt,
    startedAt: hb.startedAt ?? '',
    durationMs: hb.durationMs ?? 0,
    projects: hb.projects,
    outcomes: JSON.stringify(hb.outcomes ?? {}),
    errors: hb.errors,
    instance: hb.instance ?? '',
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    let existing: { finishedAt?: unknown; etag: string } | undefined;
    try {
      existing = await store.projects.getEntity<{ finishedAt?: unknown }>(PK, RK);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw classifyError(err, 'state');
    }
    if (existing && typeof existing.finishedAt === 'string' && existing.finishedAt > hb.finishedAt) return;
    try {
      if (existing) await store.projects.updateEntity(entity, 'Replace', { etag: existing.etag });
      else await store.projects.createEntity(entity);
      return;
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 412 || status === 409) continue;
      throw classifyError(err, 'state');
    }
  }
}

/** The last heartbeat, or undefined when no sweep has finished yet. Throws (classified) when storage fails. */
export async function readHeartbeat(store: StateStore): Promise<Heartbeat | undefined> {
  let e: Record<string, unknown>;
  try {
    e = await store.projects.getEntity<Record<string, unknown>>(PK, RK);
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw classifyError(err, 'state');
  }
  let outcomes: Record<string, number> = {};
  try {
    const parsed = JSON.parse(String(e.outcomes ?? '{}'));
    if (parsed && typeof parsed === 'object') outcomes = parsed as Record<string, number>;
  } catch {
    // a hand-edited row: show no outcomes rather than fail the health check
  }
  const str = (k: string) => (typeof e[k] === 'string' && e[k] ? (e[k] as string) : undefined);
  const num = (k: string) => (typeof e[k] === 'number' ? (e[k] as number) : Number(e[k] ?? 0) || 0);
  return {
    finishedAt: str('finishedAt') ?? '',
    startedAt: str('startedAt'),
    durationMs: num('durationMs'),
    projects: num('projects'),
    outcomes,
    errors: num('errors'),
    instance: str('instance'),
  };
}
