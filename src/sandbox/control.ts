// The sandbox's control API: seed tenants, principals, vaults, keys and assignments; act as a named user
// ("alice deletes the Atlas principal's assignment"); flip data-plane facts ARM cannot (key disabled,
// expired, rotated); set faults; read request counts. The same object serves in-process callers and,
// over HTTP under `/_sandbox/control/{method}` (guarded by a control token), a separate process such as
// `ear-guard sandbox act`. Every change goes through the same arm/*.ts functions the ARM routes use, so
// an action taken here yields the same events as the same call made through ARM.
import type { ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { ROLE_IDS } from '../core/builtinRoles.js';
import { normalizeScope } from '../core/scopes.js';
import type { AccessPolicyEntry } from '../core/types.js';
import {
  addDenyAssignment,
  allRoleDefinitions,
  deleteRoleAssignment,
  denyAssignmentBody,
  listRoleAssignments,
  putCustomRole,
  putRoleAssignment,
  removeDenyAssignment,
  roleAssignmentBody,
  roleGuidOf,
} from './arm/authorization.js';
import { ArmError, controlCaller, type Caller } from './arm/common.js';
import {
  checkKeyAccess,
  createKeyIfNotExist,
  keyBody,
  keyVersionNotice,
  patchVault,
  putVault,
  rotateKey,
  updateAccessPolicy,
  vaultBody,
} from './arm/keyvault.js';
import { putResourceGroup, resourceGroupBody } from './arm/resources.js';
import type { KeyAccessAnswer, KeyAccessQuery, RouteHandler, SandboxContext, SandboxRequest } from './contract.js';
import type { Fault, FaultRule, Faults, RateLimitConfig, RouteMatcher } from './faults.js';
import { sendArmError, sendJson } from './server.js';
import { newGuid, stableGuid, type KeyState, type Principal, type SandboxState, type VaultState } from './state.js';

/** Request accounting: how many requests per operation, per caller, and per caller and operation. */
export interface Counts {
  total: number;
  byOperation: Record<string, number>;
  byCaller: Record<string, number>;
  byCallerOperation: Record<string, Record<string, number>>;
}

export class Accounting {
  private c: Counts = { total: 0, byOperation: {}, byCaller: {}, byCallerOperation: {} };
  count(operation: string, caller: string): void {
    this.c.total += 1;
    this.c.byOperation[operation] = (this.c.byOperation[operation] ?? 0) + 1;
    this.c.byCaller[caller] = (this.c.byCaller[caller] ?? 0) + 1;
    const per = (this.c.byCallerOperation[caller] ??= {});
    per[operation] = (per[operation] ?? 0) + 1;
  }
  snapshot(): Counts {
    return structuredClone(this.c);
  }
  reset(): void {
    this.c = { total: 0, byOperation: {}, byCaller: {}, byCallerOperation: {} };
  }
}

/** Where an Atlas project's EAR points: enough to act on "the project's" vault, key and principal. */
export interface ProjectTarget {
  projectId: string;
  resourceGroupName: string;
  keyVaultName: string;
  keyName: string;
  /** Object ID of the service principal Atlas uses for this project. */
  principalId: string;
}

/** Names a vault by name (vault names are globally unique) and, optionally, its resource group. */
export interface VaultRef {
  vault: string;
  resourceGroup?: string;
}

/** Actions take `as`: the sandbox principal that makes the change (default `admin`); it lands in event claims. */
export interface Acting {
  as?: string;
}

export interface ArmControl {
  readonly tenantId: string;
  readonly subscriptionId: string;
  /** The Atlas-managed service principal's object ID in this tenant (appId 9efedfcc-...). */
  readonly atlasPrincipalId: string;

  principals(): Principal[];
  addPrincipal(p: {
    name: string;
    type?: Principal['type'];
    objectId?: string;
    upn?: string;
    appId?: string;
  }): Principal;

  createResourceGroup(p: { name: string; location?: string } & Acting): Record<string, unknown>;
  /** Creates (or replaces) a vault; creates its resource group when missing. `rbac` picks the permission model. */
  createVault(
    p: VaultRef & Acting & { rbac?: boolean; location?: string; accessPolicies?: AccessPolicyEntry[] },
  ): Record<string, unknown>;
  getVault(p: VaultRef): Record<string, unknown>;
  createKey(
    p: VaultRef & Acting & { key: string; enabled?: boolean; exp?: number; nbf?: number; kty?: string },
  ): Record<string, unknown> & { keyIdentifier: string };
  getKey(p: VaultRef & { key: string }): Record<string, unknown> & { keyIdentifier: string };
  /** Data plane: enable/disable the current version (no ARM event, as in Azure). */
  setKeyEnabled(p: VaultRef & { key: string; enabled: boolean }): void;
  /** Data plane: set or clear `exp` / `nbf` (unix seconds) on the current version. */
  setKeyExpiry(p: VaultRef & { key: string; exp?: number | null; nbf?: number | null }): void;
  /** Data plane: a new key version (KeyNewVersionCreated). Returns the new version. */
  rotateKey(p: VaultRef & { key: string }): { version: string; keyIdentifier: string };
  /** Data plane: delete the key (no ARM event). */
  deleteKey(p: VaultRef & { key: string }): boolean;
  /** KeyNearExpiry / KeyExpired on demand. */
  emitKeyEvent(p: VaultRef & { key: string; type: 'KeyNearExpiry' | 'KeyExpired' | 'KeyNewVersionCreated' }): void;

  /** `role`: a role name ("Key Vault Crypto User"), a GUID, or a role definition ID. `scope`: a resource ID or a vault name. */
  assignRole(
    p: Acting & {
      scope: string;
      role: string;
      principalId: string;
      name?: string;
      principalType?: string;
      condition?: string;
      conditionVersion?: string;
    },
  ): Record<string, unknown>;
  /** Deletes an assignment by ID; false when it was already gone. */
  deleteAssignment(p: Acting & { id: string }): boolean;
  roleAssignments(p?: { scope?: string; principalId?: string }): Record<string, unknown>[];
  createCustomRole(
    p: Acting & {
      roleName: string;
      name?: string;
      description?: string;
      actions?: string[];
      notActions?: string[];
      dataActions?: string[];
      notDataActions?: string[];
      assignableScopes?: string[];
    },
  ): Record<string, unknown>;
  addDenyAssignment(
    p: Acting & {
      scope: string;
      principals: { id: string; type?: string }[];
      excludePrincipals?: { id: string; type?: string }[];
      actions?: string[];
      notActions?: string[];
      dataActions?: string[];
      notDataActions?: string[];
      doNotApplyToChildScopes?: boolean;
      name?: string;
    },
  ): Record<string, unknown>;
  removeDenyAssignment(p: Acting & { id: string }): boolean;

  /** accessPolicies/{op} for one entry (default op `add`). */
  setAccessPolicy(
    p: VaultRef &
      Acting & {
        objectId: string;
        tenantId?: string;
        applicationId?: string;
        keys?: string[];
        secrets?: string[];
        certificates?: string[];
        op?: 'add' | 'remove' | 'replace';
      },
  ): Record<string, unknown>;
  /** Flips `enableRbacAuthorization` (PATCH): `rbac` or `accessPolicy`. */
  setPermissionModel(p: VaultRef & Acting & { model: 'rbac' | 'accessPolicy' }): Record<string, unknown>;

  /** Where a project's EAR points (vault, key, principal): from the demo seed or the Atlas half. */
  projectTarget(p: { projectId: string }): ProjectTarget;

  checkKeyAccess(q: KeyAccessQuery): KeyAccessAnswer;
  /** Convenience: would `principalId` (default: the Atlas principal) pass Atlas's check on this key now? */
  checkAccess(p: VaultRef & { key: string; principalId?: string }): KeyAccessAnswer;

  setFault(matcher: RouteMatcher, fault: Fault, opts?: { times?: number }): number;
  clearFaults(id?: number): void;
  faults(): FaultRule[];
  setRateLimit(cfg: Partial<RateLimitConfig>): void;
  /** Page size of ARM lists (nextLink paging); default 1000. */
  setPageSize(n: number): void;
  counts(): Counts;
  resetCounts(): void;
}

const ROLE_ALIASES: Record<string, string> = Object.fromEntries(
  Object.entries(ROLE_IDS).map(([k, v]) => [k.toLowerCase(), v]),
);

/** What the control methods share: the acting caller, and vaults, keys, scopes and roles found by name. */
interface ControlKit {
  caller(as: string | undefined, what: string, method?: string): Caller;
  findVault(ref: VaultRef): VaultState;
  findKey(ref: VaultRef & { key: string }): { vault: VaultState; key: KeyState };
  keyIdentifier(vault: VaultState, key: KeyState): string;
  resolveScope(scope: string): string;
  resolveRole(role: string): string;
}

function controlKit(state: SandboxState): ControlKit {
  const caller = (as: string | undefined, what: string, method = 'PUT') =>
    controlCaller(state.actor(as ?? 'admin'), what, method);

  const findVault = (ref: VaultRef): VaultState => {
    if (!ref || typeof ref.vault !== 'string' || !ref.vault) {
      throw new ArmError(400, 'BadRequest', "'vault' is required (the vault name).");
    }
    const v = ref.resourceGroup ? state.getVault(ref.resourceGroup, ref.vault) : state.findVaultByName(ref.vault);
    if (!v) throw new ArmError(404, 'ResourceNotFound', `The vault '${ref.vault}' was not found.`);
    return v;
  };
  const findKey = (ref: VaultRef & { key: string }): { vault: VaultState; key: KeyState } => {
    const vault = findVault(ref);
    const key = state.getKey(vault.id, ref.key);
    if (!key) throw new ArmError(404, 'KeyNotFound', `The key '${ref.key}' was not found in vault '${vault.name}'.`);
    return { vault, key };
  };
  const keyIdentifier = (vault: VaultState, key: KeyState) =>
    `https://${vault.name}.vault.azure.net/keys/${key.name}/${key.versions[key.versions.length - 1].version}`;
  const resolveScope = (scope: string): string => {
    if (scope.startsWith('/')) return normalizeScope(scope);
    return findVault({ vault: scope }).id;
  };
  const resolveRole = (role: string): string => {
    if (roleGuidOf(role)) return role;
    const byAlias = ROLE_ALIASES[role.replace(/[\s-]/g, '').toLowerCase()];
    const guid =
      byAlias ??
      allRoleDefinitions(state).find(
        (d) => d.name.toLowerCase() === role.toLowerCase() || d.roleName.toLowerCase() === role.toLowerCase(),
      )?.name;
    if (!guid) throw new ArmError(400, 'RoleDefinitionDoesNotExist', `No role named '${role}'.`);
    return `/subscriptions/${state.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
  };
  return { caller, findVault, findKey, keyIdentifier, resolveScope, resolveRole };
}

function vaultControls(
  ctx: SandboxContext,
  state: SandboxState,
  { caller, findVault }: ControlKit,
): Pick<ArmControl, 'createResourceGroup' | 'createVault' | 'getVault' | 'setAccessPolicy' | 'setPermissionModel'> {
  return {
    createResourceGroup: (p) =>
      resourceGroupBody(
        putResourceGroup(ctx, state, caller(p.as, `createResourceGroup ${p.name}`), p.name, {
          location: p.location ?? state.location,
        }).rg,
      ),

    createVault: (p) => {
      const rg = p.resourceGroup ?? 'rg-ear';
      if (!state.getResourceGroup(rg)) {
        putResourceGroup(ctx, state, caller(p.as, `createResourceGroup ${rg}`), rg, {
          location: p.location ?? state.location,
        });
      }
      const r = putVault(ctx, state, caller(p.as, `createVault ${p.vault}`), rg, p.vault, {
        location: p.location ?? state.location,
        properties: {
          tenantId: state.tenantId,
          sku: { family: 'A', name: 'standard' },
          enableRbacAuthorization: p.rbac ?? true,
          accessPolicies: p.accessPolicies ?? [],
        },
      });
      return vaultBody(r.vault);
    },

    getVault: (p) => vaultBody(findVault(p)),

    setAccessPolicy: (p) => {
      const vault = findVault(p);
      if (!p.objectId) throw new ArmError(400, 'BadRequest', "'objectId' is required.");
      const entry: AccessPolicyEntry = {
        tenantId: p.tenantId ?? state.tenantId,
        objectId: p.objectId,
        ...(p.applicationId ? { applicationId: p.applicationId } : {}),
        permissions: {
          ...(p.keys ? { keys: p.keys } : {}),
          ...(p.secrets ? { secrets: p.secrets } : {}),
          ...(p.certificates ? { certificates: p.certificates } : {}),
        },
      };
      const v = updateAccessPolicy(
        ctx,
        state,
        caller(p.as, `accessPolicies/${p.op ?? 'add'}`),
        vault.resourceGroup,
        vault.name,
        p.op ?? 'add',
        [entry],
      );
      return vaultBody(v);
    },

    setPermissionModel: (p) => {
      if (p.model !== 'rbac' && p.model !== 'accessPolicy') {
        throw new ArmError(400, 'BadRequest', "'model' must be 'rbac' or 'accessPolicy'.");
      }
      const vault = findVault(p);
      return vaultBody(
        patchVault(
          ctx,
          state,
          caller(p.as, `setPermissionModel ${p.model}`, 'PATCH'),
          vault.resourceGroup,
          vault.name,
          {
            properties: { enableRbacAuthorization: p.model === 'rbac' },
          },
        ),
      );
    },
  };
}

function keyControls(
  ctx: SandboxContext,
  state: SandboxState,
  { caller, findVault, findKey, keyIdentifier }: ControlKit,
): Pick<
  ArmControl,
  'createKey' | 'getKey' | 'setKeyEnabled' | 'setKeyExpiry' | 'rotateKey' | 'deleteKey' | 'emitKeyEvent'
> {
  return {
    createKey: (p) => {
      const vault = findVault(p);
      const key = createKeyIfNotExist(
        ctx,
        state,
        caller(p.as, `createKey ${p.key}`),
        vault.resourceGroup,
        vault.name,
        p.key,
        {
          kty: p.kty,
          attributes: { enabled: p.enabled, exp: p.exp, nbf: p.nbf },
        },
      );
      return { ...keyBody(vault, key), keyIdentifier: keyIdentifier(vault, key) };
    },

    getKey: (p) => {
      const { vault, key } = findKey(p);
      return { ...keyBody(vault, key), keyIdentifier: keyIdentifier(vault, key) };
    },

    setKeyEnabled: (p) => {
      const { key } = findKey(p);
      const ver = key.versions[key.versions.length - 1];
      ver.enabled = Boolean(p.enabled);
      ver.updated = Math.floor(Date.now() / 1000);
    },

    setKeyExpiry: (p) => {
      const { key } = findKey(p);
      const ver = key.versions[key.versions.length - 1];
      if (p.exp === null) delete ver.exp;
      else if (p.exp !== undefined) ver.exp = p.exp;
      if (p.nbf === null) delete ver.nbf;
      else if (p.nbf !== undefined) ver.nbf = p.nbf;
      ver.updated = Math.floor(Date.now() / 1000);
    },

    rotateKey: (p) => {
      const { vault, key } = findKey(p);
      const ver = rotateKey(ctx, state, vault, key);
      return { version: ver.version, keyIdentifier: keyIdentifier(vault, key) };
    },

    deleteKey: (p) => {
      const vault = findVault(p);
      return state.keys.delete(`${vault.id}/keys/${p.key}`.toLowerCase());
    },

    emitKeyEvent: (p) => {
      const { vault, key } = findKey(p);
      keyVersionNotice(ctx, vault, key, p.type);
    },
  };
}

function authorizationControls(
  ctx: SandboxContext,
  state: SandboxState,
  { caller, resolveScope, resolveRole }: ControlKit,
): Pick<ArmControl, 'assignRole' | 'deleteAssignment' | 'roleAssignments' | 'createCustomRole'> {
  return {
    assignRole: (p) => {
      if (!p.principalId) throw new ArmError(400, 'InvalidPrincipalId', "'principalId' is required.");
      const scope = resolveScope(p.scope);
      const roleDefinitionId = resolveRole(p.role);
      const name =
        p.name ?? stableGuid(`${scope.toLowerCase()}|${p.principalId.toLowerCase()}|${roleGuidOf(roleDefinitionId)}`);
      const r = putRoleAssignment(ctx, state, caller(p.as, `assignRole ${name}`), scope, name, {
        roleDefinitionId,
        principalId: p.principalId,
        principalType: p.principalType,
        condition: p.condition,
        conditionVersion: p.conditionVersion,
      });
      return roleAssignmentBody(r.assignment);
    },

    deleteAssignment: (p) =>
      Boolean(deleteRoleAssignment(ctx, state, caller(p.as, `deleteAssignment ${p.id}`, 'DELETE'), p.id)),

    roleAssignments: (p = {}) =>
      listRoleAssignments(
        state,
        p.scope ? resolveScope(p.scope) : state.subscriptionScope(),
        p.principalId ? `principalId eq '${p.principalId}'` : null,
      ).map(roleAssignmentBody),

    createCustomRole: (p) => {
      const guid = p.name ?? newGuid();
      const d = putCustomRole(
        ctx,
        state,
        caller(p.as, `createCustomRole ${p.roleName}`),
        state.subscriptionScope(),
        guid,
        {
          roleName: p.roleName,
          description: p.description ?? '',
          permissions: [
            {
              actions: p.actions ?? [],
              notActions: p.notActions ?? [],
              dataActions: p.dataActions ?? [],
              notDataActions: p.notDataActions ?? [],
            },
          ],
          assignableScopes: p.assignableScopes ?? [state.subscriptionScope()],
        },
      );
      return {
        id: `/subscriptions/${state.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${d.name}`,
        name: d.name,
        roleName: d.roleName,
      };
    },
  };
}

/** Deny assignments, which only Azure itself creates (for managed apps): here the control API stands in. */
function denyControls(
  ctx: SandboxContext,
  state: SandboxState,
  { caller, resolveScope }: ControlKit,
): Pick<ArmControl, 'addDenyAssignment' | 'removeDenyAssignment'> {
  return {
    addDenyAssignment: (p) =>
      denyAssignmentBody(
        addDenyAssignment(ctx, state, caller(p.as, 'addDenyAssignment'), {
          scope: resolveScope(p.scope),
          name: p.name,
          principals: p.principals,
          excludePrincipals: p.excludePrincipals,
          doNotApplyToChildScopes: p.doNotApplyToChildScopes,
          permissions: [
            {
              actions: p.actions ?? [],
              notActions: p.notActions ?? [],
              dataActions: p.dataActions ?? [],
              notDataActions: p.notDataActions ?? [],
            },
          ],
        }),
      ),

    removeDenyAssignment: (p) => removeDenyAssignment(ctx, state, caller(p.as, 'removeDenyAssignment', 'DELETE'), p.id),
  };
}

function checkControls(
  state: SandboxState,
  { findKey, keyIdentifier }: ControlKit,
  resolveProject: (projectId: string) => ProjectTarget | undefined,
): Pick<ArmControl, 'projectTarget' | 'checkKeyAccess' | 'checkAccess'> {
  return {
    projectTarget: (p) => {
      if (!p?.projectId) throw new ArmError(400, 'BadRequest', "'projectId' is required.");
      const t = resolveProject(p.projectId);
      if (!t)
        throw new ArmError(
          404,
          'ProjectNotFound',
          `No Atlas project '${p.projectId}' with Azure Key Vault EAR is known to the sandbox.`,
        );
      return t;
    },

    checkKeyAccess: (q) => checkKeyAccess(state, q),

    checkAccess: (p) => {
      const { vault, key } = findKey(p);
      return checkKeyAccess(state, {
        principalId: p.principalId ?? state.atlasPrincipal.objectId,
        tenantId: state.tenantId,
        subscriptionId: state.subscriptionId,
        resourceGroupName: vault.resourceGroup,
        keyVaultName: vault.name,
        keyIdentifier: keyIdentifier(vault, key),
      });
    },
  };
}

function runtimeControls(
  state: SandboxState,
  faults: Faults,
  accounting: Accounting,
): Pick<ArmControl, 'setFault' | 'clearFaults' | 'faults' | 'setRateLimit' | 'setPageSize' | 'counts' | 'resetCounts'> {
  return {
    setFault: (matcher, fault, opts) => faults.set(matcher, fault, opts),
    clearFaults: (id) => faults.clear(id),
    faults: () => faults.list(),
    setRateLimit: (cfg) => faults.setRateLimit(cfg),
    setPageSize: (n) => {
      if (!Number.isInteger(n) || n < 1)
        throw new ArmError(400, 'BadRequest', "'pageSize' must be a positive integer.");
      state.pageSize = n;
    },
    counts: () => accounting.snapshot(),
    resetCounts: () => accounting.reset(),
  };
}

export function createArmControl(
  ctx: SandboxContext,
  state: SandboxState,
  faults: Faults,
  accounting: Accounting,
  resolveProject: (projectId: string) => ProjectTarget | undefined = () => undefined,
): ArmControl {
  const kit = controlKit(state);
  return {
    tenantId: state.tenantId,
    subscriptionId: state.subscriptionId,
    atlasPrincipalId: state.atlasPrincipal.objectId,
    principals: () => [...state.principals.values()].map((p) => ({ ...p })),
    addPrincipal: (p) => ({ ...state.addPrincipal(p) }),
    ...vaultControls(ctx, state, kit),
    ...keyControls(ctx, state, kit),
    ...authorizationControls(ctx, state, kit),
    ...denyControls(ctx, state, kit),
    ...checkControls(state, kit, resolveProject),
    ...runtimeControls(state, faults, accounting),
  };
}

// ---------- over HTTP ----------

/** A control surface reachable over HTTP: a name and an object of methods taking one JSON argument. */
export type ControlSurface = Record<string, unknown>;

function tokenOk(req: SandboxRequest, token: string): boolean {
  const given = req.headers['x-sandbox-control-token'];
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function fail(res: ServerResponse, err: unknown): void {
  if (err instanceof ArmError) return sendArmError(res, err.status, err.code, err.message);
  const e = err as { status?: number; code?: string; message?: string };
  sendArmError(
    res,
    typeof e?.status === 'number' && e.status >= 400 && e.status < 600 ? e.status : 400,
    typeof e?.code === 'string' ? e.code : 'ControlActionFailed',
    typeof e?.message === 'string' ? e.message : 'The control action failed.',
  );
}

/** `GET /_sandbox/control`: every surface and its methods. */
function listSurfaces(res: ServerResponse, all: Record<string, ControlSurface>): void {
  const list: Record<string, string[]> = {};
  for (const [name, s] of Object.entries(all)) {
    list[name] = Object.keys(s).filter((k) => typeof s[k] === 'function');
  }
  sendJson(res, 200, { surfaces: list });
}

/** The JSON argument of a control call (undefined for an empty body), or a 400 already sent. */
function controlArg(req: SandboxRequest, res: ServerResponse): { arg: unknown } | undefined {
  if (!req.body.length) return { arg: undefined };
  try {
    return { arg: JSON.parse(req.body.toString('utf8')) };
  } catch {
    sendArmError(res, 400, 'InvalidRequestContent', 'The control request body is not valid JSON.');
    return undefined;
  }
}

/** Calls a control method with the body: setFault's `{matcher, fault, times?}`, `{"args": [...]}`, or the body. */
async function invokeControl(surface: ControlSurface, method: string, fn: unknown, arg: unknown): Promise<unknown> {
  if (method === 'setFault') {
    const a = (arg ?? {}) as { matcher?: RouteMatcher; fault?: Fault; times?: number };
    if (!a.matcher || !a.fault) throw new ArmError(400, 'BadRequest', 'setFault takes {matcher, fault, times?}.');
    return await (fn as (m: unknown, f: unknown, o: unknown) => unknown).call(surface, a.matcher, a.fault, {
      ...(a.times !== undefined ? { times: a.times } : {}),
    });
  }
  if (arg && typeof arg === 'object' && Array.isArray((arg as { args?: unknown }).args)) {
    // Positional methods (e.g. atlas.registerServicePrincipal(groupId, sp)): body `{"args": [...]}`.
    return await (fn as (...a: unknown[]) => unknown).apply(surface, (arg as { args: unknown[] }).args);
  }
  return await (fn as (a: unknown) => unknown).call(surface, arg);
}

/** `POST /_sandbox/control/{surface}/{method}`: the call's `{result}`, or its error ARM-shaped. */
async function callControl(
  req: SandboxRequest,
  res: ServerResponse,
  all: Record<string, ControlSurface>,
  [surfaceName, method]: string[],
): Promise<void> {
  const surface = surfaceName ? all[surfaceName] : undefined;
  const fn = surface && method && Object.hasOwn(surface, method) ? surface[method] : undefined;
  if (req.method !== 'POST' || typeof fn !== 'function') {
    return sendArmError(res, 404, 'NotFound', `No control action ${req.method} ${req.url.pathname}.`);
  }
  const parsed = controlArg(req, res);
  if (!parsed) return;
  try {
    const result = await invokeControl(surface!, method, fn, parsed.arg);
    sendJson(res, 200, { result: result === undefined ? null : result });
  } catch (err) {
    fail(res, err);
  }
}

/**
 * `POST /_sandbox/control/{surface}/{method}` with a JSON body: calls `surfaces[surface][method](body)`
 * (for `setFault`: body `{matcher, fault, times?}`; for positional methods: `{"args": [...]}`) and answers `{result}`. `GET /_sandbox/control` lists
 * the methods. Requires header `x-sandbox-control-token`.
 */
export function controlRoutes(token: string, surfaces: () => Record<string, ControlSurface>): RouteHandler {
  return async (req, res) => {
    if (!req.url.pathname.startsWith('/_sandbox/')) return false;
    if (!tokenOk(req, token)) {
      sendArmError(res, 401, 'ControlTokenRequired', "The header 'x-sandbox-control-token' is missing or wrong.");
      return true;
    }
    const parts = req.url.pathname.split('/').filter(Boolean); // _sandbox, control, surface, method
    if (parts[1] !== 'control') {
      sendArmError(res, 404, 'NotFound', `No control route ${req.url.pathname}.`);
    } else if (parts.length === 2 && req.method === 'GET') {
      listSurfaces(res, surfaces());
    } else {
      await callControl(req, res, surfaces(), parts.slice(2));
    }
    return true;
  };
}
