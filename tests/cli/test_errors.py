"""Every way `dsvm` can fail says what happened and what to do, with an exit code that means it, and never
a traceback unless --debug asks for one."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import Dsvm
from tests.conftest import Store
from tests.support.keys import rsa_key
from tools.devstack import free_port


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


def test_a_failed_create_ends_with_azures_error_code_and_message(dsvm: Dsvm, sim: httpx.Client, vm_name: str) -> None:
    sim.patch("/config", json={"unavailable_sizes": {"Standard_E8s_v5": "AllocationFailed"}}).raise_for_status()
    result = dsvm("create", vm_name, "--size", "Standard_E8s_v5")
    assert result.returncode == 1
    assert f"{vm_name}: Failed" in result.stderr
    assert f"error: {vm_name} failed: AllocationFailed:" in result.stderr
    assert f"dsvm delete {vm_name}" in result.stderr
    no_traceback(result.stderr)
    as_json = dsvm("show", vm_name, "-o", "json")
    assert json.loads(as_json.stdout)["error_code"] == "AllocationFailed"


def test_a_refused_request_shows_title_detail_and_each_field_once(dsvm: Dsvm, vm_name: str) -> None:
    result = dsvm("create", vm_name, "--size", "Standard_D4s_v5", "--cidr", "not-a-cidr", "--cidr", "10.0.0.0/8")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: Unprocessable Content (422)")
    field_lines = [line.strip() for line in lines[1:]]
    assert any(line.startswith("allowed_cidrs.0: ") and "not-a-cidr" in line for line in field_lines)
    assert len(field_lines) == len(set(field_lines))
    no_traceback(result.stderr)


def test_a_policy_refusal_names_the_field(dsvm: Dsvm, vm_name: str) -> None:
    dsvm("create", vm_name, "--size", "Standard_D4s_v5")
    result = dsvm("snooze", vm_name, "--hours", "100")
    assert result.returncode == 1
    assert result.stderr.splitlines()[1].strip().startswith("hours: at most 12 hours")
    assert result.stderr.count("at most 12 hours") == 1


def test_an_unknown_vm_is_a_404_with_the_apis_words(dsvm: Dsvm) -> None:
    result = dsvm("show", "no-such-vm")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: Not Found (404): no VM named 'no-such-vm'"


def test_a_revoked_or_unknown_token_says_to_sign_in_again(dsvm: Dsvm) -> None:
    result = dsvm("list", env={"DSVM_TOKEN": "dsvm_not-a-real-token"})
    assert result.returncode == 1
    assert "(401)" in result.stderr and "dsvm login" in result.stderr


def test_admin_commands_say_admins_only(dsvm: Dsvm) -> None:
    result = dsvm("tokens", "list")
    assert result.returncode == 1
    assert "(403)" in result.stderr and "Only admins" in result.stderr


def test_missing_ssh_key_says_where_it_looked_and_how_to_make_one(dsvm: Dsvm, vm_name: str) -> None:
    (dsvm.home / ".ssh" / "id_ed25519.pub").unlink()
    result = dsvm("create", vm_name, "--size", "Standard_D4s_v5")
    assert result.returncode == 2
    assert str(dsvm.home / ".ssh" / "id_ed25519.pub") in result.stderr
    assert str(dsvm.home / ".ssh" / "id_rsa.pub") in result.stderr
    assert "ssh-keygen -t ed25519" in result.stderr
    no_traceback(result.stderr)
    missing = dsvm("create", vm_name, "--size", "Standard_D4s_v5", "--key", str(dsvm.home / "nope.pub"))
    assert missing.returncode == 2 and "nope.pub" in missing.stderr
    no_traceback(missing.stderr)


def test_create_falls_back_to_id_rsa_pub(dsvm: Dsvm, store: Store, vm_name: str) -> None:
    (dsvm.home / ".ssh" / "id_ed25519.pub").unlink()
    key = rsa_key(2048)
    dsvm.add_key("id_rsa.pub", key)
    result = dsvm("create", vm_name, "--size", "Standard_D4s_v5", "--no-wait")
    assert result.returncode == 0, result.stderr
    record = store.get_vm(vm_name)
    assert record is not None and record.ssh_public_key == key


def test_a_private_key_is_refused_before_it_leaves_the_machine(dsvm: Dsvm, vm_name: str) -> None:
    private = dsvm.home / ".ssh" / "id_ed25519"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
    result = dsvm("create", vm_name, "--size", "Standard_D4s_v5", "--key", str(private))
    assert result.returncode == 2
    assert "private key" in result.stderr and f"--key {private}.pub" in result.stderr


def test_an_unreachable_api_names_the_url_and_what_to_do(dsvm: Dsvm) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    result = dsvm("list", env={"DSVM_API": url})
    assert result.returncode == 3
    assert f"cannot reach the DSVM API at {url}" in result.stderr
    assert "from DSVM_API" in result.stderr and "make dev" in result.stderr and "dsvm login" in result.stderr
    no_traceback(result.stderr)


def test_debug_shows_the_traceback(dsvm: Dsvm) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    result = dsvm("list", "--debug", env={"DSVM_API": url})
    assert result.returncode == 3
    assert "Traceback" in result.stderr and "cannot reach" in result.stderr


def test_not_signed_in_says_how_to_sign_in(home: Path) -> None:
    result = Dsvm(home)("list")
    assert result.returncode == 3
    assert "not signed in" in result.stderr and "dsvm login" in result.stderr and "make dev" in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["frobnicate"], "No such command 'frobnicate'"),
        (["create", "x"], "Missing option '--size'"),
        (["snooze", "x", "--hours", "0"], "Invalid value for '--hours'"),
        (["costs", "--month", "2026-13"], "Invalid value for '--month'"),
        (["create", "x", "--size", "S", "--schedule", "Europe/Berlin 7-19"], "Invalid value for '--schedule'"),
        (["set", "x"], "nothing to change"),
        (["delete", "x"], "needs --yes"),
    ],
)
def test_usage_errors_exit_2_naming_the_option(dsvm: Dsvm, args: list[str], says: str) -> None:
    result = dsvm(*args)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    no_traceback(result.stderr)
