// Revocation claims: the lasting meaning of an event, recorded before the request. When an allow-listed actor
// (EAR_GUARD_ALLOWED_REVOKERS) changes access to a watched project, the event adapter writes a claim to the project
// row; the loop reads only the row, so whichever event of a burst is coalesced into the run, and whether another
// reconcile held the lease, the deliberate revocation is honoured the same way. A claim is consumed when the loop
// finds the drift (it becomes intent revoked), and dropped when a later observation finds access intact.
import type { ProjectRecord, RevocationClaim, StateStore } from '../state/store.js';
import type { PassResult } from './context.js';
import type { TriggerActor } from './types.js';

/** The actor's label when it is on the allow-list (object ID, UPN or name, case-insensitive), else undefined. */
export function allowListedActor(actor: TriggerActor | undefined, allow: string[]): string | undefined {
  if (!actor || allow.length === 0) return undefined;
  const ids = [actor.objectId, actor.upn, actor.name].filter((s): s is string => Boolean(s));
  const lower = ids.map((s) => s.toLowerCase());
  if (!allow.some((a) => lower.includes(a.toLowerCase()))) return undefined;
  return actor.upn ?? actor.name ?? actor.objectId;
}

export interface ClaimSource {
  actor?: TriggerActor;
  operationName?: string;
  eventId?: string;
}

/**
 * Records an allow-listed actor's change on each project it routes to. Returns the projects claimed (none when the
 * actor is not allow-listed). A state error propagates: the event must then be redelivered, not dropped.
 */
export async function recordRevocationClaims(
  state: Pick<StateStore, 'updateProject'>,
  projectIds: string[],
  source: ClaimSource,
  allowedRevokers: string[],
  now: () => number = Date.now,
): Promise<string[]> {
  const by = allowListedActor(source.actor, allowedRevokers);
  if (!by) return [];
  const claim: RevocationClaim = {
    by,
    at: new Date(now()).toISOString(),
    operation: source.operationName,
    eventId: source.eventId,
  };
  for (const id of projectIds) {
    await state.updateProject(id, (cur: ProjectRecord) => ({ ...cur, revocationClaim: claim }));
  }
  return projectIds;
}

/** A granted observation drops the claims recorded before it started (a later claim may describe a later change). */
export function clearStaleClaim(res: PassResult, observedAt: number): PassResult {
  return {
    ...res,
    update: (r) => {
      const next = res.update(r);
      const claim = next.revocationClaim;
      if (claim && Date.parse(claim.at) <= observedAt) return { ...next, revocationClaim: undefined };
      return next;
    },
  };
}
