// The emulated Azure tenant: resource groups, vaults, keys, role assignments/definitions, deny
// assignments and the principals who act on them. Plain data in maps keyed by lower-cased resource ID
// (ARM compares IDs case-insensitively); the ARM routes and the control API both change it through
// arm/*.ts so every change yields the same events whichever door it came through.
import { createHash, randomUUID } from 'node:crypto';
import type { AccessPolicyEntry } from '../core/types.js';
import type { Actor } from './contract.js';

/** Object ID (appId is the enterprise app) of the Atlas-managed service principal, per BRIEF. */
export const ATLAS_APP_ID = '9efedfcc-2eca-4b27-a613-0cad1e114cb7';

export interface Principal extends Actor {
  type: 'User' | 'ServicePrincipal' | 'Group';
}

export interface ResourceGroupState {
  id: string;
  name: string;
  location: string;
  tags: Record<string, string>;
}

export interface SystemData {
  createdBy: string;
  createdByType: string;
  createdAt: string;
  lastModifiedBy: string;
  lastModifiedByType: string;
  lastModifiedAt: string;
}

export interface VaultState {
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  systemData: SystemData;
  /** ARM `properties` as stored (tenantId, sku, accessPolicies, enableRbacAuthorization, vaultUri, ...). */
  properties: VaultProperties;
}

export interface VaultProperties {
  tenantId: string;
  sku: { family: string; name: string };
  accessPolicies: AccessPolicyEntry[];
  enableRbacAuthorization?: boolean;
  vaultUri: string;
  provisioningState: string;
  [extra: string]: unknown;
}

export interface KeyVersionState {
  version: string;
  enabled: boolean;
  /** Unix seconds. */
  created: number;
  updated: number;
  nbf?: number;
  exp?: number;
  kty: string;
  keySize?: number;
  curveName?: string;
  keyOps: string[];
}

export interface KeyState {
  vaultId: string;
  name: string;
  tags: Record<string, string>;
  /** Oldest first; the last one is the current version. */
  versions: KeyVersionState[];
}

export interface RoleAssignmentState {
  id: string;
  name: string;
  scope: string;
  roleDefinitionId: string;
  principalId: string;
  principalType: string;
  description?: string | null;
  condition?: string | null;
  conditionVersion?: string | null;
  delegatedManagedIdentityResourceId?: string | null;
  createdOn: string;
  updatedOn: string;
  createdBy: string;
  updatedBy: string;
}

export interface PermissionBlockState {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
  condition?: string;
  conditionVersion?: string;
}

export interface RoleDefinitionState {
  /** The GUID. */
  name: string;
  roleName: string;
  description: string;
  /** `BuiltInRole` | `CustomRole` */
  type: string;
  permissions: PermissionBlockState[];
  assignableScopes: string[];
  createdOn?: string;
  updatedOn?: string;
  createdBy?: string | null;
  updatedBy?: string | null;
}

export interface DenyAssignmentState {
  id: string;
  name: string;
  denyAssignmentName: string;
  description: string;
  scope: string;
  permissions: PermissionBlockState[];
  principals: { id: string; type: string }[];
  excludePrincipals: { id: string; type: string }[];
  doNotApplyToChildScopes: boolean;
  isSystemProtected: boolean;
}

export class SandboxState {
  readonly resourceGroups = new Map<string, ResourceGroupState>();
  readonly vaults = new Map<string, VaultState>();
  /** key: lower-cased `{vaultId}/keys/{name}` */
  readonly keys = new Map<string, KeyState>();
  readonly roleAssignments = new Map<string, RoleAssignmentState>();
  /** Custom roles only (built-ins come from core/builtinRoles.ts); key: lower-cased GUID. */
  readonly customRoles = new Map<string, RoleDefinitionState>();
  readonly denyAssignments = new Map<string, DenyAssignmentState>();
  /** key: lower-cased name */
  readonly principals = new Map<string, Principal>();
  /** Page size for role assignment / definition lists (ARM pages with nextLink). */
  pageSize = 1000;
  /**
   * Names of principals whose ARM writes pass without an RBAC check (arm/rbac.ts), like the Service Administrator
   * and Co-Administrators of a classic subscription. Everyone else (`ear-guard`, `mallory`, any JWT caller) needs
   * a role assignment that grants the action.
   */
  readonly coAdministrators = new Set<string>(['admin', 'alice', 'bob']);
  readonly atlasPrincipal: Principal;

  constructor(
    readonly tenantId: string,
    readonly subscriptionId: string,
    readonly location = 'eastus',
  ) {
    for (const [name, type] of [
      ['admin', 'User'],
      ['ear-guard', 'ServicePrincipal'],
      ['alice', 'User'],
      ['bob', 'User'],
      ['mallory', 'User'],
    ] as const) {
      this.addPrincipal({ name, type });
    }
    this.atlasPrincipal = this.addPrincipal({ name: 'atlas', type: 'ServicePrincipal', appId: ATLAS_APP_ID });
  }

  /** Registers (or returns) a principal; object IDs are derived from the name and tenant unless given. */
  addPrincipal(p: {
    name: string;
    type?: Principal['type'];
    objectId?: string;
    upn?: string;
    appId?: string;
  }): Principal {
    const existing = this.principals.get(p.name.toLowerCase());
    if (existing) return existing;
    const type = p.type ?? 'User';
    const principal: Principal = {
      name: p.name,
      objectId: p.objectId ?? stableGuid(`${this.tenantId}/principal/${p.name.toLowerCase()}`),
      tenantId: this.tenantId,
      type,
      ...(type === 'User' ? { upn: p.upn ?? `${p.name.toLowerCase()}@contoso.example` } : {}),
      ...(p.appId || type === 'ServicePrincipal'
        ? { appId: p.appId ?? stableGuid(`${this.tenantId}/app/${p.name.toLowerCase()}`) }
        : {}),
    };
    this.principals.set(p.name.toLowerCase(), principal);
    return principal;
  }

  /** The principal with this name, registering a User of that name on first use. */
  actor(name: string): Principal {
    return this.principals.get(name.toLowerCase()) ?? this.addPrincipal({ name });
  }

  principalById(objectId: string): Principal | undefined {
    const id = objectId.toLowerCase();
    for (const p of this.principals.values()) if (p.objectId.toLowerCase() === id) return p;
    return undefined;
  }

  subscriptionScope(): string {
    return `/subscriptions/${this.subscriptionId}`;
  }

  resourceGroupId(name: string): string {
    return `/subscriptions/${this.subscriptionId}/resourceGroups/${name}`;
  }

  vaultId(resourceGroup: string, name: string): string {
    return `/subscriptions/${this.subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.KeyVault/vaults/${name}`;
  }

  getResourceGroup(name: string): ResourceGroupState | undefined {
    return this.resourceGroups.get(this.resourceGroupId(name).toLowerCase());
  }

  getVault(resourceGroup: string, name: string): VaultState | undefined {
    return this.vaults.get(this.vaultId(resourceGroup, name).toLowerCase());
  }

  /** Finds a vault by name alone (vault names are globally unique in Azure). */
  findVaultByName(name: string): VaultState | undefined {
    for (const v of this.vaults.values()) if (v.name.toLowerCase() === name.toLowerCase()) return v;
    return undefined;
  }

  getKey(vaultId: string, name: string): KeyState | undefined {
    return this.keys.get(`${vaultId}/keys/${name}`.toLowerCase());
  }
}

/** A GUID derived from text (stable across runs for the same input). */
export function stableGuid(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function newGuid(): string {
  return randomUUID();
}

/** A Key Vault key version identifier: 32 lower-case hex characters. */
export function newKeyVersion(): string {
  return randomUUID().replace(/-/g, '');
}

export const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
