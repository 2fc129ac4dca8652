// The demo seed: one RBAC vault and one access-policy vault, each with a key the Atlas principal can use
// (Key Vault Crypto User + Reader, or an access policy with get/encrypt/decrypt/wrapKey/unwrapKey, as the
// seed document's commands grant), the remediator's least-privilege grants, and (through the Atlas half's
// control API) an Atlas project per vault whose EAR points at the key.
import { ROLE_IDS } from '../core/builtinRoles.js';
import type { AtlasControl } from './atlas.js';
import type { ArmControl } from './control.js';
import { stableGuid } from './state.js';

export interface DemoVault {
  model: 'rbac' | 'accessPolicy';
  vaultName: string;
  resourceGroup: string;
  vaultId: string;
  keyName: string;
  keyIdentifier: string;
  /** The Atlas project whose EAR uses this key (when the Atlas half is present). */
  projectId?: string;
}

export interface DemoSeed {
  vaults: DemoVault[];
  atlasPrincipalId: string;
  /** The remediator's identity in the sandbox (principal `ear-guard`). */
  remediatorPrincipalId: string;
}

/**
 * The ABAC condition infra/app/vault.bicep deploys: the remediator may write (and delete) role assignments only for
 * the required roles and only for the Atlas principal. The sandbox enforces it (arm/rbac.ts).
 */
export function remediatorCondition(atlasPrincipalId: string): string {
  const roles = `${ROLE_IDS.keyVaultCryptoUser}, ${ROLE_IDS.reader}`;
  const part = (action: 'write' | 'delete', source: 'Request' | 'Resource') =>
    `((!(ActionMatches{'Microsoft.Authorization/roleAssignments/${action}'})) OR ` +
    `(@${source}[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${roles}} AND ` +
    `@${source}[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidEquals {${atlasPrincipalId}}))`;
  return `${part('write', 'Request')} AND ${part('delete', 'Resource')}`;
}

/** What seeding needs of a started sandbox (a Sandbox is one; naming it here would import index.ts back). */
export interface SeedTarget {
  control: ArmControl & { atlas: AtlasControl };
  atlasPrincipalId: string;
  tenantId: string;
  subscriptionId: string;
}

/**
 * One watched vault as a customer would have it: a key, the Atlas principal's grants in the vault's model
 * (Key Vault Crypto User + Reader, or an access policy with get/encrypt/decrypt/wrapKey/unwrapKey, as the seed
 * document's commands grant), the remediator's least-privilege rights on it (RBAC Administrator under the ABAC
 * condition, and the narrow access-policy writer), and an Atlas project whose EAR points at the key.
 */
export function seedVaultProject(
  sb: SeedTarget,
  p: { vaultName: string; model: 'rbac' | 'accessPolicy'; resourceGroup?: string; projectName?: string },
): DemoVault {
  const c = sb.control;
  const rg = p.resourceGroup ?? 'rg-ear-demo';
  const atlas = sb.atlasPrincipalId;
  const remediator = c.principals().find((x) => x.name === 'ear-guard')!;
  c.createResourceGroup({ name: rg });
  // The remediator reads everywhere (Reader on the subscription); assignRole is idempotent by name.
  c.assignRole({
    scope: `/subscriptions/${sb.subscriptionId}`,
    role: 'Reader',
    principalId: remediator.objectId,
    principalType: 'ServicePrincipal',
  });
  c.createVault({ vault: p.vaultName, resourceGroup: rg, rbac: p.model === 'rbac' });
  const key = c.createKey({ vault: p.vaultName, key: 'atlas-ear' });
  if (p.model === 'rbac') {
    c.assignRole({
      scope: p.vaultName,
      role: 'Key Vault Crypto User',
      principalId: atlas,
      principalType: 'ServicePrincipal',
    });
    c.assignRole({ scope: p.vaultName, role: 'Reader', principalId: atlas, principalType: 'ServicePrincipal' });
  } else {
    c.setAccessPolicy({
      vault: p.vaultName,
      objectId: atlas,
      keys: ['get', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
    });
  }
  // Both restore rights on every vault, so a vault switched between the models can still be restored.
  c.assignRole({
    scope: p.vaultName,
    role: 'Role Based Access Control Administrator',
    principalId: remediator.objectId,
    principalType: 'ServicePrincipal',
    condition: remediatorCondition(atlas),
    conditionVersion: '2.0',
  });
  // A fixed name: creating it again for the next vault updates the same custom role.
  const writer = c.createCustomRole({
    name: stableGuid(`ear-guard-access-policy-writer:${sb.subscriptionId}`),
    roleName: 'EAR Guard Access Policy Writer',
    description: 'Restores the Atlas principal access policy (accessPolicies/write only).',
    actions: ['Microsoft.KeyVault/vaults/read', 'Microsoft.KeyVault/vaults/accessPolicies/write'],
  });
  c.assignRole({
    scope: p.vaultName,
    role: String(writer.id),
    principalId: remediator.objectId,
    principalType: 'ServicePrincipal',
  });
  const v: DemoVault = {
    model: p.model,
    vaultName: p.vaultName,
    resourceGroup: rg,
    vaultId: String(c.getVault({ vault: p.vaultName }).id),
    keyName: 'atlas-ear',
    keyIdentifier: key.keyIdentifier,
  };
  v.projectId = c.atlas.seedProject({
    name: p.projectName ?? `ear-${p.vaultName}`,
    tenantId: sb.tenantId,
    subscriptionId: sb.subscriptionId,
    resourceGroupName: rg,
    keyVaultName: p.vaultName,
    keyIdentifier: key.keyIdentifier,
    principalId: atlas,
  }).projectId;
  return v;
}

export async function seedDemo(sb: SeedTarget): Promise<DemoSeed> {
  const remediator = sb.control.principals().find((p) => p.name === 'ear-guard')!;
  const vaults = [
    seedVaultProject(sb, { vaultName: 'kv-ear-rbac', model: 'rbac', projectName: 'ear-demo-rbac' }),
    seedVaultProject(sb, { vaultName: 'kv-ear-policy', model: 'accessPolicy', projectName: 'ear-demo-accessPolicy' }),
  ];
  return { vaults, atlasPrincipalId: sb.atlasPrincipalId, remediatorPrincipalId: remediator.objectId };
}
