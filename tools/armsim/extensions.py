"""Microsoft.Compute/virtualMachines/extensions (VirtualMachineExtensions_* in the Compute swagger).

A PUT answers 201 Creating (200 Updating for an existing extension) with Azure-AsyncOperation and reaches
Succeeded after the profile's `extension_put` time; a DELETE answers 202 and removes it after
`extension_delete`. `protectedSettings` is accepted, kept and never returned (GET /_sim/vms/{vm}/extensions/{ext}
shows what was received). While the VM is not running Compute refuses both with 409 OperationNotAllowed,
"Cannot modify extensions in the VM when the VM is not running." (internalErrorCode
CannotModifyExtensionsWhenVMNotRunning; learn.microsoft.com troubleshooting for VM extensions)."""

from __future__ import annotations

import copy
from typing import Any

from .bodies import strict_body
from .context import SimContext
from .errors import ArmError, invalid_parameter, not_found
from .http import Request, Response, Router
from .ids import resource_id
from .state import Operation, Resource
from .vm import VM_TYPE, runtime

EXTENSION_TYPE = "Microsoft.Compute/virtualMachines/extensions"
_RETURNED = (
    "publisher",
    "type",
    "typeHandlerVersion",
    "autoUpgradeMinorVersion",
    "enableAutomaticUpgrade",
    "settings",
    "suppressFailures",
    "forceUpdateTag",
    "provisionAfterExtensions",
)


def extensions_of(ctx: SimContext, vm: Resource) -> list[Resource]:
    return list(ctx.store.of_type(EXTENSION_TYPE, vm.key + "/extensions/"))


def extension_views(ctx: SimContext, vm: Resource) -> list[dict[str, Any]]:
    """The instance view's `extensions`: one status per extension, as the guest agent reports it."""
    views = []
    for ext in extensions_of(ctx, vm):
        state = str(ext.properties.get("provisioningState", "")).lower()
        views.append(
            {
                "name": ext.name,
                "type": f"{ext.properties.get('publisher')}.{ext.properties.get('type')}",
                "typeHandlerVersion": ext.properties.get("typeHandlerVersion"),
                "statuses": [
                    {
                        "code": f"ProvisioningState/{state}",
                        "level": "Error" if state == "failed" else "Info",
                        "displayStatus": "Provisioning succeeded" if state == "succeeded" else state.capitalize(),
                        "message": "Enable succeeded." if state == "succeeded" else "",
                    }
                ],
            }
        )
    return views


def render_extension(ext: Resource) -> dict[str, Any]:
    """An extension as ARM returns it: never its protectedSettings."""
    props = {k: copy.deepcopy(ext.properties[k]) for k in _RETURNED if k in ext.properties}
    props["provisioningState"] = ext.properties.get("provisioningState")
    out: dict[str, Any] = {"name": ext.name, "id": ext.id, "type": EXTENSION_TYPE, "location": ext.location}
    if ext.body.get("tags"):
        out["tags"] = ext.body["tags"]
    out["properties"] = props
    return out


def received(ctx: SimContext, vm: Resource, name: str) -> dict[str, Any]:
    """What the extension's last PUT carried, protectedSettings included (for /_sim/ only)."""
    ext = ctx.store.get(f"{vm.id}/extensions/{name}")
    if ext is None:
        raise ArmError(404, "ResourceNotFound", f"VM '{vm.name}' has no extension '{name}'.")
    return {
        "id": ext.id,
        "provisioningState": ext.properties.get("provisioningState"),
        "received": ext.meta["received"],
    }


class ExtensionsProvider:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        ctx.handlers["extension"] = ctx.settle_operation

    def register(self, router: Router) -> None:
        base = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{vm}/extensions"
        router.add("PUT", base + "/{name}", "VirtualMachineExtensions_CreateOrUpdate", self.put)
        router.add("GET", base + "/{name}", "VirtualMachineExtensions_Get", self.get)
        router.add("DELETE", base + "/{name}", "VirtualMachineExtensions_Delete", self.delete)
        router.add("GET", base, "VirtualMachineExtensions_List", self.list)

    def _vm(self, p: dict[str, str]) -> Resource:
        group = self.ctx.require_group(p["sub"], p["rg"])
        vm = self.ctx.store.get(resource_id(p["sub"], group.name, VM_TYPE, p["vm"]))
        if vm is None:
            raise not_found(VM_TYPE, p["vm"], p["rg"])
        return vm

    def _require_running(self, vm: Resource) -> None:
        if runtime(vm).power != "running" or vm.properties.get("provisioningState") == "Deleting":
            raise ArmError(
                409,
                "OperationNotAllowed",
                "Cannot modify extensions in the VM when the VM is not running.",
                details=[],
            )

    def put(self, req: Request, p: dict[str, str]) -> Response:
        body = strict_body(req, EXTENSION_TYPE)
        vm = self._vm(p)
        props = dict(body.get("properties") or {})
        for required in ("publisher", "type", "typeHandlerVersion"):
            if not props.get(required):
                raise invalid_parameter(f"Required parameter '{required}' is missing (null).", required)
        self._require_running(vm)
        rid = f"{vm.id}/extensions/{p['name']}"
        existing = self.ctx.store.get(rid)
        if existing is not None and existing.properties.get("provisioningState") == "Deleting":
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation 'PUT' is not allowed on extension '{existing.name}' since it is marked for deletion.",
            )
        ext = Resource(
            existing.id if existing else rid,
            EXTENSION_TYPE,
            existing.name if existing else p["name"],
            vm.subscription,
            vm.resource_group,
            vm.location,
            {"tags": dict(body.get("tags") or {}), "properties": props},
            {"received": copy.deepcopy(body)},
        )
        ext.properties.setdefault("autoUpgradeMinorVersion", False)
        self.ctx.store.put(ext)
        op = self._begin(ext, "extension_put", "Updating" if existing else "Creating")
        headers = self.ctx.op_headers(req, op, location=False)
        return Response.json(200 if existing else 201, render_extension(ext), headers)

    def get(self, req: Request, p: dict[str, str]) -> Response:
        return Response.json(200, render_extension(self._extension(p)))

    def list(self, req: Request, p: dict[str, str]) -> Response:
        return Response.json(200, {"value": [render_extension(e) for e in extensions_of(self.ctx, self._vm(p))]})

    def delete(self, req: Request, p: dict[str, str]) -> Response:
        vm = self._vm(p)
        ext = self.ctx.store.get(f"{vm.id}/extensions/{p['name']}")
        if ext is None:
            return Response(204)
        self._require_running(vm)
        pending = self.ctx.store.operations.get(ext.meta.get("operation") or "")
        if ext.properties.get("provisioningState") == "Deleting" and pending is not None:
            return Response(202, headers=self.ctx.op_headers(req, pending))
        op = self._begin(ext, "extension_delete", "Deleting", is_delete=True)
        return Response(202, headers=self.ctx.op_headers(req, op))

    def _extension(self, p: dict[str, str]) -> Resource:
        vm = self._vm(p)
        ext = self.ctx.store.get(f"{vm.id}/extensions/{p['name']}")
        if ext is None:
            raise not_found(EXTENSION_TYPE, f"{p['vm']}/{p['name']}", p["rg"])
        return ext

    def _begin(self, ext: Resource, kind: str, state: str, *, is_delete: bool = False) -> Operation:
        return self.ctx.begin_operation(ext, "Microsoft.Compute", kind, state, "extension", is_delete=is_delete)
