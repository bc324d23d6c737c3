"""Microsoft.Resources: resource groups (CreateResourceGroup.json; the id uses 'resourceGroups')."""

from __future__ import annotations

from typing import Any

from .bodies import strict_body
from .context import GROUP_TYPE, SimContext
from .errors import ArmError, group_not_found
from .http import Request, Response, Router
from .ids import group_id
from .state import Resource


class ResourcesProvider:
    def __init__(self, ctx: SimContext, delete_group_contents: Any) -> None:
        self.ctx = ctx
        self._delete_contents = delete_group_contents

    def register(self, router: Router) -> None:
        item = "/subscriptions/{sub}/resourcegroups/{rg}"
        router.add("HEAD", item, "ResourceGroups_CheckExistence", self.head)
        router.add("PUT", item, "ResourceGroups_CreateOrUpdate", self.put)
        router.add("GET", item, "ResourceGroups_Get", self.get)
        router.add("PATCH", item, "ResourceGroups_Update", self.patch)
        router.add("DELETE", item, "ResourceGroups_Delete", self.delete)
        router.add("GET", "/subscriptions/{sub}/resourcegroups", "ResourceGroups_List", self.list_groups)

    def create(self, subscription: str, name: str, location: str, tags: dict[str, str] | None = None) -> Resource:
        existing = self.ctx.group(subscription, name)
        group = Resource(
            id=existing.id if existing else group_id(subscription, name),
            type=GROUP_TYPE,
            name=existing.name if existing else name,
            subscription=subscription,
            resource_group=existing.name if existing else name,
            location=existing.location if existing else location,
            body={"properties": {"provisioningState": "Succeeded"}},
        )
        if tags is not None:
            group.body["tags"] = tags
        elif existing is not None and "tags" in existing.body:
            group.body["tags"] = existing.body["tags"]
        self.ctx.store.put(group)
        return group

    @staticmethod
    def render(group: Resource) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": group.id,
            "name": group.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": group.location,
        }
        if group.body.get("tags"):
            out["tags"] = group.body["tags"]
        out["properties"] = dict(group.properties)
        return out

    def head(self, req: Request, p: dict[str, str]) -> Response:
        return Response(204 if self.ctx.group(p["sub"], p["rg"]) else 404)

    def put(self, req: Request, p: dict[str, str]) -> Response:
        body = strict_body(req, GROUP_TYPE)
        location = body.get("location")
        if not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        existing = self.ctx.group(p["sub"], p["rg"])
        if existing is not None and existing.location.lower() != str(location).replace(" ", "").lower():
            raise ArmError(
                409,
                "InvalidResourceGroupLocation",
                f"Invalid resource group location '{location}'. The Resource group already exists in location "
                f"'{existing.location}'.",
            )
        group = self.create(p["sub"], p["rg"], str(location), body.get("tags"))
        return Response.json(200 if existing else 201, self.render(group))

    def get(self, req: Request, p: dict[str, str]) -> Response:
        return Response.json(200, self.render(self.ctx.require_group(p["sub"], p["rg"])))

    def patch(self, req: Request, p: dict[str, str]) -> Response:
        body = strict_body(req, GROUP_TYPE, patch=True)
        group = self.ctx.require_group(p["sub"], p["rg"])
        if "tags" in body:
            group.body["tags"] = dict(body["tags"] or {})
        return Response.json(200, self.render(group))

    def delete(self, req: Request, p: dict[str, str]) -> Response:
        group = self.ctx.group(p["sub"], p["rg"])
        if group is None:
            raise group_not_found(p["rg"])
        self._delete_contents(group)
        self.ctx.store.remove(group.id)
        op = self.ctx.store.new_operation(
            "Microsoft.Resources", group.location, p["sub"], group.id, self.ctx.now(), is_delete=True
        )
        op.finish(self.ctx.now())
        return Response(202, headers=self.ctx.op_headers(req, op, async_op=False))

    def list_groups(self, req: Request, p: dict[str, str]) -> Response:
        prefix = f"/subscriptions/{p['sub']}/resourcegroups/"
        groups = [self.render(g) for g in self.ctx.store.of_type(GROUP_TYPE, prefix)]
        return Response.json(200, {"value": groups})
