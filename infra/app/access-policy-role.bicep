// The narrow custom role an access-policy restore needs: read the vault and PUT accessPolicies/add.
// Access-policy writes take no ABAC condition, so the code's own guard (add only, the Atlas principal only,
// get/encrypt/decrypt/wrapKey/unwrapKey only) is what keeps this right narrow; it is assignable only on the
// watched access-policy vaults.
targetScope = 'subscription'

param roleName string
param assignableScopes string[]
@description('Name (GUID) of the role definition; main.bicep derives it so the vault modules can reference it.')
param roleGuid string

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleGuid
  properties: {
    roleName: roleName
    description: 'atlas-ear-guard: restore the Atlas principal\'s key permissions through access policies (add only).'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.KeyVault/vaults/read'
          'Microsoft.KeyVault/vaults/accessPolicies/write'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

output roleDefinitionId string = role.id
