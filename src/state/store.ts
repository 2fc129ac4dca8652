// Project state in Table Storage (@azure/data-tables; Azurite in tests).
// - `{prefix}projects`: one row per Atlas project (PartitionKey 'project', RowKey projectId).
// - `{prefix}history`: PartitionKey projectId, RowKey newest first (inverted time + unique suffix), so two
//   writers never collide and a plain query returns the latest rows first.
// - `{prefix}index`: vault resource ID -> projects, role assignment ID -> projects (a delete event does not name the
//   principal, so the assignments the product has seen are remembered here).
// Every project-row update is optimistic (ETag); a 412 re-reads and retries a bounded number of times.
import { randomBytes } from 'node:crypto';
import { TableClient, odata, type TableEntityResult } from '@azure/data-tables';
import type { TokenCredential } from '@azure/core-auth';
import { ClassifiedError, classifyError } from '../azure/errors.js';

export type ProjectStatus =
  'unknown' | 'healthy' | 'drifted' | 'restored' | 'degraded' | 'failing' | 'revoked' | 'escalated' | 'unsupported';

export type Mode = 'observe' | 'alert' | 'remediate';
export type RestoreScope = 'vault' | 'key';
export type Intent = 'granted' | 'revoked';

/** An allow-listed actor's change seen on an event, recorded before the reconcile (see src/loop/claims.ts). */
export interface RevocationClaim {
  by: string;
  /** When it was recorded (ISO). */
  at: string;
  operation?: string;
  eventId?: string;
}

/** One project's row. Counters and the restore window live here; the full story lives in history. */
export interface ProjectRecord {
  projectId: string;
  status: ProjectStatus;
  /** Last verdict kind ('' before the first check). */
  verdict: string;
  /** Missing required permissions at the last check. */
  missing: string[];
  flags: string[];
  /** Per-project overrides; undefined = the app's defaults. */
  mode?: Mode;
  restoreScope?: RestoreScope;
  /** Role definition GUIDs to restore (RBAC); undefined = Crypto User + Reader. */
  roles?: string[];
  intent: Intent;
  intentReason?: string;
  intentBy?: string;
  intentAt?: string;
  /** A pending deliberate-revocation claim from an allow-listed actor's event; consumed or dropped by the loop. */
  revocationClaim?: RevocationClaim;
  /** Permission model seen at the last check, to detect a flip. */
  model?: string;
  vaultId?: string;
  keyName?: string;
  principalId?: string;
  lastCheck?: string;
  lastChange?: string;
  lastOutcome?: string;
  lastError?: string;
  /** What the last alert was about; alerts go out only when this changes. */
  alertSignature?: string;
  checks: number;
  restores: number;
  failures: number;
  /** Failed checks in a row (reset by any completed check); CheckFailing waits for EAR_GUARD_CHECK_FAILING_AFTER. */
  consecutiveFailures: number;
  /** ISO times of restores inside the flapping window. */
  restoreTimes: string[];
  /** Lease for one reconcile at a time: owner token and expiry (ISO). */
  leaseOwner?: string;
  leaseUntil?: string;
  /** Bumped by a reconcile that found the lease taken: the holder re-checks before it lets go. */
  requested: number;
  /** Atlas's own view (`azureKeyVault.valid`) at the last check, and when it was read (ISO). */
  atlasValid?: boolean;
  atlasValidAt?: string;
  /** Access is intact but Atlas has not said valid yet: since when (the change time), for atlas-confirmed. */
  atlasPendingSince?: string;
  /** The secretless registration (roleId -> principal) as last read from cloudProviderAccess, and when. */
  atlasRole?: RegistrationMemo;
  etag?: string;
}

/** A cloudProviderAccess registration as read at `readAt` (ISO); reused for a bounded time (see loop/observe.ts). */
export interface RegistrationMemo {
  roleId: string;
  principalObjectId: string;
  tenantId?: string;
  readAt: string;
}

export type HistoryKind =
  'detection' | 'plan' | 'action' | 'verification' | 'alert' | 'error' | 'intent' | 'check' | 'atlas-confirmed';

export interface HistoryEntry {
  projectId: string;
  kind: HistoryKind;
  at?: string;
  trigger?: string;
  eventId?: string;
  correlationId?: string;
  actor?: string;
  summary: string;
  /** Structured detail (JSON-encoded on write, capped in size). */
  detail?: unknown;
}

export interface HistoryRow extends HistoryEntry {
  at: string;
  rowKey: string;
}

export interface StateStoreOptions {
  /** A connection string, or an account URL (https://acct.table.core.windows.net) used with `credential`. */
  connection: string;
  credential?: TokenCredential;
  prefix?: string;
  /** For Azurite over http. */
  allowInsecureConnection?: boolean;
  /** Bounded retries on 412. */
  maxConflictRetries?: number;
}

const MAX_TICKS = 9_999_999_999_999; // ms: inverted time stays 13 digits until year 2286
const DETAIL_MAX = 30_000; // table string properties cap at 64 KiB (UTF-16)

export function invertedTimeKey(now: number): string {
  return String(MAX_TICKS - now).padStart(13, '0');
}

/** Table keys forbid `/`, `\`, `#`, `?`: resource IDs are lowercased and `/` becomes `!` (sortable, prefix-scannable). */
export function encodeKey(resourceId: string): string {
  return resourceId
    .toLowerCase()
    .replace(/\/+$/, '')
    .replaceAll('/', '!')
    .replaceAll('\\', '!')
    .replaceAll('#', '%23')
    .replaceAll('?', '%3F');
}

type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

function toRecord(e: TableEntityResult<Record<string, unknown>>): ProjectRecord {
  const s = (k: string) => (typeof e[k] === 'string' && e[k] !== '' ? (e[k] as string) : undefined);
  const list = (k: string): string[] => {
    const v = s(k);
    if (!v) return [];
    try {
      const parsed = JSON.parse(v);
      return Array.isArray(parsed) ? parsed.map(String) : [];
    } catch {
      return [];
    }
  };
  const n = (k: string) => (typeof e[k] === 'number' ? (e[k] as number) : Number(e[k] ?? 0) || 0);
  return {
    projectId: e.rowKey as string,
    status: (s('status') as ProjectStatus) ?? 'unknown',
    verdict: s('verdict') ?? '',
    missing: list('missing'),
    flags: list('flags'),
    mode: s('mode') as Mode | undefined,
    restoreScope: s('restoreScope') as RestoreScope | undefined,
    roles: s('roles') ? list('roles') : undefined,
    intent: (s('intent') as Intent) ?? 'granted',
    intentReason: s('intentReason'),
    intentBy: s('intentBy'),
    intentAt: s('intentAt'),
    revocationClaim: parseClaim(s('revocationClaim')),
    atlasRole: parseMemo(s('atlasRole')),
    model: s('model'),
    vaultId: s('vaultId'),
    keyName: s('keyName'),
    principalId: s('principalId'),
    lastCheck: s('lastCheck'),
    lastChange: s('lastChange'),
    lastOutcome: s('lastOutcome'),
    lastError: s('lastError'),
    alertSignature: s('alertSignature'),
    checks: n('checks'),
    restores: n('restores'),
    failures: n('failures'),
    consecutiveFailures: n('consecutiveFailures'),
    restoreTimes: list('restoreTimes'),
    leaseOwner: s('leaseOwner'),
    leaseUntil: s('leaseUntil'),
    requested: n('requested'),
    atlasValid: typeof e.atlasValid === 'boolean' ? e.atlasValid : undefined,
    atlasValidAt: s('atlasValidAt'),
    atlasPendingSince: s('atlasPendingSince'),
    etag: e.etag,
  };
}

/** A stored memo with any field missing or mistyped is no memo (the registration is read again). */
function parseMemo(v: string | undefined): RegistrationMemo | undefined {
  if (!v) return undefined;
  try {
    const m = JSON.parse(v) as Partial<RegistrationMemo>;
    const str = (x: unknown) => typeof x === 'string' && x !== '';
    const ok =
      str(m.roleId) && str(m.principalObjectId) && str(m.readAt) && (m.tenantId === undefined || str(m.tenantId));
    return ok ? (m as RegistrationMemo) : undefined;
  } catch {
    return undefined;
  }
}

function parseClaim(v: string | undefined): RevocationClaim | undefined {
  if (!v) return undefined;
  try {
    const c = JSON.parse(v) as Partial<RevocationClaim>;
    return typeof c.by === 'string' && typeof c.at === 'string' ? (c as RevocationClaim) : undefined;
  } catch {
    return undefined;
  }
}

function toEntity(r: ProjectRecord): Entity {
  const opt = (v: string | undefined) => v ?? '';
  return {
    partitionKey: 'project',
    rowKey: r.projectId,
    status: r.status,
    verdict: r.verdict,
    missing: JSON.stringify(r.missing),
    flags: JSON.stringify(r.flags),
    mode: opt(r.mode),
    restoreScope: opt(r.restoreScope),
    roles: r.roles ? JSON.stringify(r.roles) : '',
    intent: r.intent,
    intentReason: opt(r.intentReason),
    intentBy: opt(r.intentBy),
    intentAt: opt(r.intentAt),
    revocationClaim: r.revocationClaim ? JSON.stringify(r.revocationClaim) : '',
    atlasRole: r.atlasRole ? JSON.stringify(r.atlasRole) : '',
    model: opt(r.model),
    vaultId: opt(r.vaultId),
    keyName: opt(r.keyName),
    principalId: opt(r.principalId),
    lastCheck: opt(r.lastCheck),
    lastChange: opt(r.lastChange),
    lastOutcome: opt(r.lastOutcome),
    lastError: opt(r.lastError),
    alertSignature: opt(r.alertSignature),
    checks: r.checks,
    restores: r.restores,
    failures: r.failures,
    consecutiveFailures: r.consecutiveFailures ?? 0,
    restoreTimes: JSON.stringify(r.restoreTimes),
    leaseOwner: opt(r.leaseOwner),
    leaseUntil: opt(r.leaseUntil),
    requested: r.requested,
    // '' = unknown (Table Storage has no null); a boolean once Atlas reported one.
    atlasValid: r.atlasValid ?? '',
    atlasValidAt: opt(r.atlasValidAt),
    atlasPendingSince: opt(r.atlasPendingSince),
  };
}

/**
 * Fields that change on every check and are not worth a write by themselves (the heartbeat says when sweeps ran).
 * `atlasValidAt` is when Atlas's view was read: every check that reads Atlas (each sweep: the target cache lasts
 * 30 s) moves it, so it is written with the view's changes (then it says since when), not on its own.
 */
const VOLATILE = new Set(['checks', 'lastCheck', 'atlasValidAt']);

/** Whether writing `next` over `cur` would record anything but the check's own time and count. */
export function rowChanged(cur: ProjectRecord, next: ProjectRecord): boolean {
  const a = toEntity(cur);
  const b = toEntity(next);
  return Object.keys(b).some((k) => !VOLATILE.has(k) && a[k] !== b[k]);
}

export function newProjectRecord(projectId: string): ProjectRecord {
  return {
    projectId,
    status: 'unknown',
    verdict: '',
    missing: [],
    flags: [],
    intent: 'granted',
    checks: 0,
    restores: 0,
    failures: 0,
    consecutiveFailures: 0,
    restoreTimes: [],
    requested: 0,
  };
}

/**
 * Which watched vaults a change at `scope` can affect, as encoded vault keys: every vault (`all`: the root or a
 * management group, above every subscription watched), or those at or beneath `scope` (`beneath`, prefix-matched
 * segment-exactly: `.../vaults/kv1` never matches `kv10`), and the vault containing a key scope (`above`). One
 * definition for the table's scans and the in-memory lookups, so both route an event alike.
 */
export interface AffectedVaults {
  all: boolean;
  beneath: string;
  above?: string;
}

export function affectedVaults(scope: string): AffectedVaults {
  const all = scope === '/' || scope === '' || /^\/providers\/microsoft\.management\/managementgroups\//i.test(scope);
  const vault = /^(.*?\/providers\/microsoft\.keyvault\/vaults\/[^/]+)\//i.exec(scope)?.[1];
  return { all, beneath: encodeKey(scope), ...(vault ? { above: encodeKey(vault) } : {}) };
}

/** Whether a vault key (as `indexVault` writes it) is one `a` names. */
export function isAffected(vaultKey: string, a: AffectedVaults): boolean {
  return a.all || vaultKey === a.beneath || vaultKey.startsWith(a.beneath + '!') || vaultKey === a.above;
}

/**
 * The index rows this instance has written or loaded, as lookups: the same answers as the table's scans for what
 * is in it. It can miss rows another instance wrote since, so it only lets an event's reconcile start early; the
 * scan still routes the event (src/events/handle.ts).
 */
export class KnownIndex {
  private readonly vaults = new Map<string, Set<string>>();
  private readonly assignments = new Map<string, Set<string>>();

  /** A written index row: `v` (vault) or `a` (assignment), `{encoded key}|{projectId}`. */
  add(tag: 'v' | 'a', rowKey: string): void {
    const cut = rowKey.lastIndexOf('|');
    if (cut <= 0) return;
    const map = tag === 'v' ? this.vaults : this.assignments;
    const key = rowKey.slice(0, cut);
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(rowKey.slice(cut + 1));
  }

  clear(): void {
    this.vaults.clear();
    this.assignments.clear();
  }

  async projectsForVault(vaultId: string): Promise<string[]> {
    return [...(this.vaults.get(encodeKey(vaultId)) ?? [])];
  }

  async projectsForAssignment(assignmentId: string): Promise<string[]> {
    return [...(this.assignments.get(encodeKey(assignmentId)) ?? [])];
  }

  /** As StateStore.projectsAffectedBy, from the rows this instance knows. */
  async projectsAffectedBy(scope: string): Promise<string[]> {
    const a = affectedVaults(scope);
    const out = new Set<string>();
    for (const [key, ids] of this.vaults) if (isAffected(key, a)) ids.forEach((id) => out.add(id));
    return [...out];
  }
}

/** Thrown by `updateProject` when the 412 retries run out (another writer keeps winning). */
export class ConflictError extends ClassifiedError {
  constructor(projectId: string, attempts: number) {
    super(
      'transient',
      'state',
      `project ${projectId}: row kept changing (${attempts} attempts)`,
      412,
      'UpdateConditionNotSatisfied',
    );
  }
}

export class StateStore {
  readonly projects: TableClient;
  readonly history: TableClient;
  readonly index: TableClient;
  private readonly maxConflictRetries: number;
  private seq = 0;

  constructor(opts: StateStoreOptions) {
    const prefix = opts.prefix ?? 'earguard';
    const mk = (name: string) => {
      const options = {
        allowInsecureConnection:
          opts.allowInsecureConnection ??
          /^http:|DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true/i.test(opts.connection),
      };
      if (/^https?:\/\//i.test(opts.connection)) {
        if (!opts.credential)
          throw new Error('EAR_GUARD_STORAGE: an account URL needs a credential (managed identity)');
        return new TableClient(opts.connection, name, opts.credential, options);
      }
      return TableClient.fromConnectionString(opts.connection, name, options);
    };
    this.projects = mk(`${prefix}projects`);
    this.history = mk(`${prefix}history`);
    this.index = mk(`${prefix}index`);
    this.maxConflictRetries = opts.maxConflictRetries ?? 8;
  }

  /** Creates the tables if absent (idempotent). */
  async init(): Promise<void> {
    await Promise.all([this.projects, this.history, this.index].map((t) => this.call(() => t.createTable())));
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw classifyError(err, 'state');
    }
  }

  /**
   * The row as this instance last read or wrote it (bounded; undefined when not seen). A check may start from it and
   * confirm it with a read alongside (src/loop/reconcile.ts); its ETag makes any write under it conditional anyway.
   */
  lastSeen(projectId: string): ProjectRecord | undefined {
    return this.seen.get(projectId);
  }

  private readonly seen = new Map<string, ProjectRecord>();
  private see<T extends ProjectRecord | undefined>(r: T): T {
    if (!r) return r;
    this.seen.delete(r.projectId);
    this.seen.set(r.projectId, r);
    if (this.seen.size > 20_000) this.seen.delete(this.seen.keys().next().value as string);
    return r;
  }

  async getProject(projectId: string): Promise<ProjectRecord | undefined> {
    try {
      return this.see(toRecord(await this.projects.getEntity<Record<string, unknown>>('project', projectId)));
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw classifyError(err, 'state');
    }
  }

  async listProjects(): Promise<ProjectRecord[]> {
    const out: ProjectRecord[] = [];
    await this.call(async () => {
      for await (const e of this.projects.listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`PartitionKey eq 'project'` },
      })) {
        out.push(this.see(toRecord(e)));
      }
    });
    return out;
  }

  /**
   * Read-modify-write under the row's ETag. `mutate` gets a copy of the current row (or a fresh one) and returns
   * the new row, or undefined to leave it unchanged. A 412 (someone else wrote in between) re-reads and re-runs
   * `mutate`, up to the bounded number of attempts; the returned record carries the new ETag.
   */
  async updateProject(
    projectId: string,
    mutate: (current: ProjectRecord, exists: boolean) => ProjectRecord | undefined | Promise<ProjectRecord | undefined>,
  ): Promise<ProjectRecord> {
    for (let attempt = 1; attempt <= this.maxConflictRetries; attempt++) {
      const existing = await this.getProject(projectId);
      const base = existing ?? newProjectRecord(projectId);
      const next = await mutate(structuredClone(base), !!existing);
      if (!next) return base;
      try {
        const entity = toEntity({ ...next, projectId });
        const res = existing
          ? await this.projects.updateEntity(entity, 'Replace', { etag: existing.etag })
          : await this.projects.createEntity(entity);
        return this.see({ ...next, projectId, etag: res.etag });
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        if (status === 412 || (status === 409 && !existing)) {
          // Lost the race: re-read and re-apply; a small jitter keeps two losers from colliding again.
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * Math.min(200, 5 * 2 ** attempt))));
          continue;
        }
        throw classifyError(err, 'state');
      }
    }
    throw new ConflictError(projectId, this.maxConflictRetries);
  }

  /**
   * One conditional write of a row read earlier: replace under its ETag, or create when it had none. Returns the
   * written row, or undefined when someone else wrote (or created) it since it was read (412/409).
   */
  async writeProjectIfUnchanged(next: ProjectRecord): Promise<ProjectRecord | undefined> {
    const entity = toEntity(next);
    try {
      const res = next.etag
        ? await this.projects.updateEntity(entity, 'Replace', { etag: next.etag })
        : await this.projects.createEntity(entity);
      return this.see({ ...next, etag: res.etag });
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 412 || status === 409) return undefined;
      throw classifyError(err, 'state');
    }
  }

  /** Appends one history row. Row keys never collide: inverted time + process-unique sequence + random. */
  async appendHistory(entry: HistoryEntry): Promise<HistoryRow> {
    const { entity, row } = this.historyEntity(entry);
    await this.call(() => this.history.createEntity(entity));
    return row;
  }

  /**
   * Appends history rows in order, one round trip per project (an entity group transaction: all or none of one
   * project's rows). For the loop's flush on the restore path, where each round trip delays the grant.
   */
  async appendHistories(entries: HistoryEntry[]): Promise<HistoryRow[]> {
    if (entries.length === 1) return [await this.appendHistory(entries[0]!)];
    const built = entries.map((e) => this.historyEntity(e));
    const byPartition = new Map<string, Entity[]>();
    for (const { entity } of built) {
      const list = byPartition.get(entity.partitionKey) ?? [];
      byPartition.set(entity.partitionKey, list);
      list.push(entity);
    }
    for (const list of byPartition.values()) {
      // A transaction holds at most 100 operations.
      for (let i = 0; i < list.length; i += 100) {
        const ops = list.slice(i, i + 100).map((e) => ['create', e] as ['create', Entity]);
        await this.call(() => this.history.submitTransaction(ops));
      }
    }
    return built.map((b) => b.row);
  }

  private historyEntity(entry: HistoryEntry): { entity: Entity; row: HistoryRow } {
    const now = entry.at ? Date.parse(entry.at) : Date.now();
    const at = new Date(now).toISOString();
    const rowKey = `${invertedTimeKey(now)}_${String(MAX_TICKS - (this.seq++ % MAX_TICKS)).slice(-6)}_${randomBytes(4).toString('hex')}`;
    let detail = entry.detail === undefined ? '' : JSON.stringify(entry.detail);
    if (detail.length > DETAIL_MAX)
      detail = JSON.stringify({ truncated: true, head: detail.slice(0, DETAIL_MAX - 100) });
    const entity: Entity = {
      partitionKey: entry.projectId,
      rowKey,
      at,
      kind: entry.kind,
      trigger: entry.trigger ?? '',
      eventId: entry.eventId ?? '',
      correlationId: entry.correlationId ?? '',
      actor: entry.actor ?? '',
      summary: entry.summary.slice(0, 2000),
      detail,
    };
    return { entity, row: { ...entry, at, rowKey } };
  }

  /** Newest first. `since`: ISO time; `limit`: max rows. */
  async listHistory(projectId: string, opts: { since?: string; limit?: number } = {}): Promise<HistoryRow[]> {
    const out: HistoryRow[] = [];
    const filter = opts.since
      ? odata`PartitionKey eq ${projectId} and RowKey lt ${invertedTimeKey(Date.parse(opts.since)) + '~'}`
      : odata`PartitionKey eq ${projectId}`;
    await this.call(async () => {
      for await (const e of this.history.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
        let detail: unknown = undefined;
        if (typeof e.detail === 'string' && e.detail) {
          try {
            detail = JSON.parse(e.detail);
          } catch {
            detail = e.detail;
          }
        }
        const str = (k: string) => (typeof e[k] === 'string' && e[k] ? (e[k] as string) : undefined);
        out.push({
          projectId,
          rowKey: e.rowKey as string,
          at: str('at') ?? '',
          kind: e.kind as HistoryKind,
          trigger: str('trigger'),
          eventId: str('eventId'),
          correlationId: str('correlationId'),
          actor: str('actor'),
          summary: str('summary') ?? '',
          detail,
        });
        if (opts.limit && out.length >= opts.limit) break;
      }
    });
    return out;
  }

  // ---- indexes ----

  /** Remembers that `projectId` watches `vaultId` (idempotent upsert). */
  async indexVault(vaultId: string, projectId: string): Promise<void> {
    const rowKey = `${encodeKey(vaultId)}|${projectId}`;
    if (this.indexed.has(`v|${rowKey}`)) return;
    await this.call(() => this.index.upsertEntity({ partitionKey: 'vault', rowKey, vaultId, projectId }, 'Replace'));
    this.rememberIndexed(`v|${rowKey}`);
  }

  /**
   * Index rows are never deleted, so one this instance wrote stays written: a healthy check then costs no index
   * write at all (the sweep would otherwise upsert the same rows every 5 minutes). Bounded; a restart re-writes once.
   */
  private readonly indexed = new Set<string>();
  /** The same rows as lookups, for routing an event before the scan answers. */
  readonly known = new KnownIndex();
  private rememberIndexed(k: string): void {
    if (this.indexed.size >= 200_000) {
      this.indexed.clear();
      this.known.clear();
    }
    this.indexed.add(k);
    this.known.add(k[0] as 'v' | 'a', k.slice(2));
  }

  /** Remembers that a role assignment the product has seen belongs to `projectId`'s principal and key. */
  async indexAssignment(assignmentId: string, projectId: string): Promise<void> {
    const rowKey = `${encodeKey(assignmentId)}|${projectId}`;
    if (this.indexed.has(`a|${rowKey}`)) return;
    await this.call(() =>
      this.index.upsertEntity({ partitionKey: 'assignment', rowKey, assignmentId, projectId }, 'Replace'),
    );
    this.rememberIndexed(`a|${rowKey}`);
  }

  private indexMemoLoaded = false;

  /**
   * Fills the memo of written index rows from the index itself (keys only, 1,000 rows a page), once per instance:
   * a sweep on a fresh instance then re-writes none of them, where it would otherwise upsert every project's
   * vault and assignment rows again. The sweep calls it; a failure only leaves the memo as it was.
   */
  async loadIndexMemo(): Promise<void> {
    if (this.indexMemoLoaded) return;
    for (const [partition, tag] of [
      ['vault', 'v'],
      ['assignment', 'a'],
    ] as const) {
      for await (const e of this.index.listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`PartitionKey eq ${partition}`, select: ['RowKey'] },
      })) {
        if (this.indexed.size >= 200_000) return void (this.indexMemoLoaded = true);
        this.indexed.add(`${tag}|${e.rowKey as string}`);
        this.known.add(tag, e.rowKey as string);
      }
    }
    this.indexMemoLoaded = true;
  }

  private async scan(partition: string, prefix: string): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    await this.call(async () => {
      for await (const e of this.index.listEntities<Record<string, unknown>>({
        queryOptions: {
          filter: odata`PartitionKey eq ${partition} and RowKey ge ${prefix} and RowKey lt ${prefix + '~'}`,
        },
      })) {
        out.push(e);
      }
    });
    return out;
  }

  /** Projects whose vault is exactly `vaultId`. */
  async projectsForVault(vaultId: string): Promise<string[]> {
    const rows = await this.scan('vault', `${encodeKey(vaultId)}|`);
    return [...new Set(rows.map((r) => r.projectId as string))];
  }

  /** Projects that have a known role assignment with this ID. */
  async projectsForAssignment(assignmentId: string): Promise<string[]> {
    const rows = await this.scan('assignment', `${encodeKey(assignmentId)}|`);
    return [...new Set(rows.map((r) => r.projectId as string))];
  }

  /**
   * Projects whose access a change at `scope` can affect: vaults at or beneath it (a subscription, resource group or
   * vault scope), and the vault containing it (a key scope). Segment-exact: `.../vaults/kv1` never matches `kv10`.
   */
  async projectsAffectedBy(scope: string): Promise<string[]> {
    const a = affectedVaults(scope);
    // Both scans at once (an event's route is on the path to the restore); `all` scans the whole partition.
    const [beneath, above] = await Promise.all([
      this.scan('vault', a.all ? '' : a.beneath),
      a.above && !a.all ? this.scan('vault', `${a.above}|`) : [],
    ]);
    const hits = [...beneath, ...above].filter((r) => isAffected((r.rowKey as string).split('|')[0]!, a));
    return [...new Set(hits.map((r) => r.projectId as string))];
  }
}
