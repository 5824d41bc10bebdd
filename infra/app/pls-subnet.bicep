// One subnet for the Private Link Services aks-hublink creates in front of API Server VNet
// Integration clusters (their API server has no private link of its own). A PLS takes its NAT IPs
// from a subnet whose private-link-service network policies are disabled; it must be in the
// cluster's own VNet. Deployed into the VNet's resource group by spoke.bicep.
@description('Required. Name of the existing virtual network the VNet-integrated clusters use.')
param virtualNetworkName string

@description('Required. Name of the subnet to create (or update) for the private link services.')
param subnetName string

@description('Required. Address prefix of the subnet, for example 10.40.2.0/24 (each PLS takes one IP).')
param addressPrefix string

@description('Optional. Resource id of a network security group for the subnet (empty: none).')
param networkSecurityGroupId string = ''

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' existing = {
  name: virtualNetworkName
}

resource subnet 'Microsoft.Network/virtualNetworks/subnets@2024-05-01' = {
  parent: vnet
  name: subnetName
  properties: {
    addressPrefix: addressPrefix
    privateLinkServiceNetworkPolicies: 'Disabled'
    privateEndpointNetworkPolicies: 'Enabled'
    networkSecurityGroup: empty(networkSecurityGroupId) ? null : {
      id: networkSecurityGroupId
    }
  }
}

output id string = subnet.id
