"""`make sweep`: one pass against a running stack, as the README says, with a short human summary or JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from shared.azure.tables import Store
from tests.api.test_lifecycle import body
from tests.api.test_sweeper import advance
from tests.conftest import issue
from tests.support.polling import wait_for_state
from tools.devstack import Stack, envfile

ROOT = Path(__file__).resolve().parents[2]


def make_sweep(state: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    args = ["make", "-s", "-o", ".venv/.installed", "sweep", f"STATE_DIR={state}"]
    if flags:
        args.append(f"SWEEP_FLAGS={' '.join(flags)}")
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_make_sweep_prints_a_summary_or_json_and_stays_quiet(
    api: httpx.Client, sim: httpx.Client, stack: Stack, store: Store, tmp_path: Path, vm_name: str
) -> None:
    assert api.post("/vms", json=body(vm_name, budget_usd=0.05, idle={"enabled": False})).status_code == 202
    wait_for_state(api, vm_name, "Running")
    advance(sim, 2)
    # The stack's env file, as make dev writes it; the sweep runs on the simulator's (advanced) clock.
    env = {
        **stack.dev_env(issue(store, "sweep-admin@example.com", admin=True)),
        "DSVM_CLOCK_URL": f"{stack.arm_url}/_sim/clock",
    }
    envfile.write(tmp_path / "env", env)

    human = make_sweep(tmp_path)
    assert human.returncode == 0, human.stderr
    assert "Sweep at" in human.stdout
    assert f"budget: {vm_name}" in human.stdout
    assert "Cost accrued: $" in human.stdout
    # No SDK request logging: a pass is a handful of lines, not hundreds of headers.
    assert len((human.stdout + human.stderr).splitlines()) < 15, human.stdout + human.stderr

    machine = make_sweep(tmp_path, "--json")
    assert machine.returncode == 0, machine.stderr
    report = json.loads(machine.stdout)
    assert report["actions"] == [], "the first pass already stopped it"
    assert isinstance(report["dry_run"], bool)
    assert report["cost_accrued_usd"] == round(report["cost_accrued_usd"], 4)
    assert report["states"].get("Stopping", 0) + report["states"].get("Stopped", 0) >= 1
