// The control plane's storage account: Functions host storage (blobs), the Flex deployment container,
// the app's tables and its work queues. Entra ID only: shared key access is disabled.
param name string
param location string = resourceGroup().location
param tags object = {}

@description('Replication: LRS works in every region; ZRS/GZRS where the region has availability zones.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_LRS'

@description('Blob containers to create (e.g. the Flex Consumption deployment container).')
param containers array = []

@description('Tables to create (full names, prefix included).')
param tables array = []

@description('Queues to create.')
param queues array = []

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  // checkov:skip=CKV_AZURE_35: network default Allow: the Flex app has no VNet and admins use the data plane from their machines; access is Entra-only (no keys, no SAS)
  // checkov:skip=CKV_AZURE_59: public endpoint on purpose (same reason as CKV_AZURE_35); shared keys and anonymous blob access are disabled
  // checkov:skip=CKV_AZURE_206: LRS by default (small state, regions without zones); pass storageSkuName=Standard_ZRS or Standard_GZRS where available
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    dnsEndpointType: 'Standard'
    // The function app is not VNet-integrated (Flex without a VNet) and admins run
    // `python -m shared.admin` from their machines, so the public endpoint stays reachable;
    // every request still needs an Entra token and a data role (no keys, no SAS).
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobServices 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource tableServices 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queueServices 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource storageQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queue in queues: {
    parent: queueServices
    name: queue
  }
]

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for container in containers: {
    parent: blobServices
    name: container
    properties: {
      publicAccess: 'None'
    }
  }
]

resource storageTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for table in tables: {
    parent: tableServices
    name: table
  }
]

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
