// act: the only writes to Azure. One small action per planned grant: a role assignment (named deterministically by
// the adapter, so a repeat is 409 RoleAssignmentExists, taken as done) or accessPolicies/add with only the missing
// keys. Never a delete, never `replace`, never a vault PUT, never for anyone but the target's principal.
import type { AtlasTarget } from '../atlas/target.js';
import type { AzurePort } from '../azure/arm.js';
import { ClassifiedError, classifyError } from '../azure/errors.js';
import type { StateStore } from '../state/store.js';
import { RESTORABLE_ROLES, type ActionRecord, type PlannedAction } from './types.js';

export interface ActResult {
  actions: ActionRecord[];
  /** The classified error of each failed action, for the retry/terminal split. */
  errors: ClassifiedError[];
}

/** Last line of defence: nothing is ever written for another principal or an unlisted role. */
export function assertPlanAllowed(t: AtlasTarget, plan: PlannedAction[]): void {
  for (const a of plan) {
    if (a.principalId.toLowerCase() !== t.principalObjectId.toLowerCase()) {
      throw new ClassifiedError('terminal', 'arm', `refusing to write for principal ${a.principalId}`);
    }
    if (a.kind === 'roleAssignment' && !RESTORABLE_ROLES[a.roleDefinitionGuid!]) {
      throw new ClassifiedError('terminal', 'arm', `refusing to assign role ${a.roleDefinitionGuid}`);
    }
  }
}

async function apply(
  azure: AzurePort,
  index: (assignmentId: string) => Promise<void>,
  a: PlannedAction,
): Promise<ActionRecord> {
  if (a.kind === 'roleAssignment') {
    const r = await azure.createRoleAssignment({
      scope: a.scope!,
      roleDefinitionGuid: a.roleDefinitionGuid!,
      principalId: a.principalId,
    });
    await index(r.id).catch(() => undefined);
    return { ...a, result: r.created ? 'created' : 'alreadyExists', assignmentId: r.id };
  }
  await azure.addAccessPolicy({ vaultId: a.vaultId, tenantId: a.tenantId!, objectId: a.principalId, keys: a.keys! });
  return { ...a, result: 'added' };
}

/** Applies every action of the plan in parallel; a failed action is recorded with its error, never thrown. */
export async function act(
  t: AtlasTarget,
  plan: PlannedAction[],
  deps: { azure: AzurePort; state?: Pick<StateStore, 'indexAssignment'> },
  projectId = t.projectId,
): Promise<ActResult> {
  assertPlanAllowed(t, plan);
  const index = (id: string) => deps.state?.indexAssignment(id, projectId) ?? Promise.resolve();
  const errors: ClassifiedError[] = [];
  const actions = await Promise.all(
    plan.map((a) =>
      apply(deps.azure, index, a).catch((err): ActionRecord => {
        const c = classifyError(err, 'arm');
        errors.push(c);
        return { ...a, result: 'failed', error: c.describe() };
      }),
    ),
  );
  return { actions, errors };
}
