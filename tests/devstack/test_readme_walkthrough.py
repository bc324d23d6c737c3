"""The README's "A walk through the API" block, pasted into bash as a newcomer does: twice in a row.

The block is read from README.md by its heading, so the test runs what the README says. It runs against
the session stack with `.devstack/env` written as `make dev` writes it, the simulator at `make dev`'s
timings (so the walkthrough must wait for states, not race them), in an empty working directory with an
empty HOME and its own TMPDIR.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.azure.tables import Store
from tests.conftest import SIM_DEFAULTS
from tests.support.keys import ed25519_key
from tools.armsim.config import SimConfig
from tools.devstack import ROOT, Stack, envfile

HEADING = "## A walk through the API"
VM = "ana-churn"
# What the block runs besides bash builtins and coreutils (the README's prerequisites name them).
TOOLS = ("curl", "python3", "ssh-keygen")
# bash as an interactive paste behaves in what matters here: history expansion on (a "!" in double quotes
# would break the line), the block read from stdin (a command reading stdin would eat the rest). -e and
# pipefail make any failed command, such as an API answer of 400 or more, fail the run.
BASH = ["bash", "-e", "-o", "pipefail", "-o", "history", "-H"]


def walkthrough() -> str:
    """The first ```sh block under the heading, before the next section."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(HEADING)]
    assert starts, f"README.md has no section {HEADING!r}"
    block: list[str] | None = None
    for line in lines[starts[0] + 1 :]:
        if block is None:
            assert not line.startswith("## "), f"no ```sh block under {HEADING!r}"
            if line.strip() == "```sh":
                block = []
        elif line.strip() == "```":
            return "\n".join(block) + "\n"
        else:
            block.append(line)
    raise AssertionError(f"the ```sh block under {HEADING!r} is not closed")


def paste(block: str, work: Path, home: Path, temp: Path) -> list[str]:
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(temp), "HISTFILE": ""}
    run = subprocess.run(
        BASH, input=block, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240
    )
    assert run.returncode == 0, f"the walkthrough stopped with {run.returncode}:\n{run.stdout}"
    lines = run.stdout.splitlines()
    assert not [line for line in lines if line.startswith("bash:")], run.stdout
    return lines


def created(lines: list[str]) -> dict[str, object]:
    """The create's answer: the line after its status line."""
    status = lines.index("POST /vms → 202")
    answer: dict[str, object] = json.loads(lines[status + 1])
    return answer


def files_under(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.fixture
def make_dev_timings(stack: Stack, sim: httpx.Client) -> Iterator[None]:
    """The simulator as make dev starts it: a create takes seconds, so do power actions and deletes."""
    timings = SimConfig()
    sim.patch(
        "/config",
        json={
            "provision_seconds": timings.provision_seconds,
            "transition_seconds": timings.transition_seconds,
            "throttle": timings.throttle,
        },
    ).raise_for_status()
    yield
    sim.patch("/config", json=SIM_DEFAULTS).raise_for_status()


@pytest.mark.timeout(600)
@pytest.mark.usefixtures("make_dev_timings")
def test_the_readme_walkthrough_runs_twice_as_pasted(stack: Stack, store: Store, tmp_path: Path) -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    assert not missing, f"the walkthrough needs {missing}: sudo apt-get install curl python3 openssh-client"
    block = walkthrough()
    work, home, temp = tmp_path / "clone", tmp_path / "home", tmp_path / "tmp"
    for folder in (work / ".devstack", home, temp):
        folder.mkdir(parents=True)
    token = stack.issue_token(f"readme-{uuid.uuid4().hex[:8]}@example.com", admin=True)
    envfile.write(work / ".devstack" / "env", stack.dev_env(token))

    # First run: no ~/.ssh, so a throwaway key made in the walkthrough's temporary directory.
    first = paste(block, work, home, temp)
    first_vm = created(first)
    record = store.get_vm(VM)
    assert record is not None and record.ssh_public_key is not None
    assert record.ssh_public_key.endswith(" walkthrough"), record.ssh_public_key
    assert files_under(home) == set(), "the first run wrote into HOME"

    # Second run: the user's own key is used, and the create is new (a fresh Idempotency-Key, not a replay).
    key = ed25519_key()
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_ed25519.pub").write_text(key + "\n")
    second = paste(block, work, home, temp)
    second_vm = created(second)
    record = store.get_vm(VM)
    assert record is not None and record.ssh_public_key == key

    for lines, answer in ((first, first_vm), (second, second_vm)):
        assert answer["state"] == "Creating"
        password = answer["admin_password"]
        assert isinstance(password, str) and password, "the 202 answer carries the generated password"
        assert any(line.startswith("JupyterHub https://") and line.endswith(f"password {password}") for line in lines)
        # Each action waited for its state before the next one went out, and the VM ended Deleted.
        waits = [line for line in lines if line.startswith(f"{VM} is ")]
        assert waits == [f"{VM} is Running", f"{VM} is Stopped", f"{VM} is Running", f"{VM} is Deleted"], lines
    assert second_vm["id"] != first_vm["id"], "the second run replayed the first run's create"

    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{stack.api_url}/vms/{VM}", headers=headers).json()["state"] == "Deleted"
    # Nothing written anywhere but the walkthrough's own temporary directory, removed at its end.
    assert files_under(work) == {".devstack", ".devstack/env"}
    assert files_under(home) == {".ssh", ".ssh/id_ed25519.pub"}
    assert files_under(temp) == set()
