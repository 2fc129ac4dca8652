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
import { isManagementGroupScope, keyScope, scopeCovers, scopeEquals } from './scopes.js';
import type {
  GrantPath,
  KeyPermission,
  ObservedDocuments,
  PermissionResult,
  Requirement,
  RoleAssignmentDoc,
  RoleDefinitionDoc,
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
  if (t.uncertain.length > 0) return 'indeterminate';
  return 'missing';
}

function toResult(t: Tally): PermissionResult {
  const r: PermissionResult = { granted: statusOf(t) === 'granted', via: t.via };
  if (t.uncertain.length > 0) r.conditionalVia = t.uncertain;
  const denied = [...t.deniedBy, ...t.possiblyDeniedBy];
  if (denied.length > 0) r.deniedBy = denied;
  return r;
}

const emptyTally = (): Tally => ({ via: [], uncertain: [], deniedBy: [], possiblyDeniedBy: [] });

/**
 * Judge `req` against `docs`. Built-in roles resolve from the shipped definitions when `docs.roleDefinitions`
 * lacks them; supplied definitions win for the same GUID.
 */
export function evaluate(req: Requirement, docs: ObservedDocuments): Verdict {
  const required = dedupeCi((req.required ?? DEFAULT_REQUIRED).map(canonicalPermission));
  const requiredCi = new Set(required.map((p) => p.toLowerCase()));
  const recommended = dedupeCi((req.recommended ?? DEFAULT_RECOMMENDED).map(canonicalPermission)).filter(
    (p) => !requiredCi.has(p.toLowerCase()),
  );
  const all = [...required, ...recommended];
  const vault = docs.vault;
  const model = vault.enableRbacAuthorization === true ? 'rbac' : 'accessPolicy';
  const notes: string[] = [];

  const vaultMatches = scopeEquals(vault.id, req.key.vaultId);
  if (!vaultMatches) {
    notes.push(
      `The vault document is ${vault.id}, not the requirement's vault ${req.key.vaultId}: nothing can be judged.`,
    );
  }

  const ap = judgeAccessPolicies(req, docs, all);
  const rbac = judgeRbac(req, docs, all);

  let tallies: Record<string, Tally>;
  let reader: Tally | undefined;
  if (model === 'rbac') {
    tallies = rbac.tallies;
    reader = rbac.reader;
    notes.push(
      'Permission model: Azure RBAC (properties.enableRbacAuthorization is true), so access policies are ignored for data-plane access.',
      ...rbac.notes,
    );
    if (ap.counted > 0)
      notes.push('The principal has an access-policy entry on this vault; it is ignored under the RBAC model.');
  } else {
    tallies = ap.tallies;
    notes.push(
      `Permission model: access policies (properties.enableRbacAuthorization is ${vault.enableRbacAuthorization === false ? 'false' : 'absent'}), so role assignments and deny assignments do not grant or remove key operations.`,
      ...ap.notes,
    );
    const rbacWouldGrant = required.filter((p) => statusOf(rbac.tallies[p]) === 'granted');
    if (rbacWouldGrant.length > 0) {
      notes.push(
        `Role assignments would grant ${rbacWouldGrant.join(', ')} if the vault used Azure RBAC; under access policies they do not count.`,
      );
    }
  }
  notes.push(
    'Not checked: the key itself (enabled, expiry, its allowed key operations) and the vault network rules; explain judges permissions only.',
  );

  const permissions: Record<KeyPermission, PermissionResult> = {};
  const status: Record<string, Status> = {};
  for (const p of all) {
    const t = tallies[p];
    status[p] = vaultMatches ? statusOf(t) : 'indeterminate';
    permissions[p] = toResult(t);
    if (!vaultMatches) permissions[p].granted = false;
  }
  const missing = required.filter((p) => status[p] === 'missing');
  const indeterminate = required.filter((p) => status[p] === 'indeterminate');
  const missingRecommended = recommended.filter((p) => status[p] !== 'granted');
  for (const p of indeterminate) {
    const r = permissions[p];
    const why = (r.conditionalVia ?? []).map(describePath).join('; ');
    notes.push(`${p} is indeterminate: ${why || 'a deny assignment may apply'} (cannot be judged offline).`);
  }

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
  if (model === 'rbac' && (req.recommendReaderOnVault ?? true) && reader) {
    verdict.readerOnVault = toResult(reader);
    if (statusOf(reader) !== 'granted' || !vaultMatches) missingRecommended.push(READER_ON_VAULT);
  }
  return verdict;
}

export function describePath(p: GrantPath): string {
  if (p.kind === 'accessPolicy')
    return `access policy for object ${p.objectId} (tenant ${p.tenantId}) lists '${p.permission}'`;
  let s = `role assignment ${p.assignmentId} (${p.roleName}) at ${p.scope}`;
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

function definitionIndex(supplied: RoleDefinitionDoc[] | undefined): Map<string, RoleDefinitionDoc> {
  const m = new Map<string, RoleDefinitionDoc>();
  for (const d of builtinRoleDefinitions()) m.set(roleDefinitionGuid(d.name || d.id), d);
  for (const d of supplied ?? []) m.set(roleDefinitionGuid(d.id) || lower(d.name), d);
  return m;
}

function judgeRbac(req: Requirement, docs: ObservedDocuments, perms: string[]) {
  const principal = lower(req.principalId);
  const target = keyScope(req.key.vaultId, req.key.keyName);
  const vaultScope = req.key.vaultId;
  const defs = definitionIndex(docs.roleDefinitions);
  const notes: string[] = [];
  const tallies: Record<string, Tally> = Object.fromEntries(perms.map((p) => [p, emptyTally()]));
  const reader = emptyTally();

  for (const p of perms) {
    if (!dataActionFor(p))
      notes.push(`'${p}' has no known Key Vault data action, so no role can be shown to grant it.`);
  }

  const mine = docs.roleAssignments.filter((a) => lower(a.principalId) === principal);
  const groups = docs.roleAssignments.filter(
    (a) => lower(a.principalId) !== principal && lower(a.principalType) === 'group',
  );
  notes.push(
    groups.length > 0
      ? `Group membership was not checked: ${groups.length} assignment(s) to groups are in the input, and whether the principal is a member is not known offline; assignments to its groups do not appear under a principalId filter.`
      : 'Group membership was not checked: assignments to groups the principal belongs to do not appear under a principalId filter (az role assignment list --assignee without --include-groups).',
  );
  const conditional: RoleAssignmentDoc[] = [];

  for (const a of mine) {
    const mg = isManagementGroupScope(a.scope);
    const coversKey = scopeCovers(a.scope, target);
    const coversVault = scopeCovers(a.scope, vaultScope);
    if (!coversKey && !mg) {
      notes.push(`Role assignment ${a.id} at ${a.scope} does not contain the key ${target}, so it does not apply.`);
      continue;
    }
    const guid = roleDefinitionGuid(a.roleDefinitionId);
    const def = defs.get(guid);
    const path: GrantPath = {
      kind: 'roleAssignment',
      assignmentId: a.id,
      roleDefinitionId: a.roleDefinitionId,
      roleName: def?.roleName ?? a.roleDefinitionName ?? guid,
      scope: a.scope,
    };
    if (a.condition) {
      path.condition = a.condition;
      conditional.push(a);
    }
    if (mg) path.uncertain = 'management-group scope: whether the vault subscription is under it is not known offline';
    if (!def) {
      path.uncertain = `role definition ${guid} was not supplied (pass --definitions with az role definition list output)`;
      notes.push(
        `Role assignment ${a.id} uses role definition ${guid}, which is neither a shipped built-in nor in the definitions given.`,
      );
      for (const p of perms) if (dataActionFor(p)) tallies[p].uncertain.push(path);
      if (coversVault || mg) reader.uncertain.push(path);
      continue;
    }
    const sure = !path.condition && !path.uncertain;
    for (const p of perms) {
      const action = dataActionFor(p);
      if (!action) continue;
      if (def.permissions.some((b) => blockAllowsDataAction(b, action)))
        (sure ? tallies[p].via : tallies[p].uncertain).push(path);
    }
    if ((coversVault || mg) && def.permissions.some((b) => blockAllowsAction(b, VAULT_READ_ACTION))) {
      (sure ? reader.via : reader.uncertain).push(path);
    }
  }
  if (conditional.length > 0) {
    notes.push(
      `ABAC conditions were not evaluated: ${conditional.map((a) => a.id).join(', ')} carr${conditional.length === 1 ? 'ies' : 'y'} a condition, so what they grant counts only as indeterminate.`,
    );
  }

  for (const d of docs.denyAssignments ?? []) {
    const named = d.principals.some((x) => lower(x.id) === principal || lower(x.id) === EVERYONE);
    const excluded = (d.excludePrincipals ?? []).some((x) => lower(x.id) === principal);
    const groupPrincipals = d.principals.filter((x) => lower(x.type) === 'group');
    if (!named || excluded) {
      if (!excluded && groupPrincipals.length > 0) {
        notes.push(`Deny assignment ${d.id} names group(s); whether the principal is a member was not checked.`);
      }
      continue;
    }
    const name = d.denyAssignmentName ? `${d.id} (${d.denyAssignmentName})` : d.id;
    const mg = isManagementGroupScope(d.scope);
    const applies = (at: string) => (d.doNotApplyToChildScopes ? scopeEquals(d.scope, at) : scopeCovers(d.scope, at));
    if (d.doNotApplyToChildScopes && scopeCovers(d.scope, target) && !scopeEquals(d.scope, target)) {
      notes.push(
        `Deny assignment ${name} has doNotApplyToChildScopes at ${d.scope}, so it does not reach the key ${target}.`,
      );
    }
    for (const p of perms) {
      const action = dataActionFor(p);
      if (!action || !d.permissions.some((b) => blockAllowsDataAction(b, action))) continue;
      if (applies(target)) tallies[p].deniedBy.push(name);
      else if (mg && !d.doNotApplyToChildScopes) tallies[p].possiblyDeniedBy.push(name);
    }
    if (d.permissions.some((b) => blockAllowsAction(b, VAULT_READ_ACTION))) {
      if (applies(vaultScope)) reader.deniedBy.push(name);
      else if (mg && !d.doNotApplyToChildScopes) reader.possiblyDeniedBy.push(name);
    }
  }
  if (docs.denyAssignments === undefined) notes.push('Deny assignments were not supplied, so none were checked.');
  return { tallies, notes, reader };
}
