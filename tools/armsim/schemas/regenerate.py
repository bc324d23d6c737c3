"""Regenerate `arm-types.json`: the request-body shapes the simulator enforces, cut from Azure/bicep-types-az.

bicep-types-az is generated from the azure-rest-api-specs swagger and is what the Bicep compiler checks
templates against. We keep only the types reachable from the bodies the simulator accepts, reduced to what
strictness needs: which member names an object has, which of them are read-only, and what lies below.

    python -m tools.armsim.schemas.regenerate --git-dir /path/to/bicep-types-az.git [--commit SHA]

The api-versions are the ones the SDKs in .venv send (see /_sim/counters `api_versions`), or the newest
published one below it where bicep-types-az has not caught up (network: SDK 2026-03-01, types 2025-09-01).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

REPOSITORY = "https://github.com/Azure/bicep-types-az"
OUT = Path(__file__).with_name("arm-types.json")

COMPUTE = ("generated/compute_1/microsoft.compute/2026-04-01/types.json", "2026-04-01")
NETWORK = ("generated/network/microsoft.network/2025-09-01/types.json", "2025-09-01")
RESOURCES = ("generated/resources_11/microsoft.resources/2025-04-01/types.json", "2025-04-01")
# resource type -> (types.json inside bicep-types-az, api-version of that file)
SOURCES = {
    "Microsoft.Compute/virtualMachines": COMPUTE,
    "Microsoft.Compute/virtualMachines/extensions": COMPUTE,
    "Microsoft.Network/networkSecurityGroups": NETWORK,
    "Microsoft.Network/publicIPAddresses": NETWORK,
    "Microsoft.Network/networkInterfaces": NETWORK,
    "Microsoft.Network/virtualNetworks": NETWORK,
    "Microsoft.Network/virtualNetworks/subnets": NETWORK,
    "Microsoft.Resources/resourceGroups": RESOURCES,
}

# PATCH bodies are not resource types in bicep-types-az; the swagger defines them from the PUT body's parts:
# VirtualMachineUpdate = UpdateResource.tags + plan, properties, identity, zones; ResourceGroupPatchable =
# name, properties, managedBy, tags; network UpdateTags takes a TagsObject.
PATCH_MEMBERS = {
    "Microsoft.Compute/virtualMachines": ["tags", "plan", "properties", "identity", "zones"],
    "Microsoft.Resources/resourceGroups": ["name", "properties", "managedBy", "tags"],
    "Microsoft.Network/networkSecurityGroups": ["tags"],
    "Microsoft.Network/publicIPAddresses": ["tags"],
    "Microsoft.Network/networkInterfaces": ["tags"],
    "Microsoft.Network/virtualNetworks": ["tags"],
}
PATCH_NAMES = {
    "Microsoft.Compute/virtualMachines": "VirtualMachineUpdate",
    "Microsoft.Resources/resourceGroups": "ResourceGroupPatchable",
}

READ_ONLY = 2
# Bicep-only member of every resource body; it is never part of a REST body.
BICEP_ONLY = {"apiVersion"}


class Builder:
    def __init__(self) -> None:
        self.types: list[dict[str, Any]] = [{"kind": "scalar"}, {"kind": "any"}]
        self._seen: dict[tuple[str, int], int] = {}

    def add(self, source: str, table: list[dict[str, Any]], index: int) -> int:
        key = (source, index)
        if key in self._seen:
            return self._seen[key]
        found = table[index]
        kind = found["$type"]
        if kind in ("StringType", "IntegerType", "BooleanType", "StringLiteralType", "NullType"):
            return 0
        if kind == "AnyType":
            return 1
        if kind == "UnionType":
            # Unions of literals (enums) are scalars; unions of objects are rare and never recursive.
            members = sorted({self.add(source, table, _ref(e)) for e in found["elements"]})
            if members == [0]:
                return self._seen.setdefault(key, 0)
            self.types.append({"kind": "union", "of": members})
            return self._seen.setdefault(key, len(self.types) - 1)
        out: dict[str, Any] = {}
        slot = len(self.types)
        self.types.append(out)
        self._seen[key] = slot
        if kind == "ObjectType":
            out.update(self._object(source, table, found))
        elif kind == "DiscriminatedObjectType":
            base = self._object(source, table, {"name": found["name"], "properties": found["baseProperties"]})
            out.update(base)
            out["kind"] = "discriminated"
            out["discriminator"] = found["discriminator"]
            out["elements"] = {value: self.add(source, table, _ref(ref)) for value, ref in found["elements"].items()}
        elif kind == "ArrayType":
            out.update({"kind": "array", "item": self.add(source, table, _ref(found["itemType"]))})
        else:
            raise SystemExit(f"unhandled type {kind} at {source}#{index}")
        return slot

    def _object(self, source: str, table: list[dict[str, Any]], found: dict[str, Any]) -> dict[str, Any]:
        members: dict[str, list[Any]] = {}
        for name, prop in (found.get("properties") or {}).items():
            if name in BICEP_ONLY:
                continue
            members[name] = [self.add(source, table, _ref(prop["type"])), bool(prop.get("flags", 0) & READ_ONLY)]
        extra = found.get("additionalProperties")
        return {
            "kind": "object",
            "name": found.get("name", ""),
            "members": members,
            "additional": None if extra is None else self.add(source, table, _ref(extra)),
        }


def _ref(ref: dict[str, str]) -> int:
    return int(ref["$ref"].rsplit("/", 1)[1])


def _git_show(git_dir: str, commit: str, path: str) -> list[dict[str, Any]]:
    text = subprocess.run(
        ["git", "--git-dir", git_dir, "show", f"{commit}:{path}"], check=True, capture_output=True, text=True
    ).stdout
    table: list[dict[str, Any]] = json.loads(text)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--git-dir", required=True, help="a clone (or bare git dir) of Azure/bicep-types-az")
    parser.add_argument("--commit", default="HEAD")
    args = parser.parse_args(argv)
    commit = subprocess.run(
        ["git", "--git-dir", args.git_dir, "rev-parse", args.commit], check=True, capture_output=True, text=True
    ).stdout.strip()
    builder = Builder()
    tables: dict[str, list[dict[str, Any]]] = {}
    resources: dict[str, dict[str, Any]] = {}
    for resource_type, (path, api_version) in SOURCES.items():
        table = tables.get(path) or tables.setdefault(path, _git_show(args.git_dir, commit, path))
        wanted = f"{resource_type}@{api_version}".lower()
        index = next(i for i, t in enumerate(table) if t["$type"] == "ResourceType" and t["name"].lower() == wanted)
        body = builder.add(path, table, _ref(table[index]["body"]))
        entry: dict[str, Any] = {"apiVersion": api_version, "source": path, "put": body}
        if resource_type in PATCH_MEMBERS:
            put = builder.types[body]
            members = {name: put["members"][name] for name in PATCH_MEMBERS[resource_type] if name in put["members"]}
            entry["patch"] = len(builder.types)
            builder.types.append(
                {
                    "kind": "object",
                    "name": PATCH_NAMES.get(resource_type, "TagsObject"),
                    "members": members,
                    "additional": None,
                }
            )
        resources[resource_type] = entry
    document = {
        "source": {
            "repository": REPOSITORY,
            "commit": commit,
            "regenerate": "python -m tools.armsim.schemas.regenerate",
        },
        "resources": resources,
        "types": builder.types,
    }
    OUT.write_text(json.dumps(document, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"{OUT}: {len(builder.types)} types from {REPOSITORY}@{commit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
