// The demo seed: one RBAC vault and one access-policy vault, each with a key the Atlas principal can use
// (Key Vault Crypto User + Reader, or an access policy with get/encrypt/decrypt/wrapKey/unwrapKey, as the
// seed document's commands grant), the remediator's least-privilege grants, and (through the Atlas half's
// control API) an Atlas project per vault whose EAR points at the key.
import { ROLE_IDS } from '../core/builtinRoles.js';
import type { Sandbox } from './index.js';

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

/** The ABAC condition from the brief: the remediator may write only the required roles, only for the Atlas principal. */
export function remediatorCondition(atlasPrincipalId: string): string {
  return (
    "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR " +
    `(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${ROLE_IDS.keyVaultCryptoUser}, ${ROLE_IDS.reader}} AND ` +
    `@Request[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidEquals {${atlasPrincipalId}}))`
  );
}

export async function seedDemo(sb: Sandbox): Promise<DemoSeed> {
  const c = sb.control;
  const rg = 'rg-ear-demo';
  const atlas = sb.atlasPrincipalId;
  const remediator = c.principals().find((p) => p.name === 'ear-guard')!;
  c.createResourceGroup({ name: rg });
  // The remediator reads everywhere (Reader on the subscription).
  c.assignRole({
    scope: `/subscriptions/${sb.subscriptionId}`,
    role: 'Reader',
    principalId: remediator.objectId,
    principalType: 'ServicePrincipal',
  });

  // RBAC vault: Atlas holds Key Vault Crypto User and Reader on the vault.
  c.createVault({ vault: 'kv-ear-rbac', resourceGroup: rg, rbac: true });
  const k1 = c.createKey({ vault: 'kv-ear-rbac', key: 'atlas-ear' });
  c.assignRole({
    scope: 'kv-ear-rbac',
    role: 'Key Vault Crypto User',
    principalId: atlas,
    principalType: 'ServicePrincipal',
  });
  c.assignRole({ scope: 'kv-ear-rbac', role: 'Reader', principalId: atlas, principalType: 'ServicePrincipal' });
  c.assignRole({
    scope: 'kv-ear-rbac',
    role: 'Role Based Access Control Administrator',
    principalId: remediator.objectId,
    principalType: 'ServicePrincipal',
    condition: remediatorCondition(atlas),
    conditionVersion: '2.0',
  });

  // Access-policy vault: Atlas holds get/encrypt/decrypt/wrapKey/unwrapKey through an access policy.
  c.createVault({ vault: 'kv-ear-policy', resourceGroup: rg, rbac: false });
  const k2 = c.createKey({ vault: 'kv-ear-policy', key: 'atlas-ear' });
  c.setAccessPolicy({
    vault: 'kv-ear-policy',
    objectId: atlas,
    keys: ['get', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
  });
  const writer = c.createCustomRole({
    roleName: 'EAR Guard Access Policy Writer',
    description: 'Restores the Atlas principal access policy (accessPolicies/write only).',
    actions: ['Microsoft.KeyVault/vaults/read', 'Microsoft.KeyVault/vaults/accessPolicies/write'],
  });
  c.assignRole({
    scope: 'kv-ear-policy',
    role: String(writer.id),
    principalId: remediator.objectId,
    principalType: 'ServicePrincipal',
  });

  const vaults: DemoVault[] = [
    {
      model: 'rbac',
      vaultName: 'kv-ear-rbac',
      resourceGroup: rg,
      vaultId: String(c.getVault({ vault: 'kv-ear-rbac' }).id),
      keyName: 'atlas-ear',
      keyIdentifier: k1.keyIdentifier,
    },
    {
      model: 'accessPolicy',
      vaultName: 'kv-ear-policy',
      resourceGroup: rg,
      vaultId: String(c.getVault({ vault: 'kv-ear-policy' }).id),
      keyName: 'atlas-ear',
      keyIdentifier: k2.keyIdentifier,
    },
  ];

  // One Atlas project per vault, EAR pointing at its key through the registered Atlas principal.
  for (const v of vaults) {
    v.projectId = c.atlas.seedProject({
      name: `ear-demo-${v.model}`,
      tenantId: sb.tenantId,
      subscriptionId: sb.subscriptionId,
      resourceGroupName: v.resourceGroup,
      keyVaultName: v.vaultName,
      keyIdentifier: v.keyIdentifier,
      principalId: atlas,
    }).projectId;
  }
  return { vaults, atlasPrincipalId: atlas, remediatorPrincipalId: remediator.objectId };
}
