// One watched subscription: its management-plane events (role assignments, role and deny definitions,
// vaults, access policies) to onAzureEvent. Deployed into a resource group of that subscription.

param tags object
param topicName string
@description('Event types from guard-contract.json (ResourceWriteSuccess, ResourceDeleteSuccess).')
param eventTypes string[]
@description('data.operationName values from guard-contract.json: exactly the operations the code handles.')
param operationNames string[]
param eventSubscriptionEnabled bool
@description('Resource ID of the onAzureEvent function (…/sites/{app}/functions/onAzureEvent).')
param functionResourceId string
param deliveryIdentityId string
param deadLetterStorageId string
param deadLetterContainerName string

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: topicName
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${deliveryIdentityId}': {} }
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

resource subscriptionToFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (eventSubscriptionEnabled) {
  parent: topic
  name: 'earguard-on-azure-event'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: functionResourceId
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: eventTypes
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: operationNames
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: deliveryIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output topicName string = topic.name
