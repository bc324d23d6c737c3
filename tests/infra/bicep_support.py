"""Offline helpers for the infra tests: parse Bicep without the Bicep CLI, and read the result.

Two parsers, because neither covers all of modern Bicep and they fail differently:

- tree-sitter-bicep: the broadest grammar (user-defined types, `existing`, decorators, `if`, `for`,
  lambdas, `.?`, `??`, multi-line strings, filtered loops). Error-tolerant, so a syntax error shows as
  ERROR or MISSING nodes in the tree, which ``syntax_errors`` collects. Known gap: spread (`...obj`).
- pycep-parser: a Lark grammar that yields a JSON-like document (params, vars, resources, modules,
  outputs), used for the structural assertions. It is also what checkov parses Bicep with. Known gaps:
  spread, filtered loops (`[for x in xs: if (c) {...}]`), and it keeps only the LAST nested child
  resource of a parent (so child resources are declared top-level with `parent:` here).
  checkov 3.3.30 pins an older pycep-parser (0.5.1) that also rejects more than four consecutive
  comment/blank lines inside an object; tests/infra/test_checkov_scan.py catches that as a parse error.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools.infra_check import bicep_tree

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"

GUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def broken_copy(tmp_path: Path, file: str, old: str, new: str) -> list[Path]:
    """The Bicep files of a copy of infra/ (under tmp_path/infra) where `file` has `old` replaced by `new`."""
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    target = copy / file
    text = target.read_text()
    assert old in text, f"{old!r} not in {file}"
    target.write_text(text.replace(old, new, 1))
    return sorted(copy.rglob("*.bicep"))


def syntax_errors(text: str) -> list[str]:
    """tree-sitter: the ERROR and MISSING nodes of the tree, as 'line:col: snippet' (empty: parses)."""
    found: list[str] = []
    stack = [bicep_tree.parse(text)]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            row, col = node.start_point
            snippet = (node.text or b"").decode(errors="replace")[:60].replace("\n", "\\n")
            found.append(f"{row + 1}:{col + 1}: {'missing ' + node.type if node.is_missing else snippet}")
        elif node.has_error:
            stack.extend(node.children)
    return found


@functools.cache
def _pycep_parser() -> Any:
    from pycep import BicepParser

    return BicepParser()


def parse(text: str) -> dict[str, Any]:
    """pycep: the document as plain data; raises on a syntax error."""
    doc: dict[str, Any] = _pycep_parser().parse(text=text)
    return doc


@functools.cache
def _load(path: str) -> str:
    return json.dumps(parse(Path(path).read_text()))


def load(path: Path) -> dict[str, Any]:
    """Parsed document of a file (cached; a fresh copy each call)."""
    doc: dict[str, Any] = json.loads(_load(str(path)))
    return doc


def body(resource_or_module: dict[str, Any]) -> dict[str, Any]:
    """The object of a resource/module declaration, unwrapping `for` loops and `if` conditions."""
    config: dict[str, Any] = resource_or_module["config"]
    while isinstance(config, dict) and "config" in config and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


def unwrap_loop(value: Any) -> Any:
    """A property-level `[for ...: {...}]` gives its element template; other values are returned as is."""
    if isinstance(value, dict) and "loop_type" in value and "config" in value:
        return value["config"]
    return value


def resources(doc: dict[str, Any], type_: str | None = None) -> dict[str, dict[str, Any]]:
    found = doc.get("resources", {})
    return {name: r for name, r in found.items() if type_ is None or r["type"].lower() == type_.lower()}


def find_key(value: Any, key: str) -> Iterator[Any]:
    """Every value stored under `key`, anywhere in a nested document (conditionals included)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                yield v
            yield from find_key(v, key)
    elif isinstance(value, list):
        for item in value:
            yield from find_key(item, key)


def object_keys(value: Any) -> set[str]:
    """Keys of an object literal; for `cond ? {...} : {...}` the keys of both branches."""
    if isinstance(value, dict) and "operator" in value:
        operands = value["operator"].get("operands", {})
        keys: set[str] = set()
        for branch in ("true_value", "false_value"):
            keys |= object_keys(operands.get(branch))
        return keys
    if isinstance(value, dict):
        return {k.strip("'") for k in value}
    return set()


def module_file(from_file: Path, module: dict[str, Any]) -> Path:
    return (from_file.parent / module["detail"]["path"]).resolve()


def default_of(doc: dict[str, Any], param: str) -> Any:
    return doc["parameters"][param]["default"]


def has_decorator(doc: dict[str, Any], param: str, decorator: str) -> bool:
    return any(d.get("type") == decorator for d in doc["parameters"][param]["decorators"])


def dotted(value: Any) -> Any:
    """`a.b.c` property accessors back to the dotted text; other values unchanged."""
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "property_accessor":
        operands = value["operator"]["operands"]
        return f"{dotted(operands['operand_1'])}.{dotted(operands['operand_2'])}"
    return value
