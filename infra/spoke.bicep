// aks-hublink spoke onboarding, deployed by each spoke subscription's owner (any tenant):
//   az deployment sub create --location <region> --template-file infra/spoke.bicep --parameters ...
// It grants the product's service principal exactly what it does on the cluster side and sends
// the subscription's managed-cluster events to the hub's function app. See docs/deploy.md.
targetScope = 'subscription'

metadata description = 'aks-hublink spoke: cluster-side custom role for the product and the Event Grid subscription to the hub.'

@minLength(36)
@maxLength(36)
@description('Required. Object id of the product\'s service principal in THIS tenant (after `az ad sp create --id <appId>`).')
param productPrincipalId string

@secure()
@description('Required. The hub\'s Event Grid webhook: https://<app>.azurewebsites.net/runtime/webhooks/eventgrid?functionName=on_cluster_event&code=<eventgrid_extension key>.')
param webhookUrl string

@description('Optional. Region of the events resource group (the system topic itself is global).')
param location string = deployment().location

@description('Optional. Resource group that holds the subscription\'s Event Grid system topic.')
param eventsResourceGroupName string = 'rg-hublink-events'

@description('Optional. Name of the system topic. Default: hublink-<subscriptionId>.')
param systemTopicName string = ''

@description('Optional. true when the subscription already has a Microsoft.Resources.Subscriptions system topic (only one is allowed) in eventsResourceGroupName: the event subscription is added to it.')
param useExistingSystemTopic bool = false

@minValue(1)
@maxValue(30)
@description('Optional. Event Grid delivery attempts before an event is dead-lettered or dropped.')
param maxDeliveryAttempts int = 30

@minValue(1)
@maxValue(1440)
@description('Optional. Minutes Event Grid keeps retrying one event.')
param eventTimeToLiveInMinutes int = 1440

@description('Optional. Resource id of the storage account that receives dead letters (the hub\'s for a spoke in the hub tenant, one of your own otherwise). Empty: no dead-lettering (the hub\'s timer still finds missed clusters).')
param deadLetterStorageAccountId string = ''

@description('Optional. Blob container for dead letters.')
param deadLetterContainerName string = 'eventgrid-deadletter'

@description('Optional. Name of the custom role; role names are unique per tenant. Default: HubLink Spoke Approver (<subscriptionId>).')
param roleName string = ''

@description('Optional. Tags.')
param tags object = {}

@description('''Optional. Subnets to create for the Private Link Services aks-hublink puts in front of API Server VNet
Integration clusters, one per cluster VNet: [{"virtualNetworkId": "<VNet resource id>", "subnetName": "snet-hublink-pls",
"addressPrefix": "10.40.2.0/24", "networkSecurityGroupId": "<optional>"}]. Give the ids of the created subnets to the hub
(HUBLINK_PLS_SUBNETS), or tag each cluster with hublink-pls-subnet=<subnet id>.''')
param plsSubnets array = []

// What the product does in a spoke subscription, and nothing else (tests/test_infra.py compares this
// list with every action devcloud records during an end-to-end run, and with SPOKE_ROLE_ACTIONS).
resource spokeRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'aks-hublink-spoke-approver')
  properties: {
    roleName: empty(roleName) ? 'HubLink Spoke Approver (${subscription().subscriptionId})' : roleName
    description: 'aks-hublink: read managed clusters, approve the hub\'s private endpoint connections to them, and run the Private Link Services in front of API Server VNet Integration clusters.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.ContainerService/managedClusters/read'
          'Microsoft.ContainerService/managedClusters/privateEndpointConnections/read'
          'Microsoft.ContainerService/managedClusters/privateEndpointConnections/write'
          // API Server VNet Integration clusters: read kube-apiserver, put our Private Link Service on its
          // frontend (a linked write on the load balancer, a join on the PLS subnet), approve on the PLS.
          'Microsoft.Network/loadBalancers/read'
          'Microsoft.Network/loadBalancers/write'
          'Microsoft.Network/virtualNetworks/subnets/join/action'
          'Microsoft.Network/privateLinkServices/read'
          'Microsoft.Network/privateLinkServices/write'
          'Microsoft.Network/privateLinkServices/delete'
          'Microsoft.Network/privateLinkServices/privateEndpointConnections/write'
          // read by `hublink doctor` only: the subscription's system topic, our event subscription and its deliveries
          'Microsoft.EventGrid/systemTopics/read'
          'Microsoft.EventGrid/systemTopics/eventSubscriptions/read'
          'Microsoft.Insights/metrics/read'
        ]
        notActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

// Subscription scope: discovery lists every cluster of the subscription.
resource spokeAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, productPrincipalId, spokeRole.id)
  properties: {
    roleDefinitionId: spokeRole.id
    principalId: productPrincipalId
    principalType: 'ServicePrincipal'
    description: 'aks-hublink: approve the hub\'s private endpoints to this subscription\'s clusters'
  }
}

resource eventsGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: eventsResourceGroupName
  location: location
  tags: tags
}

module plsSubnet 'app/pls-subnet.bicep' = [for (p, i) in plsSubnets: {
  name: 'hublink-pls-subnet-${i}'
  scope: resourceGroup(split(p.virtualNetworkId, '/')[2], split(p.virtualNetworkId, '/')[4])
  params: {
    virtualNetworkName: last(split(p.virtualNetworkId, '/'))
    subnetName: p.?subnetName ?? 'snet-hublink-pls'
    addressPrefix: p.addressPrefix
    networkSecurityGroupId: p.?networkSecurityGroupId ?? ''
  }
}]

module events 'app/spoke-events.bicep' = {
  name: 'hublink-spoke-events'
  scope: eventsGroup
  params: {
    systemTopicName: empty(systemTopicName) ? 'hublink-${subscription().subscriptionId}' : systemTopicName
    useExistingSystemTopic: useExistingSystemTopic
    webhookUrl: webhookUrl
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    deadLetterStorageAccountId: deadLetterStorageAccountId
    deadLetterContainerName: deadLetterContainerName
    tags: tags
  }
}

output ROLE_DEFINITION_ID string = spokeRole.id
output SYSTEM_TOPIC_ID string = events.outputs.systemTopicId
@description('Grant it Storage Blob Data Contributor on the dead-letter container (hub: main.bicep deadLetterPrincipalIds).')
output SYSTEM_TOPIC_PRINCIPAL_ID string = events.outputs.systemTopicPrincipalId
output EVENT_SUBSCRIPTION_ID string = events.outputs.eventSubscriptionId
@description('The private link service subnets created (HUBLINK_PLS_SUBNETS: {"<VNet id>": "<subnet id>"}).')
output PLS_SUBNET_IDS array = [for (p, i) in plsSubnets: plsSubnet[i].outputs.id]
