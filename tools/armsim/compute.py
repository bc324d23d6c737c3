"""Microsoft.Compute: virtual machines (create with NIC/PIP/disk side effects, power actions, delete
with deleteOption cascades, paged lists), managed disks and VM sizes."""

from __future__ import annotations

import base64
import copy
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .bodies import strict_body
from .context import SimContext
from .errors import ArmError, invalid_parameter, not_found
from .extensions import extension_views, extensions_of, render_extension
from .history import VmLedger
from .http import Request, Response, Router
from .ids import resource_id
from .images import os_disk_gb as image_os_disk_gb
from .network import NIC, PIP, NetworkProvider, _ref, invalid_reference
from .sizes import VmSize, all_sizes, find_size
from .state import Operation, Pending, Resource
from .throttle import retry_seconds
from .timing import Timing
from .vm import DISK_TYPE, TRANSITIONAL, VM_TYPE, Child, VmRuntime, instance_view, runtime, set_provisioning, statuses

_DISK_TYPES = {
    "standard_lrs",
    "premium_lrs",
    "standardssd_lrs",
    "ultrassd_lrs",
    "premium_zrs",
    "standardssd_zrs",
    "premiumv2_lrs",
}
_SSH_KEY = re.compile(r"^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$")

_ACTION_KINDS = {
    "start": "vm_start",
    "deallocate": "vm_deallocate",
    "powerOff": "vm_power_off",
    "restart": "vm_restart",
}
PREEMPTED = ("OperationPreempted", "Operation execution has been preempted by a more recent operation.")
ALLOCATION_FAILED = (
    "Allocation failed. We do not have sufficient capacity for the requested VM size in this region. "
    "Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance"
)


class ComputeProvider:
    def __init__(self, ctx: SimContext, network: NetworkProvider) -> None:
        self.ctx = ctx
        self.network = network
        ctx.handlers["compute"] = self._finish

    def register(self, router: Router) -> None:
        vms = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines"
        item = vms + "/{name}"
        router.add("PUT", item, "VirtualMachines_CreateOrUpdate", self.put_vm)
        router.add("PATCH", item, "VirtualMachines_Update", self.patch_vm)
        router.add("GET", item, "VirtualMachines_Get", self.get_vm)
        router.add("DELETE", item, "VirtualMachines_Delete", self.delete_vm)
        router.add("GET", item + "/instanceView", "VirtualMachines_InstanceView", self.get_instance_view)
        for action, op_name in (
            ("start", "Start"),
            ("deallocate", "Deallocate"),
            ("powerOff", "PowerOff"),
            ("restart", "Restart"),
        ):
            router.add("POST", f"{item}/{action}", f"VirtualMachines_{op_name}", self._action_handler(action))
        router.add("GET", vms, "VirtualMachines_List", self.list_vms)
        router.add(
            "GET", "/subscriptions/{sub}/providers/Microsoft.Compute/virtualMachines", "VirtualMachines_ListAll",
            self.list_all_vms,
        )  # fmt: skip
        router.add(
            "GET", "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/vmSizes",
            "VirtualMachineSizes_List", self.list_sizes,
        )  # fmt: skip
        disks = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks"
        router.add("GET", disks + "/{name}", "Disks_Get", self.get_disk)
        router.add("DELETE", disks + "/{name}", "Disks_Delete", self.delete_disk)
        router.add("GET", disks, "Disks_ListByResourceGroup", self.list_disks)

    # Lookups

    def _vm(self, p: dict[str, str]) -> Resource:
        group = self.ctx.require_group(p["sub"], p["rg"])
        vm = self.ctx.store.get(resource_id(p["sub"], group.name, VM_TYPE, p["name"]))
        if vm is None:
            raise not_found(VM_TYPE, p["name"], p["rg"])
        return vm

    def _disk_name(self, vm: Resource) -> str | None:
        rt = runtime(vm)
        disk = self.ctx.store.resources.get(rt.os_disk.key) if rt.os_disk else None
        return disk.name if disk else None

    # Rendering

    def render_vm(self, vm: Resource, *, expand_instance_view: bool = False, user_data: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in vm.body.items() if k != "properties"}
        extensions = extensions_of(self.ctx, vm)
        if extensions:
            out["resources"] = [render_extension(ext) for ext in extensions]
        props = dict(vm.properties)
        if expand_instance_view:
            props["instanceView"] = instance_view(vm, self._disk_name(vm), extension_views(self.ctx, vm))
        if user_data and runtime(vm).user_data is not None:
            props["userData"] = runtime(vm).user_data
        out["properties"] = props
        return out

    def render_disk(self, disk: Resource) -> dict[str, Any]:
        out = copy.deepcopy(disk.body)
        vm = self.ctx.store.resources.get(disk.meta.get("vm") or "")
        if vm is None:
            out.pop("managedBy", None)
            out["properties"]["diskState"] = "Unattached"
        else:
            out["managedBy"] = vm.id
            out["properties"]["diskState"] = "Reserved" if runtime(vm).power == "deallocated" else "Attached"
        return out

    # GET / list

    def get_vm(self, req: Request, p: dict[str, str]) -> Response:
        vm = self._vm(p)
        expand = (req.param("$expand") or "").lower()
        return Response.json(
            200, self.render_vm(vm, expand_instance_view=expand == "instanceview", user_data=expand == "userdata")
        )

    def get_instance_view(self, req: Request, p: dict[str, str]) -> Response:
        vm = self._vm(p)
        return Response.json(200, instance_view(vm, self._disk_name(vm), extension_views(self.ctx, vm)))

    def list_vms(self, req: Request, p: dict[str, str]) -> Response:
        group = self.ctx.require_group(p["sub"], p["rg"])
        return self._page(req, f"{group.id}/providers/{VM_TYPE}/")

    def list_all_vms(self, req: Request, p: dict[str, str]) -> Response:
        return self._page(req, f"/subscriptions/{p['sub']}/resourceGroups/")

    def _page(self, req: Request, prefix: str) -> Response:
        token = req.param("$skiptoken")
        after = None
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except (ValueError, UnicodeDecodeError) as exc:
                raise ArmError(400, "InvalidSkipToken", "The skip token is invalid.") from exc
        items, more = self.ctx.store.page(VM_TYPE, prefix, after, self.ctx.config.page_size)
        with_view = req.flag("statusOnly") or (req.param("$expand") or "").lower() == "instanceview"
        body: dict[str, Any] = {"value": [self.render_vm(vm, expand_instance_view=with_view) for vm in items]}
        if more:
            token = base64.urlsafe_b64encode(items[-1].key.encode()).decode()
            body["nextLink"] = req.url_with(**{"$skiptoken": token})
        return Response.json(200, body)

    def list_sizes(self, req: Request, p: dict[str, str]) -> Response:
        return Response.json(200, {"value": [size.as_arm() for size in all_sizes()]})

    # Create / update

    def put_vm(self, req: Request, p: dict[str, str]) -> Response:
        body = strict_body(req, VM_TYPE)
        group = self.ctx.require_group(p["sub"], p["rg"])
        rid = resource_id(p["sub"], group.name, VM_TYPE, p["name"])
        existing = self.ctx.store.get(rid)
        if existing is not None:
            return self._update(req, existing, body)
        vm, op = self.create_vm(req, p["sub"], group, p["name"], body)
        return Response.json(201, self.render_vm(vm), self.ctx.op_headers(req, op, location=False))

    def create_vm(
        self,
        req: Request,
        subscription: str,
        group: Resource,
        name: str,
        body: dict[str, Any],
        *,
        check_quota: bool = True,
    ) -> tuple[Resource, Operation]:
        now = self.ctx.now()
        location = str(body.get("location") or "")
        if not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        props = body.get("properties")
        if not isinstance(props, dict):
            raise invalid_parameter("Required parameter 'properties' is missing (null).", "properties")
        size = self._check_size(props)
        os_profile = self._check_os_profile(props, name)
        storage = self._check_storage(props)
        rid = resource_id(subscription, group.name, VM_TYPE, name)
        network = self._check_network(props, subscription, group, rid)
        if check_quota:
            self._check_allocation(subscription, location, rid, size)

        rt = VmRuntime(size=size, created=now, provisioning_time=now)
        vm = Resource(rid, VM_TYPE, name, subscription, group.name, location, {}, {"vm": rt})
        vm.body = {"name": name, "id": rid, "type": VM_TYPE, "location": location}
        for key in ("tags", "zones", "plan", "identity"):
            if key in body:
                vm.body[key] = copy.deepcopy(body[key])
        vm.body["etag"] = '"1"'
        rt.user_data = props.get("userData")
        rt.custom_data = (props.get("osProfile") or {}).get("customData")
        out_props: dict[str, Any] = {"vmId": str(uuid.uuid4())}
        out_props["hardwareProfile"] = {**props["hardwareProfile"]}
        out_props["storageProfile"] = storage
        out_props["osProfile"] = os_profile
        out_props["networkProfile"] = network
        out_props["securityProfile"] = copy.deepcopy(props.get("securityProfile") or {"securityType": "Standard"})
        out_props["securityProfile"].setdefault("securityType", "Standard")
        for key in ("diagnosticsProfile", "priority", "evictionPolicy", "billingProfile", "licenseType"):
            if key in props:
                out_props[key] = copy.deepcopy(props[key])
        out_props["provisioningState"] = "Creating"
        out_props["timeCreated"] = now.isoformat()
        vm.body["properties"] = out_props

        self._create_disk(vm, storage)
        self._create_network(req, vm, network)
        os_disk = storage["osDisk"]
        rt.ledger = self.ctx.history.open(
            VmLedger(rid, name, group.name, location, os_disk["managedDisk"]["storageAccountType"],
                     os_disk["diskSizeGB"], now, dict(vm.body.get("tags") or {}))
        )  # fmt: skip
        rt.ledger.record(now, provisioning="Creating", size=size.name)
        self.ctx.store.put(vm)
        op, timing = self._operation(vm, "vm_create")
        self._provision(vm, op, timing.seconds)
        return vm, op

    def _check_size(self, props: dict[str, Any]) -> VmSize:
        name = str((props.get("hardwareProfile") or {}).get("vmSize") or "")
        size = find_size(name)
        if size is None:
            raise invalid_parameter(
                f"The value {name or 'null'} provided for the VM size is not valid. The valid sizes in the "
                f"current region are: {', '.join(s.name for s in all_sizes())}.",
                "vmSize",
            )
        return size

    def _check_os_profile(self, props: dict[str, Any], name: str) -> dict[str, Any]:
        profile = props.get("osProfile")
        if not isinstance(profile, dict):
            raise invalid_parameter("Required parameter 'osProfile' is missing (null).", "osProfile")
        if not profile.get("adminUsername"):
            raise invalid_parameter("Required parameter 'adminUsername' is missing (null).", "adminUsername")
        linux = dict(profile.get("linuxConfiguration") or {})
        keys = list((linux.get("ssh") or {}).get("publicKeys") or [])
        password = profile.get("adminPassword")
        if linux.get("disablePasswordAuthentication") and not keys:
            raise invalid_parameter(
                "Authentication using either SSH or by user name and password must be enabled in Linux profile.",
                "linuxConfiguration",
            )
        if not keys and not password:
            raise invalid_parameter("Required parameter 'adminPassword' is missing (null).", "adminPassword")
        if password is not None:
            _check_password(str(password))
        if profile.get("customData") is not None:
            _check_custom_data(profile["customData"])
        for key in keys:
            if not _SSH_KEY.match(str(key.get("keyData", "")).strip()):
                raise invalid_parameter(
                    "The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid.",
                    "linuxConfiguration.ssh.publicKeys.keyData",
                )
        linux.setdefault("disablePasswordAuthentication", bool(keys) and not password)
        linux.setdefault("provisionVMAgent", True)
        linux.setdefault("patchSettings", {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"})
        if keys:
            linux["ssh"] = {"publicKeys": keys}
        out = {k: v for k, v in profile.items() if k not in ("adminPassword", "customData")}
        out["computerName"] = profile.get("computerName") or name
        out["linuxConfiguration"] = linux
        out["secrets"] = list(profile.get("secrets") or [])
        out.setdefault("allowExtensionOperations", True)
        out.setdefault("requireGuestProvisionSignal", True)
        return out

    def _check_storage(self, props: dict[str, Any]) -> dict[str, Any]:
        storage = copy.deepcopy(props.get("storageProfile") or {})
        os_disk = storage.setdefault("osDisk", {})
        os_disk.setdefault("createOption", "FromImage")
        if os_disk["createOption"] == "FromImage" and not storage.get("imageReference"):
            raise invalid_parameter("Required parameter 'imageReference' is missing (null).", "imageReference")
        managed = os_disk.setdefault("managedDisk", {})
        account = managed.setdefault("storageAccountType", "Premium_LRS")
        if str(account).lower() not in _DISK_TYPES:
            raise invalid_parameter(
                f"The value '{account}' is not valid for storageAccountType.", "osDisk.managedDisk.storageAccountType"
            )
        image_gb = image_os_disk_gb(storage.get("imageReference") or {})
        size_gb = os_disk.setdefault("diskSizeGB", image_gb)
        if not isinstance(size_gb, int) or not 1 <= size_gb <= 4095:
            raise invalid_parameter(
                f"The value {size_gb} of parameter 'osDisk.diskSizeGB' is out of range. It must be between 1 and 4095.",
                "osDisk.diskSizeGB",
            )
        if size_gb < image_gb:
            # 409 Conflict with this wording: github.com/skypilot-org/skypilot/issues/2219,
            # github.com/Azure/azure-sdk-for-python/issues/23051.
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"The specified disk size {size_gb} GB is smaller than the size of the corresponding disk in the VM "
                f"image: {image_gb} GB. This is not allowed. Please choose equal or greater size or do not specify "
                "an explicit size.",
                target="osDisk.diskSizeGB",
            )
        os_disk["osType"] = "Linux"
        os_disk.setdefault("caching", "ReadWrite")
        os_disk.setdefault("deleteOption", "Detach")
        storage.setdefault("dataDisks", [])
        storage.setdefault("diskControllerType", "SCSI")
        return storage

    def _check_network(self, props: dict[str, Any], sub: str, group: Resource, vm_id: str) -> dict[str, Any]:
        profile = copy.deepcopy(props.get("networkProfile") or {})
        refs = profile.get("networkInterfaces") or []
        configs = profile.get("networkInterfaceConfigurations") or []
        if not refs and not configs:
            raise invalid_parameter("Required parameter 'networkProfile' is missing (null).", "networkProfile")
        if refs and configs:
            raise invalid_parameter(
                "networkInterfaces and networkInterfaceConfigurations cannot both be specified.", "networkProfile"
            )
        for ref in refs:
            nic = self.ctx.store.get(str(ref.get("id", "")))
            if nic is None:
                raise ArmError(404, "NotFound", f"Resource {ref.get('id')} not found.")
            owner = nic.meta.get("vm")
            if owner and owner.lower() != vm_id.lower():
                raise ArmError(400, "NicInUse", f"Network interface {nic.id} is in use by Virtual Machine {owner}.")
            ref["id"] = nic.id
            ref.setdefault("properties", {}).setdefault("deleteOption", "Detach")
        if configs and not profile.get("networkApiVersion"):
            raise invalid_parameter(
                "networkApiVersion must be specified when networkInterfaceConfigurations are used.",
                "networkProfile.networkApiVersion",
            )
        for index, config in enumerate(configs):
            cprops = config.setdefault("properties", {})
            nic_id = resource_id(sub, group.name, NIC, str(config.get("name") or ""))
            if not config.get("name") or not cprops.get("ipConfigurations"):
                raise invalid_parameter(
                    "Network interface configuration needs a name and at least one IP configuration.",
                    f"networkProfile.networkInterfaceConfigurations[{index}]",
                )
            nic = self.ctx.store.get(nic_id)
            if nic is not None and nic.meta.get("vm") and nic.meta["vm"].lower() != vm_id.lower():
                raise ArmError(
                    400, "NicInUse", f"Network interface {nic.id} is in use by Virtual Machine {nic.meta['vm']}."
                )
            cprops.setdefault("deleteOption", "Detach")
            cprops.setdefault("primary", index == 0)
            for ipc in cprops["ipConfigurations"]:
                iprops = ipc.setdefault("properties", {})
                subnet_ref = _ref(iprops.get("subnet"))
                if subnet_ref is None or self.ctx.store.get(subnet_ref) is None:
                    raise invalid_reference(str(subnet_ref), nic_id)
                pip_config = iprops.get("publicIPAddressConfiguration")
                if pip_config:
                    pip_config.setdefault("sku", {"name": "Standard", "tier": "Regional"})
                    pip_config.setdefault("properties", {}).setdefault("deleteOption", "Detach")
            nsg_ref = _ref(cprops.get("networkSecurityGroup"))
            if nsg_ref is not None and self.ctx.store.get(nsg_ref) is None:
                raise invalid_reference(nsg_ref, nic_id)
        return profile

    def _check_allocation(self, sub: str, location: str, vm_id: str, size: VmSize) -> None:
        if self.ctx.config.unavailable_mode(size.name) == "SkuNotAvailable":
            raise ArmError(
                409,
                "SkuNotAvailable",
                f"The requested VM size for resource '{vm_id}' is currently not available in location "
                f"'{_short(location)}' zones '' for subscription '{sub}'. Please try another size or deploy to a "
                "different location or zones. See https://aka.ms/azureskunotavailable for details.",
            )
        limit = self.ctx.config.quota_for(location)
        used = self.vcpus_in_use(sub, location, exclude=vm_id)
        if used + size.cores > limit:
            # Compute answers a direct PUT with 409 OperationNotAllowed and this wording; deployments wrap
            # it as QuotaExceeded, which is kept here as a detail.
            message = (
                "Operation could not be completed as it results in exceeding approved Total Regional Cores quota. "
                f"Additional details - Deployment Model: Resource Manager, Location: {_short(location)}, "
                f"Current Limit: {limit}, Current Usage: {used}, Additional Required: {size.cores}, "
                f"(Minimum) New Limit Required: {used + size.cores}. Submit a request for Quota increase at "
                "https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView by "
                "specifying parameters listed in the 'Details' section for deployment to succeed."
            )
            raise ArmError(
                409,
                "OperationNotAllowed",
                message,
                details=[{"code": "QuotaExceeded", "message": message, "target": "vCPUs"}],
            )

    def vcpus_in_use(self, sub: str, location: str, exclude: str = "") -> int:
        loc = _short(location)
        total = 0
        for vm in self.ctx.store.of_type(VM_TYPE, f"/subscriptions/{sub}/"):
            rt = runtime(vm)
            if _short(vm.location) == loc and rt.allocated and vm.key != exclude.lower():
                total += rt.size.cores
        return total

    def _create_disk(self, vm: Resource, storage: dict[str, Any]) -> None:
        os_disk = storage["osDisk"]
        name = os_disk.get("name") or f"{vm.name}_OsDisk_1_{uuid.uuid4().hex}"
        os_disk["name"] = name
        disk_id = resource_id(vm.subscription, vm.resource_group, DISK_TYPE, name)
        os_disk["managedDisk"]["id"] = disk_id
        account = os_disk["managedDisk"]["storageAccountType"]
        image = storage.get("imageReference") or {}
        disk = Resource(disk_id, DISK_TYPE, name, vm.subscription, vm.resource_group, vm.location, {}, {"vm": vm.key})
        disk.body = {
            "name": name,
            "id": disk_id,
            "type": DISK_TYPE,
            "location": vm.location,
            "managedBy": vm.id,
            "sku": {"name": account, "tier": "Premium" if account.lower().startswith("premium") else "Standard"},
            "properties": {
                "osType": "Linux",
                "hyperVGeneration": "V2",
                "creationData": {
                    "createOption": "FromImage",
                    "imageReference": {
                        "id": f"/Subscriptions/{vm.subscription}/Providers/Microsoft.Compute/Locations/"
                        f"{_short(vm.location)}/Publishers/{image.get('publisher')}/ArtifactTypes/VMImage/Offers/"
                        f"{image.get('offer')}/Skus/{image.get('sku')}/Versions/{image.get('version')}"
                    },
                },
                "diskSizeGB": os_disk["diskSizeGB"],
                "diskSizeBytes": os_disk["diskSizeGB"] * 1024**3,
                "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
                "networkAccessPolicy": "AllowAll",
                "publicNetworkAccess": "Enabled",
                "timeCreated": runtime(vm).created.isoformat(),
                "provisioningState": "Succeeded",
                "uniqueId": str(uuid.uuid4()),
            },
        }
        if "tags" in vm.body:
            disk.body["tags"] = vm.body["tags"]
        self.ctx.store.put(disk)
        runtime(vm).os_disk = Child(disk.key, os_disk["deleteOption"])

    def _create_network(self, req: Request, vm: Resource, profile: dict[str, Any]) -> None:
        rt = runtime(vm)
        for ref in profile.get("networkInterfaces") or []:
            nic = self.ctx.store.get(ref["id"])
            assert nic is not None
            primary = bool(ref["properties"].get("primary", True))
            self.network.attach_nic(nic, vm.id, primary)
            rt.nics.append(Child(nic.key, ref["properties"]["deleteOption"], primary))
        configs = profile.get("networkInterfaceConfigurations") or []
        refs = []
        for config in configs:
            cprops = config["properties"]
            nic_id = resource_id(vm.subscription, vm.resource_group, NIC, config["name"])
            ip_configs = []
            for ipc in cprops["ipConfigurations"]:
                iprops = dict(ipc["properties"])
                pip_config = iprops.pop("publicIPAddressConfiguration", None)
                if pip_config:
                    pip_id = resource_id(vm.subscription, vm.resource_group, PIP, pip_config["name"])
                    pip_props = {k: v for k, v in pip_config.get("properties", {}).items() if k != "deleteOption"}
                    pip_body: dict[str, Any] = {
                        "location": vm.location,
                        "sku": pip_config["sku"],
                        "properties": pip_props,
                    }
                    if pip_config.get("tags"):
                        pip_body["tags"] = pip_config["tags"]
                    pip = self.network.upsert(PIP, pip_id, pip_body, req, self.ctx.store.get(pip_id))
                    rt.pips.append(Child(pip.key, pip_config["properties"]["deleteOption"]))
                    iprops["publicIPAddress"] = {"id": pip.id}
                ip_configs.append({"name": ipc.get("name") or "ipconfig1", "properties": iprops})
            nic_props: dict[str, Any] = {"ipConfigurations": ip_configs}
            for key in ("networkSecurityGroup", "enableAcceleratedNetworking", "enableIPForwarding", "dnsSettings"):
                if key in cprops:
                    nic_props[key] = cprops[key]
            nic_body: dict[str, Any] = {"location": vm.location, "properties": nic_props}
            if config.get("tags"):
                nic_body["tags"] = config["tags"]
            nic = self.network.upsert(NIC, nic_id, nic_body, req, self.ctx.store.get(nic_id))
            primary = bool(cprops.get("primary", True))
            self.network.attach_nic(nic, vm.id, primary)
            rt.nics.append(Child(nic.key, cprops["deleteOption"], primary))
            refs.append({"id": nic.id, "properties": {"primary": primary, "deleteOption": cprops["deleteOption"]}})
        if configs:
            profile["networkInterfaces"] = refs

    def _operation(self, resource: Resource, kind: str, *, is_delete: bool = False) -> tuple[Operation, Timing]:
        timing = self.ctx.timing(kind)
        op = self.ctx.store.new_operation(
            "Microsoft.Compute",
            _short(resource.location),
            resource.subscription,
            resource.id,
            self.ctx.now(),
            is_delete=is_delete,
            retry_after=timing.retry_after,
        )
        return op, timing

    def _provision(self, vm: Resource, op: Operation, seconds: float) -> None:
        """Finish (or fail) allocation after `seconds` of simulator time."""
        fails = self.ctx.config.unavailable_mode(runtime(vm).size.name) == "AllocationFailed"
        self._begin(vm, op, seconds, "being created", step="provision", fails=fails, final="running")

    def _begin(self, vm: Resource, op: Operation, seconds: float, reason: str, **args: Any) -> None:
        """The VM is busy with `op` until `seconds` have passed; then `_finish` applies `args["step"]`."""
        rt = runtime(vm)
        rt.busy = op.id
        rt.busy_reason = reason
        due = self.ctx.now() + timedelta(seconds=max(0.0, seconds))
        self.ctx.store.schedule(due, Pending("compute", vm.key, op.id, rt.epoch, args))

    def _finish(self, pending: Pending, when: datetime) -> None:
        op = self.ctx.store.operations[pending.operation]
        vm = self.ctx.store.resources.get(pending.key)
        if vm is None:
            op.finish(when)
            return
        rt = runtime(vm)
        if rt.epoch != pending.epoch:
            return
        rt.busy = None
        rt.busy_reason = ""
        step = pending.args["step"]
        error: ArmError | None = None
        if step == "delete":
            self.remove_vm(vm, when)
        elif step == "update":
            set_provisioning(vm, "Succeeded", when)
        elif pending.args["fails"]:
            rt.error = {"code": "AllocationFailed", "message": ALLOCATION_FAILED}
            set_provisioning(vm, "Failed", when)
            if rt.power is not None:
                rt.set_power("deallocated", when)
            error = ArmError(409, "AllocationFailed", ALLOCATION_FAILED)
        else:
            rt.error = None
            set_provisioning(vm, "Succeeded", when)
            rt.set_power(pending.args["final"], when)
        op.finish(when, error)

    def _update(self, req: Request, vm: Resource, body: dict[str, Any]) -> Response:
        rt = runtime(vm)
        state = vm.properties.get("provisioningState")
        if state == "Deleting":
            raise _marked_for_deletion("PUT", vm.name)
        if rt.busy:
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation 'PUT' is not allowed on VM '{vm.name}' since the VM is {rt.busy_reason}.",
            )
        props = body.get("properties") or {}
        new_size = rt.size
        if (props.get("hardwareProfile") or {}).get("vmSize"):
            new_size = self._check_size(props)
        if (state == "Failed" or new_size != rt.size) and (rt.allocated or state == "Failed"):
            self._check_allocation(vm.subscription, vm.location, vm.id, new_size)
        now = self.ctx.now()
        self._merge(vm, body)
        if new_size != rt.size:
            rt.size = new_size
            vm.properties["hardwareProfile"] = {
                **vm.properties["hardwareProfile"],
                "vmSize": props["hardwareProfile"]["vmSize"],
            }
            if rt.ledger is not None:
                rt.ledger.record(now, size=new_size.name)
        if state == "Failed":
            op, timing = self._operation(vm, "vm_create")
            set_provisioning(vm, "Creating" if rt.power is None else "Updating", now)
            self._provision(vm, op, timing.seconds)
        else:
            op, timing = self._operation(vm, "vm_update")
            set_provisioning(vm, "Updating", now)
            self._begin(vm, op, timing.seconds, "updating", step="update")
        return Response.json(200, self.render_vm(vm), self.ctx.op_headers(req, op, location=False))

    def _merge(self, vm: Resource, body: dict[str, Any]) -> None:
        ledger = runtime(vm).ledger
        if "tags" in body:
            vm.body["tags"] = dict(body["tags"] or {})
            if ledger is not None:
                ledger.tags = dict(vm.body["tags"])
        etag = int(str(vm.body.get("etag", '"1"')).strip('"') or 1) + 1
        vm.body["etag"] = f'"{etag}"'

    def patch_vm(self, req: Request, p: dict[str, str]) -> Response:
        body = strict_body(req, VM_TYPE, patch=True)
        return self._update(req, self._vm(p), body)

    # Power actions

    def _action_handler(self, action: str) -> Callable[[Request, dict[str, str]], Response]:
        def handler(req: Request, p: dict[str, str]) -> Response:
            return self.action(req, self._vm(p), action)

        return handler

    def action(self, req: Request, vm: Resource, action: str) -> Response:
        rt = runtime(vm)
        limit_headers = self._vm_action_limit(vm)
        state = vm.properties.get("provisioningState")
        if state == "Deleting":
            raise _marked_for_deletion(action, vm.name)
        if rt.busy or rt.power in TRANSITIONAL:
            reason = rt.busy_reason or rt.power
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation '{action}' is not allowed on VM '{vm.name}' since the VM is {reason}.",
            )
        if rt.power is None:
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation '{action}' is not allowed on VM '{vm.name}' since the VM is in a failed state.",
            )
        plan = self._plan(vm, rt, action)
        if plan is None:
            return Response(200, headers=limit_headers)
        transitional, final, reason = plan
        now = self.ctx.now()
        op, timing = self._operation(vm, _ACTION_KINDS[action])
        # Starting a deallocated VM needs a new allocation, which can fail like a create.
        fails = (
            action == "start"
            and rt.power == "deallocated"
            and self.ctx.config.unavailable_mode(rt.size.name) == "AllocationFailed"
        )
        set_provisioning(vm, "Updating", now)
        rt.set_power(transitional, now)
        self._begin(vm, op, timing.seconds, reason, step="action", fails=fails, final=final)
        return Response(202, headers={**self.ctx.op_headers(req, op), **limit_headers})

    def _plan(self, vm: Resource, rt: VmRuntime, action: str) -> tuple[str, str, str] | None:
        """(transitional power state, final power state, busy reason) or None for a no-op."""
        power = rt.power
        if action == "start":
            if power == "running":
                return None
            if power == "deallocated":
                self._check_allocation(vm.subscription, vm.location, vm.id, rt.size)
            return ("starting", "running", "starting")
        if action == "deallocate":
            return None if power == "deallocated" else ("deallocating", "deallocated", "deallocating")
        if action == "powerOff":
            if power == "stopped":
                return None
            if power == "deallocated":
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"Operation 'powerOff' is not allowed on VM '{vm.name}' since the VM is deallocated or marked "
                    "to be deallocated.",
                )
            return ("stopping", "stopped", "stopping")
        if power != "running":
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation 'restart' is not allowed on VM '{vm.name}' since the VM is {power}.",
            )
        # A restarting VM keeps reporting PowerState/running (see AZURE-FACTS.md).
        return ("running", "running", "restarting")

    def _vm_action_limit(self, vm: Resource) -> dict[str, str]:
        """Compute RP's per-VM bucket for power actions and delete; answers the header to send."""
        if not self.ctx.config.throttle:
            return {}
        remaining, wait = self.ctx.throttle.take_vm_action(vm.key, self.ctx.config.throttle_scale)
        if wait:
            raise ArmError(
                429,
                "OperationNotAllowed",
                f"The server rejected the request because too many requests have been received for this VM "
                f"{vm.name}. Retry after {wait} seconds.",
                details=[{"code": "TooManyRequests", "target": "PowerVM", "message": '{"operationGroup":"PowerVM"}'}],
                headers={
                    "Retry-After": str(retry_seconds(wait)),
                    "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/PowerVM3Min;0",
                },
            )
        return {"x-ms-ratelimit-remaining-resource": f"Microsoft.Compute/PowerVM3Min;{remaining}"}

    # Delete

    def delete_vm(self, req: Request, p: dict[str, str]) -> Response:
        group = self.ctx.require_group(p["sub"], p["rg"])
        vm = self.ctx.store.get(resource_id(p["sub"], group.name, VM_TYPE, p["name"]))
        if vm is None:
            return Response(204)
        limit_headers = self._vm_action_limit(vm)
        rt = runtime(vm)
        now = self.ctx.now()
        if rt.delete_op is not None:
            op = self.ctx.store.operations[rt.delete_op]
            return Response(202, headers={**self.ctx.op_headers(req, op, async_op=False), **limit_headers})
        if rt.busy:
            self.ctx.store.operations[rt.busy].finish(now, ArmError(409, *PREEMPTED))
        rt.epoch += 1
        op, timing = self._operation(vm, "vm_delete", is_delete=True)
        rt.delete_op = op.id
        set_provisioning(vm, "Deleting", now)
        self._begin(vm, op, timing.seconds, "marked for deletion", step="delete")
        return Response(202, headers={**self.ctx.op_headers(req, op, async_op=False), **limit_headers})

    def remove_vm(self, vm: Resource, when: datetime) -> None:
        """Drop the VM and apply each child's deleteOption."""
        rt = runtime(vm)
        if rt.ledger is not None:
            rt.ledger.deleted = when
        for ext in extensions_of(self.ctx, vm):
            self.ctx.store.remove(ext.id)
        self.ctx.store.remove(vm.id)
        self.ctx.loads.forget(vm.key)
        for child in rt.nics:
            nic = self.ctx.store.resources.get(child.key)
            if nic is None:
                continue
            self.network.detach_nic(nic)
            if child.delete_option == "Delete":
                self.network.delete(nic)
        for child in rt.pips:
            pip = self.ctx.store.resources.get(child.key)
            if pip is not None and child.delete_option == "Delete" and not pip.meta.get("ip_config"):
                self.network.delete(pip)
        if rt.os_disk is not None:
            disk = self.ctx.store.resources.get(rt.os_disk.key)
            if disk is not None:
                disk.meta["vm"] = None
                if rt.os_disk.delete_option == "Delete":
                    self.ctx.store.remove(disk.id)

    # Disks

    def _disk(self, p: dict[str, str]) -> Resource:
        group = self.ctx.require_group(p["sub"], p["rg"])
        disk = self.ctx.store.get(resource_id(p["sub"], group.name, DISK_TYPE, p["name"]))
        if disk is None:
            raise not_found(DISK_TYPE, p["name"], p["rg"])
        return disk

    def get_disk(self, req: Request, p: dict[str, str]) -> Response:
        return Response.json(200, self.render_disk(self._disk(p)))

    def list_disks(self, req: Request, p: dict[str, str]) -> Response:
        group = self.ctx.require_group(p["sub"], p["rg"])
        disks = self.ctx.store.of_type(DISK_TYPE, f"{group.id}/providers/{DISK_TYPE}/")
        return Response.json(200, {"value": [self.render_disk(d) for d in disks]})

    def delete_disk(self, req: Request, p: dict[str, str]) -> Response:
        try:
            disk = self._disk(p)
        except ArmError as exc:
            if exc.code == "ResourceNotFound":
                return Response(204)
            raise
        owner = self.ctx.store.resources.get(disk.meta.get("vm") or "")
        if owner is not None:
            raise ArmError(409, "OperationNotAllowed", f"Disk {disk.name} is attached to VM {owner.id}.", target=None)
        self.ctx.store.remove(disk.id)
        now = self.ctx.now()
        op = self.ctx.store.new_operation(
            "Microsoft.Compute", _short(disk.location), disk.subscription, disk.id, now, is_delete=True
        )
        op.finish(now)
        return Response(202, headers=self.ctx.op_headers(req, op))

    # Helpers for the control API

    def summary(self, vm: Resource) -> dict[str, Any]:
        rt = runtime(vm)
        return {
            "provisioningState": vm.properties.get("provisioningState"),
            "powerState": rt.power,
            "vmSize": rt.size.name,
            "statuses": [s["code"] for s in statuses(vm)],
        }


def _short(location: str) -> str:
    return location.replace(" ", "").lower()


def _marked_for_deletion(action: str, name: str) -> ArmError:
    return ArmError(
        409,
        "OperationNotAllowed",
        f"Operation '{action}' is not allowed on VM '{name}' since the VM is marked for deletion. You can only "
        "retry the Delete operation (or start a new one).",
    )


# The swagger: "The base-64 encoded string is decoded to a binary array ... The maximum length of the binary
# array is 65535 bytes", i.e. 87380 base64 characters; the wording is Compute's (github.com/Azure/aks-engine
# docs quote it).
CUSTOM_DATA_MAX_CHARS = 87380


def _check_custom_data(value: Any) -> None:
    valid = isinstance(value, str) and len(value) <= CUSTOM_DATA_MAX_CHARS
    if valid:
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            valid = False
    if not valid:
        raise invalid_parameter(
            f"Custom data in OSProfile must be in Base64 encoding and with a maximum length of "
            f"{CUSTOM_DATA_MAX_CHARS} characters.",
            "customData",
        )


def _check_password(password: str) -> None:
    """Linux rule from the Compute RP: 6-72 characters and 3 of lower, upper, digit, special."""
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if not 6 <= len(password) <= 72 or classes < 3:
        raise invalid_parameter(
            "The supplied password must be between 6-72 characters long and must satisfy at least 3 of password "
            "complexity requirements from the following: 1) Contains an uppercase character 2) Contains a "
            "lowercase character 3) Contains a numeric digit 4) Contains a special character 5) Control "
            "characters are not allowed",
            "adminPassword",
        )
