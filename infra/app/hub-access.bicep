// The hub role on the hub network resource group: the narrowest scope that covers creating an
// endpoint there (the endpoint does not exist yet), joining the subnet, and reading its NIC.
@description('Required. Resource id of the HubLink Hub Operator role definition.')
param roleDefinitionId string

@description('Required. Object id of the product\'s service principal in the hub tenant.')
param principalId string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, roleDefinitionId)
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'aks-hublink: private endpoints to AKS clusters in this hub network'
  }
}
