// The loop's vocabulary: what a request carries, what a reconcile returns, the policy it runs under and the ports
// it talks through: types, the policy defaults and the target cache, so every step imports it without a cycle.
import { ROLE_IDS } from '../core/builtinRoles.js';
import type { Actor } from '../core/triage.js';
import type { Verdict } from '../core/types.js';
import type { AlertPublisher, AlertType } from '../alerts/index.js';
import type { AzurePort } from '../azure/arm.js';
import type { AtlasPort, TargetResult } from '../atlas/target.js';
import type { AtlasConfirmPolicy } from './atlasConfirm.js';
import type { Mode, ProjectRecord, ProjectStatus, RestoreScope, StateStore } from '../state/store.js';

/** Who an event says made a change (from its `claims`). */
export type TriggerActor = Actor;

/**
 * Why a reconcile runs: recorded in history and metrics, never used to decide. The loop reads only Atlas, ARM and
 * the project row; an event's lasting meaning (an allow-listed actor's revocation) is written to the row by the
 * event adapter before the request (see recordRevocationClaims), so the order of coalesced events cannot matter.
 */
export interface Trigger {
  kind: 'event' | 'timer' | 'http' | 'cli' | 'queue' | 'manual' | 'atlas-alert' | 'atlas-recheck';
  eventId?: string;
  correlationId?: string;
  /** Who the event says made the change (its `claims`): recorded as a claim, never trusted for a decision. */
  actor?: TriggerActor;
  /** A coalesced batch: every caller its events claim (labels), so no one event's claim speaks for the others. */
  claimedBy?: string[];
  operationName?: string;
  resourceId?: string;
  /** When the change happened (the event's `eventTime`): the start of the restore latency. */
  eventTime?: string;
  /**
   * Make the reads an event check skips (PIM schedules, policy assignments): the event changed what only those
   * reads see (a policy assignment written or deleted).
   */
  periodicReads?: boolean;
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

export interface OutcomeBase {
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

/**
 * `retry` is a requeue: the check could not complete for a reason that passes (throttling, 5xx, a network error),
 * and the platform should redeliver. `failed` with `transient: false` is terminal until something changes.
 */
export type Outcome =
  | (OutcomeBase & { kind: 'converged' })
  | (OutcomeBase & { kind: 'restored' })
  | (OutcomeBase & { kind: 'alerted'; reason: string })
  | (OutcomeBase & { kind: 'skipped'; reason: string })
  | (OutcomeBase & { kind: 'retry'; afterMs: number; reason: string })
  | (OutcomeBase & { kind: 'failed'; reason: string; transient: boolean; code?: string });

/** An outcome worth retrying later (throttled, 5xx, unreachable): the platform should redeliver or requeue. */
export function isTransientOutcome(o: Outcome): boolean {
  return o.kind === 'retry' || (o.kind === 'failed' && o.transient);
}

/** A check that could not complete (Atlas or ARM unreachable, throttled, denied), as opposed to a verdict. */
export function isCheckFailure(o: Outcome): boolean {
  return o.kind === 'failed' || o.kind === 'retry';
}

/** `key`: keep a standby of the data roles at the key besides the vault (EAR_GUARD_STANDBY_GRANT); `off`: none. */
export type StandbyGrant = 'off' | 'key';

export interface ReconcilePolicy {
  mode: Mode;
  restoreScope: RestoreScope;
  /**
   * `key`: with restoreScope `vault`, the data roles are also kept at the key (a standby already propagated when
   * either assignment is removed; see standby.ts). No effect with restoreScope `key`. Default `off`.
   */
  standbyGrant?: StandbyGrant;
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
  /**
   * How long a project's cloudProviderAccess registration, recorded in its row, stands in for reading it again
   * (only while Atlas names the same roleId and says the key is valid). 0: read it on every check. Default 1 h.
   */
  registrationTtlMs?: number;
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
  /** Asking Atlas to confirm a recovery: backoff and the window before AtlasStillInvalid (see atlasConfirm.ts). */
  atlasConfirm?: AtlasConfirmPolicy;
}

export const DEFAULT_POLICY: ReconcilePolicy = {
  mode: 'alert',
  restoreScope: 'vault',
  standbyGrant: 'off',
  roles: [ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader],
  allowedRevokers: [],
  maxRestores: 3,
  flapWindowMs: 60 * 60_000,
  dryRun: false,
  nearExpiryMs: 30 * 24 * 3600_000,
  targetCacheMs: 30_000,
  registrationTtlMs: 60 * 60_000,
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
  /**
   * Rows read before this reconcile began (the sweep lists every row once at its start). The first attempt uses the
   * project's row from here instead of a read: it was read before the observation started, so leasing under its
   * ETag keeps the lease's guarantee, and a row that moved since makes the attempt start over with a fresh read.
   */
  rowsReadBefore?: ReadonlyMap<string, ProjectRecord>;
  /** Asks for another reconcile of a project in `afterMs` (Atlas confirmation); absent: the sweep confirms. */
  recheck?: (projectId: string, afterMs: number) => void | Promise<void>;
}
