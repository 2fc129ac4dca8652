// Microsoft.Authorization (api-version 2022-04-01): role assignments, role definitions (built-ins from the
// published JSON in core/builtinRoles.ts, custom roles by PUT) and deny assignments (seeded by the control
// API, as Azure creates those itself). Shapes follow the azure-rest-api-specs examples kept in
// test/fixtures (RoleAssignments_*.json, GetRoleDefinitionById.json).
import type { ServerResponse } from 'node:http';
import { scopeCovers, scopeEquals, normalizeScope } from '../../core/scopes.js';
import type { SandboxContext, SandboxRequest } from '../contract.js';
import { sendJson } from '../server.js';
import {
  GUID_RE,
  newGuid,
  type DenyAssignmentState,
  type PermissionBlockState,
  type RoleAssignmentState,
  type RoleDefinitionState,
  type SandboxState,
} from '../state.js';
import {
  ArmError,
  type Caller,
  decodeSegment,
  notifyChange,
  nowIso,
  objectField,
  parseJsonBody,
  sendPage,
  stringField,
} from './common.js';
import { assignedTo } from './groups.js';
import { coversInTenant } from './managementGroups.js';
import { authorizeAction, roleAssignmentAttributes } from './rbac.js';
import { requireScopeExists } from './resources.js';
import { allRoleDefinitions, builtinStates, findRoleDefinition, roleGuidOf } from './roleDefinitions.js';

// Kept here too: control.ts and older callers import them from this module.
export { allRoleDefinitions, findRoleDefinition, roleGuidOf };

const AUTH = '/providers/Microsoft.Authorization/';

/** Splits `{scope}/providers/Microsoft.Authorization/{rest}` at the last provider segment. */
export function splitAuthorizationPath(pathname: string): { scope: string; rest: string[] } | undefined {
  const idx = pathname.toLowerCase().lastIndexOf(AUTH.toLowerCase());
  if (idx < 0) return undefined;
  const scope = pathname.slice(0, idx);
  const rest = pathname
    .slice(idx + AUTH.length)
    .split('/')
    .filter(Boolean)
    .map(decodeSegment);
  if (rest.length === 0) return undefined;
  return { scope: scope === '' ? '/' : decodeURIComponent(scope), rest };
}

// ---------- role definitions ----------

/** The subscription-level ID Azure returns for a role definition read at or under a subscription. */
function roleDefinitionIdAt(scope: string, guid: string): string {
  const m = /^\/subscriptions\/([^/]+)/i.exec(scope);
  return `${m ? `/subscriptions/${m[1]}` : ''}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
}

export function roleDefinitionBody(def: RoleDefinitionState, scope: string): Record<string, unknown> {
  return {
    id: roleDefinitionIdAt(scope, def.name),
    type: 'Microsoft.Authorization/roleDefinitions',
    name: def.name,
    properties: {
      roleName: def.roleName,
      type: def.type,
      description: def.description,
      assignableScopes: def.assignableScopes,
      permissions: def.permissions,
      createdOn: def.createdOn ?? '2015-02-02T21:55:09.8806423Z',
      updatedOn: def.updatedOn ?? def.createdOn ?? '2021-11-11T20:13:47.8628684Z',
      createdBy: def.createdBy ?? null,
      updatedBy: def.updatedBy ?? null,
    },
  };
}

function parseDefinitionFilter(filter: string | null): (d: RoleDefinitionState) => boolean {
  if (!filter || !filter.trim()) return () => true;
  const preds: ((d: RoleDefinitionState) => boolean)[] = [];
  for (const clause of filter.split(/\s+and\s+/i)) {
    const byName = /^\s*roleName\s+eq\s+'((?:[^']|'')*)'\s*$/i.exec(clause);
    const byType = /^\s*type\s+eq\s+'([^']*)'\s*$/i.exec(clause);
    if (byName) {
      const n = byName[1].replace(/''/g, "'").toLowerCase();
      preds.push((d) => d.roleName.toLowerCase() === n);
    } else if (byType) {
      const t = byType[1].toLowerCase();
      preds.push((d) => d.type.toLowerCase() === t);
    } else {
      throw new ArmError(400, 'UnsupportedQuery', `The filter '${filter}' is not supported.`);
    }
  }
  return (d) => preds.every((p) => p(d));
}

export function putCustomRole(
  ctx: SandboxContext,
  state: SandboxState,
  caller: Caller,
  scope: string,
  guid: string,
  props: Record<string, unknown>,
): RoleDefinitionState {
  if (!GUID_RE.test(guid)) {
    throw new ArmError(400, 'InvalidRoleDefinitionId', `The role definition ID '${guid}' is not valid.`);
  }
  if (builtinStates().some((b) => b.name.toLowerCase() === guid.toLowerCase())) {
    throw new ArmError(400, 'CannotModifyBuiltInRole', `The built-in role definition '${guid}' cannot be modified.`);
  }
  const roleName = stringField(props, 'roleName', 'properties.roleName', true);
  const perms = props.permissions;
  if (!Array.isArray(perms) || perms.length === 0) {
    throw new ArmError(
      400,
      'InvalidRequestContent',
      "The request content was invalid: 'properties.permissions' must be a non-empty array.",
    );
  }
  const scopes = props.assignableScopes;
  if (!Array.isArray(scopes) || scopes.length === 0 || scopes.some((s) => typeof s !== 'string')) {
    throw new ArmError(
      400,
      'InvalidAssignableScopes',
      "The role definition's 'properties.assignableScopes' must list at least one scope.",
    );
  }
  const clash = allRoleDefinitions(state).find(
    (d) => d.roleName.toLowerCase() === roleName.toLowerCase() && d.name.toLowerCase() !== guid.toLowerCase(),
  );
  if (clash) {
    throw new ArmError(
      409,
      'RoleDefinitionWithSameNameExists',
      'A custom role with the same name already exists in this directory. Use a different name.',
    );
  }
  const existing = state.customRoles.get(guid.toLowerCase());
  const now = nowIso();
  const def: RoleDefinitionState = {
    name: guid.toLowerCase(),
    roleName,
    description: typeof props.description === 'string' ? props.description : '',
    type: 'CustomRole',
    permissions: perms.map((p, i) => permissionBlock(p, `properties.permissions[${i}]`)),
    assignableScopes: (scopes as string[]).map((s) => normalizeScope(s)),
    createdOn: existing?.createdOn ?? now,
    updatedOn: now,
    createdBy: existing?.createdBy ?? caller.actor.objectId,
    updatedBy: caller.actor.objectId,
  };
  state.customRoles.set(def.name, def);
  notifyChange(
    ctx,
    caller,
    'write',
    'Microsoft.Authorization/roleDefinitions/write',
    roleDefinitionIdAt(scope, def.name),
  );
  return def;
}

function permissionBlock(p: unknown, path: string): PermissionBlockState {
  if (typeof p !== 'object' || p === null) {
    throw new ArmError(400, 'InvalidRequestContent', `The request content was invalid: '${path}' must be an object.`);
  }
  const o = p as Record<string, unknown>;
  const list = (k: string): string[] => {
    const v = o[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
      throw new ArmError(
        400,
        'InvalidRequestContent',
        `The request content was invalid: '${path}.${k}' must be an array of strings.`,
      );
    }
    return v as string[];
  };
  return {
    actions: list('actions'),
    notActions: list('notActions'),
    dataActions: list('dataActions'),
    notDataActions: list('notDataActions'),
  };
}

// ---------- role assignments ----------

export function roleAssignmentBody(a: RoleAssignmentState): Record<string, unknown> {
  return {
    properties: {
      roleDefinitionId: a.roleDefinitionId,
      principalId: a.principalId,
      principalType: a.principalType,
      scope: a.scope,
      condition: a.condition ?? null,
      conditionVersion: a.conditionVersion ?? null,
      createdOn: a.createdOn,
      updatedOn: a.updatedOn,
      createdBy: a.createdBy,
      updatedBy: a.updatedBy,
      delegatedManagedIdentityResourceId: a.delegatedManagedIdentityResourceId ?? null,
      description: a.description ?? null,
    },
    id: a.id,
    type: 'Microsoft.Authorization/roleAssignments',
    name: a.name,
  };
}

export function roleAssignmentId(scope: string, name: string): string {
  return `${scope === '/' ? '' : normalizeScope(scope)}/providers/Microsoft.Authorization/roleAssignments/${name}`;
}

export interface RoleAssignmentInput {
  roleDefinitionId: string;
  principalId: string;
  principalType?: string;
  condition?: string | null;
  conditionVersion?: string | null;
  description?: string | null;
  delegatedManagedIdentityResourceId?: string | null;
}

/** The request's own faults, before the state is looked at (400s in the order Azure reports them). */
function validateRoleAssignment(state: SandboxState, name: string, input: RoleAssignmentInput): string {
  if (!GUID_RE.test(name)) {
    throw new ArmError(
      400,
      'InvalidRoleAssignmentId',
      `The role assignment ID '${name}' is not valid. The role assignment ID must be a GUID.`,
    );
  }
  if (!input.principalId || !GUID_RE.test(input.principalId)) {
    throw new ArmError(400, 'InvalidPrincipalId', 'A valid principal ID must be provided for role assignment.');
  }
  const guid = roleGuidOf(input.roleDefinitionId ?? '');
  if (!guid) {
    throw new ArmError(
      400,
      'InvalidRoleDefinitionId',
      `The role definition ID '${input.roleDefinitionId}' is not valid.`,
    );
  }
  if (!findRoleDefinition(state, guid)) {
    throw new ArmError(
      400,
      'RoleDefinitionDoesNotExist',
      `The specified role definition with ID '${guid}' does not exist.`,
    );
  }
  validateCondition(input);
  return guid;
}

function validateCondition(input: RoleAssignmentInput): void {
  if (input.conditionVersion && !input.condition) {
    throw new ArmError(400, 'InvalidRoleAssignmentCondition', 'A condition version was given without a condition.');
  }
  if (input.condition && input.conditionVersion && input.conditionVersion !== '2.0') {
    throw new ArmError(
      400,
      'InvalidConditionVersion',
      `The condition version '${input.conditionVersion}' is not supported; use '2.0'.`,
    );
  }
}

function sameGuid(roleDefinitionId: string, guid: string): boolean {
  return roleGuidOf(roleDefinitionId)?.toLowerCase() === guid.toLowerCase();
}

/** A PUT over an existing name is a no-op when it says the same thing, else 409 (assignments are immutable). */
function samePut(existing: RoleAssignmentState, guid: string, input: RoleAssignmentInput): RoleAssignmentState {
  const same =
    sameGuid(existing.roleDefinitionId, guid) &&
    existing.principalId.toLowerCase() === input.principalId.toLowerCase() &&
    (existing.condition ?? null) === (input.condition ?? null);
  if (!same) {
    throw new ArmError(
      409,
      'RoleAssignmentUpdateNotPermitted',
      'Tenant ID, application ID, principal ID, and scope are not allowed to be updated.',
    );
  }
  return existing;
}

/** Azure refuses a second assignment of the same role to the same principal at the same scope. */
function requireNoTwin(state: SandboxState, scope: string, guid: string, principalId: string): void {
  for (const a of state.roleAssignments.values()) {
    if (
      scopeEquals(a.scope, scope) &&
      a.principalId.toLowerCase() === principalId.toLowerCase() &&
      sameGuid(a.roleDefinitionId, guid)
    ) {
      throw new ArmError(409, 'RoleAssignmentExists', 'The role assignment already exists.');
    }
  }
}

/** PUT role assignment: 201 created; 200 for the same name and content again; 409s as Azure has them. */
export function putRoleAssignment(
  ctx: SandboxContext,
  state: SandboxState,
  caller: Caller,
  scopeIn: string,
  name: string,
  input: RoleAssignmentInput,
): { status: 200 | 201; assignment: RoleAssignmentState } {
  const scope = scopeIn === '/' ? '/' : normalizeScope(scopeIn);
  const guid = validateRoleAssignment(state, name, input);
  requireScopeExists(state, scope);
  const id = roleAssignmentId(scope, name);
  const existing = state.roleAssignments.get(id.toLowerCase());
  if (existing) return { status: 200, assignment: samePut(existing, guid, input) };
  requireNoTwin(state, scope, guid, input.principalId);
  const condition = input.condition ?? null;
  const now = nowIso();
  const assignment: RoleAssignmentState = {
    id,
    name,
    scope,
    roleDefinitionId: input.roleDefinitionId,
    principalId: input.principalId,
    principalType: input.principalType ?? state.principalById(input.principalId)?.type ?? 'User',
    condition,
    conditionVersion: condition ? (input.conditionVersion ?? '2.0') : null,
    description: input.description ?? null,
    delegatedManagedIdentityResourceId: input.delegatedManagedIdentityResourceId ?? null,
    createdOn: now,
    updatedOn: now,
    createdBy: caller.actor.objectId,
    updatedBy: caller.actor.objectId,
  };
  state.roleAssignments.set(id.toLowerCase(), assignment);
  notifyChange(ctx, caller, 'write', 'Microsoft.Authorization/roleAssignments/write', id);
  return { status: 201, assignment };
}

/** DELETE role assignment: the deleted assignment (200), or undefined when it was already gone (204). */
export function deleteRoleAssignment(
  ctx: SandboxContext,
  state: SandboxState,
  caller: Caller,
  id: string,
): RoleAssignmentState | undefined {
  const key = normalizeScope(id).toLowerCase();
  const existing = state.roleAssignments.get(key);
  if (!existing) return undefined;
  state.roleAssignments.delete(key);
  notifyChange(ctx, caller, 'delete', 'Microsoft.Authorization/roleAssignments/delete', existing.id);
  return existing;
}

interface ScopedFilter {
  /** at and above only */
  atScope: boolean;
  principalId?: string;
  /** `assignedTo('{id}')`: the object and the groups it is a transitive member of (groups.ts). */
  assignedTo?: string;
}

function parseAssignmentFilter(filter: string | null): ScopedFilter {
  const out: ScopedFilter = { atScope: false };
  if (!filter || !filter.trim()) return out;
  for (const clause of filter.split(/\s+and\s+/i)) {
    const c = clause.trim();
    let m: RegExpExecArray | null;
    if (/^atScope\(\)$/i.test(c)) out.atScope = true;
    else if ((m = /^principalId\s+eq\s+'([^']+)'$/i.exec(c))) out.principalId = m[1];
    else if ((m = /^assignedTo\('([^']+)'\)$/i.exec(c))) out.assignedTo = m[1];
    else throw new ArmError(400, 'UnsupportedQuery', `The filter '${filter}' is not supported.`);
  }
  return out;
}

function inView(state: SandboxState, itemScope: string, scope: string, f: ScopedFilter): boolean {
  const above = coversInTenant(state, itemScope, scope);
  if (f.atScope) return above;
  return above || scopeCovers(scope, itemScope);
}

export function listRoleAssignments(state: SandboxState, scope: string, filter: string | null): RoleAssignmentState[] {
  const f = parseAssignmentFilter(filter);
  return [...state.roleAssignments.values()].filter(
    (a) =>
      inView(state, a.scope, scope, f) &&
      (!f.principalId || a.principalId.toLowerCase() === f.principalId.toLowerCase()) &&
      (!f.assignedTo || assignedTo(state, f.assignedTo, a.principalId)),
  );
}

// ---------- deny assignments ----------

export function denyAssignmentBody(d: DenyAssignmentState): Record<string, unknown> {
  return {
    properties: {
      denyAssignmentName: d.denyAssignmentName,
      description: d.description,
      permissions: d.permissions,
      scope: d.scope,
      doNotApplyToChildScopes: d.doNotApplyToChildScopes,
      principals: d.principals,
      excludePrincipals: d.excludePrincipals,
      isSystemProtected: d.isSystemProtected,
    },
    id: d.id,
    type: 'Microsoft.Authorization/denyAssignments',
    name: d.name,
  };
}

export interface DenyAssignmentInput {
  scope: string;
  name?: string;
  denyAssignmentName?: string;
  description?: string;
  permissions: Partial<PermissionBlockState>[];
  principals: { id: string; type?: string }[];
  excludePrincipals?: { id: string; type?: string }[];
  doNotApplyToChildScopes?: boolean;
}

export function addDenyAssignment(
  ctx: SandboxContext,
  state: SandboxState,
  caller: Caller,
  input: DenyAssignmentInput,
): DenyAssignmentState {
  const scope = normalizeScope(input.scope);
  requireScopeExists(state, scope);
  if (!input.principals?.length)
    throw new ArmError(400, 'InvalidRequestContent', "'principals' must list at least one principal.");
  const name = input.name ?? newGuid();
  const d: DenyAssignmentState = {
    id: `${scope}/providers/Microsoft.Authorization/denyAssignments/${name}`,
    name,
    denyAssignmentName: input.denyAssignmentName ?? `Deny assignment ${name}`,
    description: input.description ?? 'Created by the sandbox (as Azure creates deny assignments for managed apps).',
    scope,
    permissions: input.permissions.map((p) => ({
      actions: p.actions ?? [],
      notActions: p.notActions ?? [],
      dataActions: p.dataActions ?? [],
      notDataActions: p.notDataActions ?? [],
    })),
    principals: input.principals.map((p) => ({ id: p.id, type: p.type ?? 'User' })),
    excludePrincipals: (input.excludePrincipals ?? []).map((p) => ({ id: p.id, type: p.type ?? 'User' })),
    doNotApplyToChildScopes: input.doNotApplyToChildScopes ?? false,
    isSystemProtected: true,
  };
  state.denyAssignments.set(d.id.toLowerCase(), d);
  notifyChange(ctx, caller, 'write', 'Microsoft.Authorization/denyAssignments/write', d.id);
  return d;
}

export function removeDenyAssignment(ctx: SandboxContext, state: SandboxState, caller: Caller, id: string): boolean {
  const key = normalizeScope(id).toLowerCase();
  const d = state.denyAssignments.get(key);
  if (!d) return false;
  state.denyAssignments.delete(key);
  notifyChange(ctx, caller, 'delete', 'Microsoft.Authorization/denyAssignments/delete', d.id);
  return true;
}

function listDenyAssignments(state: SandboxState, scope: string, filter: string | null): DenyAssignmentState[] {
  const f = parseAssignmentFilter(filter);
  return [...state.denyAssignments.values()].filter(
    (d) =>
      inView(state, d.scope, scope, f) &&
      (!f.principalId ||
        d.principals.some(
          (p) => p.id.toLowerCase() === f.principalId!.toLowerCase() || p.id === '00000000-0000-0000-0000-000000000000',
        )) &&
      (!f.assignedTo || d.principals.some((p) => assignedTo(state, f.assignedTo!, p.id))),
  );
}

// ---------- routes ----------

/** The operation name a request maps to (for accounting and fault matching), or undefined. */
export function classifyAuthorization(method: string, pathname: string): string | undefined {
  const p = splitAuthorizationPath(pathname);
  if (!p) return undefined;
  const [kind, name, extra] = p.rest;
  if (extra !== undefined) return undefined;
  const k = kind.toLowerCase();
  const table: Record<string, Record<string, string>> = {
    roleassignments: name
      ? { GET: 'roleAssignments.get', PUT: 'roleAssignments.create', DELETE: 'roleAssignments.delete' }
      : { GET: 'roleAssignments.list' },
    roledefinitions: name
      ? { GET: 'roleDefinitions.get', PUT: 'roleDefinitions.createOrUpdate', DELETE: 'roleDefinitions.delete' }
      : { GET: 'roleDefinitions.list' },
    denyassignments: name ? { GET: 'denyAssignments.get' } : { GET: 'denyAssignments.list' },
  };
  return table[k]?.[method];
}

/** One Microsoft.Authorization request, resolved: the scope it names and the item name (if any). */
interface AuthorizationCall {
  ctx: SandboxContext;
  state: SandboxState;
  req: SandboxRequest;
  res: ServerResponse;
  caller: Caller;
  scope: string;
  name: string;
  filter: string | null;
}

function requiredProperties(req: SandboxRequest): Record<string, unknown> {
  const props = objectField(parseJsonBody(req), 'properties');
  if (!props)
    throw new ArmError(400, 'InvalidRequestContent', "The request content was invalid: 'properties' is required.");
  return props;
}

function roleAssignmentInput(props: Record<string, unknown>): RoleAssignmentInput {
  return {
    roleDefinitionId: stringField(props, 'roleDefinitionId', 'properties.roleDefinitionId', true),
    principalId: stringField(props, 'principalId', 'properties.principalId', true),
    principalType: stringField(props, 'principalType', 'properties.principalType'),
    condition: stringField(props, 'condition', 'properties.condition'),
    conditionVersion: stringField(props, 'conditionVersion', 'properties.conditionVersion'),
    description: stringField(props, 'description', 'properties.description'),
    delegatedManagedIdentityResourceId: stringField(
      props,
      'delegatedManagedIdentityResourceId',
      'properties.delegatedManagedIdentityResourceId',
    ),
  };
}

function listAssignmentsRoute({ ctx, state, req, res, scope, filter }: AuthorizationCall): void {
  const items = listRoleAssignments(state, scope, filter).map(roleAssignmentBody);
  sendPage(res, req, ctx.baseUrl(), items, state.pageSize);
}

function getAssignmentRoute({ state, res, scope, name }: AuthorizationCall): void {
  const a = state.roleAssignments.get(roleAssignmentId(scope, name).toLowerCase());
  if (!a) {
    throw new ArmError(404, 'RoleAssignmentNotFound', `The role assignment '${name}' is not found.`);
  }
  sendJson(res, 200, roleAssignmentBody(a));
}

function createAssignmentRoute({ ctx, state, req, res, caller, scope, name }: AuthorizationCall): void {
  const input = roleAssignmentInput(requiredProperties(req));
  authorizeAction(state, caller.actor, 'Microsoft.Authorization/roleAssignments/write', roleAssignmentId(scope, name), {
    request: roleAssignmentAttributes(input),
  });
  const r = putRoleAssignment(ctx, state, caller, scope, name, input);
  sendJson(res, r.status, roleAssignmentBody(r.assignment));
}

function deleteAssignmentRoute({ ctx, state, res, caller, scope, name }: AuthorizationCall): void {
  const id = roleAssignmentId(scope, name);
  const existing = state.roleAssignments.get(id.toLowerCase());
  authorizeAction(state, caller.actor, 'Microsoft.Authorization/roleAssignments/delete', id, {
    resource: existing ? roleAssignmentAttributes(existing) : {},
  });
  const gone = deleteRoleAssignment(ctx, state, caller, id);
  if (gone) sendJson(res, 200, roleAssignmentBody(gone));
  else sendJson(res, 204, undefined);
}

function listDefinitionsRoute({ ctx, state, req, res, scope, filter }: AuthorizationCall): void {
  const pred = parseDefinitionFilter(filter);
  const defs = allRoleDefinitions(state).filter(
    (d) =>
      pred(d) && (d.type === 'BuiltInRole' || d.assignableScopes.some((s) => scope === '/' || scopeCovers(s, scope))),
  );
  sendPage(
    res,
    req,
    ctx.baseUrl(),
    defs.map((d) => roleDefinitionBody(d, scope)),
    state.pageSize,
  );
}

function getDefinitionRoute({ state, res, scope, name }: AuthorizationCall): void {
  if (!GUID_RE.test(name)) {
    throw new ArmError(400, 'InvalidRoleDefinitionId', `The role definition ID '${name}' is not valid.`);
  }
  const d = findRoleDefinition(state, name);
  if (!d) {
    throw new ArmError(
      404,
      'RoleDefinitionDoesNotExist',
      `The specified role definition with ID '${name}' does not exist.`,
    );
  }
  sendJson(res, 200, roleDefinitionBody(d, scope));
}

function putDefinitionRoute({ ctx, state, req, res, caller, scope, name }: AuthorizationCall): void {
  const props = requiredProperties(req);
  authorizeAction(state, caller.actor, 'Microsoft.Authorization/roleDefinitions/write', req.url.pathname);
  const d = putCustomRole(ctx, state, caller, scope, name, props);
  sendJson(res, 201, roleDefinitionBody(d, scope));
}

function deleteDefinitionRoute({ ctx, state, req, res, caller, scope, name }: AuthorizationCall): void {
  authorizeAction(state, caller.actor, 'Microsoft.Authorization/roleDefinitions/delete', req.url.pathname);
  const d = state.customRoles.get(name.toLowerCase());
  if (!d) return sendJson(res, 204, undefined);
  if ([...state.roleAssignments.values()].some((a) => roleGuidOf(a.roleDefinitionId)?.toLowerCase() === d.name)) {
    throw new ArmError(
      409,
      'RoleDefinitionHasAssignments',
      'There are existing role assignments referencing role (code: RoleDefinitionHasAssignments).',
    );
  }
  state.customRoles.delete(d.name);
  notifyChange(
    ctx,
    caller,
    'delete',
    'Microsoft.Authorization/roleDefinitions/delete',
    roleDefinitionIdAt(scope, d.name),
  );
  sendJson(res, 200, roleDefinitionBody(d, scope));
}

function listDenyRoute({ ctx, state, req, res, scope, filter }: AuthorizationCall): void {
  const items = listDenyAssignments(state, scope, filter).map(denyAssignmentBody);
  sendPage(res, req, ctx.baseUrl(), items, state.pageSize);
}

function getDenyRoute({ state, res, scope, name }: AuthorizationCall): void {
  const d = state.denyAssignments.get(
    `${normalizeScope(scope)}/providers/Microsoft.Authorization/denyAssignments/${name}`.toLowerCase(),
  );
  if (!d) throw new ArmError(404, 'DenyAssignmentNotFound', `The deny assignment '${name}' is not found.`);
  sendJson(res, 200, denyAssignmentBody(d));
}

/** Operation (from classifyAuthorization) -> handler. */
const AUTHORIZATION_ROUTES: Record<string, (call: AuthorizationCall) => void> = {
  'roleAssignments.list': listAssignmentsRoute,
  'roleAssignments.get': getAssignmentRoute,
  'roleAssignments.create': createAssignmentRoute,
  'roleAssignments.delete': deleteAssignmentRoute,
  'roleDefinitions.list': listDefinitionsRoute,
  'roleDefinitions.get': getDefinitionRoute,
  'roleDefinitions.createOrUpdate': putDefinitionRoute,
  'roleDefinitions.delete': deleteDefinitionRoute,
  'denyAssignments.list': listDenyRoute,
  'denyAssignments.get': getDenyRoute,
};

export async function handleAuthorization(
  ctx: SandboxContext,
  state: SandboxState,
  req: SandboxRequest,
  res: ServerResponse,
  caller: Caller,
  operation: string,
): Promise<void> {
  const { scope, rest } = splitAuthorizationPath(req.url.pathname)!;
  const filter = req.url.searchParams.get('$filter');
  if (scope !== '/') requireScopeExists(state, scope);
  const route = AUTHORIZATION_ROUTES[operation];
  if (!route) {
    throw new ArmError(405, 'MethodNotAllowed', `The method '${req.method}' is not allowed for this resource.`);
  }
  route({ ctx, state, req, res, caller, scope, name: rest[1], filter });
}
