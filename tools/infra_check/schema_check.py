"""Check Bicep resources against Azure's published type data, offline: what the Bicep compiler reports first.

For every `resource` (top-level, nested, `existing`, looped, conditional) in the given files:
- `Type@apiVersion` is published (Azure/bicep-types-az, the data the Bicep compiler itself ships);
- every property key written exists at its place (case-sensitive, as Bicep matches them);
- no read-only property is set, and an `existing` resource sets nothing but name, scope, parent, dependsOn;
- literals are of the declared kind, enum literals are allowed values, integers within declared bounds;
- object literals give every required property;
- `symbol.a.b` reads of a resource declared in the file name properties its type has.
Values are followed through variables, both branches of `?:`, loop bodies and the `@allowed` values of
parameters; any other expression (a function call, a property of another resource) is taken on trust.

    python -m tools.infra_check.schema_check [FILE.bicep ...]    (default: every file under infra/)
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tree_sitter import Node

from tools.infra_check import bicep_tree as bt
from tools.infra_check.bicep_types import READ_ONLY, REQUIRED, Type, TypeData

REPO = Path(__file__).resolve().parents[2]

# Properties of the Bicep language itself, not of the resource's type.
LANGUAGE_KEYS = frozenset({"dependsOn", "parent", "scope"})
# What an `existing` resource may set (Bicep makes every other property read-only there).
EXISTING_KEYS = frozenset({"name"}) | LANGUAGE_KEYS
LITERAL_KINDS = {"string": "string", "number": "int", "boolean": "bool", "object": "object", "array": "array"}
KIND_OF_TYPE = {
    "StringType": "string",
    "StringLiteralType": "string",
    "IntegerType": "int",
    "BooleanType": "bool",
    "ObjectType": "object",
    "DiscriminatedObjectType": "object",
    "ArrayType": "array",
}


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    resource: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.resource}.{self.path}" if self.path else self.resource
        return f"{self.file}:{self.line}: {where}: {self.message}"


@dataclass(frozen=True)
class Resource:
    symbol: str
    type: str
    api_version: str
    existing: bool
    body: Node | None
    node: Node
    loop_names: frozenset[str]
    # Bicep checks a literal `name` against the type only where the name is one segment: a nested child, a
    # child declared with `parent:`, or a top-level type.
    literal_names: bool
    # Readable as `symbol.a.b` (a top-level declaration that is not a `[for ...]` collection).
    readable: bool

    @property
    def type_at_version(self) -> str:
        return f"{self.type}@{self.api_version}"


def _declared_type(written: str, parent: Resource | None) -> tuple[str, str]:
    type_, _, version = written.partition("@")
    if parent is not None:
        # A nested resource may name only its own segment and leave out the API version.
        if "." not in type_.split("/", 1)[0]:
            type_ = f"{parent.type}/{type_}"
        version = version or parent.api_version
    return type_, version


def _resource(decl: Node, parent: Resource | None, loop_names: frozenset[str]) -> Resource:
    symbol, type_node, *_ = bt.children(decl)
    type_, version = _declared_type(bt.literal_string(type_node) or "", parent)
    value = bt.unwrap(bt.children(decl)[-1])
    names = set(loop_names)
    looped = value.type == "for_statement"
    if looped:
        names |= bt.loop_names(value)
        value = bt.loop_body(value)
    if value.type == "if_statement":
        value = bt.children(value)[-1]
    body = value if value.type == "object" else None
    has_parent = body is not None and any(key == "parent" for key, _, _ in bt.object_properties(body))
    return Resource(
        symbol=bt.text(symbol),
        type=type_,
        api_version=version,
        existing=any(c.type == "existing" for c in decl.children),
        body=body,
        node=decl,
        loop_names=frozenset(names),
        literal_names=parent is not None or has_parent or type_.count("/") == 1,
        readable=parent is None and not looped,
    )


def resources(root: Node) -> Iterator[Resource]:
    """Every resource declared in a file, nested ones after their parent."""

    def walk(decl: Node, parent: Resource | None) -> Iterator[Resource]:
        res = _resource(decl, parent, parent.loop_names if parent else frozenset())
        yield res
        if res.body is not None:
            for child in bt.nested_resources(res.body):
                yield from walk(child, res)

    for decl in bt.declarations(root, "resource_declaration"):
        yield from walk(decl, None)


def resource_types(paths: Iterable[Path]) -> set[str]:
    """`Type@apiVersion` of every resource in the files (what the type subset must cover)."""
    return {r.type_at_version for path in paths for r in resources(bt.parse(path.read_text()))}


def suggest(key: str, known: Iterable[str]) -> str:
    known = list(known)
    same_but_case = [k for k in known if k.lower() == key.lower()]
    close = same_but_case or difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@dataclass
class FileChecker:
    """Checks the resources of one parsed file against the type data."""

    types: TypeData
    file: str
    root: Node
    variables: dict[str, Node] = field(default_factory=dict)
    allowed: dict[str, list[Node]] = field(default_factory=dict)
    _following: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for decl in bt.declarations(self.root, "variable_declaration"):
            self.variables[bt.declared_name(decl)] = bt.children(decl)[-1]
        for decl in bt.declarations(self.root, "parameter_declaration"):
            for name, args in bt.decorator_calls(decl):
                if name == "allowed" and args and args[0].type == "array":
                    self.allowed[bt.declared_name(decl)] = bt.children(args[0])

    def run(self) -> list[Finding]:
        found: list[Finding] = []
        declared = list(resources(self.root))
        for res in declared:
            found += self.check_resource(res)
        readable = {res.symbol: res for res in declared if res.readable}
        for node, root, names in bt.member_chains(self.root):
            if root in readable:
                found += self.check_read(node, readable[root], names)
        return found

    def check_read(self, node: Node, res: Resource, names: list[str]) -> list[Finding]:
        """`symbol.a.b.c`: every property read exists on the resource's type (where the type says)."""
        type_ = self.types.body(res.type, res.api_version)
        path = res.symbol
        for name in names:
            if type_ is None or type_["$type"] not in ("ObjectType", "DiscriminatedObjectType"):
                return []
            properties, additional = self.members(type_)
            path = f"{path}.{name}"
            if name in properties:
                type_ = self.types.resolve(properties[name]["type"])
            elif additional is not None:
                type_ = self.types.resolve(additional)
            else:
                hint = suggest(name, properties)
                return [self.finding(node, res, "", f"{path}: {type_['name']} has no property '{name}'{hint}")]
        return []

    def finding(self, node: Node, res: Resource, path: str, message: str) -> Finding:
        return Finding(self.file, bt.line(node), res.symbol, path, message)

    def check_resource(self, res: Resource) -> list[Finding]:
        body = self.types.body(res.type, res.api_version)
        if body is None:
            return [self.finding(res.node, res, "", self._unknown_type(res))]
        if res.body is None:
            return []
        if res.existing:
            return [
                self.finding(prop, res, key, "read-only: an `existing` resource sets only name, scope and parent")
                for key, _, prop in bt.object_properties(res.body)
                if key is not None and key not in EXISTING_KEYS
            ]
        return self.check_object(res.body, body, "", res, res.loop_names, top=True)

    def _unknown_type(self, res: Resource) -> str:
        versions = self.types.api_versions(res.type)
        if versions is None:
            return (
                f"{res.type_at_version}: no type data (unknown type, or not in the subset: run extract_bicep_types.py)"
            )
        if res.api_version not in versions:
            recent = ", ".join(versions[-4:])
            return f"{res.type} has no published API version {res.api_version} (latest: {recent})"
        return f"{res.type_at_version} is published but not in the subset: run extract_bicep_types.py"

    def check_object(
        self, node: Node, type_: Type, path: str, res: Resource, opaque: frozenset[str], top: bool = False
    ) -> list[Finding]:
        found: list[Finding] = []
        properties, additional, type_name, discriminator = self._object_properties(node, type_, path, res, found)
        written = set()
        for key, value, prop in bt.object_properties(node):
            if key is None:
                continue
            written.add(key)
            here = _join(path, key)
            if (top and key in LANGUAGE_KEYS) or key == discriminator:
                continue
            if key in properties:
                definition = properties[key]
                if definition["flags"] & READ_ONLY:
                    found.append(self.finding(prop, res, here, f"read-only property of {type_name}"))
                elif not (top and key == "name" and not res.literal_names):
                    found += self.check_value(value, definition["type"], here, res, opaque)
            elif additional is not None:
                found += self.check_value(value, additional, here, res, opaque)
            else:
                hint = suggest(key, properties)
                found.append(self.finding(prop, res, here, f"'{key}' is not a property of {type_name}{hint}"))
        missing = sorted(
            key
            for key, definition in properties.items()
            if definition["flags"] & REQUIRED and not definition["flags"] & READ_ONLY and key not in written
        )
        if discriminator is not None and discriminator not in written:
            missing.append(discriminator)
        if missing:
            found.append(self.finding(node, res, path, f"{type_name} requires {', '.join(missing)}"))
        return found

    def _object_properties(
        self, node: Node, type_: Type, path: str, res: Resource, found: list[Finding]
    ) -> tuple[dict[str, Type], Type | None, str, str | None]:
        """Properties, additionalProperties, name and discriminator key of the object type of a literal; a
        discriminated one is narrowed to the element its discriminator literal selects."""
        if type_["$type"] == "ObjectType":
            return *self.members(type_), type_["name"], None
        key = type_["discriminator"]
        chosen = None
        for prop_key, value, prop in bt.object_properties(node):
            if prop_key == key:
                chosen = self._literal(value)
                if chosen is not None and chosen not in type_["elements"]:
                    allowed = ", ".join(sorted(type_["elements"]))
                    found.append(self.finding(prop, res, _join(path, key), f"'{chosen}' is not one of: {allowed}"))
                    chosen = None
        return *self.members(type_, chosen), type_["name"], key

    def members(self, type_: Type, element: str | None = None) -> tuple[dict[str, Type], Type | None]:
        """Properties and additionalProperties of an object type; of a discriminated one, the base properties
        and those of one element (all elements when `element` is None)."""
        if type_["$type"] == "ObjectType":
            return dict(type_["properties"]), type_.get("additionalProperties")
        properties = dict(type_["baseProperties"])
        for key, ref in type_["elements"].items():
            if element in (None, key):
                properties.update(self.types.resolve(ref)["properties"])
        return properties, None

    def _literal(self, node: Node) -> str | None:
        node = self._follow(bt.unwrap(node))
        return bt.literal_string(node)

    def _follow(self, node: Node) -> Node:
        """A variable reference as the variable's value (once: no cycles)."""
        seen = set()
        while node.type == "identifier" and (name := bt.text(node)) in self.variables and name not in seen:
            seen.add(name)
            node = bt.unwrap(self.variables[name])
        return node

    def check_value(self, node: Node, ref: Type, path: str, res: Resource, opaque: frozenset[str]) -> list[Finding]:
        type_ = self.types.resolve(ref)
        node = bt.unwrap(node)
        kind = type_["$type"]
        if kind == "AnyType" or node.type == "null":
            return []
        if node.type == "ternary_expression":
            branches = [node.child_by_field_name("consequence"), node.child_by_field_name("alternative")]
            return [f for b in branches if b is not None for f in self.check_value(b, ref, path, res, opaque)]
        if node.type == "identifier":
            return self._check_reference(node, ref, path, res, opaque)
        if node.type == "for_statement":
            if kind != "ArrayType":
                return self._mismatch(node, type_, "array", path, res)
            body = bt.loop_body(node)
            if body.type == "if_statement":
                body = bt.children(body)[-1]
            return self.check_value(body, type_["itemType"], path + "[]", res, opaque | bt.loop_names(node))
        literal_kind = self._literal_kind(node)
        if literal_kind is None:
            return []
        if kind == "UnionType":
            return self._check_union(node, type_, literal_kind, path, res, opaque)
        if KIND_OF_TYPE.get(kind) != literal_kind:
            return self._mismatch(node, type_, literal_kind, path, res)
        if kind in ("ObjectType", "DiscriminatedObjectType"):
            return self.check_object(node, type_, path, res, opaque)
        if kind == "ArrayType":
            return [
                f
                for item in bt.children(node)
                for f in self.check_value(item, type_["itemType"], path + "[]", res, opaque)
            ]
        if kind == "StringLiteralType":
            value = bt.literal_string(node)
            if value is not None and value != type_["value"]:
                return [self.finding(node, res, path, f"'{value}' is not '{type_['value']}'")]
        if kind == "IntegerType":
            return self._check_bounds(node, type_, path, res)
        return []

    def _check_reference(
        self, node: Node, ref: Type, path: str, res: Resource, opaque: frozenset[str]
    ) -> list[Finding]:
        name = bt.text(node)
        if name in opaque:
            return []
        if name in self.variables and name not in self._following:
            self._following.add(name)
            try:
                return self.check_value(self.variables[name], ref, path, res, frozenset())
            finally:
                self._following.discard(name)
        found = []
        for value in self.allowed.get(name, []):
            for f in self.check_value(value, ref, path, res, frozenset()):
                found.append(Finding(f.file, f.line, f.resource, f.path, f"@allowed value of {name}: {f.message}"))
        return found

    @staticmethod
    def _literal_kind(node: Node) -> str | None:
        if node.type == "unary_expression" and bt.children(node) and bt.children(node)[0].type == "number":
            return "int"
        kind = LITERAL_KINDS.get(node.type)
        if kind == "string" and bt.literal_string(node) is None:
            return None  # an interpolated string: a string, but its value is not known
        return kind

    def _mismatch(self, node: Node, type_: Type, got: str, path: str, res: Resource) -> list[Finding]:
        expected = KIND_OF_TYPE.get(type_["$type"], type_["$type"])
        return [self.finding(node, res, path, f"expects {expected}, got {got}")]

    def _check_union(
        self, node: Node, type_: Type, literal_kind: str, path: str, res: Resource, opaque: frozenset[str]
    ) -> list[Finding]:
        refs = type_["elements"]
        members = [self.types.resolve(ref) for ref in refs]
        kinds = {KIND_OF_TYPE.get(m["$type"]) for m in members}
        if "AnyType" in {m["$type"] for m in members}:
            return []
        if literal_kind not in kinds:
            names = " | ".join(sorted(k for k in kinds if k))
            return [self.finding(node, res, path, f"expects {names}, got {literal_kind}")]
        if literal_kind == "string":
            value = bt.literal_string(node)
            allowed = [m["value"] for m in members if m["$type"] == "StringLiteralType"]
            if any(m["$type"] == "StringType" for m in members) or value in allowed:
                return []
            hint = suggest(str(value), allowed)
            return [self.finding(node, res, path, f"'{value}' is not one of: {', '.join(allowed)}{hint}")]
        attempts = [
            self.check_value(node, ref, path, res, opaque)
            for ref, member in zip(refs, members, strict=True)
            if KIND_OF_TYPE.get(member["$type"]) == literal_kind
        ]
        return [] if any(not a for a in attempts) else attempts[0]

    def _check_bounds(self, node: Node, type_: Type, path: str, res: Resource) -> list[Finding]:
        value = int(bt.text(node).replace(" ", ""))
        low, high = type_.get("minValue"), type_.get("maxValue")
        if (low is not None and value < low) or (high is not None and value > high):
            return [self.finding(node, res, path, f"{value} is outside {low}..{high}")]
        return []


def check_text(types: TypeData, text: str, file: str = "<text>") -> list[Finding]:
    return FileChecker(types, file, bt.parse(text)).run()


def shown_path(path: Path, root: Path = REPO) -> str:
    """A file as findings name it: relative to the repository when it is inside."""
    resolved = path.resolve()
    return str(resolved.relative_to(root) if resolved.is_relative_to(root) else path)


def check_files(paths: Iterable[Path], types: TypeData | None = None, root: Path = REPO) -> list[Finding]:
    types = types or TypeData.load()
    return [f for path in paths for f in check_text(types, path.read_text(), shown_path(path, root))]


def run(check: Callable[[list[Path]], Sequence[Finding]], argv: list[str]) -> int:
    """A checker's command line: the files named (default: every Bicep file under infra/), one finding a
    line, exit 1 if any."""
    paths = [Path(a) for a in argv] or sorted((REPO / "infra").rglob("*.bicep"))
    found = check(paths)
    for finding in found:
        print(finding)
    print(f"{len(paths)} files, {len(found)} findings", file=sys.stderr)
    return 1 if found else 0


def main(argv: list[str]) -> int:
    return run(check_files, argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
