// One hub private DNS zone (privatelink.<region>.azmk8s.io, or private.<region>.azmk8s.io for API Server
// VNet Integration clusters), linked to the hub network so that
// anything in the hub (and what peers with it) resolves the clusters' private FQDNs.
@description('Required. privatelink.<region>.azmk8s.io or private.<region>.azmk8s.io.')
param zoneName string

@description('Required. Resource id of the hub virtual network.')
param virtualNetworkId string

@description('Optional. Tags.')
param tags object = {}

resource zone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: zoneName
  location: 'global'
  tags: tags
}

resource link 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: zone
  name: 'hublink-${uniqueString(virtualNetworkId)}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: virtualNetworkId
    }
  }
}

output id string = zone.id
