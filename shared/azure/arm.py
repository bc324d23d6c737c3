"""ARM through the azure-mgmt-* clients: the NSG, the VM (with its inline NIC and public IP), power actions.

The SDK packages are imported on first use, not at module import: they cost most of a cold start.

Two temperaments: the request path's `Arm` retries briefly (a throttled call fails within seconds, and the
API answers 503 with ARM's Retry-After) and never waits on an operation; the sweeper's and the queue
worker's `Arm(patient=True)` sleep out every Retry-After and wait for operations to finish.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.core.models import IMAGES, VmRecord
from shared.core.observations import ArmError, ObservedVm, Sample, child_names
from shared.settings import ARM_PUBLIC_ENDPOINT, Settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient

ARM_SCOPE = "https://management.azure.com/.default"
CPU_METRIC = "Percentage CPU"
NETWORK_IN_METRIC = "Network In Total"
# Azure Monitor's metrics:getBatch takes at most 50 resource ids per call.
METRICS_BATCH = 50
# The api-version azure-monitor-querymetrics 1.0 speaks for metrics:getBatch.
METRICS_API_VERSION = "2024-02-01"
# How long one instance reuses the group-wide VM list for `GET /api/vms`.
LIST_CACHE_SECONDS = 10.0
# The api-version azure-mgmt-compute 39 speaks; used for the raw list pages.
COMPUTE_API_VERSION = "2026-04-01"
OPEN_PORTS = {"ssh": 22, "jupyterhub": 8000, "rstudio": 8787}
MANAGED_BY = "dsvm-control-plane"
# The VM access extension resets a Linux user's password from protected settings
# (https://github.com/Azure/azure-linux-extensions/blob/master/VMAccess/README.md: publisher
# Microsoft.OSTCExtensions, type VMAccessForLinux, version 1.5; protected settings username and password).
# The name is the one the Azure portal and `az vm user update` give it.
VMACCESS = {
    "name": "enablevmaccess",
    "publisher": "Microsoft.OSTCExtensions",
    "type": "VMAccessForLinux",
    "version": "1.5",
}
EXTENSION_DONE = frozenset({"succeeded", "failed", "canceled"})


# The request path gives up on ARM after this long (retries and Retry-After included), well inside what a
# caller waits for an answer; the patient clients keep azure-core's defaults.
BRIEF_RETRY_TOTAL = 2
BRIEF_RETRY_WAIT_SECONDS = 4.0


def brief_retry_policy() -> Any:
    """azure-core's RetryPolicy, except that an answer asking to wait longer than BRIEF_RETRY_WAIT_SECONDS is
    not waited for: it is returned as it is (a 429 with its Retry-After) for the API to pass on."""
    from azure.core.pipeline.policies import RetryPolicy

    class BriefRetryPolicy(RetryPolicy):  # type: ignore[type-arg]
        def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
            retry_after = self.get_retry_after(response)
            if retry_after is not None and retry_after > BRIEF_RETRY_WAIT_SECONDS:
                return False
            return bool(super().is_retry(settings, response))

    return BriefRetryPolicy(
        retry_total=BRIEF_RETRY_TOTAL,
        retry_backoff_factor=0.3,
        retry_backoff_max=2,
        timeout=BRIEF_RETRY_WAIT_SECONDS * 2,
    )


def _arm_error(exc: Exception) -> ArmError:
    from azure.core.exceptions import AzureError, HttpResponseError

    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        code = (exc.error.code if exc.error else None) or str(exc.reason or "ArmError")
        message = (exc.error.message if exc.error else None) or exc.message or str(exc)
        details = (exc.error.details if exc.error else None) or []
        # Compute wraps the specific reason (QuotaExceeded, TooManyRequests...) in OperationNotAllowed.
        if code == "OperationNotAllowed" and details and details[0].code:
            code = str(details[0].code)
        retry_after = None
        header = exc.response.headers.get("Retry-After", "") if exc.response is not None else ""  # type: ignore[attr-defined]
        if header.isdigit():
            retry_after = int(header)
        return ArmError(status, code, message, retry_after)
    if isinstance(exc, AzureError):
        # Transport failures name hosts and ports; the caller only needs to know ARM did not answer.
        return ArmError(0, "ArmUnreachable", f"Azure Resource Manager could not be reached ({type(exc).__name__}).")
    raise exc


def observe(vm: Mapping[str, Any]) -> ObservedVm:
    """A VM as ARM returns it (REST JSON, or an SDK model, which is a mapping over the same JSON)."""
    props = vm.get("properties") or {}
    statuses = (props.get("instanceView") or {}).get("statuses") or []
    power = None
    error_code = error_message = None
    changed_at: datetime | None = None
    for status in statuses:
        code = status.get("code") or ""
        if code.startswith("PowerState/"):
            power = code.split("/", 1)[1]
        elif code.startswith("ProvisioningState/"):
            changed_at = _status_time(status.get("time"))
            if code.startswith("ProvisioningState/failed"):
                parts = code.split("/")
                error_code = parts[2] if len(parts) > 2 else "ProvisioningFailed"
                error_message = status.get("message") or status.get("displayStatus")
    created = props.get("timeCreated")
    tags = vm.get("tags") or {}
    return ObservedVm(
        name=str(vm["name"]),
        provisioning_state=props.get("provisioningState") or "Unknown",
        power_state=power,
        error_code=error_code,
        error_message=error_message,
        size=(props.get("hardwareProfile") or {}).get("vmSize"),
        time_created=datetime.fromisoformat(created) if isinstance(created, str) else created,
        record_id=tags.get("dsvm-record"),
        changed_at=changed_at,
    )


def _status_time(value: Any) -> datetime | None:
    """An instance view status's `time` (ISO text in REST JSON, a datetime in SDK models), timezone-aware."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class LocalToken:
    """A fixed bearer token for the local ARM simulator. Never used against Azure."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, 4102444800)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self._token, 4102444800)


def identity_credential(settings: Settings) -> TokenCredential:
    """The function's managed identity in Azure (a developer's az login elsewhere)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)


def arm_credential(settings: Settings) -> TokenCredential:
    if settings.arm_endpoint.rstrip("/") != ARM_PUBLIC_ENDPOINT:
        return LocalToken("local-simulator")  # type: ignore[return-value]
    return identity_credential(settings)


class Arm:
    """The workload resource group as the control plane sees it."""

    def __init__(self, settings: Settings, credential: TokenCredential | None = None, *, patient: bool = False) -> None:
        self.settings = settings
        self.patient = patient
        self.group = settings.resource_group
        self._credential = credential
        self._lock = threading.Lock()
        self._compute: ComputeManagementClient | None = None
        self._network: NetworkManagementClient | None = None
        self._vcpus: dict[str, int] | None = None
        self._listed: tuple[float, dict[str, ObservedVm]] | None = None
        self._metrics: Any = None

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "base_url": self.settings.arm_endpoint,
            "credential_scopes": [ARM_SCOPE],
            "polling_interval": self.settings.arm_polling_interval,
        }
        if self.patient:
            kwargs["retry_backoff_factor"] = self.settings.arm_retry_backoff
        else:
            kwargs["retry_policy"] = brief_retry_policy()
        if self.settings.arm_ca_bundle:
            kwargs["connection_verify"] = self.settings.arm_ca_bundle
        return kwargs

    @property
    def credential(self) -> TokenCredential:
        if self._credential is None:
            self._credential = arm_credential(self.settings)
        return self._credential

    @property
    def compute(self) -> ComputeManagementClient:
        with self._lock:
            if self._compute is None:
                from azure.mgmt.compute import ComputeManagementClient

                self._compute = ComputeManagementClient(
                    self.credential, self.settings.subscription_id, **self.client_kwargs()
                )
            return self._compute

    @property
    def network(self) -> NetworkManagementClient:
        with self._lock:
            if self._network is None:
                from azure.mgmt.network import NetworkManagementClient

                self._network = NetworkManagementClient(
                    self.credential, self.settings.subscription_id, **self.client_kwargs()
                )
            return self._network

    # --- reads --------------------------------------------------------------------------------------

    def ping(self) -> None:
        try:
            next(iter(self.compute.virtual_machines.list(self.group)), None)
        except Exception as exc:
            raise _arm_error(exc) from exc

    def get_vm(self, name: str) -> ObservedVm | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return observe(self.compute.virtual_machines.get(self.group, name, expand="instanceView"))
        except ResourceNotFoundError:
            return None
        except Exception as exc:
            raise _arm_error(exc) from exc

    def recent_vms(self, max_age: float = LIST_CACHE_SECONDS) -> dict[str, ObservedVm]:
        """`list_vms`, shared by the requests of one instance for `max_age` seconds.

        Lists are read far more often than VMs change; one group-wide list every few seconds serves
        every caller and keeps the read budget for the sweeper. Actions sent from here drop it.
        """
        with self._lock:
            cached = self._listed
        if cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1]
        observed = self.list_vms()
        with self._lock:
            self._listed = (time.monotonic(), observed)
        return observed

    def forget_list(self) -> None:
        with self._lock:
            self._listed = None

    def list_vms(self) -> dict[str, ObservedVm]:
        """Every VM in the workload group with its power state: one paged list call.

        The pages go through the SDK client's pipeline (auth, retries, Retry-After) but are read as JSON:
        building SDK models costs about 1.3 ms a VM, which dominates a sweep of thousands.
        """
        from azure.core.rest import HttpRequest

        url: str | None = (
            f"{self.settings.arm_endpoint.rstrip('/')}/subscriptions/{self.settings.subscription_id}"
            f"/resourceGroups/{self.group}/providers/Microsoft.Compute/virtualMachines"
            f"?api-version={COMPUTE_API_VERSION}&$expand=instanceView"
        )
        observed: dict[str, ObservedVm] = {}
        try:
            while url:
                response = self.compute.send_request(HttpRequest("GET", url))
                response.raise_for_status()
                page = response.json()
                for vm in page.get("value", []):
                    seen = observe(vm)
                    observed[seen.name] = seen
                url = page.get("nextLink")
        except Exception as exc:
            raise _arm_error(exc) from exc
        return observed

    def public_ip(self, vm_name: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            ip = self.network.public_ip_addresses.get(self.group, child_names(vm_name).public_ip)
        except ResourceNotFoundError:
            return None
        except Exception as exc:
            raise _arm_error(exc) from exc
        return ip.properties.ip_address if ip.properties else None

    def nsg_owners(self) -> dict[str, str]:
        """Every NSG in the workload group: name -> the record id its `dsvm-record` tag names ("" if none)."""
        try:
            return {
                str(nsg.name): str((nsg.tags or {}).get("dsvm-record", ""))
                for nsg in self.network.network_security_groups.list(self.group)
            }
        except Exception as exc:
            raise _arm_error(exc) from exc

    def nsg_owner(self, vm_name: str) -> str | None:
        """The record id the VM's NSG is tagged with ("" if untagged), or None when there is no such NSG."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            nsg = self.network.network_security_groups.get(self.group, child_names(vm_name).nsg)
        except ResourceNotFoundError:
            return None
        except Exception as exc:
            raise _arm_error(exc) from exc
        return str((nsg.tags or {}).get("dsvm-record", ""))

    def vm_id(self, name: str) -> str:
        return (
            f"/subscriptions/{self.settings.subscription_id}/resourceGroups/{self.group}"
            f"/providers/Microsoft.Compute/virtualMachines/{name}"
        )

    def vm_metrics(
        self, names: list[str], start: datetime, end: datetime, interval: timedelta
    ) -> dict[str, list[Sample]]:
        """CPU maximum and network-in total per interval, for up to METRICS_BATCH VMs in one call."""
        from azure.core.rest import HttpRequest
        from azure.monitor.querymetrics import MetricsClient

        if len(names) > METRICS_BATCH:
            raise ValueError(f"at most {METRICS_BATCH} VMs per metrics call")
        with self._lock:
            if self._metrics is None:
                endpoint = (
                    self.settings.metrics_endpoint or f"https://{self.settings.location}.metrics.monitor.azure.com"
                )
                kwargs = {"connection_verify": self.settings.arm_ca_bundle} if self.settings.arm_ca_bundle else {}
                self._metrics = MetricsClient(endpoint, self.credential, **kwargs)
            client = self._metrics
        by_id = {self.vm_id(name).lower(): name for name in names}
        # Sent through the SDK client's pipeline (auth, retries) but read as JSON: its models cost ~2 ms a VM.
        request = HttpRequest(
            "POST",
            f"/subscriptions/{self.settings.subscription_id}/metrics:getBatch",
            params={
                "api-version": METRICS_API_VERSION,
                "starttime": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endtime": end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "interval": f"PT{int(interval.total_seconds() // 60)}M",
                "metricnamespace": "Microsoft.Compute/virtualMachines",
                "metricnames": f"{CPU_METRIC},{NETWORK_IN_METRIC}",
                "aggregation": "maximum,total",
            },
            json={"resourceids": [self.vm_id(name) for name in names]},
        )
        try:
            response = client.send_request(request)
            response.raise_for_status()
            body = response.json()
        except Exception as exc:
            raise _arm_error(exc) from exc
        samples: dict[str, dict[str, dict[str, float | None]]] = {}
        for result in body.get("values", []):
            for metric in result.get("value", []):
                name = by_id.get(metric["id"].lower().split("/providers/microsoft.insights/")[0])
                if name is None:
                    continue
                cpu = metric["name"]["value"] == CPU_METRIC
                points = samples.setdefault(name, {})
                for series in metric.get("timeseries", []):
                    for value in series.get("data", []):
                        point = points.setdefault(value["timeStamp"], {})
                        point["cpu" if cpu else "net"] = value.get("maximum" if cpu else "total")
        return {
            name: [Sample(datetime.fromisoformat(at), p.get("cpu"), p.get("net")) for at, p in sorted(points.items())]
            for name, points in samples.items()
        }

    def size_vcpus(self) -> dict[str, int]:
        """vCPUs of every size offered in the workload region (one ARM call per process)."""
        if self._vcpus is None:
            try:
                sizes = self.compute.virtual_machine_sizes.list(self.settings.location)
                self._vcpus = {str(size.name): int(size.number_of_cores or 0) for size in sizes}
            except Exception as exc:
                raise _arm_error(exc) from exc
        return self._vcpus

    # --- writes -------------------------------------------------------------------------------------

    def create_nsg(self, record: VmRecord) -> None:
        """Create the VM's NSG only if the name is free (If-None-Match: *) and wait until it is provisioned.

        A 412 means an NSG of that name exists: the caller checks whose it is (`nsg_owner`).
        """
        from azure.mgmt.network.models import NetworkSecurityGroup

        try:
            # azure-mgmt-network has no match_condition for NSGs: the header is sent as it is.
            self.network.network_security_groups.begin_create_or_update(
                self.group,
                child_names(record.name).nsg,
                NetworkSecurityGroup(nsg_body(record)),
                headers={"If-None-Match": "*"},
            ).result()
        except Exception as exc:
            raise _arm_error(exc) from exc

    def wait_for_nsg(self, vm_name: str) -> None:
        """Wait until an existing NSG has finished provisioning (a create that an earlier attempt started)."""
        nsg = child_names(vm_name).nsg
        try:
            while True:
                found = self.network.network_security_groups.get(self.group, nsg).properties
                if str(found.provisioning_state if found else "").lower() not in ("updating", "creating"):
                    return
                time.sleep(max(self.settings.arm_polling_interval, 0.1))
        except Exception as exc:
            raise _arm_error(exc) from exc

    def delete_nsg(self, vm_name: str, *, wait: bool = False) -> None:
        """Delete the VM's NSG (ARM refuses while a NIC still uses it); the caller has checked it is ours."""
        try:
            poller = self.network.network_security_groups.begin_delete(
                self.group, child_names(vm_name).nsg, polling=wait
            )
            if wait:
                poller.result()
        except Exception as exc:
            raise _arm_error(exc) from exc

    def begin_create_vm(self, record: VmRecord, custom_data: str | None, throwaway_password: str | None) -> None:
        """Send the VM PUT only if no VM of that name exists (If-None-Match: *); do not wait for it.

        A 412 means the name is taken in Azure: the caller checks whose VM it is.
        """
        from azure.core import MatchConditions
        from azure.mgmt.compute.models import VirtualMachine

        self.forget_list()
        body = vm_body(record, self.settings, custom_data, throwaway_password)
        try:
            self.compute.virtual_machines.begin_create_or_update(
                self.group, record.name, VirtualMachine(body), match_condition=MatchConditions.IfMissing, polling=False
            )
        except Exception as exc:
            raise _arm_error(exc) from exc

    def update_nsg_rules(self, record: VmRecord) -> bool | None:
        """Give the record's own NSG the record's rules (allowed_cidrs) and wait until it is provisioned.

        None: there is no such NSG; False: its `dsvm-record` tag is not this record's, and nothing was sent.
        The PUT carries If-Match with the ETag of the NSG whose tag was checked (a 412 if it changed since).
        """
        from azure.core.exceptions import ResourceNotFoundError
        from azure.mgmt.network.models import NetworkSecurityGroup

        name = child_names(record.name).nsg
        try:
            try:
                found = self.network.network_security_groups.get(self.group, name)
            except ResourceNotFoundError:
                return None
            if (found.tags or {}).get("dsvm-record") != record.id:
                return False
            self.network.network_security_groups.begin_create_or_update(
                self.group, name, NetworkSecurityGroup(nsg_body(record)), headers={"If-Match": str(found.etag)}
            ).result()
        except Exception as exc:
            raise _arm_error(exc) from exc
        return True

    def begin_password_reset(self, record: VmRecord, password: str, operation: str) -> None:
        """Send the VMAccessForLinux PUT that sets the admin user's password; do not wait for it.

        The password goes only in protectedSettings (ARM never returns them); `operation` goes in
        forceUpdateTag, so each reset runs even with the same settings and its result can be told apart.
        The caller has checked that the VM is this record's and running.
        """
        from azure.mgmt.compute.models import VirtualMachineExtension

        body = {
            "location": record.location,
            "properties": {
                "publisher": VMACCESS["publisher"],
                "type": VMACCESS["type"],
                "typeHandlerVersion": VMACCESS["version"],
                "autoUpgradeMinorVersion": True,
                "forceUpdateTag": operation,
                "settings": {},
                "protectedSettings": {"username": record.admin_username, "password": password},
            },
        }
        try:
            self.compute.virtual_machine_extensions.begin_create_or_update(
                self.group, record.name, VMACCESS["name"], VirtualMachineExtension(body), polling=False
            )
        except Exception as exc:
            raise _arm_error(exc) from exc

    def password_reset_result(self, vm_name: str, timeout: float) -> tuple[str | None, str, str | None] | None:
        """Wait up to `timeout` seconds for the VM access extension to finish: (its forceUpdateTag, its
        provisioning state, Azure's message if it failed); None when the VM has no such extension.
        Raises TimeoutError if it is still running."""
        from azure.core.exceptions import ResourceNotFoundError

        deadline = time.monotonic() + timeout
        extensions = self.compute.virtual_machine_extensions
        try:
            while True:
                try:
                    ext = extensions.get(self.group, vm_name, VMACCESS["name"], expand="instanceView")
                except ResourceNotFoundError:
                    return None
                props = ext.properties
                state = str(props.provisioning_state if props else "")
                if state.lower() in EXTENSION_DONE:
                    statuses = (props.instance_view.statuses if props and props.instance_view else None) or []
                    message = next((str(s.message) for s in statuses if s.message), None)
                    return (props.force_update_tag if props else None), state, message
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the VM access extension on {vm_name} is still {state}")
                time.sleep(max(self.settings.arm_polling_interval, 0.1))
        except TimeoutError:
            raise
        except Exception as exc:
            raise _arm_error(exc) from exc

    def delete_vm(self, vm_name: str) -> None:
        """Delete the VM (its NIC, public IP and OS disk go with it: deleteOption Delete) and wait until done."""
        self.forget_list()
        try:
            self.compute.virtual_machines.begin_delete(self.group, vm_name).result()
        except Exception as exc:
            raise _arm_error(exc) from exc

    def begin_action(self, vm_name: str, action: str) -> None:
        """start | deallocate | restart | delete, without waiting for the operation to finish."""
        operations = self.compute.virtual_machines
        begin = {
            "start": operations.begin_start,
            "deallocate": operations.begin_deallocate,
            "restart": operations.begin_restart,
            "delete": operations.begin_delete,
        }[action]
        self.forget_list()
        try:
            begin(self.group, vm_name, polling=False)
        except Exception as exc:
            raise _arm_error(exc) from exc


def nsg_body(record: VmRecord) -> dict[str, Any]:
    rules = []
    for priority, (label, port) in enumerate(OPEN_PORTS.items(), start=1000):
        rules.append(
            {
                "name": f"allow-{label}",
                "properties": {
                    "protocol": "Tcp",
                    "access": "Allow",
                    "direction": "Inbound",
                    "priority": priority,
                    "sourceAddressPrefixes": record.allowed_cidrs,
                    "sourcePortRange": "*",
                    "destinationAddressPrefix": "*",
                    "destinationPortRange": str(port),
                },
            }
        )
    return {"location": record.location, "tags": arm_tags(record), "properties": {"securityRules": rules}}


def arm_tags(record: VmRecord) -> dict[str, str]:
    return {**record.tags, "managed-by": MANAGED_BY, "owner": record.owner, "dsvm-record": record.id}


def vm_body(
    record: VmRecord, settings: Settings, custom_data: str | None, throwaway_password: str | None
) -> dict[str, Any]:
    """The VM PUT body. With password login, ARM gets a throwaway password and the user's own arrives as a
    hash in `custom_data` (cloud-init sets it on first boot; see shared.core.passwords)."""
    names = child_names(record.name)
    publisher, offer, sku = IMAGES[record.image]
    os_profile: dict[str, Any] = {
        "computerName": record.name,
        "adminUsername": record.admin_username,
        "linuxConfiguration": {"disablePasswordAuthentication": not record.password_auth},
    }
    if record.password_auth:
        os_profile["adminPassword"] = throwaway_password
    if custom_data is not None:
        os_profile["customData"] = custom_data
    if record.ssh_public_key:
        os_profile["linuxConfiguration"]["ssh"] = {
            "publicKeys": [
                {
                    "path": f"/home/{record.admin_username}/.ssh/authorized_keys",
                    "keyData": record.ssh_public_key,
                }
            ]
        }
    nsg_id = (
        f"/subscriptions/{settings.subscription_id}/resourceGroups/{settings.resource_group}"
        f"/providers/Microsoft.Network/networkSecurityGroups/{names.nsg}"
    )
    return {
        "location": record.location,
        "tags": arm_tags(record),
        "properties": {
            "hardwareProfile": {"vmSize": record.size},
            "storageProfile": {
                "imageReference": {"publisher": publisher, "offer": offer, "sku": sku, "version": "latest"},
                "osDisk": {
                    "name": names.os_disk,
                    "createOption": "FromImage",
                    "diskSizeGB": record.os_disk_gb,
                    "managedDisk": {"storageAccountType": record.os_disk_type.value},
                    "deleteOption": "Delete",
                },
            },
            "osProfile": os_profile,
            "networkProfile": {
                "networkApiVersion": "2022-11-01",
                "networkInterfaceConfigurations": [
                    {
                        "name": names.nic,
                        "properties": {
                            "primary": True,
                            "deleteOption": "Delete",
                            "networkSecurityGroup": {"id": nsg_id},
                            "ipConfigurations": [
                                {
                                    "name": names.ip_config,
                                    "properties": {
                                        "primary": True,
                                        "subnet": {"id": settings.subnet_id},
                                        "publicIPAddressConfiguration": {
                                            "name": names.public_ip,
                                            "sku": {"name": "Standard", "tier": "Regional"},
                                            "properties": {
                                                "publicIPAllocationMethod": "Static",
                                                "deleteOption": "Delete",
                                            },
                                        },
                                    },
                                }
                            ],
                        },
                    }
                ],
            },
            "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
        },
    }
