// Groups and memberships in the emulated tenant (Microsoft Entra groups). A membership change is a directory
// change: like Azure, it produces no ARM event, so only a later check sees a grant that arrived through a group.
// `assignedTo('{objectId}')` on role and deny assignment lists matches the object and every group it is a
// transitive member of (Microsoft's list-role-assignments docs; test/fixtures/SOURCES.md).
import type { Principal, SandboxState } from '../state.js';

/** Group object ID (lower case) -> direct member object IDs (lower case). Kept beside the state, not in it. */
const memberships = new WeakMap<SandboxState, Map<string, Set<string>>>();

function groupsOf(state: SandboxState): Map<string, Set<string>> {
  let m = memberships.get(state);
  if (!m) memberships.set(state, (m = new Map()));
  return m;
}

/** The group with this name, created (type Group) when absent. */
export function ensureGroup(state: SandboxState, name: string): Principal {
  const existing = state.principals.get(name.toLowerCase());
  if (existing && existing.type !== 'Group') {
    throw Object.assign(new Error(`'${name}' is a ${existing.type}, not a group.`), {
      status: 400,
      code: 'BadRequest',
    });
  }
  return existing ?? state.addPrincipal({ name, type: 'Group' });
}

/** Adds `memberObjectId` to the group (idempotent). No event: Azure emits none for a membership change. */
export function addMember(state: SandboxState, groupName: string, memberObjectId: string): Principal {
  const g = ensureGroup(state, groupName);
  const all = groupsOf(state);
  const key = g.objectId.toLowerCase();
  if (!all.has(key)) all.set(key, new Set());
  all.get(key)!.add(memberObjectId.toLowerCase());
  return g;
}

export function removeMember(state: SandboxState, groupName: string, memberObjectId: string): boolean {
  const g = state.principals.get(groupName.toLowerCase());
  return g ? (groupsOf(state).get(g.objectId.toLowerCase())?.delete(memberObjectId.toLowerCase()) ?? false) : false;
}

/** Every group `objectId` is a direct or nested member of (lower-cased object IDs). */
export function transitiveGroups(state: SandboxState, objectId: string): Set<string> {
  const all = groupsOf(state);
  const out = new Set<string>();
  let frontier = [objectId.toLowerCase()];
  while (frontier.length) {
    const next: string[] = [];
    for (const [group, members] of all) {
      if (out.has(group)) continue;
      if (frontier.some((m) => members.has(m))) {
        out.add(group);
        next.push(group);
      }
    }
    frontier = next;
  }
  return out;
}

/** Does an assignment to `assignee` reach `objectId` under `assignedTo('{objectId}')`? */
export function assignedTo(state: SandboxState, objectId: string, assignee: string): boolean {
  const a = assignee.toLowerCase();
  return a === objectId.toLowerCase() || transitiveGroups(state, objectId).has(a);
}
