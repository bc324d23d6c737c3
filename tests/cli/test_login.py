"""Signing in: `dsvm login` keeps URL and token for the user alone, the environment overrides it, and inside
the repo `.devstack/env` (plain or shell-quoted) is found by itself."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.cli.conftest import Dsvm
from tests.conftest import Store, issue
from tools.devstack import Stack, free_port


def test_login_keeps_url_and_token_readable_by_the_user_only(
    stack: Stack, store: Store, user_name: str, home: Path
) -> None:
    dsvm = Dsvm(home)
    token = issue(store, user_name)
    result = dsvm("login", "--url", stack.api_url, "--with-token", stdin=token + "\n")
    assert result.returncode == 0, result.stderr
    assert user_name in result.stdout
    stored = dsvm.config_dir / "login.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert json.loads(stored.read_text()) == {"api": stack.api_url, "token": token}
    who = dsvm("whoami", "-o", "json")
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout) == {"user": user_name, "role": "user", "api": stack.api_url, "source": str(stored)}

    logout = dsvm("logout")
    assert logout.returncode == 0 and not stored.exists()
    assert dsvm("whoami").returncode == 3


def test_login_to_the_bare_host_means_its_api(stack: Stack, store: Store, user_name: str, home: Path) -> None:
    dsvm = Dsvm(home)
    host = stack.api_url.removesuffix("/api")
    result = dsvm("login", "--url", host + "/", "--with-token", stdin=issue(store, user_name))
    assert result.returncode == 0, result.stderr
    assert json.loads((dsvm.config_dir / "login.json").read_text())["api"] == stack.api_url


def test_a_refused_token_is_not_stored(stack: Stack, home: Path) -> None:
    dsvm = Dsvm(home)
    result = dsvm("login", "--url", stack.api_url, "--with-token", stdin="dsvm_wrong")
    assert result.returncode == 1
    assert "(401)" in result.stderr
    assert not (dsvm.config_dir / "login.json").exists()


def test_environment_overrides_the_stored_login(stack: Stack, store: Store, user_name: str, home: Path) -> None:
    dsvm = Dsvm(home)
    dsvm("login", "--url", stack.api_url, "--with-token", stdin=issue(store, user_name))
    other = issue(store, "someone-else@example.com")
    assert json.loads(dsvm("whoami", "-o", "json", env={"DSVM_TOKEN": other}).stdout)["user"] == (
        "someone-else@example.com"
    )
    elsewhere = f"http://127.0.0.1:{free_port()}/api"
    moved = dsvm("whoami", env={"DSVM_API": elsewhere, "DSVM_TOKEN": other})
    assert moved.returncode == 3 and elsewhere in moved.stderr


def test_a_stored_token_is_never_sent_to_another_url(stack: Stack, store: Store, user_name: str, home: Path) -> None:
    dsvm = Dsvm(home)
    dsvm("login", "--url", stack.api_url, "--with-token", stdin=issue(store, user_name))
    result = dsvm("whoami", env={"DSVM_API": f"http://127.0.0.1:{free_port()}/api"})
    assert result.returncode == 3
    assert "no token for" in result.stderr and "DSVM_TOKEN" in result.stderr


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "shell-quoted"])
def test_devstack_env_is_found_from_inside_the_repo(
    stack: Stack, store: Store, user_name: str, home: Path, tmp_path: Path, quoted: bool
) -> None:
    token = issue(store, user_name)
    values = {
        "DSVM_API": stack.api_url,
        "DSVM_TOKEN": token,
        "DSVM_TABLES_CONNECTION": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a=b",
        "NOTE": "it's here",
    }
    if quoted:
        lines = [f"{key}='" + value.replace("'", "'\\''") + "'" for key, value in values.items()]
    else:
        lines = [f"{key}={value}" for key, value in values.items() if key != "NOTE"]
    repo = tmp_path / "repo"
    (repo / ".devstack").mkdir(parents=True)
    (repo / ".devstack" / "env").write_text("\n".join(lines) + "\n")
    (repo / "shared" / "deeper").mkdir(parents=True)
    dsvm = Dsvm(home)
    result = dsvm("whoami", "-o", "json", cwd=repo / "shared" / "deeper")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["source"] == str(repo / ".devstack" / "env")
    assert json.loads(result.stdout)["user"] == user_name
    outside = dsvm("whoami", cwd=tmp_path)
    assert outside.returncode == 3
