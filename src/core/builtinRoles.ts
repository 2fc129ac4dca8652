// Azure built-in role definitions the evaluator needs, shipped as data so built-ins resolve without a
// definitions file. Each object is the published JSON exactly as it appears under the role's heading in
// MicrosoftDocs/azure-docs (articles/role-based-access-control/built-in-roles/*.md); the source page and
// commit are named above each one. test/unit/core/builtinRoles.test.ts checks them against the copies in
// test/fixtures/. Do not edit by hand: re-copy from the docs page if Azure changes a role.
import type { RoleDefinitionDoc } from './types.js';

/** A built-in role exactly as Azure's docs publish it (flattened: no `properties` nesting). */
export interface RawBuiltinRole {
  assignableScopes: string[];
  description: string;
  id: string;
  name: string;
  permissions: {
    actions: string[];
    notActions: string[];
    dataActions: string[];
    notDataActions: string[];
    condition?: string;
    conditionVersion?: string;
  }[];
  roleName: string;
  roleType: string;
  type: string;
}

export const BUILTIN_ROLES: RawBuiltinRole[] = [
  // Key Vault Crypto User: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/security.md @ 03e5750af10b23b5ba437d5b333ec5e9437844f9
  // (the ```json block under "## Key Vault Crypto User"; test/fixtures/builtin-role-key-vault-crypto-user.json holds the same block)
  {
    assignableScopes: ['/'],
    description:
      "Perform cryptographic operations using keys. Only works for key vaults that use the 'Azure role-based access control' permission model.",
    id: '/providers/Microsoft.Authorization/roleDefinitions/12338af0-0e69-4776-bea7-57ae8d297424',
    name: '12338af0-0e69-4776-bea7-57ae8d297424',
    permissions: [
      {
        actions: [],
        notActions: [],
        dataActions: [
          'Microsoft.KeyVault/vaults/keys/read',
          'Microsoft.KeyVault/vaults/keys/update/action',
          'Microsoft.KeyVault/vaults/keys/backup/action',
          'Microsoft.KeyVault/vaults/keys/encrypt/action',
          'Microsoft.KeyVault/vaults/keys/decrypt/action',
          'Microsoft.KeyVault/vaults/keys/wrap/action',
          'Microsoft.KeyVault/vaults/keys/unwrap/action',
          'Microsoft.KeyVault/vaults/keys/sign/action',
          'Microsoft.KeyVault/vaults/keys/verify/action',
        ],
        notDataActions: [],
      },
    ],
    roleName: 'Key Vault Crypto User',
    roleType: 'BuiltInRole',
    type: 'Microsoft.Authorization/roleDefinitions',
  },
  // Key Vault Crypto Service Encryption User: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/security.md @ 03e5750af10b23b5ba437d5b333ec5e9437844f9
  // (the ```json block under "## Key Vault Crypto Service Encryption User"; test/fixtures/builtin-role-key-vault-crypto-service-encryption-user.json holds the same block)
  {
    assignableScopes: ['/'],
    description:
      "Read metadata of keys and perform wrap/unwrap operations. Only works for key vaults that use the 'Azure role-based access control' permission model.",
    id: '/providers/Microsoft.Authorization/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6',
    name: 'e147488a-f6f5-4113-8e2d-b22465e65bf6',
    permissions: [
      {
        actions: [
          'Microsoft.EventGrid/eventSubscriptions/write',
          'Microsoft.EventGrid/eventSubscriptions/read',
          'Microsoft.EventGrid/eventSubscriptions/delete',
        ],
        notActions: [],
        dataActions: [
          'Microsoft.KeyVault/vaults/keys/read',
          'Microsoft.KeyVault/vaults/keys/wrap/action',
          'Microsoft.KeyVault/vaults/keys/unwrap/action',
        ],
        notDataActions: [],
      },
    ],
    roleName: 'Key Vault Crypto Service Encryption User',
    roleType: 'BuiltInRole',
    type: 'Microsoft.Authorization/roleDefinitions',
  },
  // Key Vault Crypto Officer: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/security.md @ 03e5750af10b23b5ba437d5b333ec5e9437844f9
  // (the ```json block under "## Key Vault Crypto Officer"; test/fixtures/builtin-role-key-vault-crypto-officer.json holds the same block)
  {
    assignableScopes: ['/'],
    description:
      "Perform any action on the keys of a key vault, except manage permissions. Only works for key vaults that use the 'Azure role-based access control' permission model.",
    id: '/providers/Microsoft.Authorization/roleDefinitions/14b46e9e-c2b7-41b4-b07b-48a6ebf60603',
    name: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603',
    permissions: [
      {
        actions: [
          'Microsoft.Authorization/*/read',
          'Microsoft.Insights/alertRules/*',
          'Microsoft.Resources/deployments/*',
          'Microsoft.Resources/subscriptions/resourceGroups/read',
          'Microsoft.Support/*',
          'Microsoft.KeyVault/checkNameAvailability/read',
          'Microsoft.KeyVault/deletedVaults/read',
          'Microsoft.KeyVault/locations/*/read',
          'Microsoft.KeyVault/vaults/*/read',
          'Microsoft.KeyVault/operations/read',
        ],
        notActions: [],
        dataActions: ['Microsoft.KeyVault/vaults/keys/*', 'Microsoft.KeyVault/vaults/keyrotationpolicies/*'],
        notDataActions: [],
      },
    ],
    roleName: 'Key Vault Crypto Officer',
    roleType: 'BuiltInRole',
    type: 'Microsoft.Authorization/roleDefinitions',
  },
  // Key Vault Administrator: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/security.md @ 03e5750af10b23b5ba437d5b333ec5e9437844f9
  // (the ```json block under "## Key Vault Administrator"; test/fixtures/builtin-role-key-vault-administrator.json holds the same block)
  {
    assignableScopes: ['/'],
    description:
      "Perform all data plane operations on a key vault and all objects in it, including certificates, keys, and secrets. Cannot manage key vault resources or manage role assignments. Only works for key vaults that use the 'Azure role-based access control' permission model.",
    id: '/providers/Microsoft.Authorization/roleDefinitions/00482a5a-887f-4fb3-b363-3b7fe8e74483',
    name: '00482a5a-887f-4fb3-b363-3b7fe8e74483',
    permissions: [
      {
        actions: [
          'Microsoft.Authorization/*/read',
          'Microsoft.Insights/alertRules/*',
          'Microsoft.Resources/deployments/*',
          'Microsoft.Resources/subscriptions/resourceGroups/read',
          'Microsoft.Support/*',
          'Microsoft.KeyVault/checkNameAvailability/read',
          'Microsoft.KeyVault/deletedVaults/read',
          'Microsoft.KeyVault/locations/*/read',
          'Microsoft.KeyVault/vaults/*/read',
          'Microsoft.KeyVault/operations/read',
        ],
        notActions: [],
        dataActions: ['Microsoft.KeyVault/vaults/*'],
        notDataActions: [],
      },
    ],
    roleName: 'Key Vault Administrator',
    roleType: 'BuiltInRole',
    type: 'Microsoft.Authorization/roleDefinitions',
  },
  // Key Vault Reader: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/security.md @ 03e5750af10b23b5ba437d5b333ec5e9437844f9
  // (the ```json block under "## Key Vault Reader"; test/fixtures/builtin-role-key-vault-reader.json holds the same block)
  {
    assignableScopes: ['/'],
    description:
      "Read metadata of key vaults and its certificates, keys, and secrets. Cannot read sensitive values such as secret contents or key material. Only works for key vaults that use the 'Azure role-based access control' permission model.",
    id: '/providers/Microsoft.Authorization/roleDefinitions/21090545-7ca7-4776-b22c-e363652d74d2',
    name: '21090545-7ca7-4776-b22c-e363652d74d2',
    permissions: [
      {
        actions: [
          'Microsoft.Authorization/*/read',
          'Microsoft.Insights/alertRules/*',
          'Microsoft.Resources/deployments/*',
          'Microsoft.Resources/subscriptions/resourceGroups/read',
          'Microsoft.Support/*',
          'Microsoft.KeyVault/checkNameAvailability/read',
          'Microsoft.KeyVault/deletedVaults/read',
          'Microsoft.KeyVault/locations/*/read',
          'Microsoft.KeyVault/vaults/*/read',
          'Microsoft.KeyVault/operations/read',
        ],
        notActions: [],
        dataActions: ['Microsoft.KeyVault/vaults/*/read', 'Microsoft.KeyVault/vaults/secrets/readMetadata/action'],
        notDataActions: [],
      },
    ],
    roleName: 'Key Vault Reader',
    roleType: 'BuiltInRole',
    type: 'Microsoft.Authorization/roleDefinitions',
  },
  // Key Vault Contributor: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/security.md @ 03e5750af10b23b5ba437d5b333ec5e9437844f9
  // (the ```json block under "## Key Vault Contributor"; test/fixtures/builtin-role-key-vault-contributor.json holds the same block)
  {
    assignableScopes: ['/'],
    description: 'Lets you manage key vaults, but not access to them.',
    id: '/providers/Microsoft.Authorization/roleDefinitions/f25e0fa2-a7c8-4377-a976-54943a77a395',
    name: 'f25e0fa2-a7c8-4377-a976-54943a77a395',
    permissions: [
      {
        actions: [
          'Microsoft.Authorization/*/read',
          'Microsoft.Insights/alertRules/*',
          'Microsoft.KeyVault/*',
          'Microsoft.Resources/deployments/*',
          'Microsoft.Resources/subscriptions/resourceGroups/read',
          'Microsoft.Support/*',
        ],
        notActions: [
          'Microsoft.KeyVault/locations/deletedVaults/purge/action',
          'Microsoft.KeyVault/hsmPools/*',
          'Microsoft.KeyVault/managedHsms/*',
        ],
        dataActions: [],
        notDataActions: [],
      },
    ],
    roleName: 'Key Vault Contributor',
    roleType: 'BuiltInRole',
    type: 'Microsoft.Authorization/roleDefinitions',
  },
  // Key Vault Data Access Administrator: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/security.md @ 03e5750af10b23b5ba437d5b333ec5e9437844f9
  // (the ```json block under "## Key Vault Data Access Administrator"; test/fixtures/builtin-role-key-vault-data-access-administrator.json holds the same block)
  {
    assignableScopes: ['/'],
    description:
      'Manage access to Azure Key Vault by adding or removing role assignments for the Key Vault Administrator, Key Vault Certificates Officer, Key Vault Crypto Officer, Key Vault Crypto Service Encryption User, Key Vault Crypto User, Key Vault Reader, Key Vault Secrets Officer, or Key Vault Secrets User roles. Includes an ABAC condition to constrain role assignments.',
    id: '/providers/Microsoft.Authorization/roleDefinitions/8b54135c-b56d-4d72-a534-26097cfdc8d8',
    name: '8b54135c-b56d-4d72-a534-26097cfdc8d8',
    permissions: [
      {
        actions: [
          'Microsoft.Authorization/roleAssignments/write',
          'Microsoft.Authorization/roleAssignments/delete',
          'Microsoft.Authorization/*/read',
          'Microsoft.Resources/deployments/*',
          'Microsoft.Resources/subscriptions/resourceGroups/read',
          'Microsoft.Resources/subscriptions/read',
          'Microsoft.Management/managementGroups/read',
          'Microsoft.Resources/deployments/*',
          'Microsoft.Support/*',
          'Microsoft.KeyVault/vaults/*/read',
        ],
        notActions: [],
        dataActions: [],
        notDataActions: [],
        conditionVersion: '2.0',
        condition:
          "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals{00482a5a-887f-4fb3-b363-3b7fe8e74483, a4417e6f-fecd-4de8-b567-7b0420556985, 14b46e9e-c2b7-41b4-b07b-48a6ebf60603, e147488a-f6f5-4113-8e2d-b22465e65bf6, 12338af0-0e69-4776-bea7-57ae8d297424, 21090545-7ca7-4776-b22c-e363652d74d2, b86a8fe4-44ce-4948-aee5-eccb2c155cd7, 4633458b-17de-408a-b874-0445c86b69e6})) AND ((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals{00482a5a-887f-4fb3-b363-3b7fe8e74483, a4417e6f-fecd-4de8-b567-7b0420556985, 14b46e9e-c2b7-41b4-b07b-48a6ebf60603, e147488a-f6f5-4113-8e2d-b22465e65bf6, 12338af0-0e69-4776-bea7-57ae8d297424, 21090545-7ca7-4776-b22c-e363652d74d2, b86a8fe4-44ce-4948-aee5-eccb2c155cd7, 4633458b-17de-408a-b874-0445c86b69e6}))",
      },
    ],
    roleName: 'Key Vault Data Access Administrator',
    roleType: 'BuiltInRole',
    type: 'Microsoft.Authorization/roleDefinitions',
  },
  // Reader: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/general.md @ 03e5750af10b23b5ba437d5b333ec5e9437844f9
  // (the ```json block under "## Reader"; test/fixtures/builtin-role-reader.json holds the same block)
  {
    assignableScopes: ['/'],
    description: 'View all resources, but does not allow you to make any changes.',
    id: '/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7',
    name: 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
    permissions: [
      {
        actions: ['*/read'],
        notActions: [],
        dataActions: [],
        notDataActions: [],
      },
    ],
    roleName: 'Reader',
    roleType: 'BuiltInRole',
    type: 'Microsoft.Authorization/roleDefinitions',
  },
  // Owner: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/privileged.md @ 0b8729eaf7eb0aabc6390cb17348d19761285f12
  // (the ```json block under "## Owner"; test/fixtures/builtin-role-owner.json holds the same block)
  {
    assignableScopes: ['/'],
    description: 'Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.',
    id: '/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
    name: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
    permissions: [
      {
        actions: ['*'],
        notActions: [],
        dataActions: [],
        notDataActions: [],
      },
    ],
    roleName: 'Owner',
    roleType: 'BuiltInRole',
    type: 'Microsoft.Authorization/roleDefinitions',
  },
  // Contributor: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/privileged.md @ 0b8729eaf7eb0aabc6390cb17348d19761285f12
  // (the ```json block under "## Contributor"; test/fixtures/builtin-role-contributor.json holds the same block)
  {
    assignableScopes: ['/'],
    description:
      'Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.',
    id: '/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c',
    name: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
    permissions: [
      {
        actions: ['*'],
        notActions: [
          'Microsoft.Authorization/*/Delete',
          'Microsoft.Authorization/*/Write',
          'Microsoft.Authorization/elevateAccess/Action',
          'Microsoft.Blueprint/blueprintAssignments/write',
          'Microsoft.Blueprint/blueprintAssignments/delete',
          'Microsoft.Compute/galleries/share/action',
          'Microsoft.Purview/consents/write',
          'Microsoft.Purview/consents/delete',
          'Microsoft.Resources/deploymentStacks/manageDenySetting/action',
          'Microsoft.Subscription/cancel/action',
          'Microsoft.Subscription/enable/action',
        ],
        dataActions: [],
        notDataActions: [],
      },
    ],
    roleName: 'Contributor',
    roleType: 'BuiltInRole',
    type: 'Microsoft.Authorization/roleDefinitions',
  },
  // User Access Administrator: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/privileged.md @ 0b8729eaf7eb0aabc6390cb17348d19761285f12
  // (the ```json block under "## User Access Administrator"; test/fixtures/builtin-role-user-access-administrator.json holds the same block)
  {
    assignableScopes: ['/'],
    description: 'Lets you manage user access to Azure resources.',
    id: '/providers/Microsoft.Authorization/roleDefinitions/18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
    name: '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
    permissions: [
      {
        actions: ['*/read', 'Microsoft.Authorization/*', 'Microsoft.Support/*'],
        notActions: [],
        dataActions: [],
        notDataActions: [],
      },
    ],
    roleName: 'User Access Administrator',
    roleType: 'BuiltInRole',
    type: 'Microsoft.Authorization/roleDefinitions',
  },
  // Role Based Access Control Administrator: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/privileged.md @ 0b8729eaf7eb0aabc6390cb17348d19761285f12
  // (the ```json block under "## Role Based Access Control Administrator"; test/fixtures/builtin-role-role-based-access-control-administrator.json holds the same block)
  {
    assignableScopes: ['/'],
    description:
      'Manage access to Azure resources by assigning roles using Azure RBAC. This role does not allow you to manage access using other ways, such as Azure Policy.',
    id: '/providers/Microsoft.Authorization/roleDefinitions/f58310d9-a9f6-439a-9e8d-f62e7b41a168',
    name: 'f58310d9-a9f6-439a-9e8d-f62e7b41a168',
    permissions: [
      {
        actions: [
          'Microsoft.Authorization/roleAssignments/write',
          'Microsoft.Authorization/roleAssignments/delete',
          '*/read',
          'Microsoft.Support/*',
        ],
        notActions: [],
        dataActions: [],
        notDataActions: [],
      },
    ],
    roleName: 'Role Based Access Control Administrator',
    roleType: 'BuiltInRole',
    type: 'Microsoft.Authorization/roleDefinitions',
  },
];

/** GUIDs (role definition `name`) of the built-in roles above. */
export const ROLE_IDS = {
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424',
  keyVaultCryptoServiceEncryptionUser: 'e147488a-f6f5-4113-8e2d-b22465e65bf6',
  keyVaultCryptoOfficer: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603',
  keyVaultAdministrator: '00482a5a-887f-4fb3-b363-3b7fe8e74483',
  keyVaultReader: '21090545-7ca7-4776-b22c-e363652d74d2',
  keyVaultContributor: 'f25e0fa2-a7c8-4377-a976-54943a77a395',
  keyVaultDataAccessAdministrator: '8b54135c-b56d-4d72-a534-26097cfdc8d8',
  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
  owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  userAccessAdministrator: '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
  roleBasedAccessControlAdministrator: 'f58310d9-a9f6-439a-9e8d-f62e7b41a168',
} as const;

/** The built-ins as normalized role definitions (what the evaluator consumes). */
export function builtinRoleDefinitions(): RoleDefinitionDoc[] {
  return BUILTIN_ROLES.map((r) => ({
    id: r.id,
    name: r.name,
    roleName: r.roleName,
    type: r.roleType,
    assignableScopes: [...r.assignableScopes],
    permissions: r.permissions.map((p) => ({
      actions: [...p.actions],
      notActions: [...p.notActions],
      dataActions: [...p.dataActions],
      notDataActions: [...p.notDataActions],
    })),
  }));
}

/** Look up a shipped built-in by GUID (case-insensitive). */
export function findBuiltinRole(guid: string): RoleDefinitionDoc | undefined {
  const g = guid.toLowerCase();
  return builtinRoleDefinitions().find((r) => r.name.toLowerCase() === g);
}
