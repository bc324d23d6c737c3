// The function app on Flex Consumption: Python 3.11, user-assigned identity for everything
// (host storage, deployment package, tables, work queue, ARM, App Insights), optional Easy Auth.
param name string
param location string = resourceGroup().location
param tags object = {}
param planId string
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param instanceMemoryMB int = 2048
param maximumInstanceCount int = 40

@description('App settings of the control plane (shared.settings.Settings aliases).')
param appSettings object

@description('Comma-separated allowed VM sizes; set only when non-empty.')
param allowedSizes string = ''

@description('Notification webhook; set only when non-empty.')
@secure()
param notifyWebhookUrl string = ''

@description('Entra application (client) id for Easy Auth; empty: Easy Auth off.')
param authClientId string = ''
param authTenantId string = tenant().tenantId

var easyAuthEnabled = !empty(authClientId)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Identity-based host storage and AAD-only telemetry. FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION must not be set on Flex Consumption (functionAppConfig.runtime says it).
// No __queueServiceUri: the host uses queues only for blob triggers, and the identity holds no
// account-wide queue role.
var hostSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}
// The identity-based connection DSVM_QUEUE: the worker's queue trigger reads it (Functions resolves
// connection `DSVM_QUEUE` from these `__` settings) and the app sends on it with azure-storage-queue.
var workQueueSettings = {
  DSVM_QUEUE__queueServiceUri: storage.properties.primaryEndpoints.queue
  DSVM_QUEUE__credential: 'managedidentity'
  DSVM_QUEUE__clientId: identityClientId
}
var sizeSettings = empty(allowedSizes) ? {} : {
  DSVM_ALLOWED_SIZES: allowedSizes
}
var webhookSettings = empty(notifyWebhookUrl) ? {} : {
  NOTIFY_WEBHOOK_URL: notifyWebhookUrl
}
// Where the VMs' activity agents report (the app's default host name, from its deterministic name).
var agentSettings = {
  DSVM_PUBLIC_API_URL: 'https://${name}.azurewebsites.net/api'
}
var allSettings = union(appSettings, hostSettings, workQueueSettings, sizeSettings, webhookSettings, agentSettings)

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  // checkov:skip=CKV_AZURE_222: the API is public by design (curl/CLI users); every route but /api/health needs a bearer token or Easy Auth
  // checkov:skip=CKV_AZURE_17: no client certificates: clients authenticate with bearer tokens (Entra or the app's own)
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales to zero; always-ready instances would bill around the clock for an idle control plane
  // checkov:skip=CKV_AZURE_213: no platform health check on a scale-to-zero Flex app (its pings would keep an instance billed); /api/health is for external probes
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: planId
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // The whole set on every deployment (settings added by hand are dropped on the next azd up).
      appSettings: [
        for setting in items(allSettings): {
          name: setting.key
          value: setting.value
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No FTP / basic-auth publishing: azd deploys to the blob container with Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// App Service Authentication (Easy Auth) with Entra ID. Always deployed, enabled only when a client id
// is given, so clearing the id and redeploying really turns it off. Validates bearer tokens only (no
// login flow, no client secret); /api/health stays anonymous for probes.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov evaluates this authsettingsV2 resource with its checks for the 'web' site config (siteConfig):
  // checkov:skip=CKV_AZURE_13: misfire: reads the V1 authsettings 'enabled' flag; Easy Auth is platform.enabled here, optional by design
  // checkov:skip=CKV_AZURE_63: misfire: HTTP logging is a 'web' config setting, not an authsettingsV2 one; the app logs to App Insights
  // checkov:skip=CKV_AZURE_65: misfire: detailed error pages are a 'web' config setting; not applicable to an API returning problem+json
  // checkov:skip=CKV_AZURE_66: misfire: failed request tracing is a 'web' config setting (IIS feature, Windows only)
  // checkov:skip=CKV_AZURE_80: misfire: .NET framework version; this is a Python app
  // checkov:skip=CKV_AZURE_88: misfire: Azure Files mounts; the app keeps no files (Table storage)
  // checkov:skip=CKV_AZURE_222: the API is public by design (curl/CLI users); every route but /api/health needs a bearer token or Easy Auth
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: easyAuthEnabled
    }
    globalValidation: {
      requireAuthentication: easyAuthEnabled
      unauthenticatedClientAction: 'Return401'
      excludedPaths: [
        '/api/health'
      ]
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: easyAuthEnabled ? {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${authTenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            authClientId
            'api://${authClientId}'
          ]
        }
      }
    } : {}
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

output id string = functionApp.id
output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
