// The Atlas registration memo: a secretless project's cloudProviderAccess registration (roleId -> the Atlas service
// principal) is recorded in its row when read, and stands in for reading it again on later checks for a bounded time.
// A steady-state check then asks Atlas one question (the EAR configuration, which says whether Atlas can reach the
// key) instead of two. Pure: the row and the policy in, the memo out.
import type { AtlasRegistration, AtlasTarget } from '../atlas/target.js';
import type { ProjectRecord, RegistrationMemo } from '../state/store.js';
import type { ReconcilePolicy } from './types.js';

/**
 * The registration recorded in the row, while it may stand in for reading cloudProviderAccess: read at most
 * `registrationTtlMs` ago, for the principal the row records. The adapter still reads the EAR configuration and
 * reads the registration again unless Atlas names the same roleId and says the key is valid, so a re-pointed
 * registration is seen at the first check after Atlas finds the key unreachable, and any other within the TTL.
 */
export function knownRegistration(
  row: ProjectRecord,
  policy: ReconcilePolicy,
  now: number,
): AtlasRegistration | undefined {
  const m = row.atlasRole;
  if (!m || !policy.registrationTtlMs || m.principalObjectId !== row.principalId) return undefined;
  const age = now - Date.parse(m.readAt);
  if (!(age >= 0 && age < policy.registrationTtlMs)) return undefined;
  return { roleId: m.roleId, principalObjectId: m.principalObjectId, tenantId: m.tenantId };
}

/** The row's memo after a check of `t`: kept when the registration was reused, else stamped with this read. */
export function registrationMemo(t: AtlasTarget, row: ProjectRecord, at: string): RegistrationMemo | undefined {
  const r = t.registration;
  if (!r) return undefined;
  if (r.reused && row.atlasRole?.roleId === r.roleId) return row.atlasRole;
  return { roleId: r.roleId, principalObjectId: r.principalObjectId, tenantId: r.tenantId, readAt: at };
}
