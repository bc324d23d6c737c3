// The DSVM control plane: a Python function app on Flex Consumption, its storage and monitoring,
// and a separate workload resource group (VNet + subnet) where it creates the Data Science VMs.
//
// Deployed by `azd up` (see azure.yaml, main.parameters.json and docs/deploy.md).
// Least privilege: the app's user-assigned identity gets data-plane roles on its own storage account
// (queue roles on its two queues only), Monitoring Metrics Publisher on its App Insights, and VM
// Contributor / Network Contributor / Monitoring Reader on the workload resource group only. Nothing at
// subscription scope.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used in resource names and the resource token.')
param environmentName string

@minLength(1)
@description('Primary location for all resources. Only regions that offer Flex Consumption (docs/deploy.md says where the list comes from and how to check it).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the deploying principal (azd sets AZURE_PRINCIPAL_ID). Gets table/blob/queue data roles on the storage account for local debugging and admin commands. Leave empty to skip.')
param principalId string = ''

@description('Kind of principal principalId is: User when a person runs azd, ServicePrincipal when azd runs in CI (azd 1.17+ sets AZURE_PRINCIPAL_TYPE to match its login). ARM refuses a role assignment whose principalType does not match the principal.')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Entra application (client) id for App Service Authentication (Easy Auth). Empty: Easy Auth off and the API uses its own bearer tokens.')
param authClientId string = ''

@description('Tenant that issues tokens for Easy Auth; defaults to the deployment tenant.')
param authTenantId string = tenant().tenantId

@description('Location of the Data Science VMs and their VNet; defaults to location.')
param workloadLocation string = ''

@description('Address space of the workload VNet.')
param workloadVnetAddressPrefix string = '10.20.0.0/16'

@description('Address prefix of the subnet the VMs are placed in.')
param workloadSubnetAddressPrefix string = '10.20.0.0/20'

@description('NCRONTAB (6 fields, UTC) of the sweeper timer.')
param sweepSchedule string = '0 */5 * * * *'

@description('When "true" the sweeper only logs what it would do.')
@allowed([
  'true'
  'false'
])
param dryRun string = 'false'

@description('Prefix of the table names; the tables below are created as prefix + name.')
param tablePrefix string = 'dsvm'

@description('Comma-separated VM sizes the team may use; empty keeps the app default.')
param allowedSizes string = ''

@description('Webhook for stop/delete notices; it may carry a token, so it is a secure parameter. Empty: no notices.')
@secure()
param notifyWebhookUrl string = ''

@description('Replication of the control plane storage account (Standard_ZRS where the region has zones).')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSkuName string = 'Standard_LRS'

@description('Instance memory of the Flex Consumption app (MB).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Scale-out ceiling of the Flex Consumption app.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var vmLocation = empty(workloadLocation) ? location : workloadLocation
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
// Flex Consumption pulls the app package from this blob container.
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
// The tables the app uses: prefix + name (see shared/azure/tables.py).
var tableNames = [
  'vms'
  'events'
  'idempotency'
  'tokens'
  'policy'
  'prices'
  'costs'
  'activity'
]
var easyAuthEnabled = !empty(authClientId)
// Work the HTTP API hands to the queue-triggered worker. The Functions host moves a message it could not
// process in maxDequeueCount tries to '<queue>-poison'; created here, so the host never needs to create it.
var workQueueName = 'dsvm-work'
var poisonQueueName = '${workQueueName}-poison'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

// The VMs live here, apart from the control plane, so the app's ARM rights end at this group.
resource workloadRg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}-dsvm'
  location: vmLocation
  tags: tags
}

module identity './core/identity/user-assigned-identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage './core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    skuName: storageSkuName
    containers: [
      deploymentContainerName
    ]
    tables: [for t in tableNames: '${tablePrefix}${t}']
    queues: [
      workQueueName
      poisonQueueName
    ]
  }
}

module storageAccess './app/storage-access.bicep' = {
  name: 'storage-access'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    identityPrincipalId: identity.outputs.principalId
    workQueueName: workQueueName
    poisonQueueName: poisonQueueName
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module monitoring './core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    publisherPrincipalId: identity.outputs.principalId
  }
}

module workload './app/workload.bicep' = {
  name: 'workload'
  scope: workloadRg
  params: {
    location: vmLocation
    tags: tags
    vnetName: '${abbrs.networkVirtualNetworks}dsvm-${resourceToken}'
    subnetName: '${abbrs.networkVirtualNetworksSubnets}dsvm'
    vnetAddressPrefix: workloadVnetAddressPrefix
    subnetAddressPrefix: workloadSubnetAddressPrefix
    identityPrincipalId: identity.outputs.principalId
  }
}

module plan './core/host/flex-consumption-plan.bicep' = {
  name: 'plan'
  scope: rg
  params: {
    name: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
  }
}

module api './app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: union(tags, {
      'azd-service-name': 'api'
    })
    planId: plan.outputs.id
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    authClientId: authClientId
    authTenantId: authTenantId
    appSettings: {
      // Every required field of shared.settings.Settings (tests/infra checks this against the model).
      AZURE_SUBSCRIPTION_ID: subscription().subscriptionId
      DSVM_RESOURCE_GROUP: workloadRg.name
      DSVM_LOCATION: vmLocation
      DSVM_SUBNET_ID: workload.outputs.subnetId
      DSVM_TABLES_ENDPOINT: storage.outputs.tableEndpoint
      DSVM_TABLE_PREFIX: tablePrefix
      AZURE_CLIENT_ID: identity.outputs.clientId
      DSVM_EASY_AUTH: easyAuthEnabled ? 'true' : 'false'
      SWEEP_SCHEDULE: sweepSchedule
      DRY_RUN: dryRun
    }
    // Set only when non-empty, so the app's defaults apply otherwise.
    allowedSizes: allowedSizes
    notifyWebhookUrl: notifyWebhookUrl
  }
  dependsOn: [
    // The app starts with identity-based storage: its roles must exist first.
    storageAccess
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_CLIENT_ID string = identity.outputs.clientId
output SERVICE_API_NAME string = api.outputs.name
output DSVM_API string = '${api.outputs.uri}/api'
output DSVM_RESOURCE_GROUP string = workloadRg.name
output DSVM_LOCATION string = vmLocation
output DSVM_SUBNET_ID string = workload.outputs.subnetId
output DSVM_TABLES_ENDPOINT string = storage.outputs.tableEndpoint
output DSVM_EASY_AUTH bool = easyAuthEnabled
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
