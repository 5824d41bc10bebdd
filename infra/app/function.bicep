// The function app on Flex Consumption (FC1): Python 3.11, package deployed to a blob container
// with the managed identity, every app setting from main.bicep plus the platform's own.
@description('Required. Function app name.')
param name string

@description('Required. Flex Consumption plan name.')
param planName string

@description('Required. Region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. Resource id of the user-assigned identity.')
param identityId string

@description('Required. Client id of the user-assigned identity.')
param identityClientId string

@description('Required. Blob endpoint of the app\'s storage account (https://<account>.blob.core.windows.net/).')
param storageBlobEndpoint string

@description('Required. Container the deployment package goes to.')
param deploymentContainerName string

@description('Required. Application Insights connection string (Entra auth only, no key is accepted).')
param applicationInsightsConnectionString string

@secure()
@description('Required. The product\'s app settings (shared/config.py SETTINGS).')
param appSettings object

@minLength(36)
@maxLength(36)
@description('Required. Client id of the operator API\'s app registration (infra/app/api-registration.json), in this tenant.')
param apiClientId string

@description('Optional. HUBLINK_API_BASE_URL; default https://<default host name>.')
param apiBaseUrl string = ''

@description('Optional. Most instances.')
param maximumInstanceCount int = 40

@description('Optional. Memory of each instance, in MB.')
param instanceMemoryMB int = 2048

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy exists only in some regions; events are retried by Event Grid and the timer catches up
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: Event Grid delivers from the public service (spokes may be in other tenants), so the endpoint is public; the API needs an Entra ID token (authsettingsV2 below), the webhook its system key
  // checkov:skip=CKV_AZURE_17: Event Grid webhook delivery presents no client certificate
  // checkov:skip=CKV_AZURE_212: scale-to-zero plan; a missed event is retried by Event Grid and the timer backstop, no warm standby needed
  // checkov:skip=CKV_AZURE_213: nothing to take out of rotation on a scale-to-zero plan; health is watched in Application Insights
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Settings the platform reads, not the product: Flex Consumption takes the runtime from
// functionAppConfig, so FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION must not be set.
var platformSettings = {
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  // These are app settings, not the web config checkov takes every sites/config for:
  // checkov:skip=CKV_AZURE_66: not a web config (failed request tracing is an IIS setting)
  // checkov:skip=CKV_AZURE_63: not a web config (HTTP logging); the host logs to Application Insights
  // checkov:skip=CKV_AZURE_65: not a web config (detailed error pages)
  // checkov:skip=CKV_AZURE_80: not a web config; the app runs Python, not .NET
  // checkov:skip=CKV_AZURE_88: not a web config; Flex Consumption uses no Azure Files share
  // checkov:skip=CKV_AZURE_222: not a web config; public access is discussed on the site above
  // checkov:skip=CKV_AZURE_13: not a web config; App Service authentication is the authsettingsV2 resource below
  parent: site
  name: 'appsettings'
  properties: union(platformSettings, appSettings, {
    HUBLINK_API_BASE_URL: empty(apiBaseUrl) ? 'https://${site.properties.defaultHostName}' : apiBaseUrl
  })
}

// App Service Authentication in front of the HTTP API: an Entra ID bearer token for the API's app
// registration (allowed audiences: its identifier URI and client id, v1 and v2 tokens), verified before
// any function runs; no token -> 401. The product then checks the caller's app role (shared/authz.py).
// Event Grid's webhook cannot present a token: it is excluded and keeps its system key.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_66: not a web config (failed request tracing is an IIS setting)
  // checkov:skip=CKV_AZURE_63: not a web config (HTTP logging); the host logs to Application Insights
  // checkov:skip=CKV_AZURE_65: not a web config (detailed error pages)
  // checkov:skip=CKV_AZURE_80: not a web config; the app runs Python, not .NET
  // checkov:skip=CKV_AZURE_88: not a web config; Flex Consumption uses no Azure Files share
  // checkov:skip=CKV_AZURE_222: not a web config; public access is discussed on the site above
  // checkov:skip=CKV_AZURE_13: checkov reads the classic authsettings shape (properties.enabled); V2 says platform.enabled, which tests/test_infra.py checks
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: [
        '/runtime/webhooks/eventgrid'
      ]
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: apiClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${apiClientId}'
            apiClientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

// Deployments use Entra ID (azd, az functionapp deploy), never publishing passwords.
resource ftp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scm 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
