// The workload resource group's contents: the VNet the Data Science VMs join, and the control plane's
// rights here (and only here): Virtual Machine Contributor, Network Contributor, Monitoring Reader.
//
// No NSG on the subnet: the control plane gives every VM its own NSG on its NIC, opening 22/8000/8787
// to that user's CIDRs only. Azure applies a subnet NSG AND a NIC NSG to inbound traffic, so a subnet
// NSG would have to allow the union of every user's CIDRs (kept in sync by the app) or it would block
// them all; the per-VM NSG is the single place the rule lives. See docs/deploy.md and infra/.checkov.yaml.
param location string = resourceGroup().location
param tags object = {}
param vnetName string
param subnetName string
param vnetAddressPrefix string = '10.20.0.0/16'
param subnetAddressPrefix string = '10.20.0.0/20'

@description('Principal id of the control plane identity.')
param identityPrincipalId string

// Built-in role definition ids (docs: "Azure built-in roles").
var virtualMachineContributor = '9980e02c-c2be-4d73-94e8-173b1dc7cf3c'
var networkContributor = '4d97b98b-1d4f-4787-a291-c67834d212e7'
var monitoringReader = '43d0d8ad-25c7-4714-9337-8ba259a9fe05'
var workloadRoles = [
  virtualMachineContributor
  networkContributor
  monitoringReader
]

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        vnetAddressPrefix
      ]
    }
    subnets: [
      {
        name: subnetName
        properties: {
          addressPrefix: subnetAddressPrefix
          privateEndpointNetworkPolicies: 'Enabled'
        }
      }
    ]
  }
}

// Scope: this resource group (the module is deployed at the workload group's scope).
resource roles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in workloadRoles: {
    name: guid(resourceGroup().id, identityPrincipalId, roleId)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

output vnetId string = vnet.id
output subnetId string = '${vnet.id}/subnets/${subnetName}'
