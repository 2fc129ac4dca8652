// The management-group hierarchy above the emulated subscription. The tenant root group's ID is the tenant ID and
// every subscription folds up to it (Microsoft's management-groups overview). ARM lists the assignments at and above
// a scope, management groups included, so an assignment at `/providers/Microsoft.Management/managementGroups/{id}`
// is returned for every scope below that group.
import { managementGroupIdOf, scopeCovers } from '../../core/scopes.js';
import type { SandboxState } from '../state.js';

interface Hierarchy {
  /** Management group ID (lower case) -> parent ID (lower case); the root has none. */
  parents: Map<string, string>;
  /** The group the subscription sits in directly (lower case). Default: the tenant root group. */
  subscriptionParent?: string;
}

const hierarchies = new WeakMap<SandboxState, Hierarchy>();

function hierarchyOf(state: SandboxState): Hierarchy {
  let h = hierarchies.get(state);
  if (!h) hierarchies.set(state, (h = { parents: new Map() }));
  return h;
}

export function managementGroupScope(id: string): string {
  return `/providers/Microsoft.Management/managementGroups/${id}`;
}

/** Creates a management group under `parent` (default: the tenant root group). */
export function addManagementGroup(state: SandboxState, id: string, parent?: string): string {
  const root = state.tenantId.toLowerCase();
  if (id.toLowerCase() === root) throw new Error('the tenant root group exists already');
  hierarchyOf(state).parents.set(id.toLowerCase(), (parent ?? root).toLowerCase());
  return managementGroupScope(id);
}

/** Moves the subscription under a management group (it must exist, or be the tenant root group). */
export function placeSubscription(state: SandboxState, groupId: string): void {
  const h = hierarchyOf(state);
  const g = groupId.toLowerCase();
  if (g !== state.tenantId.toLowerCase() && !h.parents.has(g)) throw new Error(`no management group '${groupId}'`);
  h.subscriptionParent = g;
}

/** The management groups above the subscription, nearest first, ending with the tenant root group. */
export function subscriptionAncestors(state: SandboxState): string[] {
  const h = hierarchyOf(state);
  const root = state.tenantId.toLowerCase();
  const out: string[] = [];
  let g: string | undefined = h.subscriptionParent ?? root;
  while (g && !out.includes(g)) {
    out.push(g);
    g = g === root ? undefined : (h.parents.get(g) ?? root);
  }
  return out;
}

/** Is `item` at or above `scope`, management groups included (scopes inside the subscription only)? */
export function coversInTenant(state: SandboxState, item: string, scope: string): boolean {
  const mg = managementGroupIdOf(item);
  if (mg === undefined) return scopeCovers(item, scope);
  if (managementGroupIdOf(scope) !== undefined) return mg.toLowerCase() === managementGroupIdOf(scope)!.toLowerCase();
  return subscriptionAncestors(state).includes(mg.toLowerCase());
}
