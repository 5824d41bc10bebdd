// Log Analytics + Application Insights, both Entra-only: the app sends telemetry with its identity
// (APPLICATIONINSIGHTS_AUTHENTICATION_STRING), so no instrumentation key is ever accepted.
@description('Required. Log Analytics workspace name.')
param logAnalyticsName string

@description('Required. Application Insights name.')
param applicationInsightsName string

@description('Required. Region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. Principal id of the identity that publishes telemetry.')
param publisherPrincipalId string

@minValue(30)
@description('Optional. Days logs are kept.')
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

// Monitoring Metrics Publisher
var metricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, publisherPrincipalId, metricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', metricsPublisher)
    principalId: publisherPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The product's OpenTelemetry metrics and spans (shared/telemetry.py), one chart each; tests/test_infra.py
// checks the workbook charts every metric the code records.
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(appInsights.id, 'aks-hublink-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'aks-hublink'
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: loadTextContent('workbook.json')
  }
}

output connectionString string = appInsights.properties.ConnectionString
output workbookId string = workbook.id
