"""Microsoft.Network: NSGs, public IPs, NICs, virtual networks and subnets.

A network PUT answers with provisioningState Updating and an Azure-AsyncOperation URL, and the resource
reports Updating until that operation completes (after the profile's `network_put` time; at once in the
instant profile, so a poller finishes at its first poll). DELETEs answer 202 with Azure-AsyncOperation and
Location (NetworkSecurityGroupDelete.json) and report Deleting until theirs completes; a PUT meanwhile gets
429 AnotherOperationInProgress. Back-references (NIC -> VM, PIP -> ipConfiguration,
NSG -> NICs/subnets) are kept in `meta` and rendered on read."""

from __future__ import annotations

import copy
import ipaddress
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .bodies import strict_body
from .context import SimContext
from .errors import ArmError, not_found
from .http import Request, Response, Router
from .ids import parse_id, resource_id
from .ipam import SubnetAddresses
from .state import Operation, Pending, Resource

NSG = "Microsoft.Network/networkSecurityGroups"
PIP = "Microsoft.Network/publicIPAddresses"
NIC = "Microsoft.Network/networkInterfaces"
VNET = "Microsoft.Network/virtualNetworks"
SUBNET = "Microsoft.Network/virtualNetworks/subnets"

# From NetworkSecurityGroupCreateWithRule.json: (name, description, source, destination, access, priority, direction)
_DEFAULT_RULES = [
    ("AllowVnetInBound", "Allow inbound traffic from all VMs in VNET", "VirtualNetwork", "VirtualNetwork",
     "Allow", 65000, "Inbound"),
    ("AllowAzureLoadBalancerInBound", "Allow inbound traffic from azure load balancer", "AzureLoadBalancer", "*",
     "Allow", 65001, "Inbound"),
    ("DenyAllInBound", "Deny all inbound traffic", "*", "*", "Deny", 65500, "Inbound"),
    ("AllowVnetOutBound", "Allow outbound traffic from all VMs to all VMs in VNET", "VirtualNetwork",
     "VirtualNetwork", "Allow", 65000, "Outbound"),
    ("AllowInternetOutBound", "Allow outbound traffic from all VMs to Internet", "*", "Internet",
     "Allow", 65001, "Outbound"),
    ("DenyAllOutBound", "Deny all outbound traffic", "*", "*", "Deny", 65500, "Outbound"),
]  # fmt: skip

_PROTOCOLS = {"tcp", "udp", "icmp", "esp", "ah", "*"}


def _etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def _ref(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def invalid_reference(ref: str, referrer: str) -> ArmError:
    return ArmError(
        400,
        "InvalidResourceReference",
        f"Resource {ref} referenced by resource {referrer} was not found. Please make sure that the referenced "
        "resource exists, and that both resources are in the same region.",
        details=[],
    )


@dataclass
class Kind:
    type: str
    operation: str
    build: Callable[[Request, Resource, Resource | None, dict[str, Any]], None]
    render: Callable[[Resource], dict[str, Any]]
    before_delete: Callable[[Resource], None]
    after_delete: Callable[[Resource], None]


class NetworkProvider:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        ctx.handlers["network"] = self._finish
        self.kinds = {
            NSG: Kind(NSG, "NetworkSecurityGroups", self._build_nsg, self._render_nsg, self._nsg_in_use, _noop),
            PIP: Kind(PIP, "PublicIPAddresses", self._build_pip, self._render_pip, self._pip_in_use, _noop),
            NIC: Kind(NIC, "NetworkInterfaces", self._build_nic, self._render_nic, self._nic_in_use, self._release_nic),
            VNET: Kind(VNET, "VirtualNetworks", self._build_vnet, self._render_vnet, self._vnet_in_use,
                       self._drop_subnets),
            SUBNET: Kind(SUBNET, "Subnets", self._build_subnet, self._render_subnet, self._subnet_in_use,
                         self._release_subnet),
        }  # fmt: skip

    @property
    def store(self) -> Any:
        return self.ctx.store

    def register(self, router: Router) -> None:
        base = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network"
        for segment, kind_type in (
            ("networkSecurityGroups", NSG),
            ("publicIPAddresses", PIP),
            ("networkInterfaces", NIC),
            ("virtualNetworks", VNET),
        ):
            kind = self.kinds[kind_type]
            item = f"{base}/{segment}/{{name}}"
            router.add("PUT", item, f"{kind.operation}_CreateOrUpdate", self._put_handler(kind))
            router.add("GET", item, f"{kind.operation}_Get", self._get_handler(kind))
            router.add("DELETE", item, f"{kind.operation}_Delete", self._delete_handler(kind))
            router.add("PATCH", item, f"{kind.operation}_UpdateTags", self._patch_handler(kind))
            router.add("GET", f"{base}/{segment}", f"{kind.operation}_List", self._list_handler(kind))
        subnet = self.kinds[SUBNET]
        item = f"{base}/virtualNetworks/{{vnet}}/subnets/{{name}}"
        router.add("PUT", item, "Subnets_CreateOrUpdate", self._put_handler(subnet))
        router.add("GET", item, "Subnets_Get", self._get_handler(subnet))
        router.add("DELETE", item, "Subnets_Delete", self._delete_handler(subnet))
        router.add("GET", f"{base}/virtualNetworks/{{vnet}}/subnets", "Subnets_List", self._list_subnets)

    # Generic handlers

    def _id(self, kind: Kind, p: dict[str, str], group: Resource) -> str:
        if kind.type == SUBNET:
            return resource_id(p["sub"], group.name, kind.type, p["vnet"], p["name"])
        return resource_id(p["sub"], group.name, kind.type, p["name"])

    def _missing(self, kind: Kind, p: dict[str, str]) -> ArmError:
        if kind.type == SUBNET:
            return not_found(VNET + "/subnets", f"{p['vnet']}/{p['name']}", p["rg"])
        return not_found(kind.type, p["name"], p["rg"])

    def _put_handler(self, kind: Kind) -> Callable[[Request, dict[str, str]], Response]:
        def handler(req: Request, p: dict[str, str]) -> Response:
            body = strict_body(req, kind.type)
            group = self.ctx.require_group(p["sub"], p["rg"])
            rid = self._id(kind, p, group)
            existing = self.store.get(rid)
            if existing is not None and existing.properties.get("provisioningState") == "Deleting":
                raise self._in_progress(req, existing)
            resource = self.upsert(kind.type, rid, body, req, existing)
            op = self._begin(resource, "network_put", "Updating")
            headers = self.ctx.op_headers(req, op, location=False)
            return Response.json(200 if existing else 201, kind.render(resource), headers)

        return handler

    def upsert(
        self, kind_type: str, rid: str, body: dict[str, Any], req: Request, existing: Resource | None
    ) -> Resource:
        kind = self.kinds[kind_type]
        parsed = parse_id(rid)
        assert parsed is not None
        location = str(body.get("location") or (existing.location if existing else ""))
        if kind_type == SUBNET:
            vnet = self.store.get(rid.rsplit("/subnets/", 1)[0])
            if vnet is None:
                raise not_found(VNET, parsed.names[0], parsed.resource_group)
            location = vnet.location
        elif not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        resource = Resource(
            id=existing.id if existing else rid,
            type=kind.type,
            name=parsed.name,
            subscription=parsed.subscription,
            resource_group=parsed.resource_group,
            location=existing.location if existing else location,
            body={"properties": {}},
            meta=existing.meta if existing else {},
        )
        if kind.type != SUBNET:
            resource.body["tags"] = body.get("tags", existing.body.get("tags", {}) if existing else {})
        kind.build(req, resource, existing, body)
        resource.body["etag"] = _etag()
        resource.properties["provisioningState"] = "Succeeded"
        resource.properties.setdefault(
            "resourceGuid", existing.properties.get("resourceGuid") if existing else str(uuid.uuid4())
        )
        if kind.type == SUBNET:
            resource.properties.pop("resourceGuid", None)
        self.store.put(resource)
        return resource

    def _get_handler(self, kind: Kind) -> Callable[[Request, dict[str, str]], Response]:
        def handler(req: Request, p: dict[str, str]) -> Response:
            group = self.ctx.require_group(p["sub"], p["rg"])
            resource = self.store.get(self._id(kind, p, group))
            if resource is None:
                raise self._missing(kind, p)
            return Response.json(200, kind.render(resource))

        return handler

    def _patch_handler(self, kind: Kind) -> Callable[[Request, dict[str, str]], Response]:
        def handler(req: Request, p: dict[str, str]) -> Response:
            body = strict_body(req, kind.type, patch=True)
            group = self.ctx.require_group(p["sub"], p["rg"])
            resource = self.store.get(self._id(kind, p, group))
            if resource is None:
                raise self._missing(kind, p)
            if "tags" in body:
                resource.body["tags"] = dict(body["tags"] or {})
            resource.body["etag"] = _etag()
            return Response.json(200, kind.render(resource))

        return handler

    def _delete_handler(self, kind: Kind) -> Callable[[Request, dict[str, str]], Response]:
        def handler(req: Request, p: dict[str, str]) -> Response:
            group = self.ctx.require_group(p["sub"], p["rg"])
            resource = self.store.get(self._id(kind, p, group))
            if resource is None:
                return Response(204)
            pending = self.ctx.store.operations.get(resource.meta.get("operation") or "")
            if resource.properties.get("provisioningState") == "Deleting" and pending is not None:
                return Response(202, headers=self.ctx.op_headers(req, pending))
            kind.before_delete(resource)
            op = self._begin(resource, "network_delete", "Deleting", is_delete=True)
            return Response(202, headers=self.ctx.op_headers(req, op))

        return handler

    def _begin(self, resource: Resource, kind: str, state: str, *, is_delete: bool = False) -> Operation:
        """Report `state` until the operation's time is up, as the network RP does (PUT answers Updating)."""
        return self.ctx.begin_operation(resource, "Microsoft.Network", kind, state, "network", is_delete=is_delete)

    def _finish(self, pending: Pending, when: datetime) -> None:
        self.ctx.settle_operation(pending, when, lambda gone: self.kinds[gone.type].after_delete(gone))

    def _in_progress(self, req: Request, resource: Resource) -> ArmError:
        # NRP answers 429 while an operation on the resource runs (https://github.com/Azure/bicep/issues/5132,
        # https://github.com/Azure/azure-libraries-for-net/issues/1001).
        op = self.ctx.store.operations[resource.meta["operation"]]
        url = self.ctx.op_headers(req, op, location=False)["Azure-AsyncOperation"]
        return ArmError(
            429,
            "AnotherOperationInProgress",
            f"Another operation on this or dependent resource is in progress. To retrieve status of the operation "
            f"use uri: {url}.",
            headers={"Retry-After": str(max(op.retry_after, 1))},
        )

    def delete(self, resource: Resource) -> None:
        kind = self.kinds[resource.type]
        kind.before_delete(resource)
        self.store.remove(resource.id)
        kind.after_delete(resource)

    def _list_handler(self, kind: Kind) -> Callable[[Request, dict[str, str]], Response]:
        def handler(req: Request, p: dict[str, str]) -> Response:
            group = self.ctx.require_group(p["sub"], p["rg"])
            prefix = f"{group.id}/providers/{kind.type}/"
            return Response.json(200, {"value": [kind.render(r) for r in self.store.of_type(kind.type, prefix)]})

        return handler

    def _list_subnets(self, req: Request, p: dict[str, str]) -> Response:
        group = self.ctx.require_group(p["sub"], p["rg"])
        vnet = self.store.get(resource_id(p["sub"], group.name, VNET, p["vnet"]))
        if vnet is None:
            raise not_found(VNET, p["vnet"], p["rg"])
        return Response.json(200, {"value": [self._render_subnet(s) for s in self._subnets_of(vnet)]})

    def render(self, resource: Resource) -> dict[str, Any]:
        return self.kinds[resource.type].render(resource)

    # Shared shape

    def _shape(self, resource: Resource, *, top_level: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"name": resource.name, "id": resource.id, "etag": resource.body.get("etag")}
        out["type"] = resource.type
        if top_level:
            out["location"] = resource.location
            if resource.body.get("tags"):
                out["tags"] = resource.body["tags"]
        for extra in ("sku", "zones"):
            if extra in resource.body:
                out[extra] = resource.body[extra]
        out["properties"] = copy.copy(resource.properties)
        return out

    # NSG

    def _build_nsg(self, req: Request, res: Resource, existing: Resource | None, body: dict[str, Any]) -> None:
        props = body.get("properties") or {}
        rules = []
        for rule in props.get("securityRules") or []:
            rules.append(self._rule(res, "securityRules", rule))
        res.properties["securityRules"] = rules
        res.properties["defaultSecurityRules"] = [
            {
                "name": name,
                "id": f"{res.id}/defaultSecurityRules/{name}",
                "etag": _etag(),
                "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
                "properties": {
                    "provisioningState": "Succeeded",
                    "description": description,
                    "protocol": "*",
                    "sourcePortRange": "*",
                    "destinationPortRange": "*",
                    "sourceAddressPrefix": source,
                    "destinationAddressPrefix": destination,
                    "access": access,
                    "priority": priority,
                    "direction": direction,
                    "sourcePortRanges": [],
                    "destinationPortRanges": [],
                    "sourceAddressPrefixes": [],
                    "destinationAddressPrefixes": [],
                },
            }
            for name, description, source, destination, access, priority, direction in _DEFAULT_RULES
        ]
        res.meta.setdefault("nics", set())
        res.meta.setdefault("subnets", set())

    def _rule(self, nsg: Resource, collection: str, rule: dict[str, Any]) -> dict[str, Any]:
        name = str(rule.get("name") or "")
        props = dict(rule.get("properties") or {})
        target = f"{nsg.id}/{collection}/{name}"
        priority = props.get("priority")
        if not isinstance(priority, int) or not 100 <= priority <= 4096:
            raise ArmError(
                400,
                "SecurityRuleInvalidPriority",
                f"Security rule has invalid Priority. Value provided: {priority} Allowed range 100-4096.",
                target=target,
            )
        if str(props.get("direction", "")).lower() not in ("inbound", "outbound"):
            raise ArmError(400, "SecurityRuleInvalidDirection", "Security rule has invalid Direction.", target=target)
        if str(props.get("access", "")).lower() not in ("allow", "deny"):
            raise ArmError(400, "SecurityRuleInvalidAccess", "Security rule has invalid Access.", target=target)
        if str(props.get("protocol", "")).lower() not in _PROTOCOLS:
            raise ArmError(400, "SecurityRuleInvalidProtocol", "Security rule has invalid Protocol.", target=target)
        for key in ("sourcePortRanges", "destinationPortRanges", "sourceAddressPrefixes", "destinationAddressPrefixes"):
            props.setdefault(key, [])
        props["provisioningState"] = "Succeeded"
        return {
            "name": name,
            "id": target,
            "etag": _etag(),
            "type": "Microsoft.Network/networkSecurityGroups/securityRules",
            "properties": props,
        }

    def _render_nsg(self, res: Resource) -> dict[str, Any]:
        out = self._shape(res)
        nics = sorted(res.meta.get("nics", ()))
        subnets = sorted(res.meta.get("subnets", ()))
        live = self.store.resources
        if nics:
            out["properties"]["networkInterfaces"] = [{"id": live[k].id} for k in nics if k in live]
        if subnets:
            out["properties"]["subnets"] = [{"id": live[k].id} for k in subnets if k in live]
        return out

    def _nsg_in_use(self, res: Resource) -> None:
        live = self.store.resources
        users = sorted(k for k in res.meta.get("nics", set()) | res.meta.get("subnets", set()) if k in live)
        if users:
            names = ", ".join(self.store.resources[k].id for k in users)
            raise ArmError(
                400,
                "InUseNetworkSecurityGroupCannotBeDeleted",
                f"Network security group {res.id} cannot be deleted because it is in use by the following "
                f"resources: {names}. In order to delete the Network security group, remove the association "
                "with the resource(s). To learn how to do this, see aka.ms/deletensg.",
            )

    # Public IP

    def _build_pip(self, req: Request, res: Resource, existing: Resource | None, body: dict[str, Any]) -> None:
        props = dict(body.get("properties") or {})
        sku = dict(body.get("sku") or {"name": "Standard", "tier": "Regional"})
        sku.setdefault("tier", "Regional")
        res.body["sku"] = sku
        if body.get("zones"):
            res.body["zones"] = list(body["zones"])
        method = "Static" if sku.get("name") == "Standard" else props.get("publicIPAllocationMethod", "Dynamic")
        props["publicIPAllocationMethod"] = method
        props.setdefault("publicIPAddressVersion", "IPv4")
        props.setdefault("idleTimeoutInMinutes", 4)
        props.setdefault("ipTags", [])
        props.setdefault("ddosSettings", {"protectionMode": "VirtualNetworkInherited"})
        props.pop("ipConfiguration", None)
        label = (props.get("dnsSettings") or {}).get("domainNameLabel")
        if label:
            props["dnsSettings"] = {
                **props["dnsSettings"],
                "fqdn": f"{label}.{res.location.replace(' ', '').lower()}.cloudapp.azure.com",
            }
        address = existing.properties.get("ipAddress") if existing else None
        props["ipAddress"] = address or self.ctx.public_ips.allocate()
        res.body["properties"] = props
        res.meta.setdefault("ip_config", None)

    def _render_pip(self, res: Resource) -> dict[str, Any]:
        out = self._shape(res)
        if res.meta.get("ip_config"):
            out["properties"]["ipConfiguration"] = {"id": res.meta["ip_config"]}
        return out

    def _pip_in_use(self, res: Resource) -> None:
        if res.meta.get("ip_config"):
            raise ArmError(
                400,
                "PublicIPAddressInUse",
                f"Public IP address {res.id} can not be deleted since it is still allocated to resource "
                f"{res.meta['ip_config']}. In order to delete the public IP, disassociate/detach the Public IP "
                "address from the resource.  To learn how to do this, see aka.ms/deletepublicip.",
            )

    # NIC

    def check_nic_refs(self, nic_id: str, ip_configs: list[dict[str, Any]], nsg_ref: str | None) -> None:
        """Reference checks of a NIC definition, before anything is changed."""
        for config in ip_configs:
            props = config.get("properties") or {}
            subnet_ref = _ref(props.get("subnet"))
            if subnet_ref is None:
                raise ArmError(
                    400,
                    "InvalidRequestFormat",
                    "Cannot parse the request. Subnet reference is missing.",
                    target=f"{nic_id}/ipConfigurations/{config.get('name')}",
                )
            if self.store.get(subnet_ref) is None:
                raise invalid_reference(subnet_ref, nic_id)
            pip_ref = _ref(props.get("publicIPAddress"))
            if pip_ref is not None:
                pip = self.store.get(pip_ref)
                if pip is None:
                    raise invalid_reference(pip_ref, nic_id)
                owner = pip.meta.get("ip_config")
                if owner and not owner.lower().startswith(nic_id.lower() + "/"):
                    raise ArmError(
                        400,
                        "PublicIPAddressInUse",
                        f"Resource {pip.id} is referenced by {owner} and cannot be used by {nic_id}.",
                    )
        if nsg_ref is not None and self.store.get(nsg_ref) is None:
            raise invalid_reference(nsg_ref, nic_id)

    def _build_nic(self, req: Request, res: Resource, existing: Resource | None, body: dict[str, Any]) -> None:
        props = dict(body.get("properties") or {})
        configs = list(props.get("ipConfigurations") or [])
        if not configs:
            raise ArmError(
                400,
                "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
                f"Network interface {res.id} must have at least one IP configuration.",
            )
        nsg_ref = _ref(props.get("networkSecurityGroup"))
        self.check_nic_refs(res.id, configs, nsg_ref)
        old = existing.properties.get("ipConfigurations", []) if existing else []
        old_by_name = {c["name"].lower(): c for c in old}
        if existing is not None:
            self._release_nic(existing, keep={c.get("name", "").lower(): True for c in configs})
        rendered = []
        for index, config in enumerate(configs):
            name = str(config.get("name") or f"ipconfig{index + 1}")
            cprops = dict(config.get("properties") or {})
            subnet = self.store.get(str(_ref(cprops["subnet"])))
            assert subnet is not None
            previous = old_by_name.get(name.lower())
            address = previous["properties"].get("privateIPAddress") if previous else None
            if previous is None or _ref(previous["properties"].get("subnet", {})) != subnet.id:
                wanted = cprops.get("privateIPAddress") if cprops.get("privateIPAllocationMethod") == "Static" else None
                address = subnet.meta["addresses"].allocate(subnet.name, wanted)
            config_id = f"{res.id}/ipConfigurations/{name}"
            subnet.meta["ip_configs"].add(config_id.lower())
            cprops["subnet"] = {"id": subnet.id}
            cprops["privateIPAddress"] = address
            cprops.setdefault("privateIPAllocationMethod", "Dynamic")
            cprops.setdefault("privateIPAddressVersion", "IPv4")
            cprops.setdefault("primary", index == 0)
            cprops["provisioningState"] = "Succeeded"
            pip_ref = _ref(cprops.get("publicIPAddress"))
            if pip_ref is not None:
                pip = self.store.get(pip_ref)
                assert pip is not None
                pip.meta["ip_config"] = config_id
                cprops["publicIPAddress"] = {"id": pip.id}
            rendered.append(
                {
                    "name": name,
                    "id": config_id,
                    "etag": _etag(),
                    "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                    "properties": cprops,
                }
            )
        props["ipConfigurations"] = rendered
        if nsg_ref is not None:
            nsg = self.store.get(nsg_ref)
            assert nsg is not None
            nsg.meta.setdefault("nics", set()).add(res.key)
            props["networkSecurityGroup"] = {"id": nsg.id}
        props.setdefault("enableAcceleratedNetworking", False)
        props.setdefault("enableIPForwarding", False)
        props.setdefault("disableTcpStateTracking", False)
        props.setdefault("dnsSettings", {"dnsServers": [], "appliedDnsServers": []})
        props.setdefault("nicType", "Standard")
        props.setdefault("vnetEncryptionSupported", False)
        for server_side in ("virtualMachine", "macAddress", "primary"):
            props.pop(server_side, None)
        res.body["properties"] = props
        res.meta.setdefault("vm", None)

    def _render_nic(self, res: Resource) -> dict[str, Any]:
        out = self._shape(res)
        if res.meta.get("vm"):
            out["properties"]["virtualMachine"] = {"id": res.meta["vm"]}
            out["properties"]["primary"] = res.meta.get("primary", True)
            out["properties"]["macAddress"] = res.meta["mac"]
        return out

    def _nic_in_use(self, res: Resource) -> None:
        if res.meta.get("vm"):
            raise ArmError(
                400,
                "NicInUse",
                f"Network Interface {res.id} is used by existing resource {res.meta['vm']}. In order to delete "
                "the network interface, it must be dissociated from the resource. To learn more, see "
                "aka.ms/deletenic.",
            )

    def _release_nic(self, res: Resource, keep: dict[str, bool] | None = None) -> None:
        """Undo a NIC's claims on subnets, public IPs and its NSG."""
        for config in res.properties.get("ipConfigurations", []):
            cprops = config["properties"]
            subnet = self.store.get(cprops["subnet"]["id"])
            kept = keep is not None and config["name"].lower() in keep
            if subnet is not None and not kept:
                subnet.meta["ip_configs"].discard(config["id"].lower())
                subnet.meta["addresses"].release(cprops["privateIPAddress"])
            pip_ref = _ref(cprops.get("publicIPAddress"))
            pip = self.store.get(pip_ref) if pip_ref else None
            if pip is not None and pip.meta.get("ip_config", "").lower() == config["id"].lower():
                pip.meta["ip_config"] = None
        nsg_ref = _ref(res.properties.get("networkSecurityGroup"))
        nsg = self.store.get(nsg_ref) if nsg_ref else None
        if nsg is not None:
            nsg.meta.get("nics", set()).discard(res.key)

    def attach_nic(self, nic: Resource, vm_id: str, primary: bool) -> None:
        nic.meta["vm"] = vm_id
        nic.meta["primary"] = primary
        nic.meta.setdefault("mac", "00-0D-3A-" + "-".join(f"{random.randrange(256):02X}" for _ in range(3)))

    def detach_nic(self, nic: Resource) -> None:
        nic.meta["vm"] = None

    # VNet and subnets

    def _subnets_of(self, vnet: Resource) -> list[Resource]:
        return [self.store.resources[k] for k in vnet.meta.get("subnets", []) if k in self.store.resources]

    def _build_vnet(self, req: Request, res: Resource, existing: Resource | None, body: dict[str, Any]) -> None:
        props = dict(body.get("properties") or {})
        prefixes = (props.get("addressSpace") or {}).get("addressPrefixes") or []
        if not prefixes:
            raise ArmError(400, "InvalidAddressSpace", "The virtual network must have an address space.")
        for prefix in prefixes:
            _network(prefix)
        keep_subnets = "subnets" not in props
        subnets = list(props.pop("subnets", None) or [])
        props.setdefault("virtualNetworkPeerings", [])
        props.setdefault("enableDdosProtection", False)
        res.body["properties"] = props
        if keep_subnets and existing is not None:
            # Since api-version 2023-09-01 a PUT without `subnets` leaves them as they are
            # (techcommunity.microsoft.com/t5/azure-networking-blog/azure-virtual-network-now-supports-updates-without-subnet/ba-p/4067952).
            return
        wanted = {str(s.get("name", "")).lower() for s in subnets}
        dropped = [old for old in (self._subnets_of(existing) if existing else []) if old.name.lower() not in wanted]
        for old in dropped:
            self._subnet_in_use(old)
        for old in dropped:
            self.store.remove(old.id)
            self._release_subnet(old)
        res.meta["subnets"] = []
        self.store.put(res)
        for subnet in subnets:
            sid = f"{res.id}/subnets/{subnet.get('name')}"
            self.upsert(SUBNET, sid, subnet, req, self.store.get(sid))

    def _render_vnet(self, res: Resource) -> dict[str, Any]:
        out = self._shape(res)
        out["properties"]["subnets"] = [self._render_subnet(s) for s in self._subnets_of(res)]
        return out

    def _vnet_in_use(self, res: Resource) -> None:
        for subnet in self._subnets_of(res):
            self._subnet_in_use(subnet)

    def _drop_subnets(self, res: Resource) -> None:
        for subnet in self._subnets_of(res):
            self.store.remove(subnet.id)
            self._release_subnet(subnet)

    def _build_subnet(self, req: Request, res: Resource, existing: Resource | None, body: dict[str, Any]) -> None:
        props = dict(body.get("properties") or {})
        prefix = props.get("addressPrefix") or (props.get("addressPrefixes") or [None])[0]
        if not prefix:
            raise ArmError(400, "InvalidRequestFormat", "Subnet addressPrefix is missing.", target=res.id)
        vnet = self.store.get(res.id.rsplit("/subnets/", 1)[0])
        assert vnet is not None
        net = _network(prefix)
        spaces = [_network(p) for p in vnet.properties["addressSpace"]["addressPrefixes"]]
        if not any(net.subnet_of(space) for space in spaces):
            raise ArmError(
                400,
                "NetcfgSubnetRangeOutsideVnet",
                f"Subnet '{res.name}' is not valid because its IP address range is outside the IP address range "
                "of virtual network.",
            )
        nsg_ref = _ref(props.get("networkSecurityGroup"))
        nsg = self.store.get(nsg_ref) if nsg_ref else None
        if nsg_ref and nsg is None:
            raise invalid_reference(nsg_ref, res.id)
        if existing is not None:
            res.meta = existing.meta
            if str(existing.meta["addresses"].network) != str(net):
                if existing.meta["ip_configs"]:
                    raise ArmError(
                        400,
                        "InUseSubnetCannotBeUpdated",
                        f"Subnet {res.name} is in use and cannot be updated.",
                    )
                res.meta["addresses"] = SubnetAddresses(str(net))
            self._release_subnet(existing, keep_addresses=True)
        else:
            res.meta = {"addresses": SubnetAddresses(str(net)), "ip_configs": set()}
        if nsg is not None:
            nsg.meta.setdefault("subnets", set()).add(res.key)
            props["networkSecurityGroup"] = {"id": nsg.id}
        props["addressPrefix"] = str(net)
        props.pop("addressPrefixes", None)
        props.pop("ipConfigurations", None)
        props.setdefault("privateEndpointNetworkPolicies", "Disabled")
        props.setdefault("privateLinkServiceNetworkPolicies", "Enabled")
        props.setdefault("delegations", [])
        res.body["properties"] = props
        res.meta["vnet"] = vnet.key
        if res.key not in vnet.meta.setdefault("subnets", []):
            vnet.meta["subnets"].append(res.key)

    def _render_subnet(self, res: Resource) -> dict[str, Any]:
        # The ipConfigurations back-list is left out: with 10,000 NICs it would dwarf every VNet GET.
        return self._shape(res, top_level=False)

    def _subnet_in_use(self, res: Resource) -> None:
        if res.meta.get("ip_configs"):
            users = ", ".join(sorted(res.meta["ip_configs"])[:5])
            raise ArmError(
                400,
                "InUseSubnetCannotBeDeleted",
                f"Subnet {res.name} is in use by {users} and cannot be deleted. In order to delete the subnet, "
                "delete all the resources within the subnet. See aka.ms/deletesubnet.",
            )

    def _release_subnet(self, res: Resource, keep_addresses: bool = False) -> None:
        nsg_ref = _ref(res.properties.get("networkSecurityGroup"))
        nsg = self.store.get(nsg_ref) if nsg_ref else None
        if nsg is not None:
            nsg.meta.get("subnets", set()).discard(res.key)
        if not keep_addresses:
            vnet = self.store.resources.get(res.meta.get("vnet", ""))
            if vnet is not None and res.key in vnet.meta.get("subnets", []):
                vnet.meta["subnets"].remove(res.key)


def _network(prefix: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(prefix, strict=False)
    except ValueError as exc:
        raise ArmError(400, "InvalidAddressPrefixFormat", f"Address prefix {prefix} is invalid.") from exc


def _noop(resource: Resource) -> None:
    return None
