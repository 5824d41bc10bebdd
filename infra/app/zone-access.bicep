// The hub role on one existing private DNS zone kept outside the hub network resource group
// (for example in a central DNS subscription): the product only reads the zone and keeps A records.
@description('Required. Name of the existing zone (privatelink.<region>.azmk8s.io or private.<region>.azmk8s.io).')
param zoneName string

@description('Required. Resource id of the HubLink Hub Operator role definition.')
param roleDefinitionId string

@description('Required. Object id of the product\'s service principal in the hub tenant.')
param principalId string

resource zone 'Microsoft.Network/privateDnsZones@2024-06-01' existing = {
  name: zoneName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(zone.id, principalId, roleDefinitionId)
  scope: zone
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'aks-hublink: A records of private AKS clusters'
  }
}
