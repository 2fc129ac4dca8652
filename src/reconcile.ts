// The one reconcile loop (controller-runtime style): a request names a project and nothing else; the loop re-reads
// desired state (Atlas) and actual state (ARM), judges with the pure evaluator, decides under guards, writes only
// what is missing, verifies by reading again, records, and alerts on transitions. Every trigger (Event Grid, timer,
// HTTP, CLI) funnels into reconcileProject. Errors are classified at the adapters and never become "healthy".
import { randomUUID } from 'node:crypto';
import { ROLE_IDS, findBuiltinRole } from './core/builtinRoles.js';
import { evaluate, READER_ON_VAULT } from './core/evaluate.js';
import { keyScope } from './core/scopes.js';
import type { ObservedDocuments, Requirement, Verdict } from './core/types.js';
import { ALERT_TYPES, type Alert, type AlertPublisher, type AlertType } from './alerts/index.js';
import type { AzurePort, KeyRecord } from './azure/arm.js';
import { ClassifiedError, classifyError } from './azure/errors.js';
import { checkAtlasPrincipal, type AtlasPort, type AtlasTarget, type TargetResult } from './atlas/target.js';
import type { HistoryEntry, Mode, ProjectRecord, ProjectStatus, RestoreScope, StateStore } from './state/store.js';
import { SpanStatusCode } from '@opentelemetry/api';
import { redactText } from './observability/redact.js';
import {
  SPANS,
  annotateSpan,
  recordDrift,
  recordReconcile,
  recordRestore,
  recordRestoreLatency,
  withSpan,
} from './observability/telemetry.js';

// ---------------------------------------------------------------------------------------------------------------
// Requests and outcomes

export interface TriggerActor {
  objectId?: string;
  upn?: string;
  name?: string;
}

/** Why a reconcile runs. Only used for the record (and the allow-list guard): the loop always re-reads the truth. */
export interface Trigger {
  kind: 'event' | 'timer' | 'http' | 'cli' | 'queue' | 'manual';
  eventId?: string;
  correlationId?: string;
  /** Who made the change, when the event names them (from `claims`). */
  actor?: TriggerActor;
  operationName?: string;
  resourceId?: string;
  /** When the change happened (the event's `eventTime`): the start of the restore latency. */
  eventTime?: string;
}

export type OutcomeKind = 'converged' | 'restored' | 'alerted' | 'skipped' | 'retry' | 'failed';

export interface PlannedAction {
  kind: 'roleAssignment' | 'accessPolicyAdd';
  principalId: string;
  /** RBAC: role GUID and name; access policy: undefined. */
  roleDefinitionGuid?: string;
  roleName?: string;
  scope?: string;
  vaultId: string;
  /** Access policy: only the missing key permissions. */
  keys?: string[];
  tenantId?: string;
  description: string;
}

export interface ActionRecord extends PlannedAction {
  result: 'created' | 'alreadyExists' | 'added' | 'failed';
  assignmentId?: string;
  error?: string;
}

interface OutcomeBase {
  projectId: string;
  correlationId: string;
  /** The project's status as recorded. */
  status: ProjectStatus;
  verdict?: Verdict;
  flags: string[];
  plan: PlannedAction[];
  actions: ActionRecord[];
  /** Alert types sent in this reconcile. */
  alerts: AlertType[];
}

export type Outcome =
  | (OutcomeBase & { kind: 'converged' })
  | (OutcomeBase & { kind: 'restored' })
  | (OutcomeBase & { kind: 'alerted'; reason: string })
  | (OutcomeBase & { kind: 'skipped'; reason: string })
  | (OutcomeBase & { kind: 'retry'; afterMs: number; reason: string })
  | (OutcomeBase & { kind: 'failed'; reason: string; transient: boolean; code?: string });

// ---------------------------------------------------------------------------------------------------------------
// Dependencies

/** An outcome worth retrying later (throttled, 5xx, unreachable): the platform should redeliver or requeue. */
export function isTransientOutcome(o: Outcome): boolean {
  return o.kind === 'retry' || (o.kind === 'failed' && o.transient);
}

export interface ReconcilePolicy {
  mode: Mode;
  restoreScope: RestoreScope;
  /** Role GUIDs to restore on RBAC vaults. Default Key Vault Crypto User + Reader. */
  roles: string[];
  /** Object IDs or UPNs whose removals are deliberate revocations. */
  allowedRevokers: string[];
  maxRestores: number;
  flapWindowMs: number;
  dryRun: boolean;
  nearExpiryMs: number;
  /** How long an Atlas target is reused. */
  targetCacheMs: number;
  /** How long one reconcile holds the project's lease before another may take it over. */
  leaseMs: number;
  /** Re-checks a lease holder runs for reconciles that arrived while it held the lease. */
  maxPasses: number;
  /**
   * Pinned Atlas service principals, tenantId (lower case) -> object ID (EAR_GUARD_ATLAS_PRINCIPALS). Empty or absent:
   * trust on first use (the principal recorded in the project row). See checkAtlasPrincipal.
   */
  atlasPrincipals?: Record<string, string>;
  /** Failed checks in a row before CheckFailing goes out (one transient blip is not an incident). Default 2. */
  checkFailingAfter?: number;
}

export const DEFAULT_POLICY: ReconcilePolicy = {
  mode: 'alert',
  restoreScope: 'vault',
  roles: [ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader],
  allowedRevokers: [],
  maxRestores: 3,
  flapWindowMs: 60 * 60_000,
  dryRun: false,
  nearExpiryMs: 30 * 24 * 3600_000,
  targetCacheMs: 30_000,
  leaseMs: 60_000,
  maxPasses: 3,
};

/** Roles the remediator may ever write: key data roles and vault readers. Anything else is refused. */
export const RESTORABLE_ROLES: Readonly<Record<string, 'data' | 'reader'>> = {
  [ROLE_IDS.keyVaultCryptoUser]: 'data',
  [ROLE_IDS.keyVaultCryptoOfficer]: 'data',
  [ROLE_IDS.reader]: 'reader',
  [ROLE_IDS.keyVaultReader]: 'reader',
};

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** A brief in-memory cache of Atlas targets (Atlas is rate-limited; ARM is the truth that matters). */
export class TargetCache {
  private readonly entries = new Map<string, { value: TargetResult; until: number }>();
  get(projectId: string, now: number): TargetResult | undefined {
    const e = this.entries.get(projectId);
    return e && e.until > now ? e.value : undefined;
  }
  set(projectId: string, value: TargetResult, until: number): void {
    this.entries.set(projectId, { value, until });
  }
  delete(projectId: string): void {
    this.entries.delete(projectId);
  }
}

export interface ReconcileDeps {
  atlas: AtlasPort;
  azure: AzurePort;
  state: StateStore;
  alerts: AlertPublisher;
  policy: ReconcilePolicy;
  targetCache?: TargetCache;
  now?: () => number;
  log?: Logger;
}

// ---------------------------------------------------------------------------------------------------------------
// The loop

interface Observation {
  docs: ObservedDocuments;
  key?: KeyRecord;
  keyError?: ClassifiedError;
  verdict: Verdict;
}

interface Ctx {
  projectId: string;
  trigger: Trigger;
  correlationId: string;
  deps: ReconcileDeps;
  now: () => number;
  history: HistoryEntry[];
}

const ALERTABLE: ReadonlySet<ProjectStatus> = new Set(['drifted', 'degraded', 'failing', 'revoked', 'escalated']);

function actorLabel(a?: TriggerActor): string | undefined {
  if (!a) return undefined;
  return a.upn ?? a.name ?? a.objectId;
}

function isAllowListed(actor: TriggerActor | undefined, allow: string[]): boolean {
  if (!actor || allow.length === 0) return false;
  const ids = [actor.objectId, actor.upn, actor.name].filter(Boolean).map((s) => s!.toLowerCase());
  return allow.some((a) => ids.includes(a.toLowerCase()));
}

function roleName(guid: string): string {
  return findBuiltinRole(guid)?.roleName ?? guid;
}

function base(ctx: Ctx, status: ProjectStatus, extra: Partial<OutcomeBase> = {}): OutcomeBase {
  return {
    projectId: ctx.projectId,
    correlationId: ctx.correlationId,
    status,
    flags: [],
    plan: [],
    actions: [],
    alerts: [],
    ...extra,
  };
}

function record(ctx: Ctx, kind: HistoryEntry['kind'], summary: string, detail?: unknown): void {
  ctx.history.push({
    projectId: ctx.projectId,
    kind,
    at: new Date(ctx.now()).toISOString(),
    trigger: ctx.trigger.kind,
    eventId: ctx.trigger.eventId,
    correlationId: ctx.correlationId,
    actor: actorLabel(ctx.trigger.actor),
    summary,
    detail,
  });
}

async function loadTarget(ctx: Ctx): Promise<TargetResult> {
  const { deps } = ctx;
  const cached = deps.targetCache?.get(ctx.projectId, ctx.now());
  if (cached) return cached;
  const t = await deps.atlas.loadTarget(ctx.projectId);
  if (t.kind === 'target' && deps.policy.targetCacheMs > 0) {
    deps.targetCache?.set(ctx.projectId, t, ctx.now() + deps.policy.targetCacheMs);
  }
  return t;
}

function requirementOf(t: AtlasTarget): Requirement {
  return {
    principalId: t.principalObjectId,
    key: { vaultId: t.vaultId, keyName: t.keyName },
    recommendReaderOnVault: true,
  };
}

/** Reads everything the verdict needs, in parallel. A missing key is a flag, not a failed observation. */
async function observe(ctx: Ctx, t: AtlasTarget): Promise<Observation> {
  const { azure } = ctx.deps;
  const kScope = keyScope(t.vaultId, t.keyName);
  const [vault, roleAssignments, denyAssignments, keyResult] = await Promise.all([
    azure.getVault(t.vaultId),
    azure.listPrincipalAssignments(kScope, t.principalObjectId),
    azure.listDenyAssignments(kScope),
    azure.getKey(t.vaultId, t.keyName).then(
      (k) => ({ k }),
      (e) => {
        const c = classifyError(e, 'arm');
        if (c.status === 404) return { e: c };
        throw c;
      },
    ),
  ]);
  const roleDefinitions = await azure.getRoleDefinitions(roleAssignments.map((a) => a.roleDefinitionId));
  const docs: ObservedDocuments = { vault, roleAssignments, roleDefinitions, denyAssignments };
  const verdict = evaluate(requirementOf(t), docs);
  return {
    docs,
    key: 'k' in keyResult ? keyResult.k : undefined,
    keyError: 'e' in keyResult ? keyResult.e : undefined,
    verdict,
  };
}

function computeFlags(ctx: Ctx, t: AtlasTarget, obs: Observation, row: ProjectRecord): string[] {
  const flags: string[] = [];
  const now = ctx.now();
  if (obs.keyError) flags.push('key-not-found');
  if (obs.key) {
    if (!obs.key.enabled) flags.push('key-disabled');
    if (obs.key.expires) {
      const exp = Date.parse(obs.key.expires);
      if (exp <= now) flags.push('key-expired');
      else if (exp - now <= ctx.deps.policy.nearExpiryMs) flags.push('key-near-expiry');
    }
    if (t.keyVersion && obs.key.currentVersion && t.keyVersion.toLowerCase() !== obs.key.currentVersion.toLowerCase()) {
      flags.push('key-version-differs');
    }
  }
  if (t.atlasValid === false && obs.verdict.verdict === 'granted') flags.push('atlas-invalid-while-azure-granted');
  if (row.model && row.model !== obs.verdict.model) flags.push(`model-flipped:${row.model}->${obs.verdict.model}`);
  return flags;
}

/** Flags that break encryption at rest even when the permissions are right. */
const BLOCKING_FLAGS = ['key-not-found', 'key-disabled', 'key-expired', 'atlas-invalid-while-azure-granted'];

/** What to add: only what is missing, only for the Atlas principal, only restorable roles. */
export function planRestore(
  t: AtlasTarget,
  verdict: Verdict,
  vaultTenantId: string,
  policy: Pick<ReconcilePolicy, 'restoreScope' | 'roles'>,
): { plan: PlannedAction[]; blocked: string[] } {
  const blocked: string[] = [];
  const plan: PlannedAction[] = [];
  const denied = [...verdict.missing].filter((p) => (verdict.permissions[p]?.deniedBy ?? []).length > 0);
  if (denied.length) {
    blocked.push(
      `${denied.join(', ')} removed by deny assignment ${[...new Set(denied.flatMap((p) => verdict.permissions[p]!.deniedBy!))].join(', ')}: no grant can override it`,
    );
    return { plan, blocked };
  }
  if (verdict.model === 'rbac') {
    const bad = policy.roles.filter((r) => !RESTORABLE_ROLES[r.toLowerCase()]);
    if (bad.length) {
      blocked.push(
        `configured roles ${bad.join(', ')} are not restorable (allowed: ${Object.keys(RESTORABLE_ROLES).join(', ')})`,
      );
      return { plan, blocked };
    }
    const dataScope = policy.restoreScope === 'key' ? keyScope(t.vaultId, t.keyName) : t.vaultId;
    if (verdict.missing.length > 0) {
      for (const r of policy.roles.filter((g) => RESTORABLE_ROLES[g.toLowerCase()] === 'data')) {
        plan.push({
          kind: 'roleAssignment',
          principalId: t.principalObjectId,
          roleDefinitionGuid: r.toLowerCase(),
          roleName: roleName(r),
          scope: dataScope,
          vaultId: t.vaultId,
          description: `assign ${roleName(r)} to ${t.principalObjectId} at ${policy.restoreScope === 'key' ? 'the key' : 'the vault'}`,
        });
      }
    }
    if (verdict.missingRecommended.includes(READER_ON_VAULT) && !(verdict.readerOnVault?.deniedBy ?? []).length) {
      for (const r of policy.roles.filter((g) => RESTORABLE_ROLES[g.toLowerCase()] === 'reader')) {
        plan.push({
          kind: 'roleAssignment',
          principalId: t.principalObjectId,
          roleDefinitionGuid: r.toLowerCase(),
          roleName: roleName(r),
          scope: t.vaultId,
          vaultId: t.vaultId,
          description: `assign ${roleName(r)} to ${t.principalObjectId} at the vault`,
        });
      }
    }
  } else {
    const keys = [...verdict.missing, ...verdict.missingRecommended.filter((p) => p !== READER_ON_VAULT)];
    if (keys.length) {
      plan.push({
        kind: 'accessPolicyAdd',
        principalId: t.principalObjectId,
        vaultId: t.vaultId,
        tenantId: vaultTenantId,
        keys,
        description: `add key permissions ${keys.join(', ')} to the access policy of ${t.principalObjectId}`,
      });
    }
  }
  return { plan, blocked };
}

async function act(ctx: Ctx, t: AtlasTarget, plan: PlannedAction[]): Promise<ActionRecord[]> {
  // Last line of defence: nothing is ever written for another principal or an unlisted role.
  for (const a of plan) {
    if (a.principalId.toLowerCase() !== t.principalObjectId.toLowerCase()) {
      throw new ClassifiedError('terminal', 'arm', `refusing to write for principal ${a.principalId}`);
    }
    if (a.kind === 'roleAssignment' && !RESTORABLE_ROLES[a.roleDefinitionGuid!]) {
      throw new ClassifiedError('terminal', 'arm', `refusing to assign role ${a.roleDefinitionGuid}`);
    }
  }
  const { azure } = ctx.deps;
  return Promise.all(
    plan.map(async (a): Promise<ActionRecord> => {
      try {
        if (a.kind === 'roleAssignment') {
          const r = await azure.createRoleAssignment({
            scope: a.scope!,
            roleDefinitionGuid: a.roleDefinitionGuid!,
            principalId: a.principalId,
          });
          await ctx.deps.state.indexAssignment(r.id, ctx.projectId).catch(() => undefined);
          return { ...a, result: r.created ? 'created' : 'alreadyExists', assignmentId: r.id };
        }
        await azure.addAccessPolicy({
          vaultId: a.vaultId,
          tenantId: a.tenantId!,
          objectId: a.principalId,
          keys: a.keys!,
        });
        return { ...a, result: 'added' };
      } catch (err) {
        const c = classifyError(err, 'arm');
        return { ...a, result: 'failed', error: c.describe(), _err: c } as ActionRecord & { _err: ClassifiedError };
      }
    }),
  );
}

function signature(status: ProjectStatus, missing: string[], flags: string[]): string {
  return `${status}|${[...missing].sort().join(',')}|${[...flags].sort().join(',')}`;
}

interface PassResult {
  outcome: Outcome;
  /** The row fields to write (the lease fields are handled by the caller). */
  update: (row: ProjectRecord) => ProjectRecord;
  alert?: Omit<Alert, 'at'>;
}

/** One observe -> judge -> decide -> act -> verify pass. Pure of state writes: returns what to record. */
async function pass(ctx: Ctx, row: ProjectRecord): Promise<PassResult> {
  const { deps } = ctx;
  const policy = deps.policy;
  const mode: Mode = row.mode ?? policy.mode;
  const nowIso = () => new Date(ctx.now()).toISOString();
  const changedBy = actorLabel(ctx.trigger.actor);

  const failure = (err: unknown, where: string, t?: AtlasTarget): PassResult => {
    const c = classifyError(err, where === 'atlas' ? 'atlas' : 'arm');
    const reason = `${where}: ${c.describe()}`;
    record(ctx, 'error', reason, { kind: c.kind, status: c.status, code: c.code });
    const throttled = c.status === 429;
    const outcome: Outcome = throttled
      ? { ...base(ctx, 'failing'), kind: 'retry', afterMs: c.retryAfterMs ?? 30_000, reason }
      : { ...base(ctx, 'failing'), kind: 'failed', reason, transient: c.transient, code: c.code };
    return {
      outcome,
      update: (r) => ({
        ...r,
        status: 'failing',
        failures: r.failures + 1,
        lastError: reason,
        lastCheck: nowIso(),
        lastOutcome: outcome.kind,
      }),
      alert:
        mode === 'observe'
          ? undefined
          : {
              type: ALERT_TYPES.CheckFailing,
              severity: 'warning',
              projectId: ctx.projectId,
              vaultId: t?.vaultId ?? row.vaultId,
              keyName: t?.keyName ?? row.keyName,
              principalId: t?.principalObjectId ?? row.principalId,
              missing: row.missing,
              action: 'none: the check could not complete; the last known verdict is kept and not treated as healthy',
              reason,
              flags: [],
            },
    };
  };

  // 1. Desired state from Atlas.
  let target: TargetResult;
  try {
    target = await loadTarget(ctx);
  } catch (err) {
    return failure(err, 'atlas');
  }
  if (target.kind === 'unsupported') {
    record(ctx, 'check', `not watched: ${target.reason}`);
    return {
      outcome: { ...base(ctx, 'unsupported'), kind: 'skipped', reason: target.reason },
      update: (r) => ({
        ...r,
        status: 'unsupported',
        lastCheck: nowIso(),
        lastError: target.reason,
        lastOutcome: 'skipped',
      }),
    };
  }
  // Principal substitution: a registration for another principal (or another app) gets nothing, and an alert.
  const principalMismatch = (reason: string, t?: AtlasTarget): PassResult => {
    record(ctx, 'detection', `principal mismatch: ${reason}`, {
      reported: t?.principalObjectId,
      trusted: row.principalId,
    });
    return {
      outcome: {
        ...base(ctx, 'failing', { flags: ['principal-mismatch'] }),
        kind: 'failed',
        reason,
        transient: false,
        code: 'PrincipalMismatch',
      },
      // The trusted principal stays recorded; only the status and the error change.
      update: (r) => ({
        ...r,
        status: 'failing',
        flags: ['principal-mismatch'],
        checks: r.checks + 1,
        failures: r.failures + 1,
        lastError: reason,
        lastCheck: nowIso(),
        lastChange: r.status !== 'failing' ? nowIso() : r.lastChange,
        lastOutcome: 'failed',
      }),
      alert:
        mode === 'observe'
          ? undefined
          : {
              type: ALERT_TYPES.PrincipalMismatch,
              severity: 'critical',
              projectId: ctx.projectId,
              vaultId: t?.vaultId ?? row.vaultId,
              keyName: t?.keyName ?? row.keyName,
              principalId: t?.principalObjectId,
              missing: [],
              changedBy,
              action: 'nothing granted: the principal Atlas names is not the trusted Atlas service principal',
              reason,
              flags: ['principal-mismatch'],
            },
    };
  };
  if (target.kind === 'invalid' && target.code === 'PrincipalMismatch') return principalMismatch(target.reason);
  if (target.kind === 'invalid') {
    return failure(
      new ClassifiedError('terminal', 'atlas', target.reason, undefined, 'InvalidEncryptionAtRestConfig'),
      'atlas',
    );
  }
  const t = target.target;
  const trusted = checkAtlasPrincipal(t, policy.atlasPrincipals ?? {}, row.principalId);
  if (!trusted.ok) return principalMismatch(trusted.reason, t);
  await deps.state
    .indexVault(t.vaultId, ctx.projectId)
    .catch((e) => deps.log?.warn('index vault failed', { error: String(e) }));

  // 2. Actual state from ARM.
  let obs: Observation;
  try {
    obs = await withSpan(SPANS.observe, { project: ctx.projectId }, () => observe(ctx, t));
  } catch (err) {
    return failure(err, 'arm', t);
  }
  for (const a of obs.docs.roleAssignments) {
    await deps.state.indexAssignment(a.id, ctx.projectId).catch(() => undefined);
  }

  // 3. Judge.
  const v = obs.verdict;
  const flags = computeFlags(ctx, t, obs, row);
  const flipped = flags.find((f) => f.startsWith('model-flipped'));
  const common = { verdict: v, flags };
  // Reader on the vault is in the default restore set: Atlas reads the vault's metadata with it, so losing it alone
  // is drift to restore too (RBAC vaults, when a reader role is configured and no deny assignment removes it).
  const readerDrift =
    v.verdict === 'granted' &&
    v.model === 'rbac' &&
    v.missingRecommended.includes(READER_ON_VAULT) &&
    !(v.readerOnVault?.deniedBy ?? []).length &&
    (row.roles ?? policy.roles).some((r) => RESTORABLE_ROLES[r.toLowerCase()] === 'reader');
  const drifted = readerDrift ? [READER_ON_VAULT] : v.missing;
  const alertBase = {
    projectId: ctx.projectId,
    vaultId: t.vaultId,
    keyName: t.keyName,
    principalId: t.principalObjectId,
    missing: drifted,
    changedBy,
    flags,
  };
  const rowBase = (r: ProjectRecord, status: ProjectStatus): ProjectRecord => ({
    ...r,
    status,
    verdict: v.verdict,
    missing: v.missing,
    flags,
    model: v.model,
    vaultId: t.vaultId,
    keyName: t.keyName,
    principalId: t.principalObjectId,
    lastCheck: nowIso(),
    lastChange: r.status !== status ? nowIso() : r.lastChange,
    lastError: '',
  });
  const summary = {
    verdict: v.verdict,
    model: v.model,
    missing: v.missing,
    missingRecommended: v.missingRecommended,
    indeterminate: v.indeterminate,
    flags,
  };

  // 4. Decide.
  if (v.verdict === 'granted' && !readerDrift) {
    const blocking = flags.filter((f) => BLOCKING_FLAGS.includes(f));
    // Near expiry does not break anything yet, but it is not "healthy" either: someone must rotate or extend.
    const status: ProjectStatus = blocking.length || flags.includes('key-near-expiry') ? 'degraded' : 'healthy';
    record(ctx, 'check', `access granted${flags.length ? ` (flags: ${flags.join(', ')})` : ''}`, summary);
    const wantsAlert = blocking.length > 0 || flags.includes('key-near-expiry');
    if (wantsAlert && mode !== 'observe') {
      const reason = blocking.length
        ? `permissions are intact but ${blocking.join(', ')}: Atlas will fail its next KMS validation`
        : 'the key is near expiry';
      return {
        outcome: { ...base(ctx, status, common), kind: 'alerted', reason },
        update: (r) => ({ ...rowBase(r, status), checks: r.checks + 1, lastOutcome: 'alerted' }),
        alert: {
          ...alertBase,
          type: ALERT_TYPES.CheckFailing,
          severity: blocking.length ? 'critical' : 'warning',
          action: 'alert only: nothing to restore on the permissions side',
          reason,
        },
      };
    }
    return {
      outcome: { ...base(ctx, status, common), kind: 'converged' },
      update: (r) => ({ ...rowBase(r, status), checks: r.checks + 1, lastOutcome: 'converged' }),
    };
  }

  if (v.verdict === 'indeterminate') {
    const reason = `cannot judge ${v.indeterminate.join(', ')} offline (conditional or possibly denied grants); nothing written`;
    record(ctx, 'detection', reason, summary);
    return {
      outcome:
        mode === 'observe'
          ? { ...base(ctx, 'drifted', common), kind: 'skipped', reason }
          : { ...base(ctx, 'drifted', common), kind: 'alerted', reason },
      update: (r) => ({
        ...rowBase(r, 'drifted'),
        checks: r.checks + 1,
        lastOutcome: mode === 'observe' ? 'skipped' : 'alerted',
      }),
      alert:
        mode === 'observe'
          ? undefined
          : {
              ...alertBase,
              missing: v.indeterminate,
              type: ALERT_TYPES.AccessDrifted,
              severity: 'warning',
              action: 'alert only: indeterminate verdict',
              reason,
            },
    };
  }

  // v.verdict === 'missing': drift.
  const detectedAt = nowIso();
  record(
    ctx,
    'detection',
    `missing ${drifted.join(', ')} (${v.model})${flipped ? `; vault permission model flipped (${flipped.slice(14)})` : ''}`,
    // The event time (when the change happened) starts the status page's time to restore.
    { ...summary, eventTime: ctx.trigger.eventTime },
  );

  // Guard: deliberate revocation.
  if (row.intent === 'revoked') {
    const reason = `intent is revoked${row.intentBy ? ` (set by ${row.intentBy}${row.intentReason ? `: ${row.intentReason}` : ''})` : ''}: not restored`;
    return {
      outcome: { ...base(ctx, 'revoked', common), kind: 'skipped', reason },
      update: (r) => ({ ...rowBase(r, 'revoked'), checks: r.checks + 1, lastOutcome: 'skipped' }),
      alert:
        mode === 'observe'
          ? undefined
          : {
              ...alertBase,
              type: ALERT_TYPES.RevokedByIntent,
              severity: 'info',
              action: 'not restored: deliberate revocation',
              reason,
            },
    };
  }
  if (isAllowListed(ctx.trigger.actor, policy.allowedRevokers)) {
    const who = changedBy!;
    const reason = `removed by allow-listed actor ${who}: taken as a deliberate revocation (intent set to revoked)`;
    record(ctx, 'intent', reason, { actor: ctx.trigger.actor });
    return {
      outcome: { ...base(ctx, 'revoked', common), kind: 'skipped', reason },
      update: (r) => ({
        ...rowBase(r, 'revoked'),
        checks: r.checks + 1,
        intent: 'revoked',
        intentBy: who,
        intentReason: `removal by allow-listed actor (${ctx.trigger.operationName ?? 'change'})`,
        intentAt: nowIso(),
        lastOutcome: 'skipped',
      }),
      alert:
        mode === 'observe'
          ? undefined
          : {
              ...alertBase,
              type: ALERT_TYPES.RevokedByIntent,
              severity: 'info',
              action: 'not restored: deliberate revocation by an allow-listed actor',
              reason,
            },
    };
  }

  if (mode === 'observe') {
    return {
      outcome: { ...base(ctx, 'drifted', common), kind: 'skipped', reason: 'mode observe: drift recorded only' },
      update: (r) => ({ ...rowBase(r, 'drifted'), checks: r.checks + 1, lastOutcome: 'skipped' }),
    };
  }
  if (mode === 'alert') {
    const reason = 'mode alert: not restored';
    return {
      outcome: { ...base(ctx, 'drifted', common), kind: 'alerted', reason },
      update: (r) => ({ ...rowBase(r, 'drifted'), checks: r.checks + 1, lastOutcome: 'alerted' }),
      alert: {
        ...alertBase,
        type: ALERT_TYPES.AccessDrifted,
        severity: 'critical',
        action: 'alert only (mode alert)',
        reason: flipped ? `vault permission model flipped (${flipped.slice(14)})` : undefined,
      },
    };
  }

  // mode remediate. Guard: flapping.
  const windowStart = ctx.now() - policy.flapWindowMs;
  const recent = row.restoreTimes.filter((s) => Date.parse(s) > windowStart);
  if (recent.length >= policy.maxRestores) {
    const reason = `flapping: ${recent.length} restores within ${Math.round(policy.flapWindowMs / 60_000)} min (limit ${policy.maxRestores}); restoring stopped, escalated`;
    record(ctx, 'detection', reason);
    return {
      outcome: { ...base(ctx, 'escalated', common), kind: 'alerted', reason },
      update: (r) => ({
        ...rowBase(r, 'escalated'),
        checks: r.checks + 1,
        restoreTimes: recent,
        lastOutcome: 'alerted',
      }),
      alert: {
        ...alertBase,
        type: ALERT_TYPES.RestoreFailed,
        severity: 'critical',
        action: 'not restored: flapping guard stopped automatic restores; a human must look',
        reason,
      },
    };
  }

  const { plan, blocked } = planRestore(t, v, obs.docs.vault.tenantId, {
    restoreScope: row.restoreScope ?? policy.restoreScope,
    roles: row.roles ?? policy.roles,
  });
  if (blocked.length || plan.length === 0) {
    const reason = blocked.length ? blocked.join('; ') : 'nothing restorable in the plan';
    record(ctx, 'plan', `cannot restore: ${reason}`);
    return {
      outcome: { ...base(ctx, 'failing', common), kind: 'failed', reason, transient: false },
      update: (r) => ({
        ...rowBase(r, 'failing'),
        checks: r.checks + 1,
        failures: r.failures + 1,
        lastError: reason,
        lastOutcome: 'failed',
      }),
      alert: { ...alertBase, type: ALERT_TYPES.RestoreFailed, severity: 'critical', action: 'not restored', reason },
    };
  }
  record(ctx, 'plan', plan.map((p) => p.description).join('; '), { plan, dryRun: policy.dryRun });

  if (policy.dryRun) {
    const reason = `dry-run: planned ${plan.map((p) => p.description).join('; ')}; nothing written`;
    return {
      outcome: { ...base(ctx, 'drifted', { ...common, plan }), kind: 'skipped', reason },
      update: (r) => ({ ...rowBase(r, 'drifted'), checks: r.checks + 1, lastOutcome: 'skipped' }),
      alert: {
        ...alertBase,
        type: ALERT_TYPES.AccessDrifted,
        severity: 'critical',
        action: `dry-run: would ${plan.map((p) => p.description).join('; ')}`,
        reason,
      },
    };
  }

  // 5. Act.
  const actions = await withSpan(SPANS.act, { project: ctx.projectId, 'ear_guard.plan.size': plan.length }, () =>
    act(ctx, t, plan),
  );
  for (const a of actions) record(ctx, 'action', `${a.description}: ${a.result}${a.error ? ` (${a.error})` : ''}`, a);
  const failedActs = actions.filter((a) => a.result === 'failed') as (ActionRecord & { _err?: ClassifiedError })[];
  const cleanActions = actions.map((a) => {
    const { _err, ...rest } = a as ActionRecord & { _err?: ClassifiedError };
    void _err;
    return rest;
  });
  const actionText = () => {
    const done = cleanActions.filter((a) => a.result !== 'failed').map((a) => a.description);
    return done.length ? done.join('; ') : 'nothing';
  };
  if (failedActs.length) {
    const errs = failedActs.map((a) => a._err!).filter(Boolean);
    const throttled = errs.find((e) => e.status === 429);
    const reason = `restore failed: ${failedActs.map((a) => `${a.description}: ${a.error}`).join('; ')}`;
    const outcome: Outcome = throttled
      ? {
          ...base(ctx, 'failing', { ...common, plan, actions: cleanActions }),
          kind: 'retry',
          afterMs: throttled.retryAfterMs ?? 30_000,
          reason,
        }
      : {
          ...base(ctx, 'failing', { ...common, plan, actions: cleanActions }),
          kind: 'failed',
          reason,
          transient: errs.every((e) => e.transient),
          code: errs[0]?.code,
        };
    return {
      outcome,
      update: (r) => ({
        ...rowBase(r, 'failing'),
        checks: r.checks + 1,
        failures: r.failures + 1,
        lastError: reason,
        lastOutcome: outcome.kind,
      }),
      alert: {
        ...alertBase,
        type: ALERT_TYPES.RestoreFailed,
        severity: 'critical',
        action: `attempted: ${plan.map((p) => p.description).join('; ')}; done: ${actionText()}`,
        reason,
      },
    };
  }

  // 6. Verify by observing again.
  let after: Observation;
  try {
    after = await withSpan(SPANS.verify, { project: ctx.projectId }, async (span) => {
      const o = await observe(ctx, t);
      span.setAttribute('ear_guard.verdict', o.verdict.verdict);
      return o;
    });
  } catch (err) {
    const f = failure(err, 'arm (verification)', t);
    return { ...f, outcome: { ...f.outcome, plan, actions: cleanActions } as Outcome };
  }
  record(
    ctx,
    'verification',
    `after restore: ${after.verdict.verdict}${after.verdict.missing.length ? ` (missing ${after.verdict.missing.join(', ')})` : ''}`,
    {
      verdict: after.verdict.verdict,
      missing: after.verdict.missing,
    },
  );
  const restoredAt = nowIso();
  if (
    after.verdict.verdict !== 'granted' ||
    (readerDrift && after.verdict.missingRecommended.includes(READER_ON_VAULT))
  ) {
    const reason = `verification: still ${after.verdict.verdict} after restore (missing ${after.verdict.missing.join(', ') || after.verdict.indeterminate.join(', ')})`;
    return {
      outcome: {
        ...base(ctx, 'failing', { ...common, plan, actions: cleanActions }),
        kind: 'failed',
        reason,
        transient: true,
      },
      update: (r) => ({
        ...rowBase(r, 'failing'),
        checks: r.checks + 1,
        failures: r.failures + 1,
        restoreTimes: [...recent, restoredAt],
        lastError: reason,
        lastOutcome: 'failed',
      }),
      alert: { ...alertBase, type: ALERT_TYPES.RestoreFailed, severity: 'critical', action: actionText(), reason },
    };
  }
  // Restore latency: from the change (event time) or, without an event, from detection, to the verified restore.
  recordRestoreLatency(ctx.trigger.eventTime ?? detectedAt, restoredAt, { trigger: ctx.trigger.kind });
  const flipNote = flipped
    ? ` The vault's permission model changed (${flipped.slice(14)}); it is the owner's choice and was left as is, so the access was restored in the new model.`
    : '';
  return {
    outcome: { ...base(ctx, 'restored', { ...common, plan, actions: cleanActions }), kind: 'restored' },
    update: (r) => ({
      ...rowBase(r, 'restored'),
      // The row describes the verified state, not the drift that was just repaired.
      verdict: after.verdict.verdict,
      missing: after.verdict.missing,
      checks: r.checks + 1,
      restores: r.restores + 1,
      restoreTimes: [...recent, restoredAt],
      lastOutcome: 'restored',
    }),
    alert: {
      ...alertBase,
      type: ALERT_TYPES.AccessRestored,
      severity: 'warning',
      action: `restored: ${actionText()}.${flipNote}`,
      reason: flipped ? `vault permission model flipped (${flipped.slice(14)})` : undefined,
    },
  };
}

/** A check that could not complete (Atlas or ARM unreachable, throttled, denied), as opposed to a verdict. */
function isCheckFailure(o: Outcome): boolean {
  return o.kind === 'failed' || o.kind === 'retry';
}

/** Sends the alert when the state it describes is new (restores always), and records it. */
async function maybeAlert(
  ctx: Ctx,
  row: ProjectRecord,
  res: PassResult,
  mode: Mode,
): Promise<{ sent: AlertType[]; signature?: string }> {
  if (!res.alert || mode === 'observe') return { sent: [] };
  const sig = signature(res.outcome.status, res.alert.missing, res.outcome.flags);
  const isRestore = res.alert.type === ALERT_TYPES.AccessRestored;
  if (!isRestore && (!ALERTABLE.has(res.outcome.status) || row.alertSignature === sig)) return { sent: [] };
  // A check that could not complete alerts only once it has failed enough times in a row.
  if (
    res.alert.type === ALERT_TYPES.CheckFailing &&
    isCheckFailure(res.outcome) &&
    (row.consecutiveFailures ?? 0) + 1 < (ctx.deps.policy.checkFailingAfter ?? 2)
  ) {
    record(
      ctx,
      'check',
      `check failed ${(row.consecutiveFailures ?? 0) + 1} time(s) in a row; CheckFailing waits for ${ctx.deps.policy.checkFailingAfter ?? 2}`,
    );
    return { sent: [] };
  }
  const alert: Alert = {
    ...res.alert,
    trigger: ctx.trigger.kind,
    eventId: ctx.trigger.eventId,
    correlationId: ctx.correlationId,
    at: new Date(ctx.now()).toISOString(),
  };
  const pub = await ctx.deps.alerts.publish(alert);
  record(
    ctx,
    'alert',
    `${alert.type} -> ${pub.sent.join(', ') || 'no sink'}${pub.failed.length ? `; failed: ${pub.failed.map((f) => `${f.sink} (${f.error.describe()})`).join(', ')}` : ''}`,
    {
      type: alert.type,
      action: alert.action,
      reason: alert.reason,
    },
  );
  return { sent: [alert.type], signature: sig };
}

function mergeOutcomes(first: Outcome, later: Outcome): Outcome {
  // A re-check that finds everything in place does not hide the restore that made it so.
  if (first.kind === 'restored' && later.kind === 'converged') {
    return { ...first, status: later.status, alerts: [...first.alerts, ...later.alerts] };
  }
  return { ...later, alerts: [...first.alerts, ...later.alerts] };
}

/** What drifted, for the drift metric (low cardinality); undefined when nothing did. */
export function driftCause(o: Outcome, trigger: Pick<Trigger, 'operationName'> = {}): string | undefined {
  if (o.verdict?.verdict === 'missing') {
    if (o.flags.some((f) => f.startsWith('model-flipped'))) return 'model-flipped';
    const op = (trigger.operationName ?? '').toLowerCase();
    if (op.includes('roleassignments/delete')) return 'role-assignment-deleted';
    if (op.includes('accesspolicies') || op.includes('microsoft.keyvault/vaults/write')) return 'access-policy-removed';
    return o.verdict.model === 'rbac' ? 'role-assignment-missing' : 'access-policy-missing';
  }
  return o.flags.find((f) => f === 'key-disabled' || f === 'key-expired' || f === 'key-not-found');
}

/** The reconcile metrics, from the outcome: one reconcile, the drift it found, the restore it made. */
function recordOutcome(o: Outcome, trigger: Trigger, durationSeconds: number): void {
  recordReconcile(o.kind, { trigger: trigger.kind, durationSeconds });
  const cause = driftCause(o, trigger);
  // Counted per reconcile that finds it: a drift left in place (modes observe/alert) counts at every check.
  if (cause) recordDrift(cause, { model: o.verdict?.model });
  if (o.actions.length) {
    const kind = o.actions[0]!.kind === 'roleAssignment' ? 'rbac' : 'accessPolicy';
    const result =
      o.kind === 'restored' ? 'verified' : o.actions.some((a) => a.result === 'failed') ? 'failed' : 'unverified';
    recordRestore(kind, result, { trigger: trigger.kind });
  }
}

/**
 * Reconciles one Atlas project. Level-triggered and idempotent: call it as often as you like. Two calls for one
 * project never write twice: the project row's ETag makes one of them the lease holder; the other records its
 * request and returns `skipped` (the holder re-checks before it lets go).
 *
 * Traced as one `ear_guard.reconcile` span (project, trigger, event ID, correlation ID, outcome) with `observe`,
 * `act` and `verify` children; the Azure SDK spans of those steps nest under them.
 */
export async function reconcileProject(projectId: string, trigger: Trigger, deps: ReconcileDeps): Promise<Outcome> {
  const started = performance.now();
  const attrs = {
    project: projectId,
    trigger: trigger.kind,
    eventId: trigger.eventId,
    correlationId: trigger.correlationId,
  };
  return withSpan(SPANS.reconcile, attrs, async (span) => {
    const outcome = await reconcileLeased(projectId, trigger, deps);
    annotateSpan({ outcome: outcome.kind, correlationId: outcome.correlationId, model: outcome.verdict?.model });
    if (outcome.kind === 'failed' || outcome.kind === 'retry') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: redactText(outcome.reason) });
    }
    recordOutcome(outcome, trigger, (performance.now() - started) / 1000);
    return outcome;
  });
}

async function reconcileLeased(projectId: string, trigger: Trigger, deps: ReconcileDeps): Promise<Outcome> {
  const now = deps.now ?? Date.now;
  const ctx: Ctx = { projectId, trigger, correlationId: trigger.correlationId ?? randomUUID(), deps, now, history: [] };
  const owner = randomUUID();
  const mode = () => deps.policy.mode;

  // Acquire the lease (optimistic: ETag on the project row).
  let busy = false;
  let seen = 0;
  let row: ProjectRecord;
  try {
    row = await deps.state.updateProject(projectId, (cur) => {
      busy = false;
      if (cur.leaseOwner && cur.leaseUntil && Date.parse(cur.leaseUntil) > now() && cur.leaseOwner !== owner) {
        busy = true;
        return { ...cur, requested: cur.requested + 1 };
      }
      seen = cur.requested;
      return { ...cur, leaseOwner: owner, leaseUntil: new Date(now() + deps.policy.leaseMs).toISOString() };
    });
  } catch (err) {
    const c = classifyError(err, 'state');
    return {
      ...base(ctx, 'unknown'),
      kind: 'failed',
      reason: `state: ${c.describe()}`,
      transient: c.transient,
      code: c.code,
    };
  }
  if (busy) {
    await flushHistory(ctx);
    return {
      ...base(ctx, row.status),
      kind: 'skipped',
      reason: 'coalesced: another reconcile of this project holds the lease and will re-check',
    };
  }

  let result: Outcome | undefined;
  try {
    for (let i = 0; i < Math.max(1, deps.policy.maxPasses); i++) {
      const res = await pass(ctx, row);
      const projectMode = row.mode ?? mode();
      const alerted = await maybeAlert(ctx, row, res, projectMode);
      res.outcome.alerts.push(...alerted.sent);
      result = result ? mergeOutcomes(result, res.outcome) : res.outcome;
      // Record and, in the same conditional write, find out whether anyone asked for a re-check meanwhile.
      let again = false;
      row = await deps.state.updateProject(projectId, (cur) => {
        const updated = res.update(cur);
        updated.consecutiveFailures = isCheckFailure(res.outcome) ? (cur.consecutiveFailures ?? 0) + 1 : 0;
        if (alerted.signature) updated.alertSignature = alerted.signature;
        else if (!ALERTABLE.has(res.outcome.status) && res.outcome.status !== 'restored') {
          updated.alertSignature = signature(res.outcome.status, [], []);
        }
        again = cur.requested !== seen && i + 1 < deps.policy.maxPasses;
        seen = cur.requested;
        if (!again) {
          updated.leaseOwner = '';
          updated.leaseUntil = '';
        }
        return updated;
      });
      await flushHistory(ctx);
      if (!again) break;
      deps.targetCache?.delete(projectId);
    }
  } catch (err) {
    const c = classifyError(err, 'state');
    await flushHistory(ctx).catch(() => undefined);
    await releaseLease(deps, projectId, owner);
    return {
      ...base(ctx, 'failing'),
      kind: 'failed',
      reason: `reconcile: ${c.describe()}`,
      transient: c.transient,
      code: c.code,
    };
  }
  return result!;
}

async function releaseLease(deps: ReconcileDeps, projectId: string, owner: string): Promise<void> {
  await deps.state
    .updateProject(projectId, (cur) =>
      cur.leaseOwner === owner ? { ...cur, leaseOwner: '', leaseUntil: '' } : undefined,
    )
    .catch(() => undefined);
}

async function flushHistory(ctx: Ctx): Promise<void> {
  const rows = ctx.history.splice(0);
  for (const h of rows) await ctx.deps.state.appendHistory(h);
}

/** Records a deliberate revocation (or lifts it). Used by the HTTP API and the CLI. */
export async function setIntent(
  state: StateStore,
  projectId: string,
  intent: 'granted' | 'revoked',
  by: string,
  reason: string,
): Promise<ProjectRecord> {
  const at = new Date().toISOString();
  const row = await state.updateProject(projectId, (cur) => ({
    ...cur,
    intent,
    intentBy: by,
    intentReason: reason,
    intentAt: at,
  }));
  await state.appendHistory({
    projectId,
    kind: 'intent',
    actor: by,
    summary: `intent set to ${intent}: ${reason}`,
    at,
  });
  return row;
}

// ---------------------------------------------------------------------------------------------------------------
// The same observe/judge and act steps, for callers without a project row (the CLI's check, preflight, migrate).

/** What the loop observes for one target, judged: verdict, key record and flags. Reads only; writes nothing. */
export interface Inspection {
  verdict: Verdict;
  docs: ObservedDocuments;
  key?: KeyRecord;
  /** Set when the key GET answered 404 (the `key-not-found` flag). */
  keyError?: string;
  flags: string[];
}

/** The loop's observe + judge + flags for one target (no lease, no state, no alert). */
export async function inspectTarget(
  t: AtlasTarget,
  deps: Pick<ReconcileDeps, 'azure'> & { policy?: Pick<ReconcilePolicy, 'nearExpiryMs'>; now?: () => number },
  lastModel?: string,
): Promise<Inspection> {
  const ctx = {
    projectId: t.projectId,
    trigger: { kind: 'cli' },
    correlationId: randomUUID(),
    deps: { azure: deps.azure, policy: { ...DEFAULT_POLICY, ...deps.policy } },
    now: deps.now ?? Date.now,
    history: [],
  } as unknown as Ctx;
  const obs = await observe(ctx, t);
  const row = { model: lastModel } as ProjectRecord;
  return {
    verdict: obs.verdict,
    docs: obs.docs,
    key: obs.key,
    keyError: obs.keyError?.describe(),
    flags: computeFlags(ctx, t, obs, row),
  };
}

/**
 * Applies a plan from planRestore with the loop's own act step (same guards: only the target's principal, only
 * restorable roles). `state`, when given, indexes created assignments as the loop does.
 */
export async function applyRestorePlan(
  t: AtlasTarget,
  plan: PlannedAction[],
  deps: Pick<ReconcileDeps, 'azure'> & { state?: Pick<StateStore, 'indexAssignment'> },
): Promise<ActionRecord[]> {
  const state = deps.state ?? { indexAssignment: async () => undefined };
  const ctx = {
    projectId: t.projectId,
    trigger: { kind: 'cli' },
    correlationId: randomUUID(),
    deps: { azure: deps.azure, state },
    now: Date.now,
    history: [],
  } as unknown as Ctx;
  const actions = await act(ctx, t, plan);
  return actions.map((a) => {
    const { _err, ...rest } = a as ActionRecord & { _err?: ClassifiedError };
    void _err;
    return rest;
  });
}
