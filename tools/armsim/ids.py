"""Building ARM ids and the async-operation URLs that point back at this simulator."""

from __future__ import annotations

from dataclasses import dataclass

from .state import Operation


def group_id(subscription: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}"


def resource_id(subscription: str, resource_group: str, provider_type: str, *names: str) -> str:
    """`provider_type` like 'Microsoft.Network/virtualNetworks/subnets' with one name per type level."""
    namespace, *types = provider_type.split("/")
    parts = [f"{t}/{n}" for t, n in zip(types, names, strict=True)]
    return f"{group_id(subscription, resource_group)}/providers/{namespace}/" + "/".join(parts)


@dataclass(frozen=True)
class ParsedId:
    subscription: str
    resource_group: str
    namespace: str
    types: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def full_type(self) -> str:
        return "/".join((self.namespace, *self.types))

    @property
    def name(self) -> str:
        return self.names[-1]


def parse_id(arm_id: str) -> ParsedId | None:
    parts = arm_id.strip("/").split("/")
    if len(parts) < 8 or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups":
        return None
    if parts[4].lower() != "providers" or len(parts) % 2 != 0:
        return None
    rest = parts[6:]
    return ParsedId(parts[1], parts[3], parts[5], tuple(rest[0::2]), tuple(rest[1::2]))


def operation_urls(base_url: str, op: Operation, api_version: str) -> tuple[str, str]:
    """(Azure-AsyncOperation URL, Location URL) in the form each provider uses."""
    location = op.location.replace(" ", "").lower()
    prefix = f"{base_url}/subscriptions/{op.subscription}/providers/{op.provider}/locations/{location}"
    version = f"api-version={api_version}"
    if op.provider == "Microsoft.Network":
        return f"{prefix}/operations/{op.id}?{version}", f"{prefix}/operationResults/{op.id}?{version}"
    return f"{prefix}/operations/{op.id}?{version}", f"{prefix}/operations/{op.id}?monitor=true&{version}"
