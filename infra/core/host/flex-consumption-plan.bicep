// Flex Consumption hosting plan (Linux). Billed per execution and GB-s beyond the monthly free grant.
param name string
param location string = resourceGroup().location
param tags object = {}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp'
  // checkov:skip=CKV_AZURE_225: not zone redundant: a stateless control plane whose outage only delays the sweeper; keeps every Flex region usable
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

output id string = plan.id
output name string = plan.name
