// Azure Policy (Microsoft.Authorization, api-version 2025-03-01, what @azure/arm-policy 7 sends): policy assignments
// at any scope (PUT answers 201 as the spec's PolicyAssignments_Create does; GET, DELETE; list at a scope with
// `$filter=atScope()` | `atExactScope()` | `policyDefinitionId eq '{id}'`, paged with nextLink), policy set
// definitions at a subscription or management group (PUT/GET), and the built-in key-vault definitions the guard
// knows (GET). Shapes: the azure-rest-api-specs examples listPolicyAssignmentsForResource.json,
// createPolicyAssignment.json, getBuiltinPolicyDefinition.json (test/fixtures). ARM collapses the empty parent path
// the SDK sends for a top-level resource (`Microsoft.KeyVault//vaults/kv`); so does this.
import type { ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { KEY_VAULT_POLICY_DEFINITIONS, type KnownPolicyDefinition } from '../../core/policy.js';
import { normalizeScope, scopeCovers, scopeEquals } from '../../core/scopes.js';
import type { SandboxContext, SandboxRequest } from '../contract.js';
import { sendJson } from '../server.js';
import type { SandboxState } from '../state.js';
import {
  ArmError,
  type Caller,
  decodeSegment,
  notifyChange,
  objectField,
  parseJsonBody,
  sendPage,
  stringField,
} from './common.js';
import { coversInTenant } from './managementGroups.js';
import { authorizeAction } from './rbac.js';
import { requireScopeExists } from './resources.js';

type Rec = Record<string, unknown>;

interface PolicyAssignmentState {
  id: string;
  name: string;
  scope: string;
  properties: Rec;
  location?: string;
  identity?: Rec;
}

interface PolicySetState {
  id: string;
  name: string;
  properties: Rec;
}

interface PolicyStore {
  assignments: Map<string, PolicyAssignmentState>;
  sets: Map<string, PolicySetState>;
}

const stores = new WeakMap<SandboxState, PolicyStore>();

function storeOf(state: SandboxState): PolicyStore {
  let s = stores.get(state);
  if (!s) stores.set(state, (s = { assignments: new Map(), sets: new Map() }));
  return s;
}

const PA = '/providers/Microsoft.Authorization/policyAssignments';
const PATH_RE =
  /^(.*)\/providers\/Microsoft\.Authorization\/(policyAssignments|policySetDefinitions|policyDefinitions)(?:\/([^/]+))?\/?$/i;

/** The request path with ARM's tolerance for the SDK's empty parent segment (`//`). */
function cleanPath(pathname: string): string {
  return pathname.replace(/\/{2,}/g, '/');
}

export function classifyPolicy(method: string, pathname: string): string | undefined {
  const m = PATH_RE.exec(cleanPath(pathname));
  if (!m) return undefined;
  const kind = m[2].toLowerCase();
  const named = m[3] !== undefined;
  const table: Record<string, Record<string, string>> = {
    policyassignments: named
      ? { GET: 'policyAssignments.get', PUT: 'policyAssignments.create', DELETE: 'policyAssignments.delete' }
      : { GET: 'policyAssignments.list' },
    policysetdefinitions: named ? { GET: 'policySetDefinitions.get', PUT: 'policySetDefinitions.createOrUpdate' } : {},
    policydefinitions: named ? { GET: 'policyDefinitions.get' } : {},
  };
  return table[kind]?.[method];
}

// ---------- built-in definitions ----------

/**
 * A built-in definition as ARM serves it: the published name, display name and effect parameter; the rule is cut
 * down to the resource type and the effect (the guard reads only these).
 */
export function builtinDefinitionBody(d: KnownPolicyDefinition): Rec {
  const name = d.id.split('/').pop()!;
  const version = /\((\d+\.\d+\.\d+)\)$/.exec(d.source)?.[1] ?? '1.0.0';
  return {
    name,
    type: 'Microsoft.Authorization/policyDefinitions',
    id: d.id,
    properties: {
      displayName: d.displayName,
      mode: 'Indexed',
      parameters: {
        [d.effectParameter]: {
          type: 'String',
          metadata: { displayName: 'Effect', description: 'Enable or disable the execution of the policy' },
          allowedValues: d.allowedEffects,
          defaultValue: d.defaultEffect,
        },
      },
      policyRule: {
        if: { field: 'type', equals: 'Microsoft.KeyVault/vaults' },
        then: { effect: `[parameters('${d.effectParameter}')]` },
      },
      policyType: 'BuiltIn',
      version,
      versions: [version],
    },
  };
}

/** A built-in definition by name, ID or display name (case-insensitive). */
export function findBuiltinDefinition(ref: string): KnownPolicyDefinition | undefined {
  const r = ref.trim().toLowerCase();
  return KEY_VAULT_POLICY_DEFINITIONS.find(
    (d) => d.id.toLowerCase() === r || d.id.split('/').pop() === r || d.displayName.toLowerCase() === r,
  );
}

// ---------- assignments ----------

function assignmentBody(a: PolicyAssignmentState): Rec {
  return {
    name: a.name,
    type: 'Microsoft.Authorization/policyAssignments',
    id: a.id,
    ...(a.location ? { location: a.location } : {}),
    ...(a.identity ? { identity: a.identity } : {}),
    properties: a.properties,
  };
}

/** The definition an assignment names must exist: a known built-in, or a stored set (custom definitions pass). */
function requireDefinition(state: SandboxState, id: string): void {
  const builtin = /^\/providers\/Microsoft\.Authorization\/policyDefinitions\/([^/]+)$/i.exec(id);
  const set = /\/providers\/Microsoft\.Authorization\/policySetDefinitions\/[^/]+$/i.test(id);
  // Built-in initiatives are not emulated: an assignment may name only a set stored here.
  const missing = builtin
    ? !findBuiltinDefinition(builtin[1])
    : set && !storeOf(state).sets.has(normalizeScope(id).toLowerCase());
  if (missing) {
    throw new ArmError(
      404,
      'PolicyDefinitionNotFound',
      `The policy definition '${id.split('/').pop()}' could not be found.`,
    );
  }
}

const ENFORCEMENT = ['default', 'donotenforce'];

/**
 * A built-in's parameters as ARM checks them on PUT: an undefined parameter is refused, and a value outside the
 * definition's allowedValues is 400 PolicyParameterValueNotAllowed (compared exactly: ARM refuses 'deny' for 'Deny').
 */
function checkBuiltinParameters(policyDefinitionId: string, name: string, parameters: Rec | undefined): void {
  const guid = /^\/providers\/Microsoft\.Authorization\/policyDefinitions\/([^/]+)$/i.exec(policyDefinitionId)?.[1];
  const d = guid ? findBuiltinDefinition(guid) : undefined;
  if (!d || !parameters) return;
  const unknown = Object.keys(parameters).filter((k) => k !== d.effectParameter);
  if (unknown.length) {
    throw new ArmError(
      400,
      'UndefinedPolicyParameter',
      `The policy assignment '${name}' has the parameter(s) '${unknown.join(', ')}' which are not defined in the policy definition '${guid}'.`,
    );
  }
  const value = (parameters[d.effectParameter] as Rec | undefined)?.value;
  if (value !== undefined && !d.allowedEffects.includes(String(value))) {
    throw new ArmError(
      400,
      'PolicyParameterValueNotAllowed',
      `The value '${String(value)}' is not allowed for policy parameter '${d.effectParameter}' in policy definition '${guid}'. The allowed values are '${d.allowedEffects.join(', ')}'.`,
    );
  }
}

function assignmentProperties(state: SandboxState, scope: string, name: string, props: Rec): Rec {
  const policyDefinitionId = stringField(props, 'policyDefinitionId', 'properties.policyDefinitionId', true);
  requireDefinition(state, policyDefinitionId);
  checkBuiltinParameters(policyDefinitionId, name, objectField(props, 'parameters'));
  const mode = stringField(props, 'enforcementMode', 'properties.enforcementMode') ?? 'Default';
  if (!ENFORCEMENT.includes(mode.toLowerCase())) {
    throw new ArmError(
      400,
      'InvalidRequestContent',
      `The request content was invalid: 'properties.enforcementMode' must be 'Default' or 'DoNotEnforce'.`,
    );
  }
  const notScopes = props.notScopes ?? [];
  if (!Array.isArray(notScopes) || notScopes.some((s) => typeof s !== 'string')) {
    throw new ArmError(
      400,
      'InvalidRequestContent',
      "The request content was invalid: 'properties.notScopes' must be an array of strings.",
    );
  }
  return {
    ...props,
    definitionVersion: props.definitionVersion ?? '1.*.*',
    enforcementMode: mode,
    instanceId: randomUUID(),
    notScopes,
    parameters: objectField(props, 'parameters') ?? {},
    policyDefinitionId,
    scope,
  };
}

/** Creates or replaces a policy assignment (the control API and the REST PUT share it). */
export function putPolicyAssignment(
  ctx: SandboxContext,
  state: SandboxState,
  caller: Caller,
  scope: string,
  name: string,
  body: Rec,
): Rec {
  const props = objectField(body, 'properties');
  if (!props)
    throw new ArmError(400, 'InvalidRequestContent', "The request content was invalid: 'properties' is required.");
  const s = normalizeScope(scope);
  requireScopeExists(state, s);
  const id = `${s === '/' ? '' : s}${PA}/${name}`;
  authorizeAction(state, caller.actor, 'Microsoft.Authorization/policyAssignments/write', id);
  const a: PolicyAssignmentState = {
    id,
    name,
    scope: s,
    properties: assignmentProperties(state, s, name, props),
    location: typeof body.location === 'string' ? body.location : undefined,
    identity: objectField(body, 'identity'),
  };
  storeOf(state).assignments.set(id.toLowerCase(), a);
  notifyChange(ctx, caller, 'write', 'Microsoft.Authorization/policyAssignments/write', id);
  return assignmentBody(a);
}

const FILTERS: [
  RegExp,
  (m: RegExpExecArray, a: PolicyAssignmentState, scope: string, state: SandboxState) => boolean,
][] = [
  // Everything that applies to the scope: at it and above, management groups included.
  [/^atScope\(\)$/i, (_m, a, scope, state) => coversInTenant(state, a.scope, scope)],
  [/^atExactScope\(\)$/i, (_m, a, scope) => scopeEquals(a.scope, scope)],
  [
    /^policyDefinitionId eq '([^']+)'$/i,
    (m, a, scope, state) =>
      coversInTenant(state, a.scope, scope) &&
      String(a.properties.policyDefinitionId).toLowerCase() === m[1].toLowerCase(),
  ],
];

function listAssignments(state: SandboxState, scope: string, filter: string | null): PolicyAssignmentState[] {
  const all = [...storeOf(state).assignments.values()];
  if (!filter) {
    // Unfiltered: also those made inside the scope.
    return all.filter((a) => coversInTenant(state, a.scope, scope) || scopeCovers(scope, a.scope));
  }
  for (const [re, keep] of FILTERS) {
    const m = re.exec(filter.trim());
    if (m) return all.filter((a) => keep(m, a, scope, state));
  }
  throw new ArmError(
    400,
    'InvalidFilterInQueryString',
    `The filter '${filter}' is not valid. Supported: atScope(), atExactScope(), policyDefinitionId eq '{value}'.`,
  );
}

// ---------- set definitions ----------

function setBody(s: PolicySetState): Rec {
  return { name: s.name, type: 'Microsoft.Authorization/policySetDefinitions', id: s.id, properties: s.properties };
}

function putSet(state: SandboxState, caller: Caller, scope: string, name: string, body: Rec): Rec {
  if (!/^\/(subscriptions\/[^/]+|providers\/Microsoft\.Management\/managementGroups\/[^/]+)$/i.test(scope)) {
    throw new ArmError(400, 'InvalidScope', 'Policy set definitions live at a subscription or a management group.');
  }
  const props = objectField(body, 'properties');
  const defs = props?.policyDefinitions;
  if (!props || !Array.isArray(defs) || defs.length === 0) {
    throw new ArmError(
      400,
      'InvalidRequestContent',
      "The request content was invalid: 'properties.policyDefinitions' is required.",
    );
  }
  for (const d of defs as Rec[])
    requireDefinition(
      state,
      stringField(d ?? {}, 'policyDefinitionId', 'policyDefinitions[].policyDefinitionId', true),
    );
  const id = `${scope}/providers/Microsoft.Authorization/policySetDefinitions/${name}`;
  authorizeAction(state, caller.actor, 'Microsoft.Authorization/policySetDefinitions/write', id);
  const s: PolicySetState = { id, name, properties: { policyType: 'Custom', parameters: {}, ...props } };
  storeOf(state).sets.set(id.toLowerCase(), s);
  return setBody(s);
}

// ---------- routes ----------

export async function handlePolicy(
  ctx: SandboxContext,
  state: SandboxState,
  req: SandboxRequest,
  res: ServerResponse,
  caller: Caller,
  operation: string,
): Promise<void> {
  const m = PATH_RE.exec(cleanPath(req.url.pathname))!;
  const scope = normalizeScope(decodeSegment(m[1]) || '/');
  const name = m[3] === undefined ? '' : decodeSegment(m[3]);
  const id = `${scope === '/' ? '' : scope}/providers/Microsoft.Authorization/${m[2]}/${name}`.toLowerCase();
  const store = storeOf(state);
  switch (operation) {
    case 'policyAssignments.list': {
      requireScopeExists(state, scope);
      const items = listAssignments(state, scope, req.url.searchParams.get('$filter')).map(assignmentBody);
      return sendPage(res, req, ctx.baseUrl(), items, state.pageSize);
    }
    case 'policyAssignments.get': {
      const a = store.assignments.get(id);
      if (!a) throw new ArmError(404, 'PolicyAssignmentNotFound', `The policy assignment '${name}' is not found.`);
      return sendJson(res, 200, assignmentBody(a));
    }
    case 'policyAssignments.create':
      return sendJson(res, 201, putPolicyAssignment(ctx, state, caller, scope, name, parseJsonBody(req)));
    case 'policyAssignments.delete': {
      const a = store.assignments.get(id);
      if (!a) return sendJson(res, 204, undefined);
      authorizeAction(state, caller.actor, 'Microsoft.Authorization/policyAssignments/delete', a.id);
      store.assignments.delete(id);
      notifyChange(ctx, caller, 'delete', 'Microsoft.Authorization/policyAssignments/delete', a.id);
      return sendJson(res, 200, assignmentBody(a));
    }
    case 'policySetDefinitions.get': {
      const s = store.sets.get(id);
      if (!s)
        throw new ArmError(
          404,
          'PolicySetDefinitionNotFound',
          `The policy set definition '${name}' could not be found.`,
        );
      return sendJson(res, 200, setBody(s));
    }
    case 'policySetDefinitions.createOrUpdate':
      return sendJson(res, 201, putSet(state, caller, scope, name, parseJsonBody(req)));
    default: {
      const d = scope === '/' ? findBuiltinDefinition(name) : undefined;
      if (!d)
        throw new ArmError(404, 'PolicyDefinitionNotFound', `The policy definition '${name}' could not be found.`);
      return sendJson(res, 200, builtinDefinitionBody(d));
    }
  }
}
