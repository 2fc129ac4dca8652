// Control surface `tenant`: what lives in the emulated directory and around the vault rather than in one ARM
// route: groups and memberships (no event, as in Azure), the management-group hierarchy (root = tenant ID), vault
// network rules (a vault PATCH: one vault write event) and the addresses Atlas publishes.
import { addMember, ensureGroup, removeMember, transitiveGroups } from './arm/groups.js';
import { addManagementGroup, placeSubscription, subscriptionAncestors } from './arm/managementGroups.js';
import { ArmError, controlCaller } from './arm/common.js';
import { patchVault, vaultBody } from './arm/keyvault.js';
import { makeTimeBound } from './arm/schedules.js';
import { atlasAddressesFor } from './atlas/addresses.js';
import type { SandboxContext } from './contract.js';
import type { Principal, SandboxState } from './state.js';

export interface VaultNetworkInput {
  vault: string;
  as?: string;
  publicNetworkAccess?: 'Enabled' | 'Disabled';
  defaultAction?: 'Allow' | 'Deny';
  bypass?: 'AzureServices' | 'None';
  ipRules?: string[];
  /** Private endpoint connections by state (`Approved`, `Pending`, ...). */
  privateEndpoints?: string[];
}

export interface TenantControl {
  /** The group (created if absent) that `principalId` (default: the Atlas principal) joins. No ARM event. */
  addToGroup(p: { group: string; principalId?: string }): Principal;
  removeFromGroup(p: { group: string; principalId?: string }): boolean;
  ensureGroup(p: { group: string }): Principal;
  /** Group object IDs the principal (default Atlas) is a transitive member of. */
  groupsOf(p?: { principalId?: string }): string[];
  addManagementGroup(p: { id: string; parent?: string }): string;
  placeSubscription(p: { group: string }): void;
  /** Management groups above the subscription, nearest first, ending with the tenant root group. */
  managementGroups(): string[];
  setVaultNetwork(p: VaultNetworkInput): Record<string, unknown>;
  atlasAddresses(p?: { projectId?: string }): { controlPlane: string[]; project: string[] };
  /** Makes an existing role assignment time-bound (a PIM schedule instance ending at `end`, ISO). */
  makeTimeBound(p: { assignmentId: string; end: string }): void;
}

function networkProperties(p: VaultNetworkInput, current: Record<string, unknown>): Record<string, unknown> {
  const acls = (current.networkAcls ?? {}) as Record<string, unknown>;
  const props: Record<string, unknown> = {};
  if (p.publicNetworkAccess) props.publicNetworkAccess = p.publicNetworkAccess;
  if (p.defaultAction || p.bypass || p.ipRules) {
    props.networkAcls = {
      bypass: p.bypass ?? acls.bypass ?? 'AzureServices',
      defaultAction: p.defaultAction ?? acls.defaultAction ?? 'Allow',
      ipRules: p.ipRules ? p.ipRules.map((value) => ({ value })) : (acls.ipRules ?? []),
      virtualNetworkRules: acls.virtualNetworkRules ?? [],
    };
  }
  if (p.privateEndpoints) {
    props.privateEndpointConnections = p.privateEndpoints.map((status, i) => ({
      id: `/privateEndpointConnections/atlas-pe-${i}`,
      properties: {
        privateEndpoint: {
          id: `/subscriptions/atlas/resourceGroups/atlas/providers/Microsoft.Network/privateEndpoints/pe-${i}`,
        },
        privateLinkServiceConnectionState: { status, description: '', actionsRequired: 'None' },
        provisioningState: 'Succeeded',
      },
    }));
  }
  return props;
}

export function createTenantControl(ctx: SandboxContext, state: SandboxState): TenantControl {
  const who = (id?: string) => id ?? state.atlasPrincipal.objectId;
  return {
    addToGroup: (p) => ({ ...addMember(state, p.group, who(p.principalId)) }),
    removeFromGroup: (p) => removeMember(state, p.group, who(p.principalId)),
    ensureGroup: (p) => ({ ...ensureGroup(state, p.group) }),
    groupsOf: (p = {}) => [...transitiveGroups(state, who(p.principalId))],
    addManagementGroup: (p) => addManagementGroup(state, p.id, p.parent),
    placeSubscription: (p) => placeSubscription(state, p.group),
    managementGroups: () => subscriptionAncestors(state),
    setVaultNetwork: (p) => {
      const vault = state.findVaultByName(p.vault);
      if (!vault) throw new ArmError(404, 'ResourceNotFound', `The vault '${p.vault}' was not found.`);
      const caller = controlCaller(state.actor(p.as ?? 'admin'), `setVaultNetwork ${p.vault}`, 'PATCH');
      const properties = networkProperties(p, vault.properties);
      return vaultBody(patchVault(ctx, state, caller, vault.resourceGroup, vault.name, { properties }));
    },
    atlasAddresses: (p = {}) => atlasAddressesFor(p.projectId),
    makeTimeBound: (p) => makeTimeBound(state, p.assignmentId, p.end),
  };
}
