// Microsoft.KeyVault management plane, as @azure/arm-keyvault 5 calls it (api-version 2026-02-01 by
// default): vaults PUT/GET/PATCH/DELETE, accessPolicies/{add|replace|remove} with Azure's merge rules,
// and keys (createIfNotExist, get, versions). Also the data-plane facts ARM cannot change (a key disabled,
// expired, rotated) that the control API sets, and checkKeyAccess, which Atlas's `valid` is computed from.
// Response shapes follow the azure-rest-api-specs examples in test/fixtures (createVault.json,
// getVault.json, updateAccessPoliciesAdd.json, createKey.json, getKeyVersion.json).
import type { ServerResponse } from 'node:http';
import { KEY_PERMISSIONS } from '../../core/actions.js';
import { evaluate } from '../../core/evaluate.js';
import { keyScope } from '../../core/scopes.js';
import type { AccessPolicyEntry, DenyAssignmentDoc, RoleAssignmentDoc, RoleDefinitionDoc } from '../../core/types.js';
import type { KeyAccessAnswer, KeyAccessQuery, SandboxContext, SandboxRequest } from '../contract.js';
import type { DataPlaneView } from '../propagation.js';
import { sendJson } from '../server.js';
import {
  GUID_RE,
  newKeyVersion,
  type KeyState,
  type KeyVersionState,
  type SandboxState,
  type VaultProperties,
  type VaultState,
} from '../state.js';
import {
  ArmError,
  type Caller,
  decodeSegment,
  notifyChange,
  notifyKeyVault,
  nowIso,
  objectField,
  parseJsonBody,
  sendPage,
  unixNow,
} from './common.js';
import { transitiveGroups } from './groups.js';
import { coversInTenant, subscriptionAncestors } from './managementGroups.js';
import { atlasNetworkBlock } from './network.js';
import { authorizeAction } from './rbac.js';
import { requireResourceGroup, requireSubscription } from './resources.js';

const PERMISSION_NAMES: Record<string, readonly string[]> = {
  keys: KEY_PERMISSIONS,
  secrets: ['all', 'get', 'list', 'set', 'delete', 'backup', 'restore', 'recover', 'purge'],
  certificates: [
    'all',
    'get',
    'list',
    'delete',
    'create',
    'import',
    'update',
    'managecontacts',
    'getissuers',
    'listissuers',
    'setissuers',
    'deleteissuers',
    'manageissuers',
    'recover',
    'purge',
    'backup',
    'restore',
  ],
  storage: [
    'all',
    'get',
    'list',
    'delete',
    'set',
    'update',
    'regeneratekey',
    'recover',
    'purge',
    'backup',
    'restore',
    'setsas',
    'listsas',
    'getsas',
    'deletesas',
  ],
};
const CATEGORIES = ['keys', 'secrets', 'certificates', 'storage'] as const;

// ---------- bodies ----------

export function vaultBody(v: VaultState): Record<string, unknown> {
  return {
    id: v.id,
    name: v.name,
    type: 'Microsoft.KeyVault/vaults',
    location: v.location,
    tags: v.tags,
    systemData: v.systemData,
    properties: v.properties,
  };
}

function keyUri(vaultName: string, keyName: string): string {
  return `https://${vaultName}.vault.azure.net:443/keys/${keyName}`;
}

function keyProperties(vault: VaultState, key: KeyState, ver: KeyVersionState): Record<string, unknown> {
  return {
    attributes: {
      enabled: ver.enabled,
      ...(ver.nbf !== undefined ? { nbf: ver.nbf } : {}),
      ...(ver.exp !== undefined ? { exp: ver.exp } : {}),
      created: ver.created,
      updated: ver.updated,
      recoveryLevel: 'Purgeable',
    },
    kty: ver.kty,
    keyOps: ver.keyOps,
    ...(ver.keySize !== undefined ? { keySize: ver.keySize } : {}),
    ...(ver.curveName !== undefined ? { curveName: ver.curveName } : {}),
    keyUri: keyUri(vault.name, key.name),
    keyUriWithVersion: `${keyUri(vault.name, key.name)}/${ver.version}`,
  };
}

/**
 * A key as Keys_List shows it: attributes and `keyUri` only, like the published example (listKeys.json, 2024-11-01):
 * the list does not say which version is current (`keyUriWithVersion`, key type and operations come from Keys_Get).
 */
export function keyListBody(vault: VaultState, key: KeyState): Record<string, unknown> {
  const full = keyBody(vault, key);
  const { attributes, keyUri: uri } = full.properties as { attributes: unknown; keyUri: string };
  return { ...full, properties: { attributes, keyUri: uri } };
}

export function keyBody(vault: VaultState, key: KeyState): Record<string, unknown> {
  const ver = key.versions[key.versions.length - 1];
  return {
    id: `${vault.id}/keys/${key.name}`,
    name: key.name,
    type: 'Microsoft.KeyVault/vaults/keys',
    location: vault.location,
    ...(Object.keys(key.tags).length ? { tags: key.tags } : {}),
    properties: keyProperties(vault, key, ver),
  };
}

function keyVersionBody(vault: VaultState, key: KeyState, ver: KeyVersionState): Record<string, unknown> {
  return {
    id: `${vault.id}/keys/${key.name}/versions/${ver.version}`,
    name: ver.version,
    type: 'Microsoft.KeyVault/vaults/keys/versions',
    location: vault.location,
    properties: keyProperties(vault, key, ver),
  };
}

// ---------- validation ----------

function validateVaultName(name: string): void {
  if (!/^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/.test(name) || name.includes('--')) {
    throw new ArmError(
      400,
      'VaultNameNotValid',
      `The vault name '${name}' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens.`,
    );
  }
}

/** Validates and copies access policy entries; `path` names the field in errors. */
export function parseAccessPolicies(value: unknown, path: string): AccessPolicyEntry[] {
  if (!Array.isArray(value))
    throw new ArmError(400, 'BadRequest', `'${path}' must be an array of access policy entries.`);
  return value.map((e, i) => parseAccessPolicyEntry(e, `${path}[${i}]`));
}

function parseAccessPolicyEntry(e: unknown, p: string): AccessPolicyEntry {
  if (typeof e !== 'object' || e === null) throw new ArmError(400, 'BadRequest', `'${p}' must be an object.`);
  const o = e as Record<string, unknown>;
  for (const f of ['tenantId', 'objectId'] as const) {
    if (typeof o[f] !== 'string' || !o[f]) throw new ArmError(400, 'BadRequest', `'${p}.${f}' is required (a string).`);
  }
  if (!GUID_RE.test(o.tenantId as string)) throw new ArmError(400, 'BadRequest', `'${p}.tenantId' must be a GUID.`);
  if (o.applicationId !== undefined && o.applicationId !== null && typeof o.applicationId !== 'string') {
    throw new ArmError(400, 'BadRequest', `'${p}.applicationId' must be a GUID string.`);
  }
  const perms = o.permissions;
  if (typeof perms !== 'object' || perms === null)
    throw new ArmError(400, 'BadRequest', `'${p}.permissions' is required.`);
  const out: AccessPolicyEntry['permissions'] = {};
  for (const cat of CATEGORIES) {
    const list = parsePermissionList((perms as Record<string, unknown>)[cat], cat, p);
    if (list) out[cat] = list;
  }
  return {
    tenantId: o.tenantId as string,
    objectId: o.objectId as string,
    ...(o.applicationId ? { applicationId: o.applicationId as string } : {}),
    permissions: out,
  };
}

/** One permission category of an entry, checked against the names Key Vault accepts. */
function parsePermissionList(list: unknown, cat: (typeof CATEGORIES)[number], p: string): string[] | undefined {
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) {
    throw new ArmError(400, 'BadRequest', `'${p}.permissions.${cat}' must be an array of strings.`);
  }
  for (const [j, name] of (list as string[]).entries()) {
    if (!PERMISSION_NAMES[cat].some((n) => n.toLowerCase() === name.toLowerCase())) {
      throw new ArmError(
        400,
        'BadRequest',
        `Invalid value '${name}' at '${p}.permissions.${cat}[${j}]'; expected one of: ${PERMISSION_NAMES[cat].join(', ')}.`,
      );
    }
  }
  return [...(list as string[])];
}

// ---------- access policy merge (Azure's rules) ----------

const same = (a?: string | null, b?: string | null) => (a ?? '').toLowerCase() === (b ?? '').toLowerCase();
const sameEntry = (a: AccessPolicyEntry, b: AccessPolicyEntry) =>
  same(a.tenantId, b.tenantId) && same(a.objectId, b.objectId) && same(a.applicationId, b.applicationId);

/**
 * `add` unions permissions into the entry for the same tenantId+objectId+applicationId (appending a new
 * entry when none matches); `remove` subtracts them and drops an entry left with no permissions;
 * `replace` overwrites the whole list (which is why the product never uses it).
 */
export function mergeAccessPolicies(
  current: AccessPolicyEntry[],
  op: 'add' | 'remove' | 'replace',
  changes: AccessPolicyEntry[],
): AccessPolicyEntry[] {
  if (op === 'replace') return changes.map(clonePolicy);
  const next = current.map(clonePolicy);
  for (const change of changes) {
    const idx = next.findIndex((e) => sameEntry(e, change));
    if (op === 'add') {
      if (idx < 0) {
        next.push(clonePolicy(change));
        continue;
      }
      const entry = next[idx];
      for (const cat of CATEGORIES) {
        const add = change.permissions[cat];
        if (!add?.length) continue;
        const have = entry.permissions[cat] ?? [];
        entry.permissions[cat] = [
          ...have,
          ...add.filter((p, i) => !have.some((h) => same(h, p)) && add.findIndex((q) => same(q, p)) === i),
        ];
      }
    } else {
      if (idx < 0) continue;
      const entry = next[idx];
      for (const cat of CATEGORIES) {
        const drop = change.permissions[cat];
        if (!drop?.length || !entry.permissions[cat]) continue;
        entry.permissions[cat] = entry.permissions[cat]!.filter((h) => !drop.some((d) => same(d, h)));
      }
      if (CATEGORIES.every((c) => !entry.permissions[c]?.length)) next.splice(idx, 1);
    }
  }
  return next;
}

function clonePolicy(e: AccessPolicyEntry): AccessPolicyEntry {
  const permissions: AccessPolicyEntry['permissions'] = {};
  for (const cat of CATEGORIES) if (e.permissions[cat]) permissions[cat] = [...e.permissions[cat]!];
  return {
    tenantId: e.tenantId,
    objectId: e.objectId,
    ...(e.applicationId ? { applicationId: e.applicationId } : {}),
    permissions,
  };
}

function policiesEqual(a: AccessPolicyEntry[], b: AccessPolicyEntry[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// ---------- operations ----------

export interface VaultInput {
  location?: string;
  tags?: Record<string, string>;
  properties?: Record<string, unknown>;
}

function requireVault(state: SandboxState, rg: string, name: string): VaultState {
  requireResourceGroup(state, rg);
  const v = state.getVault(rg, name);
  if (!v) {
    throw new ArmError(
      404,
      'ResourceNotFound',
      `The Resource 'Microsoft.KeyVault/vaults/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  }
  return v;
}

function afterVaultChange(
  ctx: SandboxContext,
  caller: Caller,
  vault: VaultState,
  before: { policies: AccessPolicyEntry[]; rbac?: boolean } | undefined,
): void {
  notifyChange(ctx, caller, 'write', 'Microsoft.KeyVault/vaults/write', vault.id);
  if (
    before &&
    (!policiesEqual(before.policies, vault.properties.accessPolicies) ||
      Boolean(before.rbac) !== Boolean(vault.properties.enableRbacAuthorization))
  ) {
    notifyKeyVault(ctx, {
      type: 'VaultAccessPolicyChanged',
      vaultId: vault.id,
      vaultName: vault.name,
      subscriptionId: ctx.subscriptionId,
    });
  }
}

/** A PUT body's own faults, in the order Key Vault reports them. */
function validateVaultInput(input: VaultInput): {
  location: string;
  props: Record<string, unknown> & { tenantId: string };
  sku: { family?: unknown; name?: unknown };
  policies: AccessPolicyEntry[];
} {
  if (!input.location)
    throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
  const props = input.properties;
  if (!props || typeof props !== 'object') throw new ArmError(400, 'BadRequest', "'properties' is required.");
  if (typeof props.tenantId !== 'string' || !GUID_RE.test(props.tenantId)) {
    throw new ArmError(400, 'BadRequest', "'properties.tenantId' is required (a GUID).");
  }
  const sku = props.sku as { family?: unknown; name?: unknown } | undefined;
  if (!sku || typeof sku !== 'object' || !['standard', 'premium'].includes(String(sku.name).toLowerCase())) {
    throw new ArmError(400, 'BadRequest', "'properties.sku' is required: {family: 'A', name: 'standard' | 'premium'}.");
  }
  const policies =
    props.accessPolicies === undefined ? [] : parseAccessPolicies(props.accessPolicies, 'properties.accessPolicies');
  requireBooleanRbac(props);
  return { location: input.location, props: props as Record<string, unknown> & { tenantId: string }, sku, policies };
}

function requireBooleanRbac(props: Record<string, unknown>): void {
  if (props.enableRbacAuthorization !== undefined && typeof props.enableRbacAuthorization !== 'boolean') {
    throw new ArmError(400, 'BadRequest', "'properties.enableRbacAuthorization' must be a boolean.");
  }
}

/** Vaults_CreateOrUpdate: 201 created / 200 replaced; provisioningState Succeeded so the SDK poller ends at once. */
export function putVault(
  ctx: SandboxContext,
  state: SandboxState,
  caller: Caller,
  rg: string,
  name: string,
  input: VaultInput,
): { status: 200 | 201; vault: VaultState } {
  requireResourceGroup(state, rg);
  validateVaultName(name);
  const { location, props, sku, policies } = validateVaultInput(input);
  const other = state.findVaultByName(name);
  if (other && other.id.toLowerCase() !== state.vaultId(rg, name).toLowerCase()) {
    throw new ArmError(409, 'VaultAlreadyExists', `The vault name '${name}' is already in use.`);
  }
  const existing = state.getVault(rg, name);
  const now = nowIso();
  const who = caller.actor.upn ?? caller.actor.objectId;
  const whoType = caller.actor.type === 'User' ? 'User' : 'Application';
  const properties: VaultProperties = {
    ...props,
    sku: { family: String(sku.family ?? 'A'), name: String(sku.name) },
    tenantId: props.tenantId,
    accessPolicies: policies,
    vaultUri: `https://${name}.vault.azure.net/`,
    provisioningState: 'Succeeded',
  };
  if (properties.publicNetworkAccess === undefined) properties.publicNetworkAccess = 'Enabled';
  if (existing) {
    const before = { policies: existing.properties.accessPolicies, rbac: existing.properties.enableRbacAuthorization };
    existing.location = location;
    existing.tags = input.tags ?? {};
    existing.properties = properties;
    existing.systemData = {
      ...existing.systemData,
      lastModifiedBy: who,
      lastModifiedByType: whoType,
      lastModifiedAt: now,
    };
    afterVaultChange(ctx, caller, existing, before);
    return { status: 200, vault: existing };
  }
  const vault: VaultState = {
    id: state.vaultId(rg, name),
    name,
    resourceGroup: state.getResourceGroup(rg)!.name,
    location,
    tags: input.tags ?? {},
    systemData: {
      createdBy: who,
      createdByType: whoType,
      createdAt: now,
      lastModifiedBy: who,
      lastModifiedByType: whoType,
      lastModifiedAt: now,
    },
    properties,
  };
  state.vaults.set(vault.id.toLowerCase(), vault);
  afterVaultChange(ctx, caller, vault, undefined);
  return { status: 201, vault };
}

/** The stored properties with the PATCH's given ones over them (the read-only ones ignored). */
function patchedProperties(
  current: VaultProperties,
  props: Record<string, unknown>,
  policies: AccessPolicyEntry[] | undefined,
): VaultProperties {
  const next: VaultProperties = { ...current };
  for (const [k, v] of Object.entries(props)) {
    if (k === 'accessPolicies' || k === 'vaultUri' || k === 'provisioningState') continue;
    if (v !== undefined && v !== null) next[k] = v;
  }
  if (policies) next.accessPolicies = policies;
  return next;
}

/** Vaults_Update (PATCH): the given properties replace the stored ones; the rest stay. */
export function patchVault(
  ctx: SandboxContext,
  state: SandboxState,
  caller: Caller,
  rg: string,
  name: string,
  input: { tags?: Record<string, string>; properties?: Record<string, unknown> },
): VaultState {
  const vault = requireVault(state, rg, name);
  const props = input.properties ?? {};
  requireBooleanRbac(props);
  if (props.tenantId !== undefined && (typeof props.tenantId !== 'string' || !GUID_RE.test(props.tenantId))) {
    throw new ArmError(400, 'BadRequest', "'properties.tenantId' must be a GUID.");
  }
  const policies =
    props.accessPolicies === undefined
      ? undefined
      : parseAccessPolicies(props.accessPolicies, 'properties.accessPolicies');
  const before = { policies: vault.properties.accessPolicies, rbac: vault.properties.enableRbacAuthorization };
  vault.properties = patchedProperties(vault.properties, props, policies);
  if (input.tags) vault.tags = input.tags;
  vault.systemData = {
    ...vault.systemData,
    lastModifiedBy: caller.actor.upn ?? caller.actor.objectId,
    lastModifiedByType: caller.actor.type === 'User' ? 'User' : 'Application',
    lastModifiedAt: nowIso(),
  };
  afterVaultChange(ctx, caller, vault, before);
  return vault;
}

export function updateAccessPolicy(
  ctx: SandboxContext,
  state: SandboxState,
  caller: Caller,
  rg: string,
  name: string,
  op: string,
  entries: AccessPolicyEntry[],
): VaultState {
  if (op !== 'add' && op !== 'remove' && op !== 'replace') {
    throw new ArmError(
      400,
      'BadRequest',
      `The access policy operation '${op}' is not valid; expected add, replace or remove.`,
    );
  }
  const vault = requireVault(state, rg, name);
  vault.properties.accessPolicies = mergeAccessPolicies(vault.properties.accessPolicies, op, entries);
  notifyChange(
    ctx,
    caller,
    'write',
    'Microsoft.KeyVault/vaults/accessPolicies/write',
    `${vault.id}/accessPolicies/${op}`,
  );
  notifyKeyVault(ctx, {
    type: 'VaultAccessPolicyChanged',
    vaultId: vault.id,
    vaultName: vault.name,
    subscriptionId: ctx.subscriptionId,
  });
  return vault;
}

export function deleteVault(
  ctx: SandboxContext,
  state: SandboxState,
  caller: Caller,
  rg: string,
  name: string,
): boolean {
  requireResourceGroup(state, rg);
  const v = state.getVault(rg, name);
  if (!v) return false;
  state.vaults.delete(v.id.toLowerCase());
  for (const [k, key] of state.keys) if (key.vaultId.toLowerCase() === v.id.toLowerCase()) state.keys.delete(k);
  notifyChange(ctx, caller, 'delete', 'Microsoft.KeyVault/vaults/delete', v.id);
  return true;
}

export interface KeyInput {
  kty?: string;
  keySize?: number;
  curveName?: string;
  keyOps?: string[];
  attributes?: { enabled?: boolean; exp?: number; nbf?: number };
  tags?: Record<string, string>;
}

function newVersion(input: KeyInput): KeyVersionState {
  const now = unixNow();
  const kty = input.kty ?? 'RSA';
  const isRsa = kty.toUpperCase().startsWith('RSA');
  return {
    version: newKeyVersion(),
    enabled: input.attributes?.enabled ?? true,
    created: now,
    updated: now,
    ...(input.attributes?.exp !== undefined ? { exp: input.attributes.exp } : {}),
    ...(input.attributes?.nbf !== undefined ? { nbf: input.attributes.nbf } : {}),
    kty,
    ...(isRsa ? { keySize: input.keySize ?? 2048 } : { curveName: input.curveName ?? 'P-256' }),
    keyOps:
      input.keyOps ?? (isRsa ? ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'] : ['sign', 'verify']),
  };
}

/** Keys_CreateIfNotExist: creates the first version, or returns the existing key untouched. */
export function createKeyIfNotExist(
  ctx: SandboxContext,
  state: SandboxState,
  caller: Caller,
  rg: string,
  vaultName: string,
  keyName: string,
  input: KeyInput,
): KeyState {
  const vault = requireVault(state, rg, vaultName);
  if (!/^[0-9a-zA-Z-]{1,127}$/.test(keyName)) {
    throw new ArmError(400, 'BadRequest', `The key name '${keyName}' is invalid: 1-127 letters, digits and hyphens.`);
  }
  if (input.kty !== undefined && !['RSA', 'RSA-HSM', 'EC', 'EC-HSM'].includes(input.kty)) {
    throw new ArmError(
      400,
      'BadRequest',
      `'properties.kty' must be one of RSA, RSA-HSM, EC, EC-HSM (got '${input.kty}').`,
    );
  }
  const existing = state.getKey(vault.id, keyName);
  if (existing) return existing;
  const key: KeyState = { vaultId: vault.id, name: keyName, tags: input.tags ?? {}, versions: [newVersion(input)] };
  state.keys.set(`${vault.id}/keys/${keyName}`.toLowerCase(), key);
  notifyChange(ctx, caller, 'write', 'Microsoft.KeyVault/vaults/keys/write', `${vault.id}/keys/${keyName}`);
  keyVersionNotice(ctx, vault, key, 'KeyNewVersionCreated');
  return key;
}

export function keyVersionNotice(
  ctx: SandboxContext,
  vault: VaultState,
  key: KeyState,
  type: 'KeyNewVersionCreated' | 'KeyNearExpiry' | 'KeyExpired',
): void {
  const ver = key.versions[key.versions.length - 1];
  notifyKeyVault(ctx, {
    type,
    vaultId: vault.id,
    vaultName: vault.name,
    subscriptionId: ctx.subscriptionId,
    objectName: key.name,
    version: ver.version,
    ...(ver.nbf !== undefined ? { nbf: ver.nbf } : {}),
    ...(ver.exp !== undefined ? { exp: ver.exp } : {}),
  });
}

/** A new key version (data-plane rotate): emits KeyNewVersionCreated, no ARM event. */
export function rotateKey(
  ctx: SandboxContext,
  state: SandboxState,
  vault: VaultState,
  key: KeyState,
  input: KeyInput = {},
): KeyVersionState {
  const cur = key.versions[key.versions.length - 1];
  const ver = newVersion({
    kty: cur.kty,
    keySize: cur.keySize,
    curveName: cur.curveName,
    keyOps: cur.keyOps,
    ...input,
  });
  key.versions.push(ver);
  keyVersionNotice(ctx, vault, key, 'KeyNewVersionCreated');
  void state;
  return ver;
}

// ---------- Atlas's validity check ----------

/** Parses `https://{vault}.vault.azure.net[:443]/keys/{name}[/{version}]`. */
function parseKeyUrl(url: string): { vault: string; key: string; version?: string } | undefined {
  try {
    const u = new URL(url);
    const host = /^([^.]+)\.vault\./i.exec(u.hostname);
    const m = /^\/keys\/([^/]+)(?:\/([^/]+))?\/?$/.exec(u.pathname);
    if (!host || !m) return undefined;
    return { vault: host[1], key: m[1], ...(m[2] ? { version: m[2] } : {}) };
  } catch {
    return undefined;
  }
}

type Located = { vault: VaultState; key: KeyState; ver: KeyVersionState } | { reason: string };

/** The vault, key and key version a query names, or why Atlas would not find a usable one. */
function locateKey(state: SandboxState, q: KeyAccessQuery): Located {
  if (q.subscriptionId.toLowerCase() !== state.subscriptionId.toLowerCase()) {
    return { reason: `subscription ${q.subscriptionId} not found` };
  }
  const vault = state.getVault(q.resourceGroupName, q.keyVaultName);
  if (!vault) return { reason: `vault ${q.keyVaultName} not found in resource group ${q.resourceGroupName}` };
  if (q.tenantId && q.tenantId.toLowerCase() !== vault.properties.tenantId.toLowerCase()) {
    return { reason: `tenant ${q.tenantId} is not the vault's tenant` };
  }
  const ref = parseKeyUrl(q.keyIdentifier);
  if (!ref || ref.vault.toLowerCase() !== vault.name.toLowerCase()) {
    return { reason: `key identifier ${q.keyIdentifier} does not name a key in vault ${vault.name}` };
  }
  const key = state.getKey(vault.id, ref.key);
  if (!key) return { reason: `key ${ref.key} not found` };
  const ver = ref.version
    ? key.versions.find((v) => v.version.toLowerCase() === ref.version!.toLowerCase())
    : key.versions[key.versions.length - 1];
  if (!ver) return { reason: `key version ${ref.version} not found` };
  return { vault, key, ver };
}

/** Why a key version cannot be used right now (disabled, expired, not yet valid), or undefined. */
function unusableBecause(ver: KeyVersionState): string | undefined {
  const now = unixNow();
  if (!ver.enabled) return 'key is disabled';
  if (ver.exp !== undefined && ver.exp <= now) return 'key has expired';
  if (ver.nbf !== undefined && ver.nbf > now) return 'key is not yet valid (nbf)';
  return undefined;
}

/** The sandbox's state as the ARM documents the real evaluator reads for a key. */
function accessDocuments(
  state: SandboxState,
  target: string,
): {
  roleAssignments: RoleAssignmentDoc[];
  roleDefinitions: RoleDefinitionDoc[];
  denyAssignments: DenyAssignmentDoc[];
} {
  const roleAssignments: RoleAssignmentDoc[] = [...state.roleAssignments.values()]
    .filter((a) => coversInTenant(state, a.scope, target))
    .map((a) => ({
      id: a.id,
      name: a.name,
      scope: a.scope,
      roleDefinitionId: a.roleDefinitionId,
      principalId: a.principalId,
      principalType: a.principalType,
      condition: a.condition ?? null,
      conditionVersion: a.conditionVersion ?? null,
    }));
  const roleDefinitions: RoleDefinitionDoc[] = [...state.customRoles.values()].map((d) => ({
    id: `/subscriptions/${state.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${d.name}`,
    name: d.name,
    roleName: d.roleName,
    type: d.type,
    permissions: d.permissions.map((p) => ({
      actions: p.actions,
      notActions: p.notActions,
      dataActions: p.dataActions,
      notDataActions: p.notDataActions,
    })),
    assignableScopes: d.assignableScopes,
  }));
  const denyAssignments: DenyAssignmentDoc[] = [...state.denyAssignments.values()]
    .filter((d) => coversInTenant(state, d.scope, target))
    .map((d) => ({
      id: d.id,
      name: d.name,
      denyAssignmentName: d.denyAssignmentName,
      scope: d.scope,
      permissions: d.permissions,
      principals: d.principals,
      excludePrincipals: d.excludePrincipals,
      doNotApplyToChildScopes: d.doNotApplyToChildScopes,
    }));
  return { roleAssignments, roleDefinitions, denyAssignments };
}

/**
 * Would Atlas's KMS validation pass right now? The vault and key exist, the key version is enabled and
 * inside nbf/exp, and the real evaluator says the principal holds get/encrypt/decrypt.
 */
export function checkKeyAccess(state: SandboxState, q: KeyAccessQuery, view?: DataPlaneView): KeyAccessAnswer {
  const found = locateKey(state, q);
  if ('reason' in found) return { valid: false, reason: found.reason };
  const { vault, key, ver } = found;
  const unusable = unusableBecause(ver);
  if (unusable) return { valid: false, reason: unusable };
  const blocked = atlasNetworkBlock(vault, q);
  if (blocked) return { valid: false, reason: blocked };
  const verdict = evaluate(
    { principalId: q.principalId, key: { vaultId: vault.id, keyName: key.name } },
    {
      vault: {
        id: vault.id,
        name: vault.name,
        tenantId: vault.properties.tenantId,
        enableRbacAuthorization: vault.properties.enableRbacAuthorization,
        // Key Vault's data plane sees a new grant only after propagation (sandbox/propagation.ts).
        accessPolicies: view
          ? view.accessPolicies(vault.id, vault.properties.accessPolicies)
          : vault.properties.accessPolicies,
      },
      ...visibleTo(view, accessDocuments(state, keyScope(vault.id, key.name))),
      // The emulator knows every membership and the whole hierarchy (groups.ts, managementGroups.ts).
      principalGroups: { groupIds: [...transitiveGroups(state, q.principalId)], complete: true },
      ancestry: { managementGroupIds: subscriptionAncestors(state) },
    },
  );
  if (verdict.verdict === 'granted') return { valid: true };
  if (verdict.verdict === 'indeterminate') {
    return { valid: false, reason: `access depends on an ABAC condition for: ${verdict.indeterminate.join(', ')}` };
  }
  return { valid: false, reason: `principal lacks ${verdict.missing.join(', ')} (${verdict.model})` };
}

/** The documents without the role assignments the data plane does not see yet. */
function visibleTo<T extends { roleAssignments: RoleAssignmentDoc[] }>(view: DataPlaneView | undefined, docs: T): T {
  return view ? { ...docs, roleAssignments: docs.roleAssignments.filter((a) => view.assignmentVisible(a.id)) } : docs;
}

// ---------- routes ----------

const VAULT_RE =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.KeyVault\/vaults(?:\/([^/]+)(?:\/(accessPolicies|keys)(?:\/([^/]+)(?:\/(versions)(?:\/([^/]+))?)?)?)?)?\/?$/i;
const SUB_VAULTS_RE = /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.KeyVault\/vaults\/?$/i;

const VAULT_METHODS: Record<string, string> = {
  GET: 'vaults.get',
  PUT: 'vaults.createOrUpdate',
  PATCH: 'vaults.update',
  DELETE: 'vaults.delete',
};
const KEY_METHODS: Record<string, string> = { GET: 'keys.get', PUT: 'keys.createIfNotExist' };

/** Only GET is routed at this path: its operation, else undefined. */
function getOnly(method: string, operation: string): string | undefined {
  return method === 'GET' ? operation : undefined;
}

/** The operation under `.../vaults/{vault}/keys[/{key}[/versions[/{version}]]]`. */
function classifyKeyPath(method: string, key?: string, versions?: string, version?: string): string | undefined {
  if (!key) return getOnly(method, 'keys.list');
  if (!versions) return KEY_METHODS[method];
  return getOnly(method, version ? 'keys.getVersion' : 'keys.listVersions');
}

export function classifyKeyVault(method: string, pathname: string): string | undefined {
  if (SUB_VAULTS_RE.test(pathname)) return getOnly(method, 'vaults.listBySubscription');
  const m = VAULT_RE.exec(pathname);
  if (!m) return undefined;
  const [, , , vault, child, childName, versions, version] = m;
  if (!vault) return getOnly(method, 'vaults.listByResourceGroup');
  if (!child) return VAULT_METHODS[method];
  if (child.toLowerCase() === 'accesspolicies')
    return childName && method === 'PUT' ? 'vaults.updateAccessPolicy' : undefined;
  return classifyKeyPath(method, childName, versions, version);
}

/** One Key Vault request under a resource group, its path segments decoded. */
interface KeyVaultCall {
  ctx: SandboxContext;
  state: SandboxState;
  req: SandboxRequest;
  res: ServerResponse;
  caller: Caller;
  operation: string;
  rg: string;
  vaultName: string;
  /** The access policy operation or key name. */
  childName: string;
  version: string;
}

function requiredProps(req: SandboxRequest): { body: Record<string, unknown>; props: Record<string, unknown> } {
  const body = parseJsonBody(req);
  const props = objectField(body, 'properties');
  if (!props) throw new ArmError(400, 'BadRequest', "'properties' is required.");
  return { body, props };
}

function listVaultsInGroupRoute({ ctx, state, req, res, rg }: KeyVaultCall): void {
  const g = requireResourceGroup(state, rg);
  const list = [...state.vaults.values()].filter((v) => v.resourceGroup.toLowerCase() === g.name.toLowerCase());
  sendPage(res, req, ctx.baseUrl(), list.map(vaultBody), state.pageSize);
}

function getVaultRoute({ state, res, rg, vaultName }: KeyVaultCall): void {
  sendJson(res, 200, vaultBody(requireVault(state, rg, vaultName)));
}

function putVaultRoute({ ctx, state, req, res, caller, rg, vaultName }: KeyVaultCall): void {
  const body = parseJsonBody(req);
  const r = putVault(ctx, state, caller, rg, vaultName, {
    location: typeof body.location === 'string' ? body.location : undefined,
    tags: objectField(body, 'tags') as Record<string, string> | undefined,
    properties: objectField(body, 'properties'),
  });
  sendJson(res, r.status, vaultBody(r.vault));
}

function patchVaultRoute({ ctx, state, req, res, caller, rg, vaultName }: KeyVaultCall): void {
  const body = parseJsonBody(req);
  const v = patchVault(ctx, state, caller, rg, vaultName, {
    tags: objectField(body, 'tags') as Record<string, string> | undefined,
    properties: objectField(body, 'properties'),
  });
  sendJson(res, 200, vaultBody(v));
}

function deleteVaultRoute({ ctx, state, res, caller, rg, vaultName }: KeyVaultCall): void {
  sendJson(res, deleteVault(ctx, state, caller, rg, vaultName) ? 200 : 204, undefined);
}

function accessPolicyRoute({ ctx, state, req, res, caller, rg, vaultName, childName }: KeyVaultCall): void {
  const { props } = requiredProps(req);
  const entries = parseAccessPolicies(props.accessPolicies, 'properties.accessPolicies');
  const v = updateAccessPolicy(ctx, state, caller, rg, vaultName, childName, entries);
  sendJson(res, 200, {
    id: `${v.id}/accessPolicies/`,
    type: 'Microsoft.KeyVault/vaults/accessPolicies',
    properties: { accessPolicies: entries },
  });
}

function listKeysRoute({ ctx, state, req, res, rg, vaultName }: KeyVaultCall): void {
  const v = requireVault(state, rg, vaultName);
  const list = [...state.keys.values()].filter((k) => k.vaultId.toLowerCase() === v.id.toLowerCase());
  sendPage(
    res,
    req,
    ctx.baseUrl(),
    list.map((k) => keyListBody(v, k)),
    state.pageSize,
  );
}

/** The `attributes` of a key PUT (only the fields of the expected types). */
function keyAttributes(attrs: Record<string, unknown> | undefined): KeyInput['attributes'] {
  if (!attrs) return undefined;
  return {
    enabled: typeof attrs.enabled === 'boolean' ? attrs.enabled : undefined,
    exp: typeof attrs.exp === 'number' ? attrs.exp : undefined,
    nbf: typeof attrs.nbf === 'number' ? attrs.nbf : undefined,
  };
}

function putKeyRoute({ ctx, state, req, res, caller, rg, vaultName, childName }: KeyVaultCall): void {
  const { body, props } = requiredProps(req);
  const key = createKeyIfNotExist(ctx, state, caller, rg, vaultName, childName, {
    kty: typeof props.kty === 'string' ? props.kty : undefined,
    keySize: typeof props.keySize === 'number' ? props.keySize : undefined,
    curveName: typeof props.curveName === 'string' ? props.curveName : undefined,
    keyOps: Array.isArray(props.keyOps) ? (props.keyOps as string[]) : undefined,
    attributes: keyAttributes(objectField(props, 'attributes')),
    tags: objectField(body, 'tags') as Record<string, string> | undefined,
  });
  sendJson(res, 200, keyBody(requireVault(state, rg, vaultName), key));
}

function requireKey(state: SandboxState, rg: string, vaultName: string, keyName: string): [VaultState, KeyState] {
  const v = requireVault(state, rg, vaultName);
  const key = state.getKey(v.id, keyName);
  if (!key) {
    throw new ArmError(404, 'KeyNotFound', `The key '${keyName}' was not found in vault '${v.name}'.`);
  }
  return [v, key];
}

function getKeyRoute({ state, res, rg, vaultName, childName }: KeyVaultCall): void {
  const [v, key] = requireKey(state, rg, vaultName, childName);
  sendJson(res, 200, keyBody(v, key));
}

function listKeyVersionsRoute({ ctx, state, req, res, rg, vaultName, childName }: KeyVaultCall): void {
  const [v, key] = requireKey(state, rg, vaultName, childName);
  sendPage(
    res,
    req,
    ctx.baseUrl(),
    key.versions.map((ver) => keyVersionBody(v, key, ver)),
    state.pageSize,
  );
}

function getKeyVersionRoute({ state, res, rg, vaultName, childName, version }: KeyVaultCall): void {
  const [v, key] = requireKey(state, rg, vaultName, childName);
  const ver = key.versions.find((x) => x.version.toLowerCase() === version.toLowerCase());
  if (!ver) throw new ArmError(404, 'KeyNotFound', `The key version '${version}' of key '${key.name}' was not found.`);
  sendJson(res, 200, keyVersionBody(v, key, ver));
}

/** Operation (from classifyKeyVault) -> handler, for the paths under a resource group. */
const KEYVAULT_ROUTES: Record<string, (call: KeyVaultCall) => void> = {
  'vaults.listByResourceGroup': listVaultsInGroupRoute,
  'vaults.get': getVaultRoute,
  'vaults.createOrUpdate': putVaultRoute,
  'vaults.update': patchVaultRoute,
  'vaults.delete': deleteVaultRoute,
  'vaults.updateAccessPolicy': accessPolicyRoute,
  'keys.list': listKeysRoute,
  'keys.createIfNotExist': putKeyRoute,
  'keys.get': getKeyRoute,
  'keys.listVersions': listKeyVersionsRoute,
  'keys.getVersion': getKeyVersionRoute,
};

/** Writes need the caller's own rights (arm/rbac.ts); reads are open to any authenticated caller. */
function authorizeKeyVaultWrite(call: KeyVaultCall): void {
  const vaultScope = call.vaultName ? call.state.vaultId(call.rg, call.vaultName) : '';
  const writeAction: Record<string, [string, string]> = {
    'vaults.createOrUpdate': ['Microsoft.KeyVault/vaults/write', vaultScope],
    'vaults.update': ['Microsoft.KeyVault/vaults/write', vaultScope],
    'vaults.delete': ['Microsoft.KeyVault/vaults/delete', vaultScope],
    'vaults.updateAccessPolicy': [
      'Microsoft.KeyVault/vaults/accessPolicies/write',
      `${vaultScope}/accessPolicies/${call.childName}`,
    ],
    'keys.createIfNotExist': ['Microsoft.KeyVault/vaults/keys/write', `${vaultScope}/keys/${call.childName}`],
  };
  const needs = writeAction[call.operation];
  if (needs) authorizeAction(call.state, call.caller.actor, needs[0], needs[1]);
}

export async function handleKeyVault(
  ctx: SandboxContext,
  state: SandboxState,
  req: SandboxRequest,
  res: ServerResponse,
  caller: Caller,
  operation: string,
): Promise<void> {
  const sub = SUB_VAULTS_RE.exec(req.url.pathname);
  if (sub) {
    requireSubscription(state, decodeSegment(sub[1]));
    return sendPage(res, req, ctx.baseUrl(), [...state.vaults.values()].map(vaultBody), state.pageSize);
  }
  const m = VAULT_RE.exec(req.url.pathname)!;
  const [subId, rg, vaultName, , childName, , version] = m
    .slice(1)
    .map((s) => (s === undefined ? s : decodeSegment(s)));
  requireSubscription(state, subId!);
  // Segments a route does not use are absent from its path; the route table only sends it where they exist.
  const call: KeyVaultCall = {
    ctx,
    state,
    req,
    res,
    caller,
    operation,
    rg: rg!,
    vaultName: vaultName ?? '',
    childName: childName ?? '',
    version: version ?? '',
  };
  authorizeKeyVaultWrite(call);
  const route = KEYVAULT_ROUTES[operation];
  if (!route) {
    throw new ArmError(405, 'MethodNotAllowed', `The method '${req.method}' is not allowed for this resource.`);
  }
  route(call);
}
