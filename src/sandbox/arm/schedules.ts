// PIM role-assignment schedule instances (Microsoft.Authorization, api-version 2020-10-01): an active assignment that
// is time-bound has an instance with an `endDateTime`. Read-only here: the control surface makes an existing role
// assignment time-bound (as a PIM activation or a time-bound assignment would). Shape: the azure-rest-api-specs
// example GetRoleAssignmentScheduleInstancesByScope.json (test/fixtures).
import { normalizeScope, scopeCovers } from '../../core/scopes.js';
import type { SandboxContext, SandboxRequest } from '../contract.js';
import type { RoleAssignmentState, SandboxState } from '../state.js';
import type { ServerResponse } from 'node:http';
import { ArmError, sendPage } from './common.js';
import { findRoleDefinition, roleGuidOf } from './authorization.js';
import { assignedTo } from './groups.js';
import { coversInTenant } from './managementGroups.js';

interface ScheduleInstance {
  assignment: RoleAssignmentState;
  start: string;
  end: string;
  assignmentType: 'Assigned' | 'Activated';
}

const instances = new WeakMap<SandboxState, Map<string, ScheduleInstance>>();

function instancesOf(state: SandboxState): Map<string, ScheduleInstance> {
  let m = instances.get(state);
  if (!m) instances.set(state, (m = new Map()));
  return m;
}

/** Makes an existing role assignment time-bound: it ends at `end` (ISO). */
export function makeTimeBound(
  state: SandboxState,
  assignmentId: string,
  end: string,
  assignmentType: 'Assigned' | 'Activated' = 'Assigned',
): void {
  const a = state.roleAssignments.get(normalizeScope(assignmentId).toLowerCase());
  if (!a) throw new ArmError(404, 'RoleAssignmentNotFound', `The role assignment '${assignmentId}' is not found.`);
  if (Number.isNaN(Date.parse(end))) throw new ArmError(400, 'BadRequest', "'end' must be an ISO date-time.");
  instancesOf(state).set(a.id.toLowerCase(), { assignment: a, start: a.createdOn, end, assignmentType });
}

function body(state: SandboxState, i: ScheduleInstance): Record<string, unknown> {
  const a = i.assignment;
  const atSub = `/subscriptions/${state.subscriptionId}`;
  return {
    properties: {
      originRoleAssignmentId: a.id,
      assignmentType: i.assignmentType,
      scope: a.scope,
      roleDefinitionId: a.roleDefinitionId,
      principalId: a.principalId,
      principalType: a.principalType,
      status: 'Provisioned',
      roleAssignmentScheduleId: `${atSub}/providers/Microsoft.Authorization/RoleAssignmentSchedules/${a.name}`,
      startDateTime: i.start,
      endDateTime: i.end,
      memberType: 'Direct',
      createdOn: a.createdOn,
      ...(a.condition ? { condition: a.condition, conditionVersion: a.conditionVersion ?? '2.0' } : {}),
      expandedProperties: {
        scope: { id: a.scope, displayName: a.scope.split('/').pop() ?? a.scope, type: scopeType(a.scope) },
        roleDefinition: {
          id: a.roleDefinitionId,
          displayName: findRoleDefinition(state, roleGuidOf(a.roleDefinitionId) ?? '')?.roleName ?? '',
          type: 'BuiltInRole',
        },
        principal: {
          id: a.principalId,
          displayName: state.principalById(a.principalId)?.name ?? '',
          email: state.principalById(a.principalId)?.upn ?? '',
          type: a.principalType,
        },
      },
    },
    name: a.name,
    id: `${a.scope}/providers/Microsoft.Authorization/RoleAssignmentScheduleInstances/${a.name}`,
    type: 'Microsoft.Authorization/RoleAssignmentScheduleInstances',
  };
}

function scopeType(scope: string): string {
  const segs = scope.split('/').filter(Boolean).length;
  if (/managementGroups/i.test(scope)) return 'managementgroup';
  return segs <= 2 ? 'subscription' : segs <= 4 ? 'resourcegroup' : 'resource';
}

const PATH = /\/providers\/Microsoft\.Authorization\/roleAssignmentScheduleInstances\/?$/i;

export function classifySchedules(method: string, pathname: string): string | undefined {
  return PATH.test(pathname) && method === 'GET' ? 'roleAssignmentScheduleInstances.list' : undefined;
}

/** `GET {scope}/providers/Microsoft.Authorization/roleAssignmentScheduleInstances[?$filter=assignedTo('{id}')]`. */
export function handleSchedules(
  ctx: SandboxContext,
  state: SandboxState,
  req: SandboxRequest,
  res: ServerResponse,
): void {
  const scope = decodeURIComponent(req.url.pathname.replace(PATH, '')) || '/';
  const filter = req.url.searchParams.get('$filter');
  const who = filter ? /^\s*assignedTo\('([^']+)'\)\s*$/i.exec(filter)?.[1] : undefined;
  if (filter && !who) throw new ArmError(400, 'UnsupportedQuery', `The filter '${filter}' is not supported.`);
  const list = [...instancesOf(state).values()].filter((i) => {
    const a = i.assignment;
    if (!state.roleAssignments.has(a.id.toLowerCase())) return false; // deleted since
    const inView = coversInTenant(state, a.scope, scope) || scopeCovers(scope, a.scope);
    return inView && (!who || assignedTo(state, who, a.principalId));
  });
  sendPage(
    res,
    req,
    ctx.baseUrl(),
    list.map((i) => body(state, i)),
    state.pageSize,
  );
}
