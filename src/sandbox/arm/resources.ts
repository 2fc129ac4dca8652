// Microsoft.Resources: the subscription and its resource groups, plus the existence checks the other
// providers make (a vault PUT into a missing resource group is 404 ResourceGroupNotFound, as in Azure).
import type { SandboxContext } from '../contract.js';
import type { ResourceGroupState, SandboxState } from '../state.js';
import { ArmError, type Caller, notifyChange } from './common.js';

export function requireSubscription(state: SandboxState, subscriptionId: string): void {
  if (subscriptionId.toLowerCase() !== state.subscriptionId.toLowerCase()) {
    throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${subscriptionId}' could not be found.`);
  }
}

export function requireResourceGroup(state: SandboxState, name: string): ResourceGroupState {
  const rg = state.getResourceGroup(name);
  if (!rg) throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${name}' could not be found.`);
  return rg;
}

export function resourceGroupBody(rg: ResourceGroupState): Record<string, unknown> {
  return {
    id: rg.id,
    name: rg.name,
    type: 'Microsoft.Resources/resourceGroups',
    location: rg.location,
    tags: rg.tags,
    properties: { provisioningState: 'Succeeded' },
  };
}

/** PUT resource group: 201 when created, 200 when updated (ResourceGroups_CreateOrUpdate). */
export function putResourceGroup(
  ctx: SandboxContext,
  state: SandboxState,
  caller: Caller,
  name: string,
  input: { location?: string; tags?: Record<string, string> },
): { status: 200 | 201; rg: ResourceGroupState } {
  if (!/^[-\w._()]{1,90}$/.test(name) || name.endsWith('.')) {
    throw new ArmError(
      400,
      'InvalidResourceGroup',
      `The provided resource group name '${name}' has these invalid characters or is too long.`,
    );
  }
  if (!input.location) {
    throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
  }
  const existing = state.getResourceGroup(name);
  if (existing) {
    existing.tags = input.tags ?? existing.tags;
    notifyChange(ctx, caller, 'write', 'Microsoft.Resources/subscriptions/resourceGroups/write', existing.id);
    return { status: 200, rg: existing };
  }
  const rg: ResourceGroupState = {
    id: state.resourceGroupId(name),
    name,
    location: input.location,
    tags: input.tags ?? {},
  };
  state.resourceGroups.set(rg.id.toLowerCase(), rg);
  notifyChange(ctx, caller, 'write', 'Microsoft.Resources/subscriptions/resourceGroups/write', rg.id);
  return { status: 201, rg };
}

/**
 * Does the scope name something that exists? ARM answers 404 for an assignment at a missing resource group
 * or a missing vault; other provider types are accepted (the sandbox only models Key Vault).
 */
export function requireScopeExists(state: SandboxState, scope: string): void {
  const segs = scope.split('/').filter(Boolean);
  if (segs.length === 0) return;
  if (segs[0].toLowerCase() === 'providers') return; // tenant / management group scopes
  if (segs[0].toLowerCase() !== 'subscriptions' || segs.length < 2) {
    throw new ArmError(400, 'InvalidScope', `The scope '${scope}' is not valid.`);
  }
  requireSubscription(state, segs[1]);
  if (segs.length === 2) return;
  if (segs[2].toLowerCase() !== 'resourcegroups' || segs.length < 4) {
    throw new ArmError(400, 'InvalidScope', `The scope '${scope}' is not valid.`);
  }
  requireResourceGroup(state, segs[3]);
  if (segs.length >= 8 && segs[5].toLowerCase() === 'microsoft.keyvault' && segs[6].toLowerCase() === 'vaults') {
    if (!state.getVault(segs[3], segs[7])) {
      throw new ArmError(
        404,
        'ResourceNotFound',
        `The Resource 'Microsoft.KeyVault/vaults/${segs[7]}' under resource group '${segs[3]}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
      );
    }
  }
}
