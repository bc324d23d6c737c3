// Data-plane roles on the control plane's storage account, and nowhere else.
// - the app's identity: tables (records) and blobs (Functions host, Flex deployment package) on the
//   account; queue roles on the work queue and its poison queue only (docs/deploy.md says why these);
// - optionally the deploying principal (a person, or the CI service principal), for local debugging and
//   `python -m shared.admin`.
param storageAccountName string
param identityPrincipalId string

@description('The queue the HTTP API enqueues work on and the queue-triggered worker reads.')
param workQueueName string

@description('Where the Functions host moves a message it could not process.')
param poisonQueueName string

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
var storageQueueDataMessageSender = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
// The host needs blob rights only, as long as no blob trigger uses it (queue rights go to the queues).
var identityAccountRoles = [
  storageTableDataContributor
  storageBlobDataOwner
]
var deployerAccountRoles = [
  storageTableDataContributor
  storageBlobDataOwner
  storageQueueDataContributor
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource queueServices 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource workQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: queueServices
  name: workQueueName
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: queueServices
  name: poisonQueueName
}

resource identityDataRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in identityAccountRoles: {
    name: guid(storage.id, identityPrincipalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// The trigger peeks, receives, deletes and also updates messages (it puts a failed message back with
// the retry delay and keeps a long-running one invisible): Update Message needs messages/write, which
// only Queue Data Contributor carries. It also covers the API's sends. Scoped to this one queue.
resource workQueueRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workQueue.id, identityPrincipalId, storageQueueDataContributor)
  scope: workQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Moving a poison message is one send to the poison queue (it exists, so the host does not create it).
resource poisonQueueRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(poisonQueue.id, identityPrincipalId, storageQueueDataMessageSender)
  scope: poisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageSender)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource deployerDataRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in (empty(deployerPrincipalId) ? [] : deployerAccountRoles): {
    name: guid(storage.id, deployerPrincipalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: deployerPrincipalId
      principalType: deployerPrincipalType
    }
  }
]
