// The spoke subscription's system topic and one event subscription to the hub's Event Grid
// trigger. The filter is shared/handlers.py _WATCHED_OPERATIONS (a test keeps them equal): every
// other event would only wake the app to be ignored.
@description('Required. System topic name.')
param systemTopicName string

@description('Optional. Add the event subscription to an existing system topic of this resource group.')
param useExistingSystemTopic bool = false

@secure()
@description('Required. The hub\'s Event Grid webhook URL (with its code).')
param webhookUrl string

@description('Required. Delivery attempts.')
param maxDeliveryAttempts int

@description('Required. Minutes one event is retried.')
param eventTimeToLiveInMinutes int

@description('Optional. Dead-letter storage account id; empty: none.')
param deadLetterStorageAccountId string = ''

@description('Optional. Dead-letter container.')
param deadLetterContainerName string = 'eventgrid-deadletter'

@description('Optional. Tags.')
param tags object = {}

resource newTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = if (!useExistingSystemTopic) {
  name: systemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

resource clusterEvents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'hublink-managed-clusters'
  dependsOn: [
    newTopic
  ]
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: webhookUrl
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceDeleteSuccess'
        'Microsoft.Resources.ResourceActionSuccess'
      ]
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: [
            'Microsoft.ContainerService/managedClusters/write'
            'Microsoft.ContainerService/managedClusters/delete'
            'Microsoft.ContainerService/managedClusters/start/action'
            'Microsoft.ContainerService/managedClusters/stop/action'
          ]
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    // The topic's own identity writes the dead letters: no storage key is involved.
    deadLetterWithResourceIdentity: empty(deadLetterStorageAccountId) ? null : {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output systemTopicId string = topic.id
@description('Principal id of the new topic\'s identity (empty for an existing topic: look it up there).')
output systemTopicPrincipalId string = useExistingSystemTopic ? '' : newTopic.identity.principalId
output eventSubscriptionId string = clusterEvents.id
