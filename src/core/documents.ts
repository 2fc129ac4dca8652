// Parsers: ARM REST JSON and Azure CLI JSON -> the normalized documents in types.ts.
// Shapes accepted for every document kind:
//   - ARM REST: a list `{ "value": [...] }` (optionally with nextLink), a bare array, or a single object whose
//     fields sit under `properties` (role assignments, role definitions, deny assignments, vaults);
//   - Azure CLI: `az role assignment list` / `az role definition list` print the same objects *flattened*
//     (roleDefinitionId, principalId, scope, roleName, permissions at the top level); `az keyvault show`
//     keeps `properties` nested like ARM.
// Every failure is a DocumentError naming the source, the field path and what was expected.
import { DocumentError } from './errors.js';
import { normalizeScope, parseVaultId, scopeOfAuthorizationId } from './scopes.js';
import type {
  AccessPolicyEntry,
  DenyAssignmentDoc,
  GroupMemberships,
  PermissionBlock,
  RoleAssignmentDoc,
  RoleDefinitionDoc,
  VaultDoc,
} from './types.js';

export { DocumentError } from './errors.js';

type Json = unknown;
type Obj = Record<string, unknown>;

function isObj(v: Json): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: Json): string {
  if (v === undefined) return 'nothing (the field is absent)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

class Ctx {
  constructor(
    readonly source: string | undefined,
    readonly kind: string,
  ) {}
  fail(path: string, expected: string, got?: Json): never {
    const where = path ? `${path}: ` : '';
    const suffix = arguments.length >= 3 ? `, got ${describe(got)}` : '';
    throw new DocumentError(`${where}expected ${expected}${suffix} (reading ${this.kind})`, this.source, path);
  }
}

/** Field lookup that looks under `properties` first (ARM), then at the top level (Azure CLI flattened). */
function field(o: Obj, name: string): { value: unknown; path: string } {
  const props = o.properties;
  if (isObj(props) && name in props) return { value: props[name], path: `properties.${name}` };
  if (name in o) return { value: o[name], path: name };
  // Absent everywhere: name the place an ARM document would have it.
  return { value: undefined, path: isObj(props) && name !== 'id' && name !== 'name' ? `properties.${name}` : name };
}

function str(ctx: Ctx, o: Obj, name: string, at: string, what: string): string {
  const { value, path } = field(o, name);
  if (typeof value !== 'string' || value.trim() === '') ctx.fail(join(at, path), `${what} (a non-empty string)`, value);
  return value.trim();
}

function optStr(ctx: Ctx, o: Obj, name: string, at: string): string | undefined {
  const { value, path } = field(o, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') ctx.fail(join(at, path), 'a string or null', value);
  return value;
}

function strArray(ctx: Ctx, v: unknown, path: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) ctx.fail(path, 'an array of strings', v);
  return v.map((x, i) => {
    if (typeof x !== 'string') ctx.fail(`${path}[${i}]`, 'a string', x);
    return x;
  });
}

function join(a: string, b: string): string {
  return a ? `${a}.${b}` : b;
}

/** Unwrap `{ value: [...] }`, a bare array, or one object into a list of [item, path]. */
function items(ctx: Ctx, json: Json): [Obj, string][] {
  let list: unknown[];
  let prefix: string;
  if (Array.isArray(json)) {
    list = json;
    prefix = '';
  } else if (isObj(json) && Array.isArray(json.value)) {
    list = json.value;
    prefix = 'value';
  } else if (isObj(json)) {
    return [[json, '']];
  } else {
    return ctx.fail('', `a JSON object, an array, or { "value": [...] }`, json);
  }
  return list.map((x, i) => {
    const path = `${prefix}[${i}]`;
    if (!isObj(x)) ctx.fail(path, 'an object', x);
    return [x, path] as [Obj, string];
  });
}

function permissionBlocks(ctx: Ctx, o: Obj, at: string, withCondition = false): PermissionBlock[] {
  const { value, path } = field(o, 'permissions');
  const p = join(at, path);
  if (!Array.isArray(value))
    ctx.fail(p, 'an array of permission blocks {actions, notActions, dataActions, notDataActions}', value);
  return value.map((b, i) => {
    const bp = `${p}[${i}]`;
    if (!isObj(b)) ctx.fail(bp, 'a permission block object', b);
    const block: PermissionBlock = {
      actions: strArray(ctx, b.actions, `${bp}.actions`),
      notActions: strArray(ctx, b.notActions, `${bp}.notActions`),
      dataActions: strArray(ctx, b.dataActions, `${bp}.dataActions`),
      notDataActions: strArray(ctx, b.notDataActions, `${bp}.notDataActions`),
    };
    const condition = withCondition ? optStr(ctx, b, 'condition', bp) : undefined;
    if (condition && condition.trim() !== '') block.condition = condition;
    return block;
  });
}

/**
 * Reject a document of another kind: a `type` other than `expectedType` (when present), or an ID whose last two
 * segments are not `{collection}/{name}` under `/providers/{namespace}/`. PIM role assignment schedules carry
 * the same scope/roleDefinitionId/principalId fields as an active role assignment but grant nothing now.
 */
function expectKind(ctx: Ctx, o: Obj, at: string, id: string, expectedType: string): void {
  const t = o.type;
  if (typeof t === 'string' && t.trim().toLowerCase() !== expectedType.toLowerCase()) {
    ctx.fail(join(at, 'type'), `${expectedType} (${ctx.kind}), got the type ${JSON.stringify(t)}`);
  }
  const [namespace, collection] = expectedType.split('/');
  const segs = normalizeScope(id).toLowerCase().split('/');
  const n = segs.length;
  const ok =
    n >= 5 &&
    segs[n - 4] === 'providers' &&
    segs[n - 3] === namespace.toLowerCase() &&
    segs[n - 2] === collection.toLowerCase();
  if (!ok) ctx.fail(join(at, 'id'), `an ID ending in /providers/${expectedType}/{name}`, id);
}

/**
 * The next-page link of an ARM list (`nextLink`) or a Microsoft Graph collection (`@odata.nextLink`), when
 * the document is one page of several. A bare array (what az prints after following every page) has none.
 */
export function nextLinkOf(json: Json): string | undefined {
  if (!isObj(json)) return undefined;
  for (const k of ['nextLink', '@odata.nextLink']) {
    const v = json[k];
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
  }
  return undefined;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A Microsoft Graph `transitiveMemberOf` response (`GET /servicePrincipals/{id}/transitiveMemberOf`):
 * `{ "value": [{ "@odata.type": "#microsoft.graph.group", "id": ... }, ...] }`. Directory roles and
 * administrative units are dropped (Azure RBAC assigns roles to groups, not to them); items without
 * `@odata.type` (an OData-cast `/microsoft.graph.group` response) are groups.
 */
export function parseGroupMemberships(json: Json, source?: string): GroupMemberships {
  const ctx: Ctx = new Ctx(source, 'group memberships (Microsoft Graph transitiveMemberOf)');
  if (!isObj(json) || !Array.isArray(json.value)) {
    ctx.fail(
      'value',
      'an array of directory objects ({ "value": [{ "@odata.type", "id" }, ...] })',
      isObj(json) ? json.value : json,
    );
  }
  const groupIds: string[] = [];
  (json.value as unknown[]).forEach((x, i) => {
    const at = `value[${i}]`;
    if (!isObj(x)) ctx.fail(at, 'a directory object', x);
    if (typeof x.id !== 'string' || !GUID.test(x.id.trim())) ctx.fail(`${at}.id`, 'the object ID (a GUID)', x.id);
    const t = x['@odata.type'];
    if (t !== undefined && t !== null && typeof t !== 'string') ctx.fail(`${at}.@odata.type`, 'a string', t);
    if (typeof t === 'string' && t.toLowerCase() !== '#microsoft.graph.group') return;
    groupIds.push(x.id.trim());
  });
  const out: GroupMemberships = { groupIds, complete: nextLinkOf(json) === undefined };
  if (source) out.source = source;
  return out;
}

/** `az keyvault show` output or an ARM Vaults_Get body (also a one-element list). */
export function parseVault(json: Json, source?: string): VaultDoc {
  const ctx: Ctx = new Ctx(source, 'a Key Vault (az keyvault show / ARM Vaults_Get)');
  const list = items(ctx, json);
  if (list.length !== 1) ctx.fail('', 'exactly one vault', json);
  const [o, at] = list[0];
  const id = str(ctx, o, 'id', at, 'the vault resource ID');
  try {
    parseVaultId(id);
  } catch (e) {
    ctx.fail(
      join(at, 'id'),
      `a Key Vault resource ID (/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name})`,
      id,
    );
    throw e;
  }
  if (typeof o.type === 'string' && o.type.trim().toLowerCase() !== 'microsoft.keyvault/vaults') {
    ctx.fail(join(at, 'type'), `Microsoft.KeyVault/vaults, got the type ${JSON.stringify(o.type)}`);
  }
  const name = typeof o.name === 'string' && o.name ? o.name : parseVaultId(id).vaultName;
  const tenantId = str(ctx, o, 'tenantId', at, 'the vault tenant ID');
  const rbac = field(o, 'enableRbacAuthorization');
  if (rbac.value !== undefined && rbac.value !== null && typeof rbac.value !== 'boolean') {
    ctx.fail(join(at, rbac.path), 'true, false or absent', rbac.value);
  }
  const ap = field(o, 'accessPolicies');
  const apPath = join(at, ap.path);
  if (ap.value !== undefined && ap.value !== null && !Array.isArray(ap.value))
    ctx.fail(apPath, 'an array of access policies', ap.value);
  const accessPolicies: AccessPolicyEntry[] = ((ap.value as unknown[] | null | undefined) ?? []).map((e, i) => {
    const ep = `${apPath}[${i}]`;
    if (!isObj(e)) ctx.fail(ep, 'an access policy object {tenantId, objectId, permissions}', e);
    if (typeof e.tenantId !== 'string') ctx.fail(`${ep}.tenantId`, 'a tenant ID string', e.tenantId);
    if (typeof e.objectId !== 'string') ctx.fail(`${ep}.objectId`, 'an object ID string', e.objectId);
    if (e.applicationId !== undefined && e.applicationId !== null && typeof e.applicationId !== 'string') {
      ctx.fail(`${ep}.applicationId`, 'a string or null', e.applicationId);
    }
    const perms = e.permissions ?? {};
    if (!isObj(perms)) ctx.fail(`${ep}.permissions`, 'an object {keys, secrets, certificates, storage}', perms);
    return {
      tenantId: e.tenantId,
      objectId: e.objectId,
      applicationId: (e.applicationId as string | null | undefined) ?? null,
      permissions: {
        keys: strArray(ctx, perms.keys, `${ep}.permissions.keys`),
        secrets: strArray(ctx, perms.secrets, `${ep}.permissions.secrets`),
        certificates: strArray(ctx, perms.certificates, `${ep}.permissions.certificates`),
        storage: strArray(ctx, perms.storage, `${ep}.permissions.storage`),
      },
    };
  });
  return {
    id: normalizeScope(id),
    name,
    tenantId,
    enableRbacAuthorization: typeof rbac.value === 'boolean' ? rbac.value : undefined,
    accessPolicies,
  };
}

/** The `scope` field, else the scope in the authorization resource ID; fails naming the field when neither. */
function scopeField(ctx: Ctx, o: Obj, at: string, id: string, expected: string): string {
  const f = field(o, 'scope');
  if (typeof f.value === 'string' && f.value.trim() !== '') return normalizeScope(f.value);
  const fromId = scopeOfAuthorizationId(id);
  if (!fromId) ctx.fail(join(at, f.path), expected, f.value);
  return fromId;
}

/** ARM RoleAssignments_List* / _Get bodies, or `az role assignment list` output (flattened). */
export function parseRoleAssignments(json: Json, source?: string): RoleAssignmentDoc[] {
  const ctx: Ctx = new Ctx(source, 'role assignments (az role assignment list / ARM RoleAssignments_List)');
  return items(ctx, json).map(([o, at]) => {
    const id = str(ctx, o, 'id', at, 'the role assignment ID');
    const roleDefinitionId = str(ctx, o, 'roleDefinitionId', at, 'the role definition ID');
    const principalId = str(ctx, o, 'principalId', at, 'the principal object ID');
    // After the required fields, so a document with none of them says which field is missing.
    expectKind(ctx, o, at, id, 'Microsoft.Authorization/roleAssignments');
    const scope = scopeField(ctx, o, at, id, 'the assignment scope (a string)');
    const doc: RoleAssignmentDoc = {
      id,
      scope,
      roleDefinitionId,
      principalId,
    };
    const name = optStr(ctx, o, 'name', at);
    if (name) doc.name = name;
    const principalType = optStr(ctx, o, 'principalType', at);
    if (principalType) doc.principalType = principalType;
    const condition = optStr(ctx, o, 'condition', at);
    if (condition && condition.trim() !== '') doc.condition = condition;
    const conditionVersion = optStr(ctx, o, 'conditionVersion', at);
    if (conditionVersion) doc.conditionVersion = conditionVersion;
    const roleDefinitionName = optStr(ctx, o, 'roleDefinitionName', at);
    if (roleDefinitionName) doc.roleDefinitionName = roleDefinitionName;
    return doc;
  });
}

/** ARM RoleDefinitions_Get/List bodies, `az role definition list` output, or the docs' published JSON. */
export function parseRoleDefinitions(json: Json, source?: string): RoleDefinitionDoc[] {
  const ctx: Ctx = new Ctx(source, 'role definitions (az role definition list / ARM RoleDefinitions_List)');
  return items(ctx, json).map(([o, at]) => {
    const id = str(ctx, o, 'id', at, 'the role definition ID');
    const guid = roleDefinitionGuid(id);
    const nameField = typeof o.name === 'string' && o.name.trim() ? o.name.trim() : guid;
    const roleType = optStr(ctx, o, 'roleType', at) ?? (isObj(o.properties) ? optStr(ctx, o, 'type', at) : undefined);
    const assignable = field(o, 'assignableScopes');
    const doc: RoleDefinitionDoc = {
      id,
      name: nameField,
      roleName: str(ctx, o, 'roleName', at, 'the role name'),
      permissions: permissionBlocks(ctx, o, at),
      assignableScopes: strArray(ctx, assignable.value, join(at, assignable.path)),
    };
    if (roleType) doc.type = roleType;
    return doc;
  });
}

/** ARM DenyAssignments_List* / _Get bodies, or the same objects flattened. */
export function parseDenyAssignments(json: Json, source?: string): DenyAssignmentDoc[] {
  const ctx: Ctx = new Ctx(source, 'deny assignments (ARM DenyAssignments_List)');
  return items(ctx, json).map(([o, at]) => {
    const id = str(ctx, o, 'id', at, 'the deny assignment ID');
    expectKind(ctx, o, at, id, 'Microsoft.Authorization/denyAssignments');
    const scope = scopeField(ctx, o, at, id, 'the deny assignment scope (a string)');
    const principalsOf = (name: string) => {
      const f = field(o, name);
      const p = join(at, f.path);
      if (f.value === undefined || f.value === null) return [];
      if (!Array.isArray(f.value)) ctx.fail(p, 'an array of {id, type}', f.value);
      return f.value.map((x, i) => {
        if (!isObj(x) || typeof x.id !== 'string')
          ctx.fail(`${p}[${i}].id`, 'a principal object ID string', isObj(x) ? x.id : x);
        return typeof x.type === 'string' ? { id: x.id, type: x.type } : { id: x.id };
      });
    };
    const principals = principalsOf('principals');
    if (!Array.isArray(field(o, 'principals').value)) {
      ctx.fail(
        join(at, field(o, 'principals').path),
        'an array of principals {id, type}',
        field(o, 'principals').value,
      );
    }
    const dn = field(o, 'doNotApplyToChildScopes');
    if (dn.value !== undefined && dn.value !== null && typeof dn.value !== 'boolean')
      ctx.fail(join(at, dn.path), 'true or false', dn.value);
    const doc: DenyAssignmentDoc = {
      id,
      scope,
      permissions: permissionBlocks(ctx, o, at, true),
      principals,
      excludePrincipals: principalsOf('excludePrincipals'),
      doNotApplyToChildScopes: dn.value === true,
    };
    const name = optStr(ctx, o, 'name', at);
    if (name) doc.name = name;
    const dan = optStr(ctx, o, 'denyAssignmentName', at);
    if (dan) doc.denyAssignmentName = dan;
    denyExtras(ctx, o, at, doc);
    return doc;
  });
}

/** The 2022-04-01 fields that can make a deny assignment block nothing, or block only under a condition. */
function denyExtras(ctx: Ctx, o: Obj, at: string, doc: DenyAssignmentDoc): void {
  const condition = optStr(ctx, o, 'condition', at);
  if (condition && condition.trim() !== '') doc.condition = condition;
  const conditionVersion = optStr(ctx, o, 'conditionVersion', at);
  if (conditionVersion) doc.conditionVersion = conditionVersion;
  const effect = optStr(ctx, o, 'denyAssignmentEffect', at);
  if (effect && effect.trim() !== '') doc.effect = effect.trim();
}

/** The GUID at the end of a role definition ID, whatever the prefix (`/providers/...`, `/subscriptions/{s}/providers/...`), lower-cased. */
export function roleDefinitionGuid(roleDefinitionId: string): string {
  const parts = roleDefinitionId.trim().split('/').filter(Boolean);
  return (parts[parts.length - 1] ?? '').toLowerCase();
}

// Key Vault DNS suffixes per cloud: learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates
// ("Object identifiers"): vault.azure.net (public), vault.azure.cn (China), vault.usgovcloudapi.net (US Gov),
// vault.microsoftazure.de (Germany, retired). Managed HSM (managedhsm.azure.net) is not a vault: not supported.
const VAULT_SUFFIXES = ['vault.azure.net', 'vault.azure.cn', 'vault.usgovcloudapi.net', 'vault.microsoftazure.de'];

export interface KeyIdentifier {
  vaultName: string;
  /** e.g. `myvault.vault.azure.net` (lower-cased). */
  vaultHost: string;
  keyName: string;
  version?: string;
}

/** `https://{vault}.vault.azure.net/keys/{name}[/{version}]` (and sovereign-cloud hosts). Throws DocumentError. */
export function parseKeyIdentifier(url: string, source = 'key identifier'): KeyIdentifier {
  const bad = (why: string): never => {
    throw new DocumentError(`'${url}' ${why}`, source);
  };
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    return bad('is not a URL (expected https://{vault}.vault.azure.net/keys/{name}/{version})');
  }
  if (u.protocol !== 'https:') bad('must use https');
  const host = u.hostname.toLowerCase();
  if (/\.managedhsm\.[a-z.]+$/.test(host)) bad('is a Managed HSM key; only Key Vault vaults are supported');
  const suffix = VAULT_SUFFIXES.find((s) => host.endsWith(`.${s}`));
  if (!suffix) bad(`is not a Key Vault key URL (host must end with ${VAULT_SUFFIXES.join(', ')})`);
  const vaultName = host.slice(0, host.length - suffix!.length - 1);
  if (!/^[a-z0-9-]{3,24}$/.test(vaultName)) bad(`has an invalid vault name '${vaultName}'`);
  const segs = u.pathname.split('/').filter(Boolean);
  if (segs.length < 2 || segs.length > 3 || segs[0].toLowerCase() !== 'keys') {
    bad('must have the path /keys/{name} or /keys/{name}/{version}');
  }
  const out: KeyIdentifier = { vaultName, vaultHost: host, keyName: decodeURIComponent(segs[1]) };
  if (segs[2]) out.version = segs[2];
  return out;
}

export interface KeyResourceId {
  vaultId: string;
  subscriptionId: string;
  resourceGroup: string;
  vaultName: string;
  keyName: string;
  version?: string;
}

/** `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{v}/keys/{k}[/versions/{ver}]`. Throws DocumentError. */
export function parseKeyResourceId(id: string, source = 'key resource ID'): KeyResourceId {
  const segs = normalizeScope(id).split('/').slice(1);
  const ok = (segs.length === 10 || segs.length === 12) && segs[8].toLowerCase() === 'keys';
  const versionOk = segs.length === 10 || (segs.length === 12 && segs[10].toLowerCase() === 'versions');
  if (!ok || !versionOk) {
    throw new DocumentError(
      `'${id}' is not a Key Vault key resource ID (expected /subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{vault}/keys/{name})`,
      source,
    );
  }
  const vaultId = '/' + segs.slice(0, 8).join('/');
  let parts;
  try {
    parts = parseVaultId(vaultId);
  } catch (e) {
    throw new DocumentError((e as Error).message, source);
  }
  const out: KeyResourceId = { vaultId, ...parts, keyName: segs[9] };
  if (segs.length === 12) out.version = segs[11];
  return out;
}
