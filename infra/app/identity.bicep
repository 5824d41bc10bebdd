// The app's user-assigned identity: storage, App Insights, and the federated assertion that lets
// the multi-tenant app registration act in every tenant without a secret.
@description('Required. Identity name.')
param name string

@description('Required. Region.')
param location string

@description('Optional. Tags.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
