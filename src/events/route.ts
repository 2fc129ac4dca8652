// Maps a triaged event to the Atlas projects whose access it can affect, through the state indexes.
// Used by the Event Grid function and by `ear-guard triage`. Pure routing: the reconcile re-reads the truth.
import type { TriageResult } from '../core/triage.js';
import type { StateStore } from '../state/store.js';

export type ProjectIndex = Pick<StateStore, 'projectsForVault' | 'projectsForAssignment' | 'projectsAffectedBy'>;

export async function projectsForEvent(index: ProjectIndex, t: TriageResult): Promise<string[]> {
  if (!t.relevant || !t.scope) return [];
  const found = new Set<string>();
  const add = (ids: string[]) => ids.forEach((id) => found.add(id));
  switch (t.kind) {
    case 'roleAssignment':
      // A delete event does not name the assignment's principal: known assignment IDs map straight to their
      // project, and any watched vault at or beneath (or above, for a key scope) the assignment's scope is re-checked.
      // Both lookups at once: they are on the path from the event to the restore.
      for (const ids of await Promise.all([
        t.resourceId ? index.projectsForAssignment(t.resourceId) : [],
        index.projectsAffectedBy(t.scope),
      ]))
        add(ids);
      break;
    case 'roleDefinition':
    case 'denyAssignment':
    case 'policyAssignment':
      // A definition's (or policy assignment's) scope is where it lives; what it governs can sit anywhere beneath.
      add(await index.projectsAffectedBy(t.scope));
      break;
    case 'vault':
    case 'accessPolicy':
    case 'key':
      add(await index.projectsForVault(t.scope));
      break;
    default:
      break;
  }
  return [...found].sort();
}
