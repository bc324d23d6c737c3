"""Azure's Bicep type data (the format of Azure/bicep-types, as published in Azure/bicep-types-az).

A types file is a JSON array of types that refer to each other as `{"$ref": "#/<index>"}`. A `ResourceType`
names `Type@apiVersion` and points at its body, an `ObjectType` (or a `DiscriminatedObjectType`) whose
properties carry flags. The subset kept in this repository (SUBSET, written by extract_bicep_types.py) has
the same encoding, with the types of several upstream files in one array.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SUBSET = Path(__file__).with_name("bicep_types_subset.json")

# ObjectTypePropertyFlags (Azure/bicep-types src/bicep-types/src/types.ts).
REQUIRED = 1
READ_ONLY = 2

Type = dict[str, Any]


def ref_index(ref: Type) -> int:
    target = ref["$ref"]
    if not target.startswith("#/"):
        raise ValueError(f"cross-file reference {target!r} is not supported")
    return int(target[2:])


def refs_in(type_: Type) -> list[Type]:
    """Every `{"$ref": ...}` a type holds directly (properties, items, union members, ...)."""
    found: list[Type] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "$ref" in value:
                found.append(value)
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk({k: v for k, v in type_.items() if k != "$type"})
    return found


class TypeData:
    """The subset: resource bodies by `Type@apiVersion`, every published API version of those types."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.source: dict[str, Any] = doc["source"]
        self.types: list[Type] = doc["types"]
        self._bodies = {name.lower(): entry for name, entry in doc["resources"].items()}
        self._versions = {name.lower(): versions for name, versions in doc["apiVersions"].items()}
        self.resource_names: list[str] = sorted(doc["resources"])

    @classmethod
    def load(cls, path: Path = SUBSET) -> TypeData:
        return cls(json.loads(path.read_text()))

    def resolve(self, ref: Type) -> Type:
        return self.types[ref_index(ref)]

    def body(self, type_: str, api_version: str) -> Type | None:
        entry = self._bodies.get(f"{type_}@{api_version}".lower())
        return None if entry is None else self.resolve(entry["body"])

    def api_versions(self, type_: str) -> list[str] | None:
        """Every API version Azure publishes for a type the templates use; None for a type not in the subset."""
        return self._versions.get(type_.lower())
