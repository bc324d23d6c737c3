"""The dsvm command line against the running API."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from shared.azure.tables import Store
from tests.conftest import issue
from tests.support.keys import ed25519_key
from tools.devstack import ROOT, Stack


def dsvm(stack: Stack, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DSVM_API": stack.api_url, "DSVM_TOKEN": token}
    return subprocess.run(
        [str(ROOT / "bin" / "dsvm"), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_day_with_the_command_line(stack: Stack, store: Store, sim: object, vm_name: str, tmp_path: Path) -> None:
    token = issue(store, "cli-user@example.com")
    key = tmp_path / "id.pub"
    key.write_text(ed25519_key())
    created = dsvm(
        stack,
        token,
        "create",
        vm_name,
        "--size",
        "Standard_D4s_v5",
        "--key",
        str(key),
        "--cidr",
        "203.0.113.7/32",
        "--ttl",
        "4",
    )
    assert created.returncode == 0, created.stderr
    assert vm_name in created.stdout

    for _ in range(100):
        shown = dsvm(stack, token, "show", vm_name)
        if "Running" in shown.stdout:
            break
    assert "JupyterHub" in shown.stdout and "https://" in shown.stdout
    assert vm_name in dsvm(stack, token, "list").stdout
    assert "snoozed until" in dsvm(stack, token, "snooze", vm_name, "--hours", "2").stdout
    assert "Stopping" in dsvm(stack, token, "stop", vm_name).stdout
    assert "snooze" in dsvm(stack, token, "events", vm_name).stdout
    assert "Standard_D4s_v5" in dsvm(stack, token, "sizes").stdout
    assert "total $" in dsvm(stack, token, "costs").stdout

    refused = dsvm(stack, token, "snooze", vm_name, "--hours", "500")
    assert refused.returncode != 0
    assert "422" in refused.stderr and "hours" in refused.stderr


@pytest.mark.parametrize("args", [["show", "no-such-vm"], ["delete", "no-such-vm"]])
def test_errors_are_printed_from_the_problem(stack: Stack, store: Store, args: list[str]) -> None:
    result = dsvm(stack, issue(store, "cli-other@example.com"), *args)
    assert result.returncode != 0
    assert "404" in result.stderr and "no VM named" in result.stderr
