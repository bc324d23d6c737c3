"""`.devstack/env` gives back exactly what was written, whether a shell sources it or Python reads it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tools.devstack import PYTHON, ROOT, Stack, envfile

# What a shell would otherwise split, expand, substitute or treat as a comment.
AWKWARD = {
    "CONNECTION": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k/+==;TableEndpoint=http://h:1/a",
    "QUOTE": "it's",
    "QUOTES_ONLY": "''",
    "BACKSLASH_QUOTE": "a\\'b",
    "DOUBLE": '"x" \\"y\\"',
    "DOLLAR": "$HOME ${PATH} $(id) `id`",
    "GLOB": "* ? [a-z]",
    "TILDE": "~/x",
    "HASH": "#not a comment",
    "BANG": "!! !$",
    "SPACES": "  leading and trailing  ",
    "TAB": "a\tb",
    "BACKSLASHES": "C:\\dir\\n\\\\",
    "UNICODE": "Zürich € ✓",
    "EMPTY": "",
}

PRINT_ENVIRONMENT = "import json, os, sys; json.dump(dict(os.environ), sys.stdout)"


def sourced(shell: str, path: Path | None) -> dict[str, str]:
    """The environment a program sees after `set -a; . FILE; set +a` in `shell` (as the README does)."""
    source = f'set -a; . "{path}"; set +a; ' if path else ""
    result = subprocess.run(
        [shell, "-c", f'{source}exec "$0" -c "$1"', PYTHON, PRINT_ENVIRONMENT],
        env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    environment: dict[str, str] = json.loads(result.stdout)
    return environment


def stack_values(tmp_path: Path) -> dict[str, str]:
    """The keys and values `make dev` writes, for a stack with made-up ports and subnet."""
    stack = Stack(tmp_path, tables_port=10002, arm_port=8443, api_port=7071, queue_port=10001)
    stack.subnet_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    return stack.dev_env("dsvm_t0k'en")


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_sourcing_the_file_yields_exactly_the_written_values(shell: str, tmp_path: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    values = {**stack_values(tmp_path), **AWKWARD}
    path = tmp_path / "env"
    envfile.write(path, values)

    before, after = sourced(shell, None), sourced(shell, path)

    changed = {key: value for key, value in after.items() if before.get(key) != value}
    assert changed == values  # every key exactly, and nothing leaked (no AccountName=, no AccountKey=)


def test_python_reads_back_what_was_written(tmp_path: Path) -> None:
    values = {**stack_values(tmp_path), **AWKWARD}
    path = tmp_path / "env"
    envfile.write(path, values)
    assert envfile.read(path) == values
    assert path.stat().st_mode & 0o777 == 0o600


def test_python_also_reads_the_older_unquoted_lines() -> None:
    old = "DSVM_API=http://127.0.0.1:7071/api\nDSVM_TABLES_CONNECTION=A=b;AccountKey=k==;C=d\n"
    assert envfile.parse(old) == {
        "DSVM_API": "http://127.0.0.1:7071/api",
        "DSVM_TABLES_CONNECTION": "A=b;AccountKey=k==;C=d",
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"NOT-A-NAME": "x"}, "'NOT-A-NAME' is not a shell variable name"),
        ({"1ST": "x"}, "'1ST' is not a shell variable name"),
        ({"MULTI": "a\nb"}, "MULTI: the value must be a single line"),
    ],
)
def test_values_a_line_cannot_hold_are_refused(values: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        envfile.write(tmp_path / "env", values)
    assert not (tmp_path / "env").exists()


def test_a_line_that_is_not_a_setting_is_named() -> None:
    with pytest.raises(ValueError, match="line 2: expected KEY='value', found 'oops'"):
        envfile.parse("A='1'\noops\n")


def test_the_maintenance_command_works_with_the_file_sourced(stack: Stack, tmp_path: Path) -> None:
    """The README's `python -m shared.admin issue-token` after `set -a; . .devstack/env; set +a`."""
    path = tmp_path / "env"
    envfile.write(path, stack.dev_env("unused"))
    user = f"Env-{uuid.uuid4().hex[:8]}@Example.com"  # the suite shares one store: a user of its own
    result = subprocess.run(
        [
            "sh",
            "-c",
            f'set -a; . "{path}"; set +a; exec "$0" -m shared.admin issue-token --user {user}',
            PYTHON,
        ],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    me = httpx.get(f"{stack.api_url}/me", headers={"Authorization": f"Bearer {result.stdout.strip()}"}, timeout=30)
    assert me.status_code == 200
    assert me.json()["user"] == user.lower()


def test_an_unclosed_quote_is_named() -> None:
    with pytest.raises(ValueError, match="line 1: No closing quotation"):
        envfile.parse("A='1\n")
