// judge: pure. Turns what was observed into a Judgement: the evaluator's verdict plus typed findings about the key,
// Atlas's own view and the permission model, and what (if anything) drifted. No I/O.
import { READER_ON_VAULT } from '../core/evaluate.js';
import type { ObservedDocuments, Verdict } from '../core/types.js';
import type { KeyRecord } from '../azure/arm.js';
import type { AtlasTarget } from '../atlas/target.js';
import type { ProjectRecord } from '../state/store.js';
import { RESTORABLE_ROLES, type ReconcilePolicy } from './types.js';

/** What the observe step read for one target. */
export interface Observation {
  docs: ObservedDocuments;
  key?: KeyRecord;
  /** The key GET answered 404. */
  keyMissing: boolean;
  verdict: Verdict;
}

/** Findings that break encryption at rest even when the permissions are right. */
export type BlockingFlag = 'key-not-found' | 'key-disabled' | 'key-expired' | 'atlas-invalid-while-azure-granted';

export interface ModelFlip {
  from: string;
  to: string;
}

export interface Judgement {
  verdict: Verdict;
  blocking: BlockingFlag[];
  nearExpiry: boolean;
  keyVersionDiffers: boolean;
  modelFlip?: ModelFlip;
  /**
   * Reader on the vault lost alone (RBAC, a reader role configured, no deny): drift to restore, though the verdict
   * stays granted (Atlas reads the vault's metadata with it).
   */
  readerDrift: boolean;
  /** What drifted: the missing required permissions, or Reader on the vault alone. */
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

function flagStrings(j: Omit<Judgement, 'flags'>): string[] {
  // The order is the order users have always seen: key findings, then Atlas, then the model.
  const flags: string[] = [];
  const b = new Set(j.blocking);
  if (b.has('key-not-found')) flags.push('key-not-found');
  if (b.has('key-disabled')) flags.push('key-disabled');
  if (b.has('key-expired')) flags.push('key-expired');
  if (j.nearExpiry) flags.push('key-near-expiry');
  if (j.keyVersionDiffers) flags.push('key-version-differs');
  if (b.has('atlas-invalid-while-azure-granted')) flags.push('atlas-invalid-while-azure-granted');
  if (j.modelFlip) flags.push(`model-flipped:${j.modelFlip.from}->${j.modelFlip.to}`);
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

export function judge(
  t: AtlasTarget,
  obs: Observation,
  row: Pick<ProjectRecord, 'model' | 'roles'>,
  policy: Pick<ReconcilePolicy, 'nearExpiryMs' | 'roles'>,
  now: number,
): Judgement {
  const v = obs.verdict;
  const { blocking, nearExpiry, keyVersionDiffers } = keyFindings(t, obs, policy.nearExpiryMs, now);
  if (t.atlasValid === false && v.verdict === 'granted') blocking.push('atlas-invalid-while-azure-granted');
  const modelFlip = row.model && row.model !== v.model ? { from: row.model, to: v.model } : undefined;
  const readerDrift = isReaderDrift(v, row.roles ?? policy.roles);
  const j = {
    verdict: v,
    blocking,
    nearExpiry,
    keyVersionDiffers,
    modelFlip,
    readerDrift,
    drifted: readerDrift ? [READER_ON_VAULT] : v.missing,
  };
  return { ...j, flags: flagStrings(j) };
}
