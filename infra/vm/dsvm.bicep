// One Data Science VM (Ubuntu 22.04) with JupyterHub, in one file. Port 8787 is kept for an RStudio Server you
// install yourself: current DSVM images no longer ship one (docs/dsvm-image.md).
//
// The classic "beefy DSVM from one Bicep file" guide, modernised:
//   - current image (microsoft-dsvm / ubuntu-2204 / 2204-gen2; the 18.04 and 20.04 images are retired);
//   - SSH key login by default; browser login (JupyterHub, RStudio) with a password you give or one the VM
//     generates at first boot, as the control plane's API offers;
//   - 22 (SSH), 8000 (JupyterHub, HTTPS) and 8787 (RStudio) open to `allowedSourceCidr` ONLY, which
//     has no default: you must say who may connect (e.g. your public IP with /32);
//   - Standard static public IP (Basic IPs are retired);
//   - deleting the VM deletes its NIC, public IP and OS disk.
// It is independent of the control plane. Usage: docs/deploy.md ("Standalone Data Science VM").
//
//   az deployment group create -g my-rg -f infra/vm/dsvm.bicep \
//     -p vmName=dsvm-alice adminUsername=alice adminPublicKey="$(cat ~/.ssh/id_ed25519.pub)" \
//        allowedSourceCidr="$(curl -s https://ifconfig.me)/32"
//
// Remember to deallocate it when you are done: `az vm deallocate -g my-rg -n dsvm-alice`.

@description('Name of the VM (also the prefix of its NIC, IP, NSG and disk).')
@minLength(1)
@maxLength(64)
param vmName string = 'dsvm'

@description('Location; defaults to the resource group location.')
param location string = resourceGroup().location

@description('Admin user name (lower case: JupyterHub user names are lower case).')
@minLength(1)
@maxLength(32)
param adminUsername string

@description('sshPublicKey (recommended) or password.')
@allowed([
  'sshPublicKey'
  'password'
])
param authenticationType string = 'sshPublicKey'

@description('SSH public key (ssh-ed25519 or ssh-rsa ...). Required unless authenticationType is password.')
param adminPublicKey string = ''

@description('Admin password; only with authenticationType password (JupyterHub and RStudio log in with it). Never output.')
@secure()
param adminPassword string = ''

@description('With sshPublicKey: the VM generates a password for JupyterHub and RStudio at first boot and leaves it in ~/dsvm-login.txt, readable by the admin user only (the browserLoginCommand output reads it once over SSH). SSH stays key-only, and the password never passes through ARM.')
param generatePassword bool = false

@description('The only source allowed to reach 22, 8000 and 8787: a CIDR such as 203.0.113.7/32. No default on purpose.')
@minLength(9)
param allowedSourceCidr string

@description('VM size.')
param vmSize string = 'Standard_E4s_v5'

// Azure refuses an OS disk smaller than the image's own (150 GB for the DSVM image: docs/dsvm-image.md).
@description('OS disk size in GB: at least the DSVM image\'s 150 GB. 256 costs the same as 150 on Premium SSD (both bill as P15).')
@minValue(150)
@maxValue(4095)
param osDiskSizeGB int = 256

@description('OS disk type.')
@allowed([
  'Premium_LRS'
  'StandardSSD_LRS'
  'Standard_LRS'
])
param osDiskType string = 'Premium_LRS'

@description('VNet address space and the VM subnet.')
param vnetAddressPrefix string = '10.1.0.0/16'
param subnetAddressPrefix string = '10.1.0.0/24'

@description('DNS label of the public IP (lower case, unique in the region); empty: none.')
param dnsLabelPrefix string = ''

param tags object = {}

// A key is required unless password login was chosen explicitly: with sshPublicKey and an empty key,
// ARM rejects the VM (InvalidParameter on linuxConfiguration.ssh.publicKeys.keyData) before creating it.
// With password login a key may still be given, and both work.
var usePassword = authenticationType == 'password'
var generated = generatePassword && !usePassword
var sshKeys = empty(adminPublicKey) ? [] : [
  {
    path: '/home/${adminUsername}/.ssh/authorized_keys'
    keyData: adminPublicKey
  }
]
var linuxConfiguration = {
  disablePasswordAuthentication: !usePassword
  ssh: {
    publicKeys: usePassword ? sshKeys : [
      {
        path: '/home/${adminUsername}/.ssh/authorized_keys'
        keyData: adminPublicKey
      }
    ]
  }
  provisionVMAgent: true
}
// JupyterHub and RStudio sign in Linux users with a password (PAM), never with SSH keys. First-boot
// cloud-init sets a random one and writes it only to the file: cloud-init's output goes to the serial
// console, which anyone who may read the VM's boot diagnostics can see, so nothing is printed.
var firstBootPassword = '''#cloud-config
runcmd:
  - [sh, -c, 'umask 077 && p="$(openssl rand -base64 24 | tr -d "/+=")" && printf "%s:%s\n" "{user}" "$p" | chpasswd && printf "%s\n" "$p" > /home/{user}/dsvm-login.txt && chown "{user}:" /home/{user}/dsvm-login.txt']
'''
var openPorts = [
  {
    name: 'SSH'
    port: '22'
    priority: 1000
  }
  {
    name: 'JupyterHub'
    port: '8000'
    priority: 1010
  }
  {
    name: 'RStudio'
    port: '8787'
    priority: 1020
  }
]

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${vmName}-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: [
      for rule in openPorts: {
        name: 'Allow-${rule.name}'
        properties: {
          priority: rule.priority
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: allowedSourceCidr
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: rule.port
        }
      }
    ]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: '${vmName}-vnet'
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
        name: 'default'
        properties: {
          addressPrefix: subnetAddressPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
        }
      }
    ]
  }
}

resource publicIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: '${vmName}-ip'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Regional'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
    dnsSettings: empty(dnsLabelPrefix) ? null : {
      domainNameLabel: dnsLabelPrefix
    }
  }
}

resource nic 'Microsoft.Network/networkInterfaces@2024-05-01' = {
  name: '${vmName}-nic'
  location: location
  tags: tags
  properties: {
    networkSecurityGroup: {
      id: nsg.id
    }
    ipConfigurations: [
      {
        name: 'ipconfig1'
        properties: {
          privateIPAllocationMethod: 'Dynamic'
          subnet: {
            id: '${vnet.id}/subnets/default'
          }
          publicIPAddress: {
            id: publicIp.id
            // Deleting the VM (which deletes this NIC) deletes the public IP too.
            properties: {
              deleteOption: 'Delete'
            }
          }
        }
      }
    ]
  }
}

resource vm 'Microsoft.Compute/virtualMachines@2024-07-01' = {
  // checkov:skip=CKV_AZURE_149: password login is opt-in (authenticationType=password, for JupyterHub/RStudio PAM logins); the default disables it, which checkov cannot evaluate
  // checkov:skip=CKV_AZURE_178: SSH keys are the default; see CKV_AZURE_149
  // checkov:skip=CKV_AZURE_151: OS disk is encrypted at rest by the platform (SSE, platform keys); ADE is retired and not needed for a personal workstation
  // checkov:skip=CKV_AZURE_97: encryption at host needs the EncryptionAtHost feature registered per subscription; off so the template deploys anywhere
  // checkov:skip=CKV_AZURE_50: VM extensions stay allowed: VMAccess (az vm user update) is the way back in after a lost key or password
  name: vmName
  location: location
  tags: tags
  properties: {
    hardwareProfile: {
      vmSize: vmSize
    }
    storageProfile: {
      imageReference: {
        publisher: 'microsoft-dsvm'
        offer: 'ubuntu-2204'
        sku: '2204-gen2'
        version: 'latest'
      }
      osDisk: {
        name: '${vmName}-osdisk'
        createOption: 'FromImage'
        diskSizeGB: osDiskSizeGB
        deleteOption: 'Delete'
        managedDisk: {
          storageAccountType: osDiskType
        }
      }
    }
    osProfile: {
      computerName: take(vmName, 64)
      adminUsername: adminUsername
      adminPassword: usePassword ? adminPassword : null
      linuxConfiguration: linuxConfiguration
      customData: generated ? base64(replace(firstBootPassword, '{user}', adminUsername)) : null
    }
    networkProfile: {
      networkInterfaces: [
        {
          id: nic.id
          properties: {
            deleteOption: 'Delete'
          }
        }
      ]
    }
    diagnosticsProfile: {
      bootDiagnostics: {
        enabled: true
      }
    }
  }
}

output publicIpAddress string = publicIp.properties.ipAddress
output jupyterHubUrl string = 'https://${publicIp.properties.ipAddress}:8000'
output rstudioUrl string = 'http://${publicIp.properties.ipAddress}:8787'
output sshCommand string = 'ssh ${adminUsername}@${publicIp.properties.ipAddress}'
output browserLoginCommand string = generated ? 'ssh ${adminUsername}@${publicIp.properties.ipAddress} \'cat dsvm-login.txt && rm dsvm-login.txt\'' : ''
