// aks-hublink hub deployment (azd: `azd up`). Subscription scope: one resource group for the app,
// a custom role for the hub network, and the private DNS zones the links write to.
targetScope = 'subscription'

metadata description = 'aks-hublink: Function App (Flex Consumption) that links private AKS clusters to a hub network.'

// -- naming and placement ---------------------------------------------------------------------
@minLength(1)
@maxLength(64)
@description('Required. azd environment name; part of every resource name and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Required. Region of the function app, its storage and monitoring.')
param location string

@description('Optional. Resource group for the app. Default: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Optional. Tags added to every resource.')
param tags object = {}

// -- what to link ------------------------------------------------------------------------------
@minLength(1)
@description('''Required. One entry per AKS region served: [{"region": "westeurope", "subnetId": "<hub subnet resource id>", "subnetIds": [<optional: more hub subnets, used when the first is full>],
"dnsZoneId": "<optional: id of an existing privatelink.<region>.azmk8s.io zone>", "vnetIntegrationDnsZoneId": "<optional: id
of an existing private.<region>.azmk8s.io zone, for API Server VNet Integration clusters>"}]. A zone not given is created in
the subnet's resource group and linked to the subnet's virtual network.''')
param hubs array

@description('Required. The spoke subscriptions to watch: {"<subscriptionId>": "<tenantId>"}.')
param spokes object

@description('Optional. Where aks-hublink puts the Private Link Service of an API Server VNet Integration cluster, per cluster VNet: {"<VNet id>": "<subnet id>"} (infra/spoke.bicep outputs PLS_SUBNET_IDS). A cluster tag hublink-pls-subnet=<subnet id> wins.')
param plsSubnets object = {}

// -- identity (created by infra/hooks/preprovision.sh, see docs/deploy.md) ---------------------
@minLength(36)
@maxLength(36)
@description('Required. Application (client) id of the multi-tenant app registration the product acts as.')
param appClientId string

@minLength(36)
@maxLength(36)
@description('Required. Object id of that app\'s service principal in the hub tenant (gets the hub role).')
param appPrincipalId string

@minLength(36)
@maxLength(36)
@description('Required. Client id of the operator API\'s app registration (app roles HubLink.Reader/Operator/Approver; infra/app/api-registration.json).')
param apiClientId string

// -- behaviour (defaults are the code's defaults, see shared/config.py) ------------------------
@allowed(['opt-out', 'opt-in'])
@description('Optional. opt-out: every private cluster unless tagged hublink=disabled; opt-in: only clusters tagged hublink=enabled.')
param selection string = 'opt-out'

@allowed(['auto', 'manual'])
@description('Optional. auto: approve the link\'s own connection at once; manual: a person approves each link first.')
param approval string = 'auto'

@allowed(['warning', 'info', 'debug'])
@description('Optional. Level of the Azure SDK loggers (azure.*): warning keeps their request lines out of Application Insights.')
param sdkLogLevel string = 'warning'

@description('Optional. Table that holds one row per cluster.')
param tableName string = 'hublinks'

@description('Optional. NCRONTAB schedule of the timer backstop.')
param timerSchedule string = '0 */5 * * * *'

@minValue(1)
@description('Optional. Seconds an event-triggered reconcile may run (Event Grid waits 30).')
param eventBudgetSeconds int = 20

@minValue(1)
@description('Optional. Seconds one timer run may take.')
param timerBudgetSeconds int = 240

@minValue(1)
@description('Optional. Links reconciled in parallel by the timer.')
param concurrency int = 8

@minValue(1)
@description('Optional. First retry delay after a transient error, in seconds.')
param backoffBaseSeconds int = 15

@minValue(1)
@description('Optional. Longest retry delay, in seconds.')
param backoffMaxSeconds int = 3600

@minValue(1)
@description('Optional. How often a Ready link is re-checked for drift, in seconds.')
param driftIntervalSeconds int = 3600

@minValue(1)
@description('Optional. How long a cluster read answering 404 must stay so before a link is cleaned up, in seconds.')
param absenceConfirmSeconds int = 20

@minValue(1)
@description('Optional. How often the spoke subscriptions are listed for missed clusters, in seconds.')
param discoveryIntervalSeconds int = 3600

// -- notifications -----------------------------------------------------------------------------
@secure()
@description('''Optional. Notification targets; secret because the URLs carry signatures:
{"teamsWebhooks": ["<Teams Workflows webhook URL>"], "webhooks": ["https://..."], "webhookSecret": "<HMAC secret>"}.''')
param notifications object = {}

@minValue(1)
@description('Optional. Notify when a link waits longer than this many seconds.')
param pendingAlertSeconds int = 1800

@minValue(1)
@description('Optional. Notify after this many consecutive transient failures.')
param failureAlertAfter int = 5

@minValue(1)
@description('Optional. Seconds one notification round may take.')
param notifyTimeoutSeconds int = 5

@allowed(['on', 'off'])
@description('Optional. on: a recreated hub endpoint asks for the address the link had (stable hub IPs); off: any free address.')
param stableIp string = 'on'

@minValue(1)
@description('Optional. Most private endpoints one hub VNet may hold (1000; 5000 with High Scale private endpoints).')
param endpointsPerVnet int = 1000

@description('Optional. Base URL of the HTTP API shown in notices (e.g. behind API Management). Default: the app\'s own https://<host>.')
param apiBaseUrl string = ''

// -- capacity and dead letters -----------------------------------------------------------------
@minValue(1)
@maxValue(1000)
@description('Optional. Flex Consumption: most instances the app scales out to.')
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
@description('Optional. Flex Consumption: memory of each instance, in MB.')
param instanceMemoryMB int = 2048

@description('Optional. Principal ids of spoke Event Grid system topics (hub tenant only) allowed to write dead letters.')
param deadLetterPrincipalIds array = []

// -- names -------------------------------------------------------------------------------------
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var allTags = union(tags, { 'azd-env-name': environmentName })
var functionAppName = 'func-hublink-${resourceToken}'
var deploymentContainer = 'app-package-${resourceToken}'
var deadLetterContainer = 'eventgrid-deadletter'
var continueQueue = 'hublink-continue' // function_app.py: queue trigger continue_link

// -- hubs: zone ids (given or created) and the HUBLINK_HUBS setting ----------------------------
var createdZoneIds = [for h in hubs: '${split(h.subnetId, '/providers/')[0]}/providers/Microsoft.Network/privateDnsZones/privatelink.${toLower(replace(h.region, ' ', ''))}.azmk8s.io']
var hubZoneIds = [for (h, i) in hubs: empty(h.?dnsZoneId ?? '') ? createdZoneIds[i] : (h.?dnsZoneId ?? '')]
// API Server VNet Integration clusters resolve under private.<region>.azmk8s.io (a zone of its own).
var createdVnetZoneIds = [for h in hubs: '${split(h.subnetId, '/providers/')[0]}/providers/Microsoft.Network/privateDnsZones/private.${toLower(replace(h.region, ' ', ''))}.azmk8s.io']
var hubVnetZoneIds = [for (h, i) in hubs: empty(h.?vnetIntegrationDnsZoneId ?? '') ? createdVnetZoneIds[i] : (h.?vnetIntegrationDnsZoneId ?? '')]
var hubEntries = [for (h, i) in hubs: '"${toLower(replace(h.region, ' ', ''))}":${string({ subnetId: h.subnetId, subnetIds: h.?subnetIds ?? [], dnsZoneId: hubZoneIds[i], vnetIntegrationDnsZoneId: hubVnetZoneIds[i] })}']
var hubsSetting = '{${join(hubEntries, ',')}}'
var zonesToCreate = filter(hubs, h => empty(h.?dnsZoneId ?? ''))
var vnetZonesToCreate = filter(hubs, h => empty(h.?vnetIntegrationDnsZoneId ?? ''))
// Existing zones outside the hub network resource group need their own role assignment.
// (ARM evaluates both sides of &&, so the right side must not touch a missing dnsZoneId either.)
var zonesElsewhere = filter(hubs, h => !empty(h.?dnsZoneId ?? '') && toLower(split(h.?dnsZoneId ?? '', '/providers/')[0]) != toLower(split(h.subnetId, '/providers/')[0]))
var vnetZonesElsewhere = filter(hubs, h => !empty(h.?vnetIntegrationDnsZoneId ?? '') && toLower(split(h.?vnetIntegrationDnsZoneId ?? '', '/providers/')[0]) != toLower(split(h.subnetId, '/providers/')[0]))
// (for-expressions in variables of their own and no map(): the pycep versions tests/test_infra.py and checkov
// parse with read neither)
var hubFirstGroups = [for h in hubs: toLower(split(h.subnetId, '/providers/')[0])]
var hubExtraSubnetIdLists = [for h in hubs: h.?subnetIds ?? []]
var hubExtraSubnetIds = flatten(hubExtraSubnetIdLists)
var hubExtraGroups = [for s in hubExtraSubnetIds: toLower(split(s, '/providers/')[0])]
var hubGroupsAll = concat(hubFirstGroups, hubExtraGroups)
var hubGroups = union(hubGroupsAll, [])
var subnetSubscriptions = [for h in hubs: toLower('/subscriptions/${split(h.subnetId, '/')[2]}')]
var zoneSubscriptions = [for id in hubZoneIds: toLower('/subscriptions/${split(id, '/')[2]}')]
var vnetZoneSubscriptions = [for id in hubVnetZoneIds: toLower('/subscriptions/${split(id, '/')[2]}')]
var hubSubscriptions = union([toLower(subscription().id)], subnetSubscriptions, zoneSubscriptions, vnetZoneSubscriptions)

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: allTags
}

// What the product does on the hub side, and nothing else (tests/test_infra.py compares this list with
// every action devcloud records during an end-to-end run, and with devcloud/world.py HUB_ROLE_ACTIONS).
resource hubRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'aks-hublink-hub-operator', environmentName)
  properties: {
    roleName: 'HubLink Hub Operator (${environmentName})'
    description: 'aks-hublink: create and delete private endpoints to AKS clusters in the hub subnets, read their room, and keep their A records (and, for clusters without a private DNS zone, a zone per cluster linked to the hub VNet).'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Network/privateEndpoints/read'
          'Microsoft.Network/privateEndpoints/write'
          'Microsoft.Network/privateEndpoints/delete'
          'Microsoft.Network/virtualNetworks/subnets/join/action'
          'Microsoft.Network/networkInterfaces/read'
          'Microsoft.Network/privateDnsZones/A/read'
          'Microsoft.Network/privateDnsZones/A/write'
          'Microsoft.Network/privateDnsZones/A/delete'
          'Microsoft.Network/virtualNetworks/read'
          'Microsoft.Network/privateDnsZones/read'
          'Microsoft.Network/privateDnsZones/write'
          'Microsoft.Network/privateDnsZones/delete'
          'Microsoft.Network/privateDnsZones/virtualNetworkLinks/read'
          'Microsoft.Network/privateDnsZones/virtualNetworkLinks/write'
          'Microsoft.Network/privateDnsZones/virtualNetworkLinks/delete'
          'Microsoft.Network/virtualNetworks/join/action'
        ]
        notActions: []
      }
    ]
    // Subscriptions are only where the role may be assigned; the assignments below are per resource group / zone.
    assignableScopes: hubSubscriptions
  }
}

module identity 'app/identity.bicep' = {
  name: 'hublink-identity'
  scope: rg
  params: {
    name: 'id-hublink-${resourceToken}'
    location: location
    tags: allTags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'hublink-monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-hublink-${resourceToken}'
    applicationInsightsName: 'appi-hublink-${resourceToken}'
    location: location
    tags: allTags
    publisherPrincipalId: identity.outputs.principalId
  }
}

module storage 'app/storage.bicep' = {
  name: 'hublink-storage'
  scope: rg
  params: {
    name: 'sthublink${resourceToken}'
    location: location
    tags: allTags
    principalId: identity.outputs.principalId
    deploymentContainerName: deploymentContainer
    deadLetterContainerName: deadLetterContainer
    deadLetterPrincipalIds: deadLetterPrincipalIds
    queueName: continueQueue
    tableName: tableName
  }
}

// Every setting shared/config.py reads that applies in Azure (tests/test_infra.py checks the list).
var productSettings = {
  HUBLINK_HUB_TENANT_ID: tenant().tenantId
  HUBLINK_HUBS: hubsSetting
  HUBLINK_SPOKES: string(spokes)
  HUBLINK_PLS_SUBNETS: string(plsSubnets)
  HUBLINK_CLIENT_ID: appClientId
  HUBLINK_CREDENTIAL: 'managed_identity'
  HUBLINK_MANAGED_IDENTITY_CLIENT_ID: identity.outputs.clientId
  HUBLINK_ARM_ENDPOINT: environment().resourceManager
  HUBLINK_AUTHORITY: environment().authentication.loginEndpoint
  HUBLINK_TABLE_NAME: tableName
  HUBLINK_SELECTION: selection
  HUBLINK_APPROVAL: approval
  HUBLINK_EVENT_BUDGET_S: string(eventBudgetSeconds)
  HUBLINK_TIMER_BUDGET_S: string(timerBudgetSeconds)
  HUBLINK_CONCURRENCY: string(concurrency)
  HUBLINK_BACKOFF_BASE_S: string(backoffBaseSeconds)
  HUBLINK_BACKOFF_MAX_S: string(backoffMaxSeconds)
  HUBLINK_DRIFT_INTERVAL_S: string(driftIntervalSeconds)
  HUBLINK_ABSENCE_CONFIRM_S: string(absenceConfirmSeconds)
  HUBLINK_DISCOVERY_INTERVAL_S: string(discoveryIntervalSeconds)
  HUBLINK_TIMER_SCHEDULE: timerSchedule
  HUBLINK_TEAMS_WEBHOOKS: string(notifications.?teamsWebhooks ?? [])
  HUBLINK_WEBHOOKS: string(notifications.?webhooks ?? [])
  HUBLINK_WEBHOOK_SECRET: notifications.?webhookSecret ?? ''
  HUBLINK_PENDING_ALERT_S: string(pendingAlertSeconds)
  HUBLINK_FAILURE_ALERT_AFTER: string(failureAlertAfter)
  HUBLINK_NOTIFY_TIMEOUT_S: string(notifyTimeoutSeconds)
  HUBLINK_SDK_LOG_LEVEL: sdkLogLevel
  HUBLINK_API_AUDIENCE: 'api://${apiClientId}'
  HUBLINK_STABLE_IP: stableIp
  HUBLINK_ENDPOINTS_PER_VNET: string(endpointsPerVnet)
  HUBLINK_API_AUTH: 'easyauth' // Azure always puts App Service Authentication in front (app/function.bicep authsettingsV2)
  AzureWebJobsStorage__tableServiceUri: storage.outputs.tableEndpoint
  AzureWebJobsStorage__queueServiceUri: storage.outputs.queueEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
}

module app 'app/function.bicep' = {
  name: 'hublink-function'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-hublink-${resourceToken}'
    location: location
    tags: allTags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainer
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    appSettings: productSettings
    apiClientId: apiClientId
    apiBaseUrl: apiBaseUrl
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

// -- hub side: zones, and the custom role at the narrowest scopes ------------------------------
module zones 'app/dns-zone.bicep' = [for h in zonesToCreate: {
  name: 'hublink-zone-${toLower(replace(h.region, ' ', ''))}'
  scope: resourceGroup(split(h.subnetId, '/')[2], split(h.subnetId, '/')[4])
  params: {
    zoneName: 'privatelink.${toLower(replace(h.region, ' ', ''))}.azmk8s.io'
    virtualNetworkId: split(h.subnetId, '/subnets/')[0]
    tags: allTags
  }
}]

module vnetZones 'app/dns-zone.bicep' = [for h in vnetZonesToCreate: {
  name: 'hublink-vnet-zone-${toLower(replace(h.region, ' ', ''))}'
  scope: resourceGroup(split(h.subnetId, '/')[2], split(h.subnetId, '/')[4])
  params: {
    zoneName: 'private.${toLower(replace(h.region, ' ', ''))}.azmk8s.io'
    virtualNetworkId: split(h.subnetId, '/subnets/')[0]
    tags: allTags
  }
}]

// The hub network resource group: endpoints are created there, their NICs live there, the subnet is there.
module hubAccess 'app/hub-access.bicep' = [for (g, i) in hubGroups: {
  name: 'hublink-hub-access-${i}'
  scope: resourceGroup(split(g, '/')[2], split(g, '/')[4])
  params: {
    roleDefinitionId: hubRole.id
    principalId: appPrincipalId
  }
}]

module zoneAccess 'app/zone-access.bicep' = [for (h, i) in zonesElsewhere: {
  name: 'hublink-zone-access-${i}'
  scope: resourceGroup(split(h.dnsZoneId, '/')[2], split(h.dnsZoneId, '/')[4])
  params: {
    zoneName: last(split(h.dnsZoneId, '/'))
    roleDefinitionId: hubRole.id
    principalId: appPrincipalId
  }
}]

module vnetZoneAccess 'app/zone-access.bicep' = [for (h, i) in vnetZonesElsewhere: {
  name: 'hublink-vnet-zone-access-${i}'
  scope: resourceGroup(split(h.vnetIntegrationDnsZoneId, '/')[2], split(h.vnetIntegrationDnsZoneId, '/')[4])
  params: {
    zoneName: last(split(h.vnetIntegrationDnsZoneId, '/'))
    roleDefinitionId: hubRole.id
    principalId: appPrincipalId
  }
}]

// -- outputs (azd stores them in the environment; infra/hooks and docs/deploy.md use them) -----
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output FUNCTION_APP_NAME string = app.outputs.name
@description('Append &code=<eventgrid_extension system key> to get the webhook URL a spoke deployment needs.')
output EVENTGRID_WEBHOOK_BASE string = 'https://${app.outputs.defaultHostName}/runtime/webhooks/eventgrid?functionName=on_cluster_event'
output API_BASE_URL string = empty(apiBaseUrl) ? 'https://${app.outputs.defaultHostName}' : apiBaseUrl
output MANAGED_IDENTITY_ID string = identity.outputs.id
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
@description('Issuer of the managed identity\'s tokens: the federated credential on the app registration trusts it.')
output FEDERATED_ISSUER string = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
output HUBLINK_APP_CLIENT_ID string = appClientId
output HUBLINK_API_CLIENT_ID string = apiClientId
output API_AUDIENCE string = 'api://${apiClientId}'
output HUB_ROLE_DEFINITION_ID string = hubRole.id
output STORAGE_ACCOUNT_ID string = storage.outputs.id
output DEAD_LETTER_CONTAINER string = deadLetterContainer
