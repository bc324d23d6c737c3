// Data-plane roles on the control plane's storage account, and nowhere else.
// - the app's identity: tables (records), blobs + queues (Functions host, Flex deployment package);
// - optionally the deploying principal (a person, or the CI service principal), for local debugging and
//   `python -m shared.admin`.
param storageAccountName string
param identityPrincipalId string

@description('Object id of the deploying principal, granted the same data roles (local debugging). Empty: none.')
param deployerPrincipalId string = ''

@description('User, or ServicePrincipal when azd runs in CI: it must match the principal or ARM refuses the assignment.')
@allowed([
  'User'
  'ServicePrincipal'
])
param deployerPrincipalType string = 'User'

// Built-in role definition ids (docs: "Azure built-in roles").
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var dataRoles = [
  storageTableDataContributor
  storageBlobDataOwner
  storageQueueDataContributor
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource identityDataRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in dataRoles: {
    name: guid(storage.id, identityPrincipalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource deployerDataRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in (empty(deployerPrincipalId) ? [] : dataRoles): {
    name: guid(storage.id, deployerPrincipalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: deployerPrincipalId
      principalType: deployerPrincipalType
    }
  }
]
