// One watched vault: what the remediator may do on it, and its Key Vault system topic.
// Deployed into the vault's own resource group (and subscription).

@description('Name of the existing vault.')
param vaultName string
param tags object
@description('Object ID of the remediator\'s user-assigned identity.')
param remediatorPrincipalId string
@description('Object ID of the Atlas service principal: the only principal a restore may grant to.')
param atlasPrincipalObjectId string
@description('Role GUIDs a restore may assign (from guard-contract.json).')
param restoreRoleIds string[]
@description('Grant Role Based Access Control Administrator, constrained by an ABAC condition.')
param grantRbacRestore bool
@description('Resource ID of the access-policy restorer custom role; empty: not granted.')
param accessPolicyRoleDefinitionId string
param keyVaultEventTypes string[]
param eventSubscriptionEnabled bool
@description('Resource ID of the onAzureEvent function (…/sites/{app}/functions/onAzureEvent).')
param functionResourceId string
param deliveryIdentityId string
param deadLetterStorageId string
param deadLetterContainerName string

var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var rbacAdministratorRoleId = 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'
var roleList = join(restoreRoleIds, ', ')
// Writes: only the restore roles, only for the Atlas principal. Deletes: only those same assignments
// (the code never deletes; this keeps a stolen token from removing anyone else's access).
var restoreCondition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${roleList}} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidEquals {${atlasPrincipalObjectId}})) AND ((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${roleList}} AND @Resource[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidEquals {${atlasPrincipalObjectId}}))'

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: vaultName
}

// Observe: Reader on the vault (vault metadata, keys' control-plane view, role assignments and deny
// assignments at and above the vault).
resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, remediatorPrincipalId, readerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
    principalId: remediatorPrincipalId
    principalType: 'ServicePrincipal'
    description: 'atlas-ear-guard: observe the vault and the role assignments on it.'
  }
}

resource rbacRestore 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantRbacRestore) {
  name: guid(vault.id, remediatorPrincipalId, rbacAdministratorRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', rbacAdministratorRoleId)
    principalId: remediatorPrincipalId
    principalType: 'ServicePrincipal'
    condition: restoreCondition
    conditionVersion: '2.0'
    description: 'atlas-ear-guard: restore Key Vault Crypto User / Reader for the Atlas principal only.'
  }
}

resource accessPolicyRestore 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(accessPolicyRoleDefinitionId)) {
  name: guid(vault.id, remediatorPrincipalId, last(split(accessPolicyRoleDefinitionId, '/')))
  scope: vault
  properties: {
    roleDefinitionId: accessPolicyRoleDefinitionId
    principalId: remediatorPrincipalId
    principalType: 'ServicePrincipal'
    description: 'atlas-ear-guard: restore the Atlas principal\'s access policy (add only).'
  }
}

// The system topic must sit in the vault's region, known only once the vault is read: a module takes it.
module events 'vault-events.bicep' = {
  name: 'earguard-kv-events-${uniqueString(vault.id)}'
  params: {
    location: vault.location
    vaultId: vault.id
    topicName: 'evgt-earguard-${vaultName}'
    tags: tags
    keyVaultEventTypes: keyVaultEventTypes
    eventSubscriptionEnabled: eventSubscriptionEnabled
    functionResourceId: functionResourceId
    deliveryIdentityId: deliveryIdentityId
    deadLetterStorageId: deadLetterStorageId
    deadLetterContainerName: deadLetterContainerName
  }
}

output vaultId string = vault.id
output topicName string = events.outputs.topicName
