// The app itself, in its own resource group: identities, storage (tables, the fan-out queue, Event Grid
// dead letters, the deployment package), monitoring, the secrets vault, the alert topic and the
// Flex Consumption Function App (Node 22, Functions v4). No storage or monitoring key is used anywhere.

param location string
param tags object
param resourceToken string
@secure()
param atlasPublicKey string
@secure()
param atlasPrivateKey string
@description('Which Atlas credential the app uses: a service account (preferred) or an API key (legacy).')
@allowed(['serviceAccount', 'apiKey'])
param atlasCredential string
@secure()
param atlasClientId string
@secure()
param atlasClientSecret string
@secure()
param atlasWebhookSecret string
@secure()
param alertWebhookUrl string
@description('Optional: a person or pipeline that may write the secrets (Key Vault Secrets Officer on the secrets vault only).')
param deployerPrincipalId string
@description('App settings that come straight from main.bicep parameters (names as src/settings.ts reads them).')
param settings object
param reconcileQueueName string

var names = {
  identity: 'id-earguard-${resourceToken}'
  deliveryIdentity: 'id-earguard-delivery-${resourceToken}'
  storage: 'stearguard${resourceToken}'
  logs: 'log-earguard-${resourceToken}'
  insights: 'appi-earguard-${resourceToken}'
  secrets: 'kv-earguard-${take(resourceToken, 11)}'
  alerts: 'evgt-earguard-alerts-${resourceToken}'
  plan: 'plan-earguard-${resourceToken}'
  site: 'func-earguard-${resourceToken}'
}
var packageContainerName = 'app-package'
var deadLetterContainerName = 'eventgrid-deadletter'
var secretNames = {
  atlasPublicKey: 'atlas-public-key'
  atlasPrivateKey: 'atlas-private-key'
  atlasClientId: 'atlas-client-id'
  atlasClientSecret: 'atlas-client-secret'
  atlasWebhookSecret: 'atlas-webhook-secret'
  alertWebhookUrl: 'alert-webhook-url'
}
// Built-in roles granted inside this resource group (to our own identities only).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  eventGridDataSender: 'd5a91429-5739-47e2-a06b-3470a27159e7'
}

// The remediator: runs the app and holds the (vault-scoped) rights granted in vault.bicep.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: names.identity
  location: location
  tags: tags
}

// Event Grid's own identity: writes dead letters, nothing else.
resource deliveryIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: names.deliveryIdentity
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: names.storage
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: packageContainerName
  properties: { publicAccess: 'None' }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: { publicAccess: 'None' }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2024-01-01' = {
  parent: storage
  name: 'default'
}

// Sweep fan-out: sweepProjects enqueues project IDs, reconcileProjectQueue drains them.
resource reconcileQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2024-01-01' = {
  parent: queueService
  name: reconcileQueueName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2024-01-01' = {
  parent: storage
  name: 'default'
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: names.logs
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: names.insights
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

// Secrets: the Atlas API key pair (and an alert webhook URL), read through Key Vault references.
resource secretsVault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: names.secrets
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource atlasPublicKeySecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(atlasPublicKey)) {
  parent: secretsVault
  name: secretNames.atlasPublicKey
  properties: { value: atlasPublicKey, contentType: 'Atlas programmatic API public key' }
}

resource atlasPrivateKeySecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(atlasPrivateKey)) {
  parent: secretsVault
  name: secretNames.atlasPrivateKey
  properties: { value: atlasPrivateKey, contentType: 'Atlas programmatic API private key' }
}

resource atlasClientIdSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(atlasClientId)) {
  parent: secretsVault
  name: secretNames.atlasClientId
  properties: { value: atlasClientId, contentType: 'Atlas service account client ID' }
}

resource atlasClientSecretSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(atlasClientSecret)) {
  parent: secretsVault
  name: secretNames.atlasClientSecret
  properties: { value: atlasClientSecret, contentType: 'Atlas service account client secret' }
}

resource atlasWebhookSecretSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(atlasWebhookSecret)) {
  parent: secretsVault
  name: secretNames.atlasWebhookSecret
  properties: { value: atlasWebhookSecret, contentType: 'Secret Atlas signs alert webhooks with (X-MMS-Signature)' }
}

resource alertWebhookSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(alertWebhookUrl)) {
  parent: secretsVault
  name: secretNames.alertWebhookUrl
  properties: { value: alertWebhookUrl, contentType: 'Alert webhook URL' }
}

// Alerts: CloudEvents 1.0 to a custom topic; keys disabled, the app publishes with its identity.
resource alertTopic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: names.alerts
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: names.plan
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: names.site
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${packageContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: 2048
        maximumInstanceCount: 40
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// No publishing passwords: deployment goes through Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: { allow: false }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: { allow: false }
}

func keyVaultReference(vaultUri string, secretName string) string =>
  '@Microsoft.KeyVault(SecretUri=${vaultUri}secrets/${secretName})'

// Every name here is either read by src/settings.ts or by the Functions host; test/unit/infra.test.ts
// checks both directions.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(settings, {
    // Host storage, identity-based (no connection string, no key).
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId
    AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
    AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
    AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
    APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
    // The app's own settings.
    ALERT_EVENTGRID_ENDPOINT: alertTopic.properties.endpoint
    AZURE_CLIENT_ID: identity.properties.clientId
    EAR_GUARD_STORAGE: storage.properties.primaryEndpoints.table
  }, atlasCredential == 'serviceAccount' ? {
    // Only the chosen pair: an unresolved reference to a secret never written would look like a credential.
    ATLAS_CLIENT_ID: keyVaultReference(secretsVault.properties.vaultUri, secretNames.atlasClientId)
    ATLAS_CLIENT_SECRET: keyVaultReference(secretsVault.properties.vaultUri, secretNames.atlasClientSecret)
  } : {
    ATLAS_PUBLIC_KEY: keyVaultReference(secretsVault.properties.vaultUri, secretNames.atlasPublicKey)
    ATLAS_PRIVATE_KEY: keyVaultReference(secretsVault.properties.vaultUri, secretNames.atlasPrivateKey)
  }, empty(atlasWebhookSecret) ? {} : {
    // POST /api/atlas/alerts verifies X-MMS-Signature with it; unset, the function refuses every alert.
    ATLAS_WEBHOOK_SECRET: keyVaultReference(secretsVault.properties.vaultUri, secretNames.atlasWebhookSecret)
  }, empty(alertWebhookUrl) ? {} : {
    // Unset rather than empty: the code treats an empty URL as invalid.
    ALERT_WEBHOOK_URL: keyVaultReference(secretsVault.properties.vaultUri, secretNames.alertWebhookUrl)
  })
  dependsOn: [
    atlasPublicKeySecret
    atlasPrivateKeySecret
    atlasClientIdSecret
    atlasClientSecretSecret
    atlasWebhookSecretSecret
    alertWebhookSecret
    secretsUser
  ]
}

resource hostBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource hostQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource stateTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource telemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(secretsVault.id, identity.id, roles.keyVaultSecretsUser)
  scope: secretsVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(secretsVault.id, deployerPrincipalId, roles.keyVaultSecretsOfficer)
  scope: secretsVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
  }
}

resource alertSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(alertTopic.id, identity.id, roles.eventGridDataSender)
  scope: alertTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventGridDataSender)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, deliveryIdentity.id, roles.storageBlobDataContributor)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: deliveryIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

output identityPrincipalId string = identity.properties.principalId
output identityClientId string = identity.properties.clientId
output deliveryIdentityId string = deliveryIdentity.id
output storageAccountId string = storage.id
output deadLetterContainerName string = deadLetterContainer.name
output functionAppId string = site.id
output functionAppName string = site.name
output secretsVaultName string = secretsVault.name
output alertTopicEndpoint string = alertTopic.properties.endpoint
output applicationInsightsName string = insights.name
