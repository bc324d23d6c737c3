"""Every Bicep file under infra/ parses (tree-sitter-bicep and pycep-parser), and a broken one does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from bicep_support import INFRA, bicep_files, parse, rel, syntax_errors
from lark.exceptions import LarkError

FILES = bicep_files()
# pycep raises lark's errors, or ValueError when its pre-check (BicepValidator) rejects the text.
PARSE_ERRORS = (LarkError, ValueError)

# Modern syntax both parsers must accept (what these templates use or are likely to use next).
MODERN = """
targetScope = 'subscription'

type tagMap = {
  owner: string
  env: string?
}

@secure()
param adminPassword string = ''
param principalId string = ''

var names = map(['vms', 'events'], n => 'dsvm${n}')
var multi = '''
line
'''

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-x'
  location: 'eastus'
}

resource sa 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: 'x'
  scope: rg
}

module one './m.bicep' = if (!empty(principalId)) {
  name: 'one'
  scope: rg
  params: {
    items: [for n in names: n]
    endpoint: sa.?properties.?primaryEndpoints.table ?? ''
  }
}

module many './m.bicep' = [for (n, i) in names: {
  name: 'm${i}'
  scope: rg
}]

output maybe string = one.?outputs.x ?? 'none'
"""

BROKEN = {
    "unclosed object": "resource sa 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'x'\n",
    "param without value": "param x string =\nvar y = 'a'\n",
    "unclosed call": "var y = concat('a',\noutput z string = y\n",
    "missing colon": "var o = {\n  a 'b'\n}\n",
    "unterminated string": "var s = 'abc\nvar t = 1\n",
}


def test_infra_has_bicep_files() -> None:
    names = {rel(f) for f in FILES}
    assert {"infra/main.bicep", "infra/vm/dsvm.bicep"} <= names, names


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_file_parses_with_tree_sitter(path: Path) -> None:
    assert syntax_errors(path.read_text()) == []


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_file_parses_with_pycep(path: Path) -> None:
    doc = parse(path.read_text())
    assert doc.get("resources") or doc.get("modules"), f"{rel(path)} declares nothing"


def test_modern_syntax_parses() -> None:
    assert syntax_errors(MODERN) == []
    doc = parse(MODERN)
    assert doc["resources"]["sa"]["existing"] is True
    assert {"one", "many"} <= set(doc["modules"])


@pytest.mark.parametrize("snippet", BROKEN.values(), ids=BROKEN.keys())
def test_broken_bicep_fails_both_parsers(snippet: str) -> None:
    assert syntax_errors(snippet), "tree-sitter accepted broken Bicep"
    with pytest.raises(PARSE_ERRORS):
        parse(snippet)


def test_a_broken_infra_file_would_be_caught() -> None:
    """The real main.bicep with one brace removed fails: the check above can fail on our files."""
    text = (INFRA / "main.bicep").read_text()
    broken = text.replace("resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {", "resource rg = {", 1)
    assert broken != text
    assert syntax_errors(broken)
    with pytest.raises(PARSE_ERRORS):
        parse(broken)
