// What the status page shows, derived from the state table and its history (pure: no I/O).
// History conventions it reads (written by the reconcile loop through StateStore.appendHistory):
// - a `detection` row marks drift: `at` is when it was seen, `actor` who made the change (when the event named
//   them), `detail.eventTime` the triggering event's time (when an event triggered it);
// - a `verification` row with `detail.verdict === 'granted'` (or `detail.restored === true`, or a summary saying
//   "restored") closes the episode: time to restore = its `at` minus the episode start (event time, else the
//   detection time). `detail.latencySeconds`, when present, is taken as is.
import type { HistoryRow, ProjectRecord } from '../state/store.js';

/** Whether any sweep has finished (the heartbeat exists). Right after start none has: an empty project list then
 *  means "not looked yet", not "no projects". One definition for /api/projects and the status page. */
export type FirstSweep = 'running' | 'finished';

export function firstSweepState(heartbeat: { finishedAt: string } | undefined): FirstSweep {
  return heartbeat ? 'finished' : 'running';
}

export interface RestoreEpisode {
  projectId: string;
  /** When the change happened (event time) or, failing that, when drift was detected. */
  startedAt: string;
  verifiedAt: string;
  seconds: number;
  actor?: string;
  eventId?: string;
}

export interface ProjectSummary {
  record: ProjectRecord;
  lastDrift?: HistoryRow;
  /** Who changed it: the actor of the last drift, else who recorded a deliberate revocation. */
  changedBy?: string;
  /** Latest completed restore (stage one: the grants are back). */
  lastRestore?: RestoreEpisode;
  /** Stage two: Atlas reported the key valid again (the latest `atlas-confirmed` row), or still pending. */
  atlas?: AtlasStage;
  /** Newest first. */
  history: HistoryRow[];
}

function detailOf(row: HistoryRow): Record<string, unknown> {
  return row.detail && typeof row.detail === 'object' ? (row.detail as Record<string, unknown>) : {};
}

/** Whether a history row records a verified restore. */
export function isVerifiedRestore(row: HistoryRow): boolean {
  if (row.kind !== 'verification') return false;
  const d = detailOf(row);
  if (d.restored === false || d.ok === false) return false;
  if (d.restored === true || d.verdict === 'granted' || d.ok === true) return true;
  return /\brestored\b/i.test(row.summary) && !/\b(not|fail(ed|ing)?|still)\b/i.test(row.summary);
}

/** Restore episodes of one project, oldest first. */
export function restoreEpisodes(projectId: string, rowsNewestFirst: HistoryRow[]): RestoreEpisode[] {
  const rows = [...rowsNewestFirst].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const out: RestoreEpisode[] = [];
  let open: HistoryRow | undefined;
  for (const row of rows) {
    if (row.kind === 'detection') {
      // The first detection of an episode starts it; repeats (duplicate events) do not move the start.
      open ??= row;
    } else if (isVerifiedRestore(row) && open) {
      const d = detailOf(row);
      const eventTime = detailOf(open).eventTime;
      const start = typeof eventTime === 'string' && Number.isFinite(Date.parse(eventTime)) ? eventTime : open.at;
      const seconds =
        typeof d.latencySeconds === 'number' && d.latencySeconds >= 0
          ? d.latencySeconds
          : Math.max(0, (Date.parse(row.at) - Date.parse(start)) / 1000);
      if (Number.isFinite(seconds)) {
        out.push({
          projectId,
          startedAt: start,
          verifiedAt: row.at,
          seconds,
          actor: open.actor,
          eventId: open.eventId ?? row.eventId,
        });
      }
      open = undefined;
    }
  }
  return out;
}

export type AtlasStage =
  | { kind: 'confirmed'; at: string; seconds: number }
  | { kind: 'pending'; since: string }
  | { kind: 'invalid'; at?: string };

/** Atlas's side of the latest recovery: pending (row), confirmed (history), or Atlas's own `valid: false`. */
export function atlasStage(record: ProjectRecord, historyNewestFirst: HistoryRow[]): AtlasStage | undefined {
  if (record.atlasPendingSince) return { kind: 'pending', since: record.atlasPendingSince };
  const c = historyNewestFirst.find((r) => r.kind === 'atlas-confirmed');
  if (c) {
    const ms = detailOf(c).afterMs;
    return { kind: 'confirmed', at: c.at, seconds: typeof ms === 'number' ? ms / 1000 : NaN };
  }
  if (record.atlasValid === false) return { kind: 'invalid', at: record.atlasValidAt };
  return undefined;
}

/** How long a healthy project that was restored still reads "Restored" on the page. */
export const RECENTLY_RESTORED_MS = 60 * 60_000;

/**
 * The project as the page shows it. A restore is followed within seconds by a re-check (the restore's own write
 * event) that finds the grant in place and records `healthy`; so that the restore stays visible, a healthy project
 * whose last drift ended in a verified restore within RECENTLY_RESTORED_MS reads `restored`.
 */
export function summarizeProject(
  record: ProjectRecord,
  rowsNewestFirst: HistoryRow[] = [],
  now?: Date,
): ProjectSummary {
  const history = [...rowsNewestFirst].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  const lastDrift = history.find((r) => r.kind === 'detection');
  const episodes = restoreEpisodes(record.projectId, history);
  const last = episodes.at(-1);
  const recentlyRestored =
    now !== undefined &&
    record.status === 'healthy' &&
    last !== undefined &&
    (!lastDrift || last.verifiedAt >= lastDrift.at) &&
    now.getTime() - Date.parse(last.verifiedAt) <= RECENTLY_RESTORED_MS;
  return {
    record: recentlyRestored ? { ...record, status: 'restored' } : record,
    lastDrift,
    changedBy: lastDrift?.actor ?? (record.intent === 'revoked' ? record.intentBy : undefined),
    lastRestore: episodes.at(-1),
    atlas: atlasStage(record, history),
    history,
  };
}

/** Every restore episode across projects, oldest first. */
export function allEpisodes(history: Record<string, HistoryRow[]>): RestoreEpisode[] {
  return Object.entries(history)
    .flatMap(([id, rows]) => restoreEpisodes(id, rows))
    .sort((a, b) => (a.verifiedAt < b.verifiedAt ? -1 : 1));
}

export interface StatusStyle {
  label: string;
  /** CSS class suffix; the page pairs every colour with the label text. */
  tone: 'ok' | 'info' | 'warn' | 'bad' | 'muted';
}

export const STATUS: Record<string, StatusStyle> = {
  healthy: { label: 'Healthy', tone: 'ok' },
  restored: { label: 'Restored', tone: 'info' },
  drifted: { label: 'Drifted', tone: 'warn' },
  degraded: { label: 'Degraded', tone: 'warn' },
  failing: { label: 'Failing', tone: 'bad' },
  escalated: { label: 'Escalated', tone: 'bad' },
  revoked: { label: 'Revoked (intended)', tone: 'muted' },
  unsupported: { label: 'Unsupported', tone: 'muted' },
  unknown: { label: 'Not checked yet', tone: 'muted' },
};

export function statusStyle(status: string): StatusStyle {
  return STATUS[status] ?? { label: status || 'Unknown', tone: 'muted' };
}

export function modelLabel(model: string | undefined): string {
  if (!model) return '—';
  if (model.toLowerCase() === 'rbac') return 'Azure RBAC';
  if (model.toLowerCase() === 'accesspolicy') return 'Access policies';
  return model;
}

/** Last path segment of a resource ID (the vault name). */
export function lastSegment(id: string | undefined): string | undefined {
  return id?.replace(/\/+$/, '').split('/').pop() || undefined;
}

/** `4 s`, `2 min 5 s`, `1 h 3 min`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 10) return `${Math.round(seconds * 10) / 10} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) {
    const m = Math.floor(seconds / 60);
    const s = Math.round(seconds % 60);
    return s ? `${m} min ${s} s` : `${m} min`;
  }
  const h = Math.floor(seconds / 3600);
  const m = Math.round((seconds % 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

/** `just now`, `5 min ago`, `3 h ago`, `2 d ago` (future times: `in 5 min`). */
export function formatRelative(iso: string | undefined, now: Date): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  const diff = (now.getTime() - t) / 1000;
  const a = Math.abs(diff);
  const text =
    a < 45
      ? null
      : a < 5400
        ? `${Math.round(a / 60)} min`
        : a < 172800
          ? `${Math.round(a / 3600)} h`
          : `${Math.round(a / 86400)} d`;
  if (!text) return 'just now';
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** `2026-11-28 20:15:03 UTC`. */
export function formatTime(iso: string | undefined): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  return new Date(t)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}
