// Control surface `tenant`: what lives in the emulated directory and around the vault rather than in one ARM
// route: groups and memberships (no event, as in Azure), the management-group hierarchy (root = tenant ID), vault
// network rules (a vault PATCH: one vault write event), Azure Policy assignments (an ARM PUT) and the addresses Atlas
// publishes.
import { addMember, ensureGroup, removeMember, transitiveGroups } from './arm/groups.js';
import { addManagementGroup, placeSubscription, subscriptionAncestors } from './arm/managementGroups.js';
import { ArmError, controlCaller } from './arm/common.js';
import { patchVault, vaultBody } from './arm/keyvault.js';
import { findBuiltinDefinition, putPolicyAssignment } from './arm/policy.js';
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
  /** Assigns a policy (a built-in by name, ID or display name; or a policy set ID) at `scope`, as a PUT would. */
  assignPolicy(p: AssignPolicyInput): Record<string, unknown>;
}

export interface AssignPolicyInput {
  definition: string;
  scope: string;
  /** Assignment name (default: derived from the definition). */
  name?: string;
  /** Sets the definition's effect parameter (a built-in only). */
  effect?: string;
  enforcementMode?: 'Default' | 'DoNotEnforce';
  as?: string;
}

function assignPolicyBody(p: AssignPolicyInput): { name: string; body: Record<string, unknown> } {
  if (typeof p?.definition !== 'string' || typeof p.scope !== 'string') {
    throw new ArmError(
      400,
      'BadRequest',
      "'definition' (a built-in name, ID or display name, or a set ID) and 'scope' are required.",
    );
  }
  const builtin = findBuiltinDefinition(p.definition);
  const isSet = /\/policySetDefinitions\/[^/]+$/i.test(p.definition);
  if (!builtin && !isSet) {
    throw new ArmError(404, 'PolicyDefinitionNotFound', `The policy definition '${p.definition}' could not be found.`);
  }
  if (p.effect && !builtin) throw new ArmError(400, 'BadRequest', "'effect' applies to a built-in definition only.");
  const id = builtin ? builtin.id : p.definition;
  const parameters = p.effect && builtin ? { [builtin.effectParameter]: { value: p.effect } } : {};
  const name = p.name ?? `ear-${id.split('/').pop()!.slice(0, 20)}`;
  const properties = {
    displayName: builtin?.displayName ?? name,
    policyDefinitionId: id,
    parameters,
    enforcementMode: p.enforcementMode ?? 'Default',
  };
  return { name, body: { properties } };
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
    assignPolicy: (p) => {
      const { name, body } = assignPolicyBody(p);
      const caller = controlCaller(state.actor(p.as ?? 'admin'), `assignPolicy ${name}`);
      return putPolicyAssignment(ctx, state, caller, p.scope, name, body);
    },
  };
}
