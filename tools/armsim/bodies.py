"""Strict request bodies: every member of a PUT or PATCH body must exist in Azure's published shape for it
(`schemas/arm-types.json`, cut from Azure/bicep-types-az). Read-only members are accepted and dropped, as
the resource providers do; an unknown member anywhere is refused with the provider's deserialization error.

Compute (and ARM's own resource groups) answer 400 InvalidRequestContent, worded by JSON.NET:
"The request content was invalid and could not be deserialized: 'Could not find member 'resources' on object
of type 'ResourceDefinition'. Path 'resources', line 1, position 1046.'."
(https://github.com/Azure/azure-rest-api-specs/issues/286, https://github.com/Azure/azure-sdk-for-net/issues/3487).
The network RP answers a body it cannot deserialize with 400 InvalidRequestFormat "Cannot parse the request."
and an InvalidJson detail holding JSON.NET's message (https://github.com/pulumi/pulumi-azure-native/issues/3114).
Members match case-insensitively, as JSON.NET binds them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import ArmError
from .http import Request

SCHEMA_FILE = Path(__file__).with_name("schemas") / "arm-types.json"

# The .NET contract type JSON.NET names for the root of each body; nested objects use the swagger names.
_ROOT_NAMES = {
    "Microsoft.Network/networkSecurityGroups": "NetworkSecurityGroup",
    "Microsoft.Network/publicIPAddresses": "PublicIPAddress",
    "Microsoft.Network/networkInterfaces": "NetworkInterface",
    "Microsoft.Network/virtualNetworks": "VirtualNetwork",
    "Microsoft.Network/virtualNetworks/subnets": "Subnet",
}


@dataclass(frozen=True)
class UnknownMember:
    member: str
    owner: str
    path: str


class _Walk:
    def __init__(self, types: list[dict[str, Any]]) -> None:
        self.types = types

    def clean(self, value: Any, slot: int, path: str, owner_name: str | None = None) -> Any:
        """A copy of `value` without read-only members; raises _Unknown at the first unknown member."""
        shape = self.types[slot]
        kind = shape["kind"]
        if kind == "array":
            if not isinstance(value, list):
                return value
            return [self.clean(item, shape["item"], f"{path}[{i}]") for i, item in enumerate(value)]
        if kind == "union":
            objects = [s for s in shape["of"] if self.types[s]["kind"] != "scalar"]
            if not isinstance(value, dict) or not objects:
                return value
            first: _Unknown | None = None
            for option in objects:
                try:
                    return self.clean(value, option, path, owner_name)
                except _Unknown as exc:
                    first = first or exc
            assert first is not None
            raise first
        if kind != "object" or not isinstance(value, dict):
            return value
        members = {name.lower(): (name, spec) for name, spec in shape["members"].items()}
        extra = shape["additional"]
        out: dict[str, Any] = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            known = members.get(key.lower())
            if known is None:
                if extra is None:
                    raise _Unknown(UnknownMember(key, owner_name or shape["name"], child))
                out[key] = self.clean(item, extra, child)
                continue
            name, (child_slot, read_only) = known
            if read_only:
                continue
            out[name] = self.clean(item, child_slot, child)
        return out


class _Unknown(Exception):
    def __init__(self, found: UnknownMember) -> None:
        super().__init__(found.member)
        self.found = found


@cache
def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return loaded


def source() -> dict[str, Any]:
    """Where the shapes came from (repository and commit) and the api-version of each."""
    doc = _document()
    return {
        **doc["source"],
        "apiVersions": {name: entry["apiVersion"] for name, entry in doc["resources"].items()},
    }


def strict_body(req: Request, resource_type: str, *, patch: bool = False) -> dict[str, Any]:
    """The request's JSON body, checked against `resource_type`'s PUT (or PATCH) shape."""
    return check(resource_type, req.body, req.json_object(), patch=patch)


def check(resource_type: str, raw: bytes, body: dict[str, Any], *, patch: bool = False) -> dict[str, Any]:
    """`body` without its read-only members, or the provider's 400 for its first unknown member."""
    doc = _document()
    entry = doc["resources"][resource_type]
    slot = entry["patch" if patch else "put"]
    network = resource_type.startswith("Microsoft.Network/")
    root = _ROOT_NAMES.get(resource_type, "NetworkResource") if network else "ResourceDefinition"
    try:
        cleaned: dict[str, Any] = _Walk(doc["types"]).clean(body, slot, "", root)
    except _Unknown as exc:
        occurrence = _earlier_keys(body, exc.found.member, exc.found.path)
        raise _refusal(exc.found, raw.decode("utf-8", "replace"), occurrence, network) from None
    return cleaned


def _earlier_keys(body: Any, member: str, path: str) -> int:
    """How many keys named `member` come before the one at `path`, in document order."""
    count = 0

    def walk(value: Any, here: str) -> bool:
        nonlocal count
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{here}.{key}" if here else key
                if child == path:
                    return True
                count += key == member
                if walk(item, child):
                    return True
        elif isinstance(value, list):
            return any(walk(item, f"{here}[{i}]") for i, item in enumerate(value))
        return False

    walk(body, "")
    return count


def _refusal(found: UnknownMember, text: str, occurrence: int, network: bool) -> ArmError:
    line, position = _position(text, found.member, occurrence)
    reason = (
        f"Could not find member '{found.member}' on object of type '{found.owner}'. "
        f"Path '{found.path}', line {line}, position {position}."
    )
    if network:
        return ArmError(
            400,
            "InvalidRequestFormat",
            "Cannot parse the request.",
            details=[{"code": "InvalidJson", "message": reason}],
        )
    return ArmError(
        400,
        "InvalidRequestContent",
        f"The request content was invalid and could not be deserialized: '{reason}'.",
    )


def _position(text: str, member: str, occurrence: int) -> tuple[int, int]:
    """JSON.NET's line and position after reading the member's name: where its value starts."""
    pattern = re.compile(r'"' + re.escape(member) + r'"\s*:\s*')
    matches = list(pattern.finditer(text))
    if not matches:
        return 1, 0
    end = matches[min(occurrence, len(matches) - 1)].end()
    line = text.count("\n", 0, end) + 1
    return line, end - (text.rfind("\n", 0, end) + 1)
