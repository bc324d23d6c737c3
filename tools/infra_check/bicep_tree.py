"""Bicep syntax through tree-sitter-bicep: the parser, and plain accessors for the nodes the checks read.

tree-sitter keeps what pycep-parser loses for a type check: a literal `'Standard_LRS'` and a reference
`skuName` are different nodes, every nested child resource is kept, and each node knows its line.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from tree_sitter import Language, Node, Parser

ESCAPES = {"\\'": "'", "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t", "\\$": "$"}


@functools.cache
def parser() -> Any:
    import tree_sitter_bicep

    return Parser(Language(tree_sitter_bicep.language()))


def parse(text: str) -> Node:
    root: Node = parser().parse(text.encode()).root_node
    return root


def text(node: Node) -> str:
    return (node.text or b"").decode()


def line(node: Node) -> int:
    return int(node.start_point[0]) + 1


def children(node: Node) -> list[Node]:
    """Named children without comments."""
    return [c for c in node.named_children if c.type != "comment"]


def unwrap(node: Node) -> Node:
    """`(expr)` as expr."""
    while node.type == "parenthesized_expression" and children(node):
        node = children(node)[0]
    return node


def literal_string(node: Node) -> str | None:
    """The value of a string literal without interpolation; None for anything else."""
    if node.type != "string":
        return None
    parts = []
    for child in node.named_children:
        if child.type == "interpolation":
            return None
        if child.type == "escape_sequence":
            raw = text(child)
            parts.append(ESCAPES.get(raw, raw))
        elif child.type == "string_content":
            parts.append(text(child))
    return "".join(parts)


def property_key(prop: Node) -> str | None:
    """The key of an object property: `name:` or `'quoted-name':`; None when the key is interpolated."""
    key = children(prop)[0]
    if key.type == "identifier":
        return text(key)
    return literal_string(key)


def object_properties(obj: Node) -> Iterator[tuple[str | None, Node, Node]]:
    """(key, value, property node) of an object literal; nested resource declarations are not properties."""
    for prop in children(obj):
        if prop.type != "object_property":
            continue
        parts = children(prop)
        if len(parts) == 1 and parts[0].type == "resource_declaration":
            continue
        yield property_key(prop), parts[-1], prop


def nested_resources(obj: Node) -> Iterator[Node]:
    for prop in children(obj):
        if prop.type == "object_property":
            parts = children(prop)
            if len(parts) == 1 and parts[0].type == "resource_declaration":
                yield parts[0]


def loop_names(for_node: Node) -> set[str]:
    """The names a `for` introduces: `for x in`, `for (x, i) in`."""
    names = set()
    for child in children(for_node):
        if child.type == "identifier":
            names.add(text(child))
            break
        if child.type == "for_loop_parameters":
            names |= {text(c) for c in children(child)}
            break
    return names


def loop_body(for_node: Node) -> Node:
    """The element expression of `[for ... in ...: element]`."""
    return children(for_node)[-1]


def declarations(root: Node, kind: str) -> Iterator[Node]:
    """Top-level declarations of one kind (`resource_declaration`, `variable_declaration`, ...)."""
    for child in root.children:
        if child.type == kind:
            yield child


def declared_name(declaration: Node) -> str:
    return next(text(c) for c in children(declaration) if c.type == "identifier")


def decorator_calls(declaration: Node) -> Iterator[tuple[str, list[Node]]]:
    """(name, arguments) of the decorators written just before a top-level declaration."""
    previous = declaration.prev_named_sibling
    while previous is not None and previous.type == "comment":
        previous = previous.prev_named_sibling
    if previous is None or previous.type != "decorators":
        return
    for decorator in children(previous):
        call = children(decorator)[0] if children(decorator) else None
        if call is None or call.type != "call_expression":
            continue
        name_node, *rest = children(call)
        args = children(rest[0]) if rest else []
        yield text(name_node).split(".")[-1], args


def member_chains(root: Node) -> Iterator[tuple[Node, str, list[str]]]:
    """(node, root identifier, property names) of every outermost `a.b.c` chain that is not a method call."""
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        parent = node.parent
        if node.type != "member_expression" or (parent is not None and parent.type == "member_expression"):
            continue
        if parent is not None and parent.type == "call_expression" and parent.children[0] == node:
            continue
        names = []
        current = node
        while current.type == "member_expression":
            *_, prop = children(current)
            names.append(text(prop))
            current = children(current)[0]
        if current.type == "identifier":
            yield node, text(current), names[::-1]
