"""The installed `dsvm` console script, run as a real process against the session's local stack.

Each run gets its own HOME, config folder and working directory, so no login, SSH key or `.devstack/env`
of the machine running the suite leaks in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import Store, issue
from tests.support.keys import ed25519_key
from tools.devstack import ROOT, Stack

DSVM = Path(sys.executable).parent / "dsvm"


@pytest.fixture(scope="session", autouse=True)
def installed_from_this_checkout() -> None:
    """The suite must run this checkout's CLI, not one installed from another clone."""
    probe = [sys.executable, "-c", "import dsvm_cli, pathlib; print(pathlib.Path(dsvm_cli.__file__).resolve())"]
    where = subprocess.run(probe, capture_output=True, text=True, check=False).stdout.strip()
    if not DSVM.exists() or not where.startswith(str((ROOT / "cli").resolve())):
        pytest.fail(f"dsvm is not installed from {ROOT / 'cli'} (found {where or 'nothing'}): pip install -e ./cli")


@dataclass
class Dsvm:
    """Runs `dsvm` with a clean environment: DSVM_API/DSVM_TOKEN only when given."""

    home: Path
    api_url: str | None = None
    token: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config_dir(self) -> Path:
        return self.home / ".config" / "dsvm"

    def __call__(
        self,
        *args: str,
        stdin: str | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DSVM), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=cwd or self.home,
            env=self.environment(env),
        )

    def start(self, *args: str) -> tuple[subprocess.Popen[str], str]:
        """Started in the background, once it has written its first line on stderr (returned)."""
        process = subprocess.Popen(
            [str(DSVM), *args],
            cwd=self.home,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        return process, process.stderr.readline()

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DSVM_", "XDG_", "EDITOR", "VISUAL"))}
        base |= {"HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"), "NO_COLOR": "1"}
        if self.api_url is not None:
            base["DSVM_API"] = self.api_url
        if self.token is not None:
            base["DSVM_TOKEN"] = self.token
        return base | self.env | (extra or {})

    def add_key(self, name: str = "id_ed25519.pub", text: str | None = None) -> Path:
        key = self.home / ".ssh" / name
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_text(text or ed25519_key())
        return key


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def dsvm(stack: Stack, store: Store, sim: httpx.Client, user_name: str, home: Path) -> Dsvm:
    """dsvm signed in (through the environment) as a fresh user, with an SSH key in ~/.ssh."""
    cli = Dsvm(home, stack.api_url, issue(store, user_name))
    cli.add_key()
    return cli


@pytest.fixture
def dsvm_admin(stack: Stack, store: Store, sim: httpx.Client, admin_name: str, home: Path) -> Dsvm:
    return Dsvm(home, stack.api_url, issue(store, admin_name, admin=True))
