// The access evaluator: does a principal, right now, hold the required permissions on a Key Vault key?
// Pure: judges only the documents it is given, and says in `notes` what it could not check.
// Every rule is explained (with the Azure docs it follows) in README.md, "How a verdict is decided".
import {
  blockAllowsAction,
  blockAllowsDataAction,
  canonicalPermission,
  dataActionFor,
  VAULT_READ_ACTION,
} from './actions.js';
import { builtinRoleDefinitions } from './builtinRoles.js';
import { roleDefinitionGuid } from './documents.js';
import { isManagementGroupScope, keyScope, managementGroupIdOf, scopeCovers, scopeEquals } from './scopes.js';
import type {
  DenyAssignmentDoc,
  GrantPath,
  KeyPermission,
  ObservedDocuments,
  PermissionBlock,
  PermissionModel,
  PermissionResult,
  Requirement,
  RoleAssignmentDoc,
  RoleDefinitionDoc,
  ScopeAncestry,
  Verdict,
  VerdictKind,
} from './types.js';

export const DEFAULT_REQUIRED: readonly KeyPermission[] = ['get', 'encrypt', 'decrypt'];
export const DEFAULT_RECOMMENDED: readonly KeyPermission[] = ['wrapKey', 'unwrapKey'];
/** The entry `missingRecommended` carries when the principal lacks control-plane read on the vault (RBAC model). */
export const READER_ON_VAULT = 'Reader on the vault';
/** Deny assignments use the all-zero object ID for "Everyone". */
export const EVERYONE = '00000000-0000-0000-0000-000000000000';

type Status = 'granted' | 'indeterminate' | 'missing';

/** What was found for one permission before it is folded into a PermissionResult. */
interface Tally {
  via: GrantPath[];
  uncertain: GrantPath[];
  deniedBy: string[];
  possiblyDeniedBy: string[];
  /** Reasons a permission nothing grants may still be granted (a truncated assignment list). */
  unknown: string[];
}

const lower = (s: string | null | undefined) => (s ?? '').trim().toLowerCase();

function dedupeCi(list: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const p of list) {
    const k = p.toLowerCase();
    if (!seen.has(k)) {
      seen.add(k);
      out.push(p);
    }
  }
  return out;
}

function statusOf(t: Tally): Status {
  if (t.deniedBy.length > 0) return 'missing';
  if (t.via.length > 0) return t.possiblyDeniedBy.length > 0 ? 'indeterminate' : 'granted';
  if (t.uncertain.length > 0 || t.unknown.length > 0) return 'indeterminate';
  return 'missing';
}

function toResult(t: Tally): PermissionResult {
  const r: PermissionResult = { granted: statusOf(t) === 'granted', via: t.via };
  if (t.uncertain.length > 0) r.conditionalVia = t.uncertain;
  if (t.deniedBy.length > 0) r.deniedBy = t.deniedBy;
  if (t.possiblyDeniedBy.length > 0) r.possiblyDeniedBy = t.possiblyDeniedBy;
  if (t.unknown.length > 0) r.unknown = t.unknown;
  return r;
}

const emptyTally = (): Tally => ({ via: [], uncertain: [], deniedBy: [], possiblyDeniedBy: [], unknown: [] });

function permissionLists(req: Requirement): { required: KeyPermission[]; recommended: KeyPermission[] } {
  const required = dedupeCi((req.required ?? DEFAULT_REQUIRED).map(canonicalPermission));
  const requiredCi = new Set(required.map((p) => p.toLowerCase()));
  const recommended = dedupeCi((req.recommended ?? DEFAULT_RECOMMENDED).map(canonicalPermission)).filter(
    (p) => !requiredCi.has(p.toLowerCase()),
  );
  return { required, recommended };
}

type ApJudgement = ReturnType<typeof judgeAccessPolicies>;
type RbacJudgement = ReturnType<typeof judgeRbac>;

/** The tallies of the vault's model, with the notes that explain the choice. */
function chooseModel(
  model: PermissionModel,
  docs: ObservedDocuments,
  ap: ApJudgement,
  rbac: RbacJudgement,
  required: KeyPermission[],
): { tallies: Record<string, Tally>; reader?: Tally; notes: string[] } {
  if (model === 'rbac') {
    const notes = [
      'Permission model: Azure RBAC (properties.enableRbacAuthorization is true), so access policies are ignored for data-plane access.',
      ...rbac.notes,
    ];
    if (ap.counted > 0)
      notes.push('The principal has an access-policy entry on this vault; it is ignored under the RBAC model.');
    return { tallies: rbac.tallies, reader: rbac.reader, notes };
  }
  const notes = [
    `Permission model: access policies (properties.enableRbacAuthorization is ${docs.vault.enableRbacAuthorization === false ? 'false' : 'absent'}), so role assignments and deny assignments do not grant or remove key operations.`,
    ...ap.notes,
  ];
  const rbacWouldGrant = required.filter((p) => statusOf(rbac.tallies[p]) === 'granted');
  if (rbacWouldGrant.length > 0) {
    notes.push(
      `Role assignments would grant ${rbacWouldGrant.join(', ')} if the vault used Azure RBAC; under access policies they do not count.`,
    );
  }
  return { tallies: ap.tallies, notes };
}

/** Why a permission is indeterminate, for the notes. */
function whyIndeterminate(r: PermissionResult): string {
  const why = [
    ...(r.conditionalVia ?? []).map(describePath),
    ...(r.possiblyDeniedBy ?? []).map((d) => `may be denied by ${d}`),
    ...(r.unknown ?? []),
  ];
  return why.join('; ') || 'a deny assignment may apply';
}

function fold(perms: KeyPermission[], tallies: Record<string, Tally>, vaultMatches: boolean) {
  const permissions: Record<KeyPermission, PermissionResult> = {};
  const status: Record<string, Status> = {};
  for (const p of perms) {
    status[p] = vaultMatches ? statusOf(tallies[p]) : 'indeterminate';
    permissions[p] = toResult(tallies[p]);
    if (!vaultMatches) permissions[p].granted = false;
  }
  return { permissions, status };
}

/**
 * Judge `req` against `docs`. Built-in roles resolve from the shipped definitions when `docs.roleDefinitions`
 * lacks them; supplied definitions win for the same GUID.
 */
export function evaluate(req: Requirement, docs: ObservedDocuments): Verdict {
  const { required, recommended } = permissionLists(req);
  const all = [...required, ...recommended];
  const model: PermissionModel = docs.vault.enableRbacAuthorization === true ? 'rbac' : 'accessPolicy';
  const notes: string[] = [];
  const vaultMatches = scopeEquals(docs.vault.id, req.key.vaultId);
  if (!vaultMatches) {
    notes.push(
      `The vault document is ${docs.vault.id}, not the requirement's vault ${req.key.vaultId}: nothing can be judged.`,
    );
  }
  const ap = judgeAccessPolicies(req, docs, all);
  const chosen = chooseModel(model, docs, ap, judgeRbac(req, docs, all), required);
  notes.push(
    ...chosen.notes,
    'Not checked: the key itself (enabled, expiry, its allowed key operations) and the vault network rules; explain judges permissions only.',
  );
  const { permissions, status } = fold(all, chosen.tallies, vaultMatches);
  const missing = required.filter((p) => status[p] === 'missing');
  const indeterminate = required.filter((p) => status[p] === 'indeterminate');
  const missingRecommended = recommended.filter((p) => status[p] !== 'granted');
  for (const p of indeterminate)
    notes.push(`${p} is indeterminate: ${whyIndeterminate(permissions[p])} (cannot be judged offline).`);

  const verdict: Verdict = {
    verdict: (missing.length > 0 ? 'missing' : indeterminate.length > 0 ? 'indeterminate' : 'granted') as VerdictKind,
    model,
    principalId: req.principalId,
    key: { ...req.key },
    missing,
    indeterminate,
    missingRecommended,
    permissions,
    notes,
    requiredPermissions: required,
    recommendedPermissions: recommended,
  };
  if (model === 'accessPolicy' && ap.counted > 0) verdict.accessPolicyKeyPermissions = ap.currentKeys;
  const reader = chosen.reader;
  if (reader && (req.recommendReaderOnVault ?? true)) {
    verdict.readerOnVault = toResult(reader);
    if (statusOf(reader) !== 'granted' || !vaultMatches) missingRecommended.push(READER_ON_VAULT);
  }
  return verdict;
}

export function describePath(p: GrantPath): string {
  if (p.kind === 'accessPolicy')
    return `access policy for object ${p.objectId} (tenant ${p.tenantId}) lists '${p.permission}'`;
  let s = `role assignment ${p.assignmentId} (${p.roleName}) at ${p.scope}`;
  if (p.group) s += ` through group ${p.group}`;
  if (p.condition) s += ` with ABAC condition ${p.condition}`;
  if (p.uncertain) s += ` [${p.uncertain}]`;
  return s;
}

// ---- access policies -----------------------------------------------------------------------------------

function judgeAccessPolicies(req: Requirement, docs: ObservedDocuments, perms: string[]) {
  const vault = docs.vault;
  const principal = lower(req.principalId);
  const notes: string[] = [];
  const tallies: Record<string, Tally> = Object.fromEntries(perms.map((p) => [p, emptyTally()]));
  const currentKeys: string[] = [];
  let counted = 0;
  vault.accessPolicies.forEach((e, i) => {
    if (lower(e.objectId) !== principal) return;
    if (e.applicationId && e.applicationId.trim() !== '') {
      notes.push(
        `accessPolicies[${i}] names the principal together with applicationId ${e.applicationId}: a compound identity (an application acting for the principal), which grants nothing to the principal alone.`,
      );
      return;
    }
    if (lower(e.tenantId) !== lower(vault.tenantId)) {
      notes.push(
        `accessPolicies[${i}] has tenantId ${e.tenantId}, not the vault's tenant ${vault.tenantId}: Key Vault authenticates only the vault's tenant, so it does not count.`,
      );
      return;
    }
    counted++;
    const keys = e.permissions.keys ?? [];
    for (const k of keys) if (!currentKeys.some((c) => c.toLowerCase() === k.toLowerCase())) currentKeys.push(k);
    for (const p of perms) {
      const hit = keys.find((k) => lower(k) === p.toLowerCase() || lower(k) === 'all');
      if (hit !== undefined) {
        tallies[p].via.push({ kind: 'accessPolicy', objectId: e.objectId, tenantId: e.tenantId, permission: hit });
      }
    }
  });
  if (counted === 0 && notes.length === 0) notes.push(`No access-policy entry names object ${req.principalId}.`);
  return { tallies, notes, counted, currentKeys };
}

// ---- Azure RBAC ------------------------------------------------------------------------------------------

type Tri = 'yes' | 'no' | 'unknown';

/** Principal types that cannot have members: an assignment to another one of these never reaches the principal. */
const MEMBERLESS_TYPES = new Set(['user', 'serviceprincipal', 'device', 'systemdefined']);

/** What judging one role or deny assignment needs to know. */
interface RbacCtx {
  principal: string;
  target: string;
  vaultScope: string;
  tenantId: string;
  ancestry: ScopeAncestry;
  groups?: { ids: Set<string>; complete: boolean };
  defs: Map<string, RoleDefinitionDoc>;
  perms: string[];
  notes: string[];
  tallies: Record<string, Tally>;
  reader: Tally;
}

function definitionIndex(supplied: RoleDefinitionDoc[] | undefined): Map<string, RoleDefinitionDoc> {
  const m = new Map<string, RoleDefinitionDoc>();
  for (const d of builtinRoleDefinitions()) m.set(roleDefinitionGuid(d.name || d.id), d);
  for (const d of supplied ?? []) m.set(roleDefinitionGuid(d.id) || lower(d.name), d);
  return m;
}

/**
 * Is `scope` at or above `at`? Management groups are not in resource IDs: the tenant root group (ID = tenant ID)
 * holds every subscription of the tenant; others are placed only from the ancestry the caller supplies.
 */
function placeScope(scope: string, at: string, ctx: RbacCtx): Tri {
  const mg = managementGroupIdOf(scope);
  if (mg === undefined) {
    if (isManagementGroupScope(scope)) return 'unknown';
    return scopeCovers(scope, at) ? 'yes' : 'no';
  }
  if (lower(mg) === lower(ctx.tenantId) || ctx.ancestry.listedByArmForKeyScope) return 'yes';
  const known = ctx.ancestry.managementGroupIds;
  if (!known) return 'unknown';
  return known.some((id) => lower(id) === lower(mg)) ? 'yes' : 'no';
}

/** Is the principal `id`, or a (transitive) member of group `id`? */
function memberOf(id: string, ctx: RbacCtx): Tri {
  const x = lower(id);
  if (x === ctx.principal) return 'yes';
  if (!ctx.groups) return 'unknown';
  if (ctx.groups.ids.has(x)) return 'yes';
  return ctx.groups.complete ? 'no' : 'unknown';
}

/** Does a principals list (of a deny assignment) reach the principal, directly, as Everyone, or through a group? */
function listReaches(list: { id: string; type?: string }[], ctx: RbacCtx): Tri {
  let out: Tri = 'no';
  for (const x of list) {
    if (lower(x.id) === ctx.principal || lower(x.id) === EVERYONE) return 'yes';
    if (MEMBERLESS_TYPES.has(lower(x.type))) continue;
    const m = memberOf(x.id, ctx);
    if (m === 'yes') return 'yes';
    if (m === 'unknown') out = 'unknown';
  }
  return out;
}

const both = (a: Tri, b: Tri): Tri =>
  a === 'no' || b === 'no' ? 'no' : a === 'yes' && b === 'yes' ? 'yes' : 'unknown';
const not = (a: Tri): Tri => (a === 'yes' ? 'no' : a === 'no' ? 'yes' : 'unknown');

/** Why a grant path cannot be relied on, or undefined when it can. */
function uncertainty(
  a: RoleAssignmentDoc,
  who: Tri,
  reach: Tri,
  def: RoleDefinitionDoc | undefined,
): string | undefined {
  const why: string[] = [];
  if (reach === 'unknown')
    why.push('management-group scope: whether the vault subscription is under it is not known offline');
  if (who === 'unknown')
    why.push(
      `assigned to ${a.principalType ? 'group' : 'object'} ${a.principalId}: whether the principal is a member is not known (pass --groups with the Graph transitiveMemberOf of the principal)`,
    );
  if (!def)
    why.push(
      `role definition ${roleDefinitionGuid(a.roleDefinitionId)} was not supplied (pass --definitions with az role definition list output)`,
    );
  return why.length > 0 ? why.join('; ') : undefined;
}

/** Add what the role of `path` grants (every permission, when the definition is unknown) to the tallies. */
function tallyGrant(path: GrantPath, def: RoleDefinitionDoc | undefined, reachesVault: boolean, ctx: RbacCtx): void {
  const sure = path.kind === 'roleAssignment' && !path.condition && !path.uncertain;
  const grants = (action: string) => !def || def.permissions.some((b) => blockAllowsDataAction(b, action));
  for (const p of ctx.perms) {
    const action = dataActionFor(p);
    if (action && grants(action)) (sure ? ctx.tallies[p].via : ctx.tallies[p].uncertain).push(path);
  }
  const readsVault = !def || def.permissions.some((b) => blockAllowsAction(b, VAULT_READ_ACTION));
  if (reachesVault && readsVault) (sure ? ctx.reader.via : ctx.reader.uncertain).push(path);
}

/** Judge one role assignment; returns it when it carries an ABAC condition (for the notes). */
function judgeAssignment(a: RoleAssignmentDoc, ctx: RbacCtx): RoleAssignmentDoc | undefined {
  const direct = lower(a.principalId) === ctx.principal;
  const who: Tri = direct ? 'yes' : MEMBERLESS_TYPES.has(lower(a.principalType)) ? 'no' : memberOf(a.principalId, ctx);
  if (who === 'no') return undefined;
  const reach = placeScope(a.scope, ctx.target, ctx);
  if (reach === 'no') {
    ctx.notes.push(
      `Role assignment ${a.id} at ${a.scope} does not contain the key ${ctx.target}, so it does not apply.`,
    );
    return undefined;
  }
  const guid = roleDefinitionGuid(a.roleDefinitionId);
  const def = ctx.defs.get(guid);
  const path: GrantPath = {
    kind: 'roleAssignment',
    assignmentId: a.id,
    roleDefinitionId: a.roleDefinitionId,
    roleName: def?.roleName ?? a.roleDefinitionName ?? guid,
    scope: a.scope,
  };
  if (a.condition) path.condition = a.condition;
  const uncertain = uncertainty(a, who, reach, def);
  if (uncertain) path.uncertain = uncertain;
  if (!direct) path.group = a.principalId;
  tallyGrant(path, def, placeScope(a.scope, ctx.vaultScope, ctx) !== 'no', ctx);
  if (!def)
    ctx.notes.push(
      `Role assignment ${a.id} uses role definition ${guid}, which is neither a shipped built-in nor in the definitions given.`,
    );
  return a.condition ? a : undefined;
}

function denyName(d: DenyAssignmentDoc): string {
  return d.denyAssignmentName ? `${d.id} (${d.denyAssignmentName})` : d.id;
}

/** Where the deny reaches: its own scope only with doNotApplyToChildScopes, else at and below it. */
function denyReach(d: DenyAssignmentDoc, at: string, ctx: RbacCtx): Tri {
  if (d.doNotApplyToChildScopes) return scopeEquals(d.scope, at) ? 'yes' : 'no';
  return placeScope(d.scope, at, ctx);
}

/** 'yes' when an unconditional block matches, 'unknown' when only conditional ones do, 'no' when none does. */
function denyBlocks(d: DenyAssignmentDoc, matches: (b: PermissionBlock) => boolean): Tri {
  const hit = d.permissions.filter(matches);
  if (hit.length === 0) return 'no';
  return !d.condition && hit.some((b) => !b.condition) ? 'yes' : 'unknown';
}

function tallyDeny(t: Tally, name: string, ...parts: Tri[]): void {
  const r = parts.reduce(both, 'yes');
  if (r === 'yes') t.deniedBy.push(name);
  else if (r === 'unknown') t.possiblyDeniedBy.push(name);
}

function judgeDeny(d: DenyAssignmentDoc, ctx: RbacCtx): void {
  const name = denyName(d);
  if (lower(d.effect) === 'audit') {
    ctx.notes.push(`Deny assignment ${name} has denyAssignmentEffect audit: it logs and blocks nothing.`);
    return;
  }
  const who = both(listReaches(d.principals, ctx), not(listReaches(d.excludePrincipals ?? [], ctx)));
  if (who === 'no') return;
  if (who === 'unknown')
    ctx.notes.push(
      `Deny assignment ${name} names or excludes group(s) whose membership is not known (pass --groups), so it may apply.`,
    );
  if (d.condition || d.permissions.some((b) => b.condition))
    ctx.notes.push(`Deny assignment ${name} carries a condition, which cannot be evaluated offline: it may apply.`);
  const atKey = denyReach(d, ctx.target, ctx);
  if (d.doNotApplyToChildScopes && atKey === 'no' && scopeCovers(d.scope, ctx.target))
    ctx.notes.push(
      `Deny assignment ${name} has doNotApplyToChildScopes at ${d.scope}, so it does not reach the key ${ctx.target}.`,
    );
  for (const p of ctx.perms) {
    const action = dataActionFor(p);
    if (action)
      tallyDeny(
        ctx.tallies[p],
        name,
        who,
        atKey,
        denyBlocks(d, (b) => blockAllowsDataAction(b, action)),
      );
  }
  const atVault = denyReach(d, ctx.vaultScope, ctx);
  tallyDeny(
    ctx.reader,
    name,
    who,
    atVault,
    denyBlocks(d, (b) => blockAllowsAction(b, VAULT_READ_ACTION)),
  );
}

function groupNote(docs: ObservedDocuments, principal: string): string {
  const toOthers = docs.roleAssignments.filter(
    (a) => lower(a.principalId) !== principal && !MEMBERLESS_TYPES.has(lower(a.principalType)),
  ).length;
  const g = docs.principalGroups;
  if (g)
    return `Group memberships: the principal is in ${g.groupIds.length} group(s) per the transitiveMemberOf given${g.complete ? '' : ` (${g.source ?? 'the list'} is one page of several (@odata.nextLink): a group not on it may still hold the principal)`}; ${toOthers} assignment(s) to groups are in the input.`;
  return toOthers > 0
    ? `Group membership was not checked: ${toOthers} assignment(s) to groups are in the input, and whether the principal is a member is not known offline (pass --groups with the Graph transitiveMemberOf of the principal).`
    : 'Group membership was not checked: assignments to groups the principal belongs to do not appear under a principalId filter (az role assignment list --assignee without --include-groups).';
}

/** A list known to be one page of several cannot rule out what its other pages hold. */
function markIncomplete(docs: ObservedDocuments, ctx: RbacCtx): void {
  const inc = docs.incomplete ?? {};
  const all = [...ctx.perms.filter((p) => dataActionFor(p)).map((p) => ctx.tallies[p]), ctx.reader];
  if (inc.roleAssignments) {
    const why = `${inc.roleAssignments} is one page of several (nextLink): assignments on later pages were not read`;
    ctx.notes.push(`${why}, so a permission nothing on this page grants cannot be called missing.`);
    for (const t of all) t.unknown.push(why);
  }
  if (inc.denyAssignments) {
    const why = `deny assignments after the first page of ${inc.denyAssignments} (nextLink)`;
    ctx.notes.push(
      `${inc.denyAssignments} is one page of several (nextLink): a deny on later pages cannot be ruled out.`,
    );
    for (const t of all) t.possiblyDeniedBy.push(why);
  }
}

function rbacContext(req: Requirement, docs: ObservedDocuments, perms: string[]): RbacCtx {
  const g = docs.principalGroups;
  return {
    principal: lower(req.principalId),
    target: keyScope(req.key.vaultId, req.key.keyName),
    vaultScope: req.key.vaultId,
    tenantId: docs.vault.tenantId,
    ancestry: docs.ancestry ?? {},
    groups: g ? { ids: new Set(g.groupIds.map(lower)), complete: g.complete } : undefined,
    defs: definitionIndex(docs.roleDefinitions),
    perms,
    notes: [],
    tallies: Object.fromEntries(perms.map((p) => [p, emptyTally()])),
    reader: emptyTally(),
  };
}

function judgeRbac(req: Requirement, docs: ObservedDocuments, perms: string[]) {
  const ctx = rbacContext(req, docs, perms);
  for (const p of perms) {
    if (!dataActionFor(p))
      ctx.notes.push(`'${p}' has no known Key Vault data action, so no role can be shown to grant it.`);
  }
  ctx.notes.push(groupNote(docs, ctx.principal));
  const conditional: RoleAssignmentDoc[] = [];
  for (const a of docs.roleAssignments) {
    const c = judgeAssignment(a, ctx);
    if (c) conditional.push(c);
  }
  if (conditional.length > 0) {
    ctx.notes.push(
      `ABAC conditions were not evaluated: ${conditional.map((a) => a.id).join(', ')} carr${conditional.length === 1 ? 'ies' : 'y'} a condition, so what they grant counts only as indeterminate.`,
    );
  }
  for (const d of docs.denyAssignments ?? []) judgeDeny(d, ctx);
  if (docs.denyAssignments === undefined) ctx.notes.push('Deny assignments were not supplied, so none were checked.');
  markIncomplete(docs, ctx);
  return { tallies: ctx.tallies, notes: ctx.notes, reader: ctx.reader };
}
