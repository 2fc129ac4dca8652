// Domain types shared by the evaluator, the adapters and the reconcile loop.
// Documents here are *normalized*: the parsers in core/documents.ts turn ARM REST and Azure CLI
// shapes into these, so the evaluator never sees `properties`-nesting or CLI flattening.
import type { VaultNetwork } from './network.js';

/** A Key Vault key permission name as access policies spell it (compared case-insensitively). */
export type KeyPermission = string;

/** Where the EAR key lives: the vault's ARM resource ID and the key's name. */
export interface KeyRef {
  /** `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{v}` */
  vaultId: string;
  keyName: string;
}

/** What must hold for one Atlas project: the principal keeps these permissions on this key. */
export interface Requirement {
  /** Object ID of the Atlas service principal in the customer's tenant. */
  principalId: string;
  key: KeyRef;
  /** Default: get, encrypt, decrypt. */
  required?: KeyPermission[];
  /** Default: wrapKey, unwrapKey. */
  recommended?: KeyPermission[];
  /** Control-plane reader on the vault is recommended (Atlas reads vault metadata). Default true. */
  recommendReaderOnVault?: boolean;
}

export interface AccessPolicyEntry {
  tenantId: string;
  objectId: string;
  applicationId?: string | null;
  permissions: { keys?: string[]; secrets?: string[]; certificates?: string[]; storage?: string[] };
}

export interface VaultDoc {
  id: string;
  name: string;
  tenantId: string;
  /** true: Azure RBAC decides; false/undefined: access policies decide. */
  enableRbacAuthorization?: boolean;
  accessPolicies: AccessPolicyEntry[];
  /** Network rules (live path only: read from Vaults_Get); absent = not read. */
  network?: VaultNetwork;
}

export interface RoleAssignmentDoc {
  id: string;
  name?: string;
  scope: string;
  roleDefinitionId: string;
  principalId: string;
  principalType?: string;
  condition?: string | null;
  conditionVersion?: string | null;
  /** The role's display name, when the source printed it (Azure CLI output does). */
  roleDefinitionName?: string;
}

export interface PermissionBlock {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
  /** Deny assignments only: a condition on this block (DenyAssignmentPermission.condition, 2022-04-01). */
  condition?: string;
}

export interface RoleDefinitionDoc {
  id: string;
  /** The role definition GUID. */
  name: string;
  roleName: string;
  type?: string;
  permissions: PermissionBlock[];
  assignableScopes?: string[];
}

export interface DenyAssignmentDoc {
  id: string;
  name?: string;
  denyAssignmentName?: string;
  scope: string;
  permissions: PermissionBlock[];
  principals: { id: string; type?: string }[];
  excludePrincipals?: { id: string; type?: string }[];
  doNotApplyToChildScopes?: boolean;
  /** ABAC condition on the whole deny assignment (stable since 2022-04-01): cannot be judged offline. */
  condition?: string;
  conditionVersion?: string;
  /** `denyAssignmentEffect`: `enforced` (default) blocks; `audit` only logs and blocks nothing. */
  effect?: string;
}

/**
 * The principal's group memberships (Microsoft Graph `transitiveMemberOf`, groups only). Absent from
 * ObservedDocuments: membership unknown, so grants and denies aimed at groups are indeterminate.
 */
export interface GroupMemberships {
  /** Object IDs of the groups the principal is a direct or nested member of. */
  groupIds: string[];
  /** false when the list was one page of several (`@odata.nextLink`): a group not listed may still be one. */
  complete: boolean;
  /** Where the list came from (a file name), for the notes. */
  source?: string;
}

/** What is known about the management groups above the vault's subscription. */
export interface ScopeAncestry {
  /**
   * Management group IDs known to contain the vault's subscription (e.g. from the management-group hierarchy).
   * The tenant root group (ID = the vault's tenant ID) always does and need not be listed.
   */
  managementGroupIds?: string[];
  /**
   * The role and deny assignments were listed by ARM for the key's scope (listForScope returns those at and above
   * it), so every management-group scope among them is an ancestor by construction.
   */
  listedByArmForKeyScope?: boolean;
}

/** Lists known to be one page of several (`nextLink`): each value names the source, for the notes. */
export interface IncompleteLists {
  roleAssignments?: string;
  denyAssignments?: string;
}

/** Everything the evaluator judges from. Fetched by adapters, or read from files by `explain`. */
export interface ObservedDocuments {
  vault: VaultDoc;
  roleAssignments: RoleAssignmentDoc[];
  /** Custom roles; built-ins resolve from the shipped data when absent. */
  roleDefinitions?: RoleDefinitionDoc[];
  denyAssignments?: DenyAssignmentDoc[];
  /** The principal's groups; absent = unknown. */
  principalGroups?: GroupMemberships;
  /** Management-group ancestry of the vault; absent = only the tenant root group is placed. */
  ancestry?: ScopeAncestry;
  /** Lists that are known to be truncated. */
  incomplete?: IncompleteLists;
}

/** One way a permission is granted (or would be, for a conditional assignment). */
export type GrantPath =
  | {
      kind: 'roleAssignment';
      assignmentId: string;
      roleDefinitionId: string;
      roleName: string;
      scope: string;
      /** Set when the assignment carries an ABAC condition that cannot be judged offline. */
      condition?: string;
      /**
       * Set when this path might grant but cannot be judged from the documents (e.g. the role definition
       * was not supplied, or the scope is a management group whose hierarchy is unknown offline).
       */
      uncertain?: string;
      /** Set when the assignment is to a group (object ID) the principal is, or may be, a member of. */
      group?: string;
    }
  | { kind: 'accessPolicy'; objectId: string; tenantId: string; permission: string };

export interface PermissionResult {
  granted: boolean;
  /** Unconditional grant paths. */
  via: GrantPath[];
  /** Grants that depend on an ABAC condition (cannot be judged offline). */
  conditionalVia?: GrantPath[];
  /** Deny assignments that removed this permission. */
  deniedBy?: string[];
  /**
   * Deny assignments that may remove it but cannot be judged (a condition, a group whose membership is unknown, a
   * management group not placed), and lists too short to rule a deny out.
   */
  possiblyDeniedBy?: string[];
  /** Why a permission nothing grants still cannot be called missing (e.g. a truncated assignment list). */
  unknown?: string[];
}

export type VerdictKind = 'granted' | 'missing' | 'indeterminate';
export type PermissionModel = 'rbac' | 'accessPolicy';

export interface Verdict {
  verdict: VerdictKind;
  model: PermissionModel;
  principalId: string;
  key: KeyRef;
  /** Required permissions not granted (includes the indeterminate ones only when nothing grants them). */
  missing: KeyPermission[];
  /** Required permissions granted only through conditional assignments. */
  indeterminate: KeyPermission[];
  missingRecommended: string[];
  permissions: Record<KeyPermission, PermissionResult>;
  notes: string[];
  /**
   * Access-policy model only: the key permissions of the principal's own entry (same tenant, no
   * applicationId) as they stand, so a fix can pass the union (`az keyvault set-policy` replaces the list).
   */
  accessPolicyKeyPermissions?: string[];
  /** The required and recommended key permissions that were judged (defaults applied, canonical spelling). */
  requiredPermissions?: KeyPermission[];
  recommendedPermissions?: KeyPermission[];
  /** RBAC model with recommendReaderOnVault: how control-plane read on the vault (`Microsoft.KeyVault/vaults/read`) stands. */
  readerOnVault?: PermissionResult;
}
