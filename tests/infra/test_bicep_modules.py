"""How the Bicep files call their modules (tools/infra_check/module_check.py): params and outputs that exist."""

from __future__ import annotations

from pathlib import Path

from bicep_support import bicep_files, broken_copy

from tools.infra_check.module_check import check_files
from tools.infra_check.schema_check import Finding


def broken(tmp_path: Path, old: str, new: str) -> list[str]:
    found: list[Finding] = check_files(broken_copy(tmp_path, "main.bicep", old, new), root_dir=tmp_path)
    return [f"{f.resource}.{f.path}: {f.message}" for f in found]


def test_every_module_is_called_with_its_params_and_read_for_its_outputs() -> None:
    assert [str(f) for f in check_files(bicep_files())] == []


def test_a_misspelled_param_is_caught_and_the_real_one_is_missing(tmp_path: Path) -> None:
    assert broken(tmp_path, "    workQueueName: workQueueName", "    workQueueNam: workQueueName") == [
        "storageAccess.params.workQueueNam: ./app/storage-access.bicep has no param 'workQueueNam'"
        " (did you mean 'workQueueName'?)",
        "storageAccess.params: ./app/storage-access.bicep requires workQueueName",
    ]


def test_an_optional_param_may_be_left_out(tmp_path: Path) -> None:
    assert broken(tmp_path, "    deployerPrincipalType: principalType\n", "") == []


def test_reading_an_output_the_module_lacks_is_caught(tmp_path: Path) -> None:
    old = "DSVM_TABLES_ENDPOINT: storage.outputs.tableEndpoint"
    assert broken(tmp_path, old, old.replace("tableEndpoint", "tablesEndpoint")) == [
        "storage.outputs.tablesEndpoint: no such output (did you mean 'tableEndpoint'?)"
    ]
