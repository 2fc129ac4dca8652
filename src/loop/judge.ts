// judge: pure. Turns what was observed into a Judgement: the evaluator's verdict plus typed findings about the key,
// Atlas's own view and the permission model, and what (if anything) drifted. No I/O.
import { READER_ON_VAULT } from '../core/evaluate.js';
import type { ObservedDocuments, Verdict } from '../core/types.js';
import type { NetworkJudgement } from '../core/network.js';
import type { KeyRecord, TimeBoundAssignment } from '../azure/arm.js';
import type { AtlasTarget } from '../atlas/target.js';
import type { PolicyObservation } from './observeLive.js';
import type { ProjectRecord } from '../state/store.js';
import { standbyFlag, standbyGaps, standbyText, type StandbyGap } from './standby.js';
import { RESTORABLE_ROLES, type ReconcilePolicy } from './types.js';

/** What the observe step read for one target. */
export interface Observation {
  docs: ObservedDocuments;
  key?: KeyRecord;
  /** The key GET answered 404. */
  keyMissing: boolean;
  verdict: Verdict;
  /** The key version Atlas pins (its keyIdentifier's version), when one is pinned and was read. */
  pinnedKey?: KeyRecord;
  /** Whether Atlas can reach the vault (undefined: not judged). */
  network?: NetworkJudgement;
  /** The principal's active assignments that end (PIM); undefined: not read in this pass. */
  timeBound?: TimeBoundAssignment[];
  /** Azure Policy assignments that would push RBAC or close the network; undefined: not read in this pass. */
  policy?: PolicyObservation;
}

/** Findings that break encryption at rest even when the permissions are right. */
export type BlockingFlag =
  | 'key-not-found'
  | 'key-disabled'
  | 'key-expired'
  | 'key-version-disabled'
  | 'key-version-expired'
  | 'network-denies-atlas'
  | 'atlas-invalid-while-azure-granted';

/** Every blocking flag, in the order the row shows them (the CLI's check reads it too). */
export const BLOCKING_FLAGS: readonly BlockingFlag[] = [
  'key-not-found',
  'key-disabled',
  'key-expired',
  'key-version-disabled',
  'key-version-expired',
  'network-denies-atlas',
  'atlas-invalid-while-azure-granted',
];

/** Findings that will break EAR within the warning window (EAR_GUARD_WARN_DAYS): alerted, nothing to restore. */
export type WarningFlag =
  'key-version-near-expiry' | 'assignment-time-bound' | 'policy-pushes-rbac' | 'policy-pushes-firewall';

const POLICY_FLAGS = ['policy-pushes-rbac', 'policy-pushes-firewall'] as const;

/**
 * Policy warnings: those the read found (reasons joined per flag), or, when the policies were not read or not
 * checked this pass, the last finding carried over (a forbidden read neither raises nor clears a warning).
 */
function policyFindings(obs: Observation, lastFlags: string[] | undefined) {
  const p = obs.policy;
  if (!p || p.kind === 'not-checked') {
    return { warnings: POLICY_FLAGS.filter((f) => (lastFlags ?? []).includes(f)), reasons: {} };
  }
  const reasons: Record<string, string> = {};
  for (const w of p.warnings) reasons[w.flag] = reasons[w.flag] ? `${reasons[w.flag]}; ${w.reason}` : w.reason;
  return { warnings: POLICY_FLAGS.filter((f) => reasons[f] !== undefined), reasons };
}

export interface ModelFlip {
  from: string;
  to: string;
}

export interface Judgement {
  verdict: Verdict;
  blocking: BlockingFlag[];
  nearExpiry: boolean;
  /** Findings that will break EAR within the warning window; each also a flag. */
  warnings?: WarningFlag[];
  /** Why each blocking or warning flag was raised (flag -> reason), for the alert. */
  reasons?: Record<string, string>;
  keyVersionDiffers: boolean;
  modelFlip?: ModelFlip;
  /**
   * Reader on the vault lost alone (RBAC, a reader role configured, no deny): drift to restore, though the verdict
   * stays granted (Atlas reads the vault's metadata with it).
   */
  readerDrift: boolean;
  /**
   * The standby grant's missing halves (EAR_GUARD_STANDBY_GRANT=key with restores at the vault): the configured data
   * roles the pinned principal lacks at the vault or the key. Empty when the standby does not apply.
   */
  standbyGaps: StandbyGap[];
  /**
   * Access granted, but a standby half is missing: a non-blocking redundancy condition, restored (or alerted) like
   * drift, through the same guards (intent, an allow-listed claim, mode, flapping, dry run).
   */
  redundancyDrift: boolean;
  /** What drifted: the missing required permissions, or Reader on the vault and/or a standby half alone. */
  drifted: string[];
  /** Every finding as the strings recorded in the row, history and alerts. */
  flags: string[];
}

function keyFindings(t: AtlasTarget, obs: Observation, nearExpiryMs: number, now: number) {
  const blocking: BlockingFlag[] = [];
  let nearExpiry = false;
  if (obs.keyMissing) blocking.push('key-not-found');
  const key = obs.key;
  if (key && !key.enabled) blocking.push('key-disabled');
  const exp = key?.expires ? Date.parse(key.expires) : NaN;
  if (exp <= now) blocking.push('key-expired');
  else if (exp - now <= nearExpiryMs) nearExpiry = true;
  const keyVersionDiffers = Boolean(
    key && t.keyVersion && key.currentVersion && t.keyVersion.toLowerCase() !== key.currentVersion.toLowerCase(),
  );
  return { blocking, nearExpiry, keyVersionDiffers };
}

/** The pinned version (when it is not the current one) and the network: blocking flags, warnings and reasons. */
const PINNED_FLAGS = ['key-version-disabled', 'key-version-expired', 'key-version-near-expiry'] as const;

/** The pinned version was not read this pass (a sweep's shared key list has no versions): keep the last finding. */
function carriedPinned(t: AtlasTarget, obs: Observation, lastFlags: string[] | undefined) {
  const notRead = Boolean(t.keyVersion && obs.key && !obs.key.currentVersion && !obs.pinnedKey);
  const carried: string[] = notRead ? PINNED_FLAGS.filter((f) => (lastFlags ?? []).includes(f)) : [];
  const blocking: BlockingFlag[] = BLOCKING_FLAGS.filter((f) => carried.includes(f));
  const warnings: WarningFlag[] = carried.includes('key-version-near-expiry') ? ['key-version-near-expiry'] : [];
  return { blocking, warnings };
}

function liveFindings(
  t: AtlasTarget,
  obs: Observation,
  lastFlags: string[] | undefined,
  nearExpiryMs: number,
  now: number,
) {
  const { blocking, warnings } = carriedPinned(t, obs, lastFlags);
  const reasons: Record<string, string> = {};
  const pinned = obs.pinnedKey;
  if (pinned && pinned !== obs.key) {
    const exp = pinned.expires ? Date.parse(pinned.expires) : NaN;
    const version = pinned.currentVersion ?? 'pinned';
    if (!pinned.enabled) blocking.push('key-version-disabled');
    if (exp <= now) blocking.push('key-version-expired');
    else if (exp - now <= nearExpiryMs) {
      warnings.push('key-version-near-expiry');
      reasons['key-version-near-expiry'] = `key version ${version}, which Atlas pins, expires ${pinned.expires}`;
    }
  }
  const ending = timeBoundFinding(obs, lastFlags, nearExpiryMs, now);
  if (ending) {
    warnings.push('assignment-time-bound');
    if (ending !== 'carried') reasons['assignment-time-bound'] = ending;
  }
  if (obs.network?.kind === 'denies-atlas') {
    blocking.push('network-denies-atlas');
    reasons['network-denies-atlas'] = obs.network.reason;
  }
  const policy = policyFindings(obs, lastFlags);
  warnings.push(...policy.warnings);
  return { blocking, warnings, reasons: { ...reasons, ...policy.reasons } };
}

/**
 * A required permission whose every unconditional grant is an assignment that ends within the window: Atlas loses
 * it then. Undefined when nothing ends soon; when the instances were not read, the last finding is carried over.
 */
function timeBoundFinding(
  obs: Observation,
  lastFlags: string[] | undefined,
  nearExpiryMs: number,
  now: number,
): string | undefined {
  if (!obs.timeBound) return (lastFlags ?? []).includes('assignment-time-bound') ? 'carried' : undefined;
  const v = obs.verdict;
  const ending = new Map<string, string>();
  for (const a of obs.timeBound) {
    if (Date.parse(a.endDateTime) - now <= nearExpiryMs) ending.set(a.assignmentId.toLowerCase(), a.endDateTime);
  }
  if (v.model !== 'rbac' || ending.size === 0) return undefined;
  const lost = (v.requiredPermissions ?? []).filter((p) => {
    const via = v.permissions[p]?.via ?? [];
    return via.length > 0 && via.every((g) => g.kind === 'roleAssignment' && ending.has(g.assignmentId.toLowerCase()));
  });
  if (lost.length === 0) return undefined;
  const ends = [
    ...new Set(
      lost.flatMap((p) => v.permissions[p].via.map((g) => (g.kind === 'roleAssignment' ? g.assignmentId : ''))),
    ),
  ];
  const when = ends.map((id) => `${id} ends ${ending.get(id.toLowerCase())}`).join('; ');
  return `${lost.join(', ')} rest only on time-bound (PIM) assignment(s): ${when}`;
}

function flagStrings(j: Omit<Judgement, 'flags'>): string[] {
  // The order is the order users have always seen: key findings, then Atlas, then the model.
  const flags: string[] = [];
  const b = new Set(j.blocking);
  for (const f of BLOCKING_FLAGS.slice(0, 3)) if (b.has(f)) flags.push(f);
  if (j.nearExpiry) flags.push('key-near-expiry');
  if (j.keyVersionDiffers) flags.push('key-version-differs');
  for (const f of BLOCKING_FLAGS.slice(3)) if (b.has(f)) flags.push(f);
  flags.push(...(j.warnings ?? []));
  if (j.modelFlip) flags.push(`model-flipped:${j.modelFlip.from}->${j.modelFlip.to}`);
  if (j.redundancyDrift) flags.push(...new Set(j.standbyGaps.map(standbyFlag)));
  return flags;
}

function isReaderDrift(v: Verdict, roles: string[]): boolean {
  return (
    v.verdict === 'granted' &&
    v.model === 'rbac' &&
    v.missingRecommended.includes(READER_ON_VAULT) &&
    !(v.readerOnVault?.deniedBy ?? []).length &&
    roles.some((r) => RESTORABLE_ROLES[r.toLowerCase()] === 'reader')
  );
}

/** What drifted while access may be granted: Reader lost, a standby half lost; else the missing permissions. */
function driftedOf(v: Verdict, readerDrift: boolean, redundancy: boolean, gaps: StandbyGap[]): string[] {
  if (!readerDrift && !redundancy) return v.missing;
  return [...(readerDrift ? [READER_ON_VAULT] : []), ...(redundancy ? gaps.map(standbyText) : [])];
}

export function judge(
  t: AtlasTarget,
  obs: Observation,
  row: Pick<ProjectRecord, 'model' | 'roles' | 'restoreScope'> & { flags?: string[] },
  policy: Pick<ReconcilePolicy, 'nearExpiryMs' | 'roles' | 'restoreScope' | 'standbyGrant'>,
  now: number,
): Judgement {
  const v = obs.verdict;
  const { blocking, nearExpiry, keyVersionDiffers } = keyFindings(t, obs, policy.nearExpiryMs, now);
  const live = liveFindings(t, obs, row.flags, policy.nearExpiryMs, now);
  blocking.push(...live.blocking);
  if (t.atlasValid === false && v.verdict === 'granted') blocking.push('atlas-invalid-while-azure-granted');
  const modelFlip = row.model && row.model !== v.model ? { from: row.model, to: v.model } : undefined;
  const roles = row.roles ?? policy.roles;
  const readerDrift = isReaderDrift(v, roles);
  const gaps =
    v.model === 'rbac'
      ? standbyGaps(t, obs.docs.roleAssignments, roles, {
          standbyGrant: policy.standbyGrant,
          restoreScope: row.restoreScope ?? policy.restoreScope,
        })
      : [];
  const redundancyDrift = v.verdict === 'granted' && gaps.length > 0;
  const j = {
    verdict: v,
    blocking,
    nearExpiry,
    warnings: live.warnings,
    reasons: live.reasons,
    keyVersionDiffers,
    modelFlip,
    readerDrift,
    standbyGaps: gaps,
    redundancyDrift,
    drifted: driftedOf(v, readerDrift, redundancyDrift, gaps),
  };
  return { ...j, flags: flagStrings(j) };
}
