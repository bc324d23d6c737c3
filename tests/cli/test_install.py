"""`pip install ./cli` into a fresh virtual environment gives a working `dsvm` and none of the server's
dependencies (azure-*, fastapi, pydantic). Needs the package index, as `make test`'s own install does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.devstack import ROOT

SERVER_ONLY = ("azure", "fastapi", "pydantic", "uvicorn", "starlette", "cryptography")


def test_cli_installs_alone_without_the_servers_dependencies(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    install = subprocess.run(
        [*pip, "install", "--quiet", str(ROOT / "cli")], capture_output=True, text=True, check=False, timeout=600
    )
    assert install.returncode == 0, install.stderr
    listed = subprocess.run([*pip, "list", "--format=freeze"], capture_output=True, text=True, check=True).stdout
    names = [line.split("==")[0].lower() for line in listed.splitlines()]
    assert "dsvm-cli" in names
    assert [name for name in names if name.startswith(SERVER_ONLY)] == []
    helped = subprocess.run([str(venv / "bin" / "dsvm"), "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0 and "create" in helped.stdout
