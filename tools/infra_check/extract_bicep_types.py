"""Regenerate bicep_types_subset.json: the Azure type data the templates under infra/ use.

The source is Azure/bicep-types-az (the type data the Bicep compiler ships), read with git at one commit,
so the subset records exactly what it was cut from. The repository is large (about 250 MB); any clone works,
bare or not, shallow or blob-filtered (blobs are fetched on demand):

    git clone --bare --filter=blob:none https://github.com/Azure/bicep-types-az /tmp/bicep-types-az.git
    python -m tools.infra_check.extract_bicep_types /tmp/bicep-types-az.git            # HEAD
    python -m tools.infra_check.extract_bicep_types /tmp/bicep-types-az.git --commit <sha>

What it keeps: for every `Type@apiVersion` a template declares, the resource body and every type reachable
from it (descriptions and resource functions dropped), re-indexed into one array; and, for each such type,
every API version Azure publishes (so the check can tell "no such version" from "not extracted").
Run it after adding a resource or changing an API version; tests/infra fails until the subset matches.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tools.infra_check.bicep_types import SUBSET, Type, ref_index
from tools.infra_check.schema_check import REPO, resource_types

UPSTREAM = "https://github.com/Azure/bicep-types-az"
TYPES_FILE = re.compile(r"^generated/[^/]+/(?P<namespace>[^/]+)/[^/]+/types\.json$")
RESOURCE_NAME = re.compile(rb'"\$type":\s*"ResourceType",\s*"name":\s*"(?P<type>[^"@]+)@(?P<version>[^"]+)"')


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def types_files(repo: Path, commit: str, namespaces: set[str]) -> dict[str, str]:
    """path -> blob id of every generated types.json of the given provider namespaces (lower case)."""
    found = {}
    for row in git(repo, "ls-tree", "-r", commit, "generated").splitlines():
        meta, path = row.split("\t", 1)
        match = TYPES_FILE.match(path)
        if match and match["namespace"].lower() in namespaces:
            found[path] = meta.split()[2]
    return found


def read_blobs(repo: Path, blob_ids: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """(blob id, content) through one `git cat-file --batch`."""
    ids = list(blob_ids)
    proc = subprocess.Popen(
        ["git", "-C", str(repo), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("".join(f"{i}\n" for i in ids).encode())
    proc.stdin.close()
    for blob_id in ids:
        header = proc.stdout.readline().split()
        if len(header) < 3:
            raise RuntimeError(f"blob {blob_id} is missing from the clone: {header!r}")
        content = proc.stdout.read(int(header[2]))
        proc.stdout.read(1)
        yield blob_id, content
    proc.wait()


def _strip(value: Any) -> Any:
    """A type without descriptions (nothing the check reads)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "description"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def extract(files: dict[str, list[Type]], wanted: dict[str, tuple[str, int]]) -> tuple[dict[str, Any], list[Type]]:
    """Resource bodies and every type they reach, re-indexed into one array.

    files: path -> the file's types; wanted: resource name (`Type@apiVersion`, as the file spells it) ->
    (path, index of its ResourceType in that file). Returns ({name: {"body": ref, "file": path}}, types).
    """
    out: list[Type] = []
    resources: dict[str, Any] = {}
    for name, (path, index) in sorted(wanted.items()):
        source = files[path]
        remap: dict[int, int] = {}

        def copy(old: int, source: list[Type] = source, remap: dict[int, int] = remap) -> int:
            if old in remap:
                return remap[old]
            new = remap[old] = len(out)
            out.append({})
            out[new] = rewrite(_strip(source[old]), source, remap)
            return new

        def rewrite(value: Any, source: list[Type], remap: dict[int, int]) -> Any:
            if isinstance(value, dict):
                if set(value) == {"$ref"}:
                    return {"$ref": f"#/{copy(ref_index(value), source, remap)}"}
                return {k: rewrite(v, source, remap) for k, v in value.items()}
            if isinstance(value, list):
                return [rewrite(v, source, remap) for v in value]
            return value

        resource = source[index]
        resources[name] = {"body": {"$ref": f"#/{copy(ref_index(resource['body']))}"}, "file": path}
    return resources, out


def dump(doc: dict[str, Any]) -> str:
    """JSON with one entry per line, so a regeneration diffs by resource, API version list and type."""

    def block(key: str, rows: list[str], open_: str, close: str) -> str:
        body = ",\n".join(f"    {row}" for row in rows)
        return f'  "{key}": {open_}\n{body}\n  {close}'

    def entries(mapping: dict[str, Any]) -> list[str]:
        return [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in mapping.items()]

    parts = [
        block("source", entries(doc["source"]), "{", "}"),
        block("apiVersions", entries(doc["apiVersions"]), "{", "}"),
        block("resources", entries(doc["resources"]), "{", "}"),
        block("types", [json.dumps(t, separators=(",", ":")) for t in doc["types"]], "[", "]"),
    ]
    return "{\n" + ",\n".join(parts) + "\n}\n"


def build(repo: Path, commit: str, templates: Iterable[Path]) -> dict[str, Any]:
    sha = git(repo, "rev-parse", f"{commit}^{{commit}}").strip()
    used = {name.lower() for name in resource_types(templates)}
    used_types = {name.rsplit("@", 1)[0] for name in used}
    namespaces = {name.split("/", 1)[0] for name in used}
    paths = types_files(repo, sha, namespaces)
    by_blob = {blob: path for path, blob in paths.items()}

    versions: dict[str, set[str]] = {}
    spelled: dict[str, str] = {}
    located: dict[str, list[str]] = {}
    contents: dict[str, bytes] = {}
    for blob, content in read_blobs(repo, by_blob):
        path = by_blob[blob]
        for match in RESOURCE_NAME.finditer(content):
            type_, version = match["type"].decode(), match["version"].decode()
            if type_.lower() in used_types:
                spelled.setdefault(type_.lower(), type_)
                versions.setdefault(type_.lower(), set()).add(version)
                key = f"{type_}@{version}".lower()
                if key in used:
                    located.setdefault(key, []).append(path)
                    contents[path] = content

    missing = sorted(used - set(located))
    if missing:
        raise SystemExit(f"not published in {UPSTREAM} at {sha}: {', '.join(missing)}")
    twice = {k: v for k, v in located.items() if len(v) > 1}
    if twice:
        raise SystemExit(f"published in more than one file, cannot choose: {twice}")

    files = {path: json.loads(content) for path, content in contents.items()}
    wanted = {}
    for key, (path,) in located.items():
        index, resource = next(
            (i, t) for i, t in enumerate(files[path]) if t["$type"] == "ResourceType" and t["name"].lower() == key
        )
        wanted[resource["name"]] = (path, index)
    resources, types = extract(files, wanted)
    return {
        "source": {
            "repository": UPSTREAM,
            "commit": sha,
            "committed": git(repo, "show", "-s", "--format=%cI", sha).strip(),
            "generator": "tools/infra_check/extract_bicep_types.py",
        },
        "apiVersions": {spelled[t]: sorted(v) for t, v in sorted(versions.items())},
        "resources": resources,
        "types": types,
    }


def main(argv: list[str]) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("repo", type=Path, help="a clone of Azure/bicep-types-az (bare is fine)")
    args.add_argument("--commit", default="HEAD")
    args.add_argument("--out", type=Path, default=SUBSET)
    opts = args.parse_args(argv)
    templates = sorted((REPO / "infra").rglob("*.bicep"))
    doc = build(opts.repo, opts.commit, templates)
    opts.out.write_text(dump(doc))
    print(
        f"{opts.out}: {len(doc['resources'])} resource types, {len(doc['types'])} types, from {doc['source']['commit']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
