// Who watches the watcher: Azure Monitor alert rules over the app's Application Insights, and a workbook that
// charts drifts, restores, time to restore and reconcile outcomes. Queries read the OpenTelemetry metrics the
// app exports (names in src/observability/telemetry.ts METRICS, attributes in ATTR) and the Functions host's own
// request records, so the sweep alert still fires if the app's telemetry pipeline is what broke.
//
// Rules:
// - no completed sweep for `sweepStaleMinutes` (default 15): neither an `ear_guard.sweeps` completion metric
//   nor a successful timer-function invocation in the window;
// - any RestoreFailed / CheckFailing / PrincipalMismatch / AtlasStillInvalid alert raised by the app (`ear_guard.alerts` by type);
// - Function invocation failures.

@description('Region of the rules (action groups are global).')
param location string
param tags object
@description('Name of the Application Insights component (same resource group) the app exports to.')
param applicationInsightsName string
@description('Name of the Function App (cloud role name in Application Insights).')
param functionAppName string
@description('Name of the timer function that runs the sweep (guard-contract.json functions.timer).')
param sweepFunctionName string = 'sweepProjects'
@description('Minutes without a completed sweep before the alert fires.')
@minValue(10)
param sweepStaleMinutes int = 15
@description('E-mail addresses that receive the alerts (an action group is created when not empty).')
param alertEmails array = []
@description('Existing action groups to notify as well (resource IDs).')
param actionGroupIds array = []
@description('Seeds resource names.')
param resourceToken string

resource insights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource emailGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmails)) {
  name: 'ag-earguard-${resourceToken}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'earguard'
    enabled: true
    emailReceivers: [
      for (email, i) in alertEmails: {
        name: 'email-${i}'
        emailAddress: email
        useCommonAlertSchema: true
      }
    ]
  }
}

var groups = concat(actionGroupIds, empty(alertEmails) ? [] : [emailGroup.id])

resource sweepStale 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-earguard-sweep-stale-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Atlas EAR guard: no completed sweep for ${sweepStaleMinutes} minutes'
    description: 'The remediator is not running its health sweep: drift that no event reports (disabled or deleted keys) goes unnoticed, and Atlas shuts clusters down at its next failed 15-minute check.'
    severity: 1
    enabled: true
    scopes: [insights.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT${sweepStaleMinutes}M'
    criteria: {
      allOf: [
        {
          query: 'union isfuzzy=true (customMetrics | where name == "ear_guard.sweeps" and tostring(customDimensions["ear_guard.sweep.outcome"]) == "completed"), (requests | where name =~ "${sweepFunctionName}" and success == true)'
          timeAggregation: 'Count'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: groups
    }
  }
}

resource restoreFailed 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-earguard-restore-failed-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Atlas EAR guard: RestoreFailed, CheckFailing, PrincipalMismatch or AtlasStillInvalid'
    description: 'A restore did not verify, or a project could not be checked: the Atlas principal may be without key access. Open the status page (/api/dashboard) or the project history.'
    severity: 0
    enabled: true
    scopes: [insights.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "ear_guard.alerts" | extend alertType = tostring(customDimensions["ear_guard.alert.type"]) | where alertType in ("AtlasEarGuard.RestoreFailed", "AtlasEarGuard.CheckFailing", "AtlasEarGuard.PrincipalMismatch", "AtlasEarGuard.AtlasStillInvalid")'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'alertType'
              operator: 'Include'
              values: ['*']
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: groups
    }
  }
}

resource functionFailures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-earguard-function-failures-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Atlas EAR guard: function failures'
    description: 'A function invocation failed (Event Grid retries event deliveries; a failing sweep or queue item is also visible on the status page).'
    severity: 2
    enabled: true
    scopes: [insights.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: 'requests | where success == false and cloud_RoleName =~ "${functionAppName}" | extend functionName = operation_Name'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'functionName'
              operator: 'Include'
              values: ['*']
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: groups
    }
  }
}

// The workbook JSON keeps a placeholder for the component ID so the same file can be imported by hand.
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'atlas-ear-guard-workbook', resourceToken)
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Atlas EAR guard: drifts, restores and outcomes'
    category: 'workbook'
    sourceId: insights.id
    serializedData: replace(loadTextContent('workbook.json'), '__APP_INSIGHTS_ID__', insights.id)
  }
}

output workbookId string = workbook.id
output alertRuleIds array = [sweepStale.id, restoreFailed.id, functionFailures.id]
