// atlas-ear-guard: one deployment (`azd up`, or `az deployment sub create -f infra/main.bicep`).
// Least privilege by construction: the remediator gets Reader on each watched vault and, only in
// `remediate` mode, the two narrow write rights a restore needs (see infra/app/vault.bicep). Nothing that
// can write is granted at subscription scope.
targetScope = 'subscription'

import { watchedVault, watchedSubscription } from 'types.bicep'

@minLength(1)
@maxLength(64)
@description('azd environment name; also seeds the unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Region of the app resources.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Resource group of the app; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object ID of the Atlas service principal (enterprise app 9efedfcc-2eca-4b27-a613-0cad1e114cb7) in this tenant. The only principal a restore may grant to.')
@minLength(36)
@maxLength(36)
param atlasPrincipalObjectId string

@secure()
@description('Atlas programmatic API public key. Stored as a Key Vault secret. Empty: set the secret `atlas-public-key` yourself.')
param atlasPublicKey string = ''

@secure()
@description('Atlas programmatic API private key. Stored as a Key Vault secret. Empty: set the secret `atlas-private-key` yourself.')
param atlasPrivateKey string = ''

@description('The Atlas credential the app uses: serviceAccount (ATLAS_CLIENT_ID / ATLAS_CLIENT_SECRET, preferred) or apiKey (ATLAS_PUBLIC_KEY / ATLAS_PRIVATE_KEY, legacy). Project Read Only is enough for the app.')
@allowed(['serviceAccount', 'apiKey'])
param atlasCredential string = 'serviceAccount'

@secure()
@description('Atlas service account client ID. Stored as a Key Vault secret. Empty: set the secret `atlas-client-id` yourself.')
param atlasClientId string = ''

@secure()
@description('Atlas service account client secret. Stored as a Key Vault secret. Empty: set the secret `atlas-client-secret` yourself.')
param atlasClientSecret string = ''

@secure()
@description('Optional: the secret Atlas alert webhooks are signed with (ear-guard atlas-alerts install uses the same). Stored as a Key Vault secret.')
param atlasWebhookSecret string = ''

@description('Optional object ID allowed to set the Atlas secrets in the app\'s own secrets vault (azd passes the signed-in user).')
param deployerPrincipalId string = ''

@description('Projects to watch: comma-separated 24-hex Atlas group IDs; empty = every project the key can see with Azure EAR.')
param atlasProjectIds string = ''

@description('observe: record only; alert: record and alert; remediate: also restore. Write rights are granted only in remediate mode.')
@allowed(['observe', 'alert', 'remediate'])
param mode string = 'observe'

@description('Key vaults that hold Atlas EAR keys.')
param watchedVaults watchedVault[] = []

@description('Subscriptions whose role-assignment and vault changes are delivered as events, each with the resource group that holds its system topic. Empty: the deployment subscription, topic in the app resource group.')
param watchedSubscriptions watchedSubscription[] = []

@description('Create the Event Grid subscriptions to onAzureEvent. They need the function deployed first: azd sets this in the postdeploy hook and provisions again.')
param eventSubscriptionsEnabled bool = false

@description('NCRONTAB schedule of the health sweep (6 fields, seconds first).')
param sweepSchedule string = '0 */5 * * * *'

@allowed(['vault', 'key'])
param restoreScope string = 'vault'

@description('key: with restoreScope vault, also keep Key Vault Crypto User for the Atlas principal at the key, so removing either assignment leaves one already propagated. No effect with restoreScope key.')
@allowed(['off', 'key'])
param standbyGrant string = 'off'

@description('Comma-separated object IDs (or UPNs) whose removals are deliberate revocations, not drift.')
param allowedRevokers string = ''

@minValue(1)
param maxRestores int = 3

@minValue(1)
param flapWindowMinutes int = 60

@description('Failed checks in a row before a CheckFailing alert.')
@minValue(1)
@maxValue(100)
param checkFailingAfter int = 2

@description('Days ahead to warn of a key (version) expiry or a time-bound role assignment ending.')
@minValue(1)
@maxValue(365)
param warnDays int = 30

@description('Minutes Atlas may take to report the key valid after a restore (RBAC propagation) before AtlasStillInvalid.')
@minValue(1)
@maxValue(1440)
param atlasConfirmMinutes int = 15
@description('Share (0-1] of the last sweep\'s checks that may fail before /api/health answers 503; 1: only when all did.')
param healthMaxFailedShare string = '1'

param dryRun bool = false

@minValue(1)
param fanoutThreshold int = 50

@description('Prefix of the state tables (letters and digits, starting with a letter).')
param tablePrefix string = 'earguard'

@description('Static-credential projects: `projectId=objectId,...`.')
param staticPrincipals string = ''

@secure()
@description('Optional generic alert webhook URL (may carry a token: stored as a Key Vault secret).')
param alertWebhookUrl string = ''

@description('E-mail addresses notified by the Azure Monitor alert rules (no action group when empty).')
param alertEmails array = []

func accessPolicyRoleGuid(subscriptionId string, env string) string => guid(subscriptionId, 'atlas-ear-guard-access-policy-restorer', env)

var contract = loadJsonContent('guard-contract.json')
var routing = loadJsonContent('event-routing.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var remediate = mode == 'remediate'
var subscriptions = empty(watchedSubscriptions)
  ? [{ subscriptionId: subscription().subscriptionId, resourceGroupName: rg.name }]
  : watchedSubscriptions
// Distinct subscriptions holding access-policy-restorable vaults (one custom role in each).
var accessPolicySubscriptions = reduce(
  filter(watchedVaults, v => contains(v.?restoreWith ?? ['rbac', 'accessPolicy'], 'accessPolicy')),
  [],
  (acc, v) => contains(acc, v.subscriptionId) ? acc : concat(acc, [v.subscriptionId])
)

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module app 'app/app.bicep' = {
  name: 'earguard-app'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    atlasPublicKey: atlasPublicKey
    atlasPrivateKey: atlasPrivateKey
    atlasCredential: atlasCredential
    atlasClientId: atlasClientId
    atlasClientSecret: atlasClientSecret
    atlasWebhookSecret: atlasWebhookSecret
    alertWebhookUrl: alertWebhookUrl
    deployerPrincipalId: deployerPrincipalId
    settings: {
      ATLAS_PROJECT_IDS: atlasProjectIds
      EAR_GUARD_MODE: mode
      EAR_GUARD_SWEEP_SCHEDULE: sweepSchedule
      EAR_GUARD_RESTORE_SCOPE: restoreScope
      EAR_GUARD_STANDBY_GRANT: standbyGrant
      EAR_GUARD_ALLOWED_REVOKERS: allowedRevokers
      EAR_GUARD_MAX_RESTORES: string(maxRestores)
      EAR_GUARD_FLAP_WINDOW_MINUTES: string(flapWindowMinutes)
      EAR_GUARD_CHECK_FAILING_AFTER: string(checkFailingAfter)
      EAR_GUARD_WARN_DAYS: string(warnDays)
      EAR_GUARD_ATLAS_CONFIRM_MINUTES: string(atlasConfirmMinutes)
      EAR_GUARD_HEALTH_MAX_FAILED_SHARE: healthMaxFailedShare
      EAR_GUARD_DRY_RUN: string(dryRun)
      EAR_GUARD_FANOUT_THRESHOLD: string(fanoutThreshold)
      EAR_GUARD_STATIC_PRINCIPALS: staticPrincipals
      // The one principal a restore may grant to, pinned for this tenant (the ABAC condition names the same one).
      EAR_GUARD_ATLAS_PRINCIPALS: '${tenant().tenantId}=${atlasPrincipalObjectId}'
      EAR_GUARD_TABLE_PREFIX: tablePrefix
      AZURE_CLOUD: environment().name
    }
    reconcileQueueName: contract.reconcileQueueName
  }
}

// A narrow custom role for access-policy restores, one per subscription that has such vaults.
// Alert rules (no sweep for 15 min, RestoreFailed/CheckFailing, function failures) and the workbook, over the
// telemetry the app exports to the Application Insights component above.
module monitoring 'app/alerts.bicep' = {
  name: 'earguard-monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    // Known before deployment (What-If needs it to name the `existing` component); app.bicep names it the same way.
    applicationInsightsName: 'appi-earguard-${resourceToken}'
    functionAppName: app.outputs.functionAppName
    sweepFunctionName: contract.functions.timer
    alertEmails: alertEmails
  }
}

module accessPolicyRole 'app/access-policy-role.bicep' = [
  for subscriptionId in (remediate ? accessPolicySubscriptions : []): {
    name: 'earguard-ap-role-${take(uniqueString(subscriptionId, environmentName), 8)}'
    scope: subscription(subscriptionId)
    params: {
      roleName: 'Atlas EAR Guard access-policy restorer (${environmentName}, ${resourceToken})'
      assignableScopes: map(
        filter(
          watchedVaults,
          v => v.subscriptionId == subscriptionId && contains(v.?restoreWith ?? ['rbac', 'accessPolicy'], 'accessPolicy')
        ),
        v =>
          '/subscriptions/${v.subscriptionId}/resourceGroups/${v.resourceGroupName}/providers/Microsoft.KeyVault/vaults/${v.name}'
      )
      roleGuid: accessPolicyRoleGuid(subscriptionId, environmentName)
    }
  }
]

module vaults 'app/vault.bicep' = [
  for v in watchedVaults: {
    name: 'earguard-vault-${take(uniqueString(v.subscriptionId, v.resourceGroupName, v.name), 8)}'
    scope: resourceGroup(v.subscriptionId, v.resourceGroupName)
    dependsOn: [accessPolicyRole]
    params: {
      vaultName: v.name
      tags: tags
      // Role assignment names are guid(scope, principal ID, role): stable for this principal, and a recreated
      // identity gets new names instead of a conflicting update. What-if cannot predict them before the run.
      #disable-next-line what-if-short-circuiting
      remediatorPrincipalId: app.outputs.identityPrincipalId
      atlasPrincipalObjectId: atlasPrincipalObjectId
      restoreRoleIds: [contract.restoreRoles.keyVaultCryptoUser, contract.restoreRoles.reader]
      grantRbacRestore: remediate && contains(v.?restoreWith ?? ['rbac', 'accessPolicy'], 'rbac')
      accessPolicyRoleDefinitionId: remediate && contains(v.?restoreWith ?? ['rbac', 'accessPolicy'], 'accessPolicy')
        ? '/subscriptions/${v.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${accessPolicyRoleGuid(v.subscriptionId, environmentName)}'
        : ''
      keyVaultEventTypes: map(routing.keyVaultEventTypes, e => e.name)
      eventSubscriptionEnabled: eventSubscriptionsEnabled
      functionResourceId: '${app.outputs.functionAppId}/functions/${contract.functions.eventGrid}'
      deliveryIdentityId: app.outputs.deliveryIdentityId
      deadLetterStorageId: app.outputs.storageAccountId
      deadLetterContainerName: app.outputs.deadLetterContainerName
    }
  }
]

module subscriptionEvents 'app/subscription-events.bicep' = [
  for s in subscriptions: {
    name: 'earguard-sub-events-${take(uniqueString(s.subscriptionId, environmentName), 8)}'
    scope: resourceGroup(s.subscriptionId, s.resourceGroupName)
    params: {
      tags: tags
      topicName: 'evgt-earguard-sub-${resourceToken}'
      eventTypes: routing.resourceEventTypes
      operationNames: map(routing.operations, o => o.name)
      eventSubscriptionEnabled: eventSubscriptionsEnabled
      functionResourceId: '${app.outputs.functionAppId}/functions/${contract.functions.eventGrid}'
      deliveryIdentityId: app.outputs.deliveryIdentityId
      deadLetterStorageId: app.outputs.storageAccountId
      deadLetterContainerName: app.outputs.deadLetterContainerName
    }
  }
]

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output EAR_GUARD_IDENTITY_PRINCIPAL_ID string = app.outputs.identityPrincipalId
output EAR_GUARD_IDENTITY_CLIENT_ID string = app.outputs.identityClientId
output EAR_GUARD_SECRETS_VAULT_NAME string = app.outputs.secretsVaultName
output ALERT_EVENTGRID_ENDPOINT string = app.outputs.alertTopicEndpoint
output EAR_GUARD_MODE string = mode
