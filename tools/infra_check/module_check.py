"""Check how Bicep files call their local modules, offline: errors the Bicep compiler reports first.

For every `module` whose path is a local file: each param passed is declared by that file, each param it
declares without a default (and not nullable) is passed, and every `<module>.outputs.<name>` read names
an output the file declares. (Registry and template-spec modules are not followed.)

    python -m tools.infra_check.module_check [FILE.bicep ...]    (default: every file under infra/)
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from tools.infra_check import bicep_tree as bt
from tools.infra_check.schema_check import REPO, Finding, run, shown_path, suggest


@dataclass(frozen=True)
class Interface:
    params: dict[str, bool]  # name -> required
    outputs: frozenset[str]


@functools.cache
def interface(path: Path) -> Interface:
    root = bt.parse(path.read_text())
    params = {}
    for decl in bt.declarations(root, "parameter_declaration"):
        parts = bt.children(decl)
        has_default = any(c.type == "=" for c in decl.children)
        nullable = any(p.type == "type" and bt.children(p)[0].type == "nullable_type" for p in parts)
        params[bt.declared_name(decl)] = not (has_default or nullable)
    outputs = frozenset(bt.declared_name(d) for d in bt.declarations(root, "output_declaration"))
    return Interface(params, outputs)


def _body(value: Node) -> tuple[Node | None, bool]:
    """The object of a module declaration, and whether it is a `[for ...]` collection."""
    value = bt.unwrap(value)
    looped = value.type == "for_statement"
    if looped:
        value = bt.loop_body(value)
    if value.type == "if_statement":
        value = bt.children(value)[-1]
    return (value if value.type == "object" else None), looped


def check_file(path: Path, root_dir: Path = REPO) -> list[Finding]:
    file = shown_path(path, root_dir)
    root = bt.parse(path.read_text())
    found: list[Finding] = []
    readable: dict[str, Interface] = {}
    for decl in bt.declarations(root, "module_declaration"):
        symbol_node, path_node, *_ = bt.children(decl)
        symbol, target = bt.text(symbol_node), bt.literal_string(path_node)
        if target is None or ":" in target:
            continue
        target_path = (path.parent / target).resolve()
        if not target_path.is_file():
            found.append(Finding(file, bt.line(decl), symbol, "", f"module file {target} does not exist"))
            continue
        api = interface(target_path)
        body, looped = _body(bt.children(decl)[-1])
        if not looped:
            readable[symbol] = api
        if body is None:
            continue
        params = next((bt.unwrap(value) for key, value, _ in bt.object_properties(body) if key == "params"), None)
        if params is not None and params.type != "object":
            continue  # params built by an expression: not known here
        passed = set()
        for key, _, prop in bt.object_properties(params) if params is not None else []:
            if key is None:
                continue
            passed.add(key)
            if key not in api.params:
                hint = suggest(key, api.params)
                message = f"{target} has no param '{key}'{hint}"
                found.append(Finding(file, bt.line(prop), symbol, f"params.{key}", message))
        missing = sorted(name for name, required in api.params.items() if required and name not in passed)
        if missing:
            found.append(Finding(file, bt.line(decl), symbol, "params", f"{target} requires {', '.join(missing)}"))
    for node, name, names in bt.member_chains(root):
        if name in readable and len(names) >= 2 and names[0] == "outputs" and names[1] not in readable[name].outputs:
            hint = suggest(names[1], readable[name].outputs)
            found.append(Finding(file, bt.line(node), name, f"outputs.{names[1]}", f"no such output{hint}"))
    return found


def check_files(paths: Iterable[Path], root_dir: Path = REPO) -> list[Finding]:
    return [finding for path in paths for finding in check_file(path, root_dir)]


def main(argv: list[str]) -> int:
    return run(check_files, argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
