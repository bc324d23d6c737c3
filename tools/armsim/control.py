"""The /_sim/ control API: reset, config, clock, faults, loads, inspection, counters, seeding."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from .clock import iso, parse_iso
from .compute import ComputeProvider
from .context import GROUP_TYPE, SimContext
from .errors import ArmError
from .extensions import received
from .http import Request, Response, Router
from .ids import resource_id
from .network import NIC, SUBNET, VNET, NetworkProvider
from .resources import ResourcesProvider
from .state import Resource
from .vm import VM_TYPE, runtime, set_provisioning

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
_POWER_STATES = {"running", "stopped", "deallocated"}


class ControlApi:
    def __init__(
        self, ctx: SimContext, compute: ComputeProvider, network: NetworkProvider, groups: ResourcesProvider
    ) -> None:
        self.ctx = ctx
        self.compute = compute
        self.network = network
        self.groups = groups

    def register(self, router: Router) -> None:
        router.add("POST", "/_sim/reset", "Sim_Reset", self.reset)
        router.add("GET", "/_sim/config", "Sim_Config", self.get_config)
        router.add("PATCH", "/_sim/config", "Sim_Config", self.patch_config)
        router.add("GET", "/_sim/clock", "Sim_Clock", self.get_clock)
        router.add("POST", "/_sim/clock", "Sim_Clock", self.post_clock)
        router.add("GET", "/_sim/faults", "Sim_Faults", self.list_faults)
        router.add("POST", "/_sim/faults", "Sim_Faults", self.add_fault)
        router.add("DELETE", "/_sim/faults", "Sim_Faults", self.clear_faults)
        router.add("PUT", "/_sim/load/{name}", "Sim_Load", self.put_load)
        router.add("GET", "/_sim/load/{name}", "Sim_Load", self.get_load)
        router.add("POST", "/_sim/load", "Sim_Load", self.post_load)
        router.add("GET", "/_sim/resources", "Sim_Resources", self.resources)
        router.add("GET", "/_sim/counters", "Sim_Counters", self.counters)
        router.add("DELETE", "/_sim/counters", "Sim_Counters", self.clear_counters)
        router.add("POST", "/_sim/seed", "Sim_Seed", self.seed)
        router.add("POST", "/_sim/bulk_vms", "Sim_BulkVms", self.bulk_vms)
        router.add("GET", "/_sim/history", "Sim_History", self.history)
        router.add("GET", "/_sim/vms/{name}/custom-data", "Sim_CustomData", self.custom_data)
        router.add("GET", "/_sim/vms/{name}/extensions/{ext}", "Sim_Extension", self.extension)

    def reset(self, req: Request, p: dict[str, str]) -> Response:
        self.ctx.reset()
        return Response.json(200, {"reset": True})

    def get_config(self, req: Request, p: dict[str, str]) -> Response:
        return Response.json(200, self.ctx.config.as_dict())

    def patch_config(self, req: Request, p: dict[str, str]) -> Response:
        self.ctx.config.patch(req.json_object())
        return Response.json(200, self.ctx.config.as_dict())

    def _clock(self) -> dict[str, Any]:
        return {"now": iso(self.ctx.now()), "speed": self.ctx.clock.speed}

    def get_clock(self, req: Request, p: dict[str, str]) -> Response:
        return Response.json(200, self._clock())

    def post_clock(self, req: Request, p: dict[str, str]) -> Response:
        body = req.json_object()
        try:
            if "set" in body:
                self.ctx.clock.set(parse_iso(str(body["set"])))
            if "advance_seconds" in body:
                self.ctx.clock.advance(float(body["advance_seconds"]))
            if "speed" in body:
                self.ctx.clock.set_speed(float(body["speed"]))
        except (TypeError, ValueError) as exc:
            raise ArmError(400, "InvalidClock", str(exc)) from exc
        self.ctx.store.tick(self.ctx.now())
        return Response.json(200, self._clock())

    def list_faults(self, req: Request, p: dict[str, str]) -> Response:
        return Response.json(200, {"value": [f.as_dict() for f in self.ctx.faults.faults if f.count > 0]})

    def add_fault(self, req: Request, p: dict[str, str]) -> Response:
        fault = self.ctx.faults.add(req.json_object())
        return Response.json(201, fault.as_dict())

    def clear_faults(self, req: Request, p: dict[str, str]) -> Response:
        self.ctx.faults.clear()
        return Response(204)

    def _vm_by_name(self, name: str) -> Resource:
        found = [vm for vm in self.ctx.store.of_type(VM_TYPE) if vm.name.lower() == name.lower()]
        if not found:
            raise ArmError(404, "ResourceNotFound", f"No VM named '{name}'.")
        if len(found) > 1:
            raise ArmError(409, "Ambiguous", f"Several VMs are named '{name}'; POST /_sim/load with an id.")
        return found[0]

    def put_load(self, req: Request, p: dict[str, str]) -> Response:
        vm = self._vm_by_name(p["name"])
        self.ctx.loads.set(vm.key, req.json_object())
        return Response.json(200, {"id": vm.id, "load": self.ctx.loads.describe(vm.key)})

    def get_load(self, req: Request, p: dict[str, str]) -> Response:
        vm = self._vm_by_name(p["name"])
        return Response.json(200, {"id": vm.id, "load": self.ctx.loads.describe(vm.key)})

    def post_load(self, req: Request, p: dict[str, str]) -> Response:
        body = req.json_object()
        vm = self.ctx.store.get(str(body.get("id", "")))
        if vm is None or vm.type != VM_TYPE:
            raise ArmError(404, "ResourceNotFound", f"No VM with id '{body.get('id')}'.")
        self.ctx.loads.set(vm.key, body)
        return Response.json(200, {"id": vm.id, "load": self.ctx.loads.describe(vm.key)})

    def resources(self, req: Request, p: dict[str, str]) -> Response:
        wanted = (req.param("type") or "").lower()
        out = []
        for resource in self.ctx.store.resources.values():
            if wanted and resource.type.lower() != wanted:
                continue
            props: dict[str, Any] = {"provisioningState": resource.properties.get("provisioningState")}
            if resource.type == VM_TYPE:
                props.update(self.compute.summary(resource))
            if resource.type.endswith("publicIPAddresses"):
                props["ipAddress"] = resource.properties.get("ipAddress")
            out.append(
                {"id": resource.id, "type": resource.type, "name": resource.name, "location": resource.location,
                 "properties": props}
            )  # fmt: skip
        return Response.json(200, {"value": out})

    def counters(self, req: Request, p: dict[str, str]) -> Response:
        requests = dict(self.ctx.counters)
        total = requests.pop("__total__", 0)
        return Response.json(200, {"requests": requests, "total": total, "api_versions": dict(self.ctx.api_versions)})

    def clear_counters(self, req: Request, p: dict[str, str]) -> Response:
        self.ctx.counters.clear()
        self.ctx.api_versions.clear()
        return Response(204)

    def custom_data(self, req: Request, p: dict[str, str]) -> Response:
        vm = self._vm_by_name(p["name"])
        raw = runtime(vm).custom_data
        decoded = None
        if raw is not None:
            try:
                decoded = base64.b64decode(raw).decode("utf-8")
            except UnicodeDecodeError:
                decoded = None  # binary (e.g. gzip); `raw` has it all
        return Response.json(200, {"id": vm.id, "raw": raw, "decoded": decoded})

    def extension(self, req: Request, p: dict[str, str]) -> Response:
        return Response.json(200, received(self.ctx, self._vm_by_name(p["name"]), p["ext"]))

    def history(self, req: Request, p: dict[str, str]) -> Response:
        return Response.json(200, self.ctx.history.view(req.param("name")))

    def seed(self, req: Request, p: dict[str, str]) -> Response:
        body = req.json_object()
        sub = str(body.get("subscription") or DEFAULT_SUBSCRIPTION)
        rg = str(body.get("resource_group") or "rg-dsvm-workload")
        location = str(body.get("location") or "eastus")
        vnet_name = str(body.get("vnet") or "vnet-dsvm")
        subnet_name = str(body.get("subnet") or "snet-dsvm")
        group = self.groups.create(sub, rg, location)
        vnet_id = resource_id(sub, group.name, VNET, vnet_name)
        vnet_body = {
            "location": location,
            "properties": {
                "addressSpace": {"addressPrefixes": [str(body.get("address_prefix") or "10.20.0.0/16")]},
                "subnets": [
                    {"name": subnet_name, "properties": {"addressPrefix": str(body.get("subnet_prefix") or "10.20.0.0/20")}}
                ],
            },
        }  # fmt: skip
        self.network.upsert(VNET, vnet_id, vnet_body, req, self.ctx.store.get(vnet_id))
        subnet_id = f"{vnet_id}/subnets/{subnet_name}"
        return Response.json(
            200,
            {"subscription_id": sub, "resource_group": group.name, "location": location, "vnet_id": vnet_id,
             "subnet_id": subnet_id},
        )  # fmt: skip

    def bulk_vms(self, req: Request, p: dict[str, str]) -> Response:
        """Provisioned VMs with NIC, public IP and OS disk, without quota checks or waiting."""
        body = req.json_object()
        sub = str(body.get("subscription") or DEFAULT_SUBSCRIPTION)
        rg = str(body.get("resource_group") or "rg-bulk")
        location = str(body.get("location") or "eastus")
        count = int(body.get("count") or 1)
        prefix = str(body.get("prefix") or "vm")
        size = str(body.get("size") or "Standard_D2s_v5")
        power = str(body.get("power_state") or "running")
        if power not in _POWER_STATES:
            raise ArmError(400, "InvalidPowerState", f"power_state must be one of {sorted(_POWER_STATES)}")
        group = self.ctx.group(sub, rg) or self.groups.create(sub, rg, location)
        subnet_id = str(body.get("subnet_id") or "")
        if not subnet_id or self.ctx.store.get(subnet_id) is None:
            subnet_id = self._bulk_subnet(req, sub, group, location)
        since = parse_iso(str(body["since"])) if body.get("since") else self.ctx.now()
        names = []
        for index in range(count):
            name = f"{prefix}{index:05d}"
            vm_body = _bulk_body(name, location, size, subnet_id, dict(body.get("tags") or {}))
            vm, op = self.compute.create_vm(req, sub, group, name, vm_body, check_quota=False)
            rt = runtime(vm)
            rt.epoch += 1
            rt.busy = None
            rt.busy_reason = ""
            rt.created = since
            vm.properties["timeCreated"] = since.isoformat()
            if rt.ledger is not None:
                rt.ledger.created = since
                rt.ledger.transitions.clear()
                rt.ledger.record(since, size=rt.size.name)
            set_provisioning(vm, "Succeeded", since)
            rt.set_power("running", since)
            if power != "running":
                rt.set_power(power, since + timedelta(microseconds=1))
            op.finish(since)
            names.append(name)
        return Response.json(201, {"count": len(names), "first": names[0] if names else None, "subnet_id": subnet_id})

    def _bulk_subnet(self, req: Request, sub: str, group: Resource, location: str) -> str:
        # A /12 holds a million NICs, enough for any benchmark.
        vnet_id = resource_id(sub, group.name, VNET, "vnet-bulk")
        if self.ctx.store.get(vnet_id) is None:
            vnet_body = {
                "location": location,
                "properties": {
                    "addressSpace": {"addressPrefixes": ["10.128.0.0/12"]},
                    "subnets": [{"name": "snet-bulk", "properties": {"addressPrefix": "10.128.0.0/12"}}],
                },
            }
            self.network.upsert(VNET, vnet_id, vnet_body, req, None)
        return resource_id(sub, group.name, SUBNET, "vnet-bulk", "snet-bulk")


def _bulk_body(name: str, location: str, size: str, subnet_id: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "location": location,
        "tags": tags,
        "properties": {
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {
                "imageReference": {
                    "publisher": "microsoft-dsvm",
                    "offer": "ubuntu-2204",
                    "sku": "2204-gen2",
                    "version": "latest",
                },
                "osDisk": {"createOption": "FromImage", "deleteOption": "Delete",
                           "managedDisk": {"storageAccountType": "Premium_LRS"}},
            },
            "osProfile": {
                "adminUsername": "azureuser",
                "linuxConfiguration": {
                    "disablePasswordAuthentication": True,
                    "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys",
                                            "keyData": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBulk bulk"}]},
                },
            },
            "networkProfile": {
                "networkApiVersion": "2022-11-01",
                "networkInterfaceConfigurations": [
                    {
                        "name": f"{name}-nic",
                        "properties": {
                            "primary": True,
                            "deleteOption": "Delete",
                            "ipConfigurations": [
                                {
                                    "name": "ipconfig1",
                                    "properties": {
                                        "subnet": {"id": subnet_id},
                                        "publicIPAddressConfiguration": {
                                            "name": f"{name}-ip",
                                            "sku": {"name": "Standard"},
                                            "properties": {"deleteOption": "Delete"},
                                        },
                                    },
                                }
                            ],
                        },
                    }
                ],
            },
        },
    }  # fmt: skip


__all__ = ["DEFAULT_SUBSCRIPTION", "GROUP_TYPE", "NIC", "ControlApi"]
