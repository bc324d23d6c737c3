"""Every script in bench/ runs at a small size in `make test`, so a bench that breaks fails CI instead of
rotting. Each starts its own Azurite and ARM simulator on free ports, prints JSON and exits 1 when one of
its own checks fails; these tests assert the figures that must hold at any size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
# The benches start a stack of their own; on a busy 2-core machine that takes a while.
TIMEOUT = 280


def run(script: str, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, f"{script} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


def test_every_bench_script_is_run_here() -> None:
    # bench/cli.py runs in tests/cli/test_bench.py (it needs the installed dsvm), bench/agent.py in tests/agent.
    tested = {"sweep.py", "api.py", "armsim.py", "cli.py", "agent.py", "week.py"}
    assert {path.name for path in BENCH.glob("*.py")} == tested


@pytest.mark.timeout(TIMEOUT + 20)
def test_the_sweep_bench_stops_no_busy_vm_and_every_vm_over_budget() -> None:
    figures = run("sweep.py", "--sizes", "30", "--per-owner", "10", "--deallocate", "20")

    (busy,) = figures["sweeps"]
    assert (busy["vms"], busy["owners"], busy["observed"]) == (30, 3, 30)
    assert busy["stopped"] == 0
    assert busy["arm_writes"] == 0
    # Steady state: one list page and one metrics batch for 30 VMs, and no Table write.
    assert busy["arm_requests"] == {"VirtualMachines_List": 1, "Metrics_Batch": 1}
    assert set(busy["table_requests"]) == {"GET"}
    assert set(busy["phases_s"]) == {"read", "reconcile", "metrics", "decide", "persist", "act"}
    assert busy["peak_rss_mb"] >= busy["rss_after_imports_mb"] > 0

    over = figures["deallocate_throttled"]
    assert over["stop_rules"] == {"budget": 20}
    assert over["actions_failed"] == 0
    assert over["arm_requests"]["VirtualMachines_Deallocate"] == 20
    assert over["power_states_after"] == {"deallocated": 20}
    assert all(figures["checks"].values())


@pytest.mark.timeout(TIMEOUT + 20)
def test_the_api_bench_gets_every_create_accepted() -> None:
    figures = run(
        "api.py", "--creates", "12", "--gets", "12", "--list-size", "24", "--per-owner", "10", "--imports", "1"
    )

    assert figures["owners"] == 3
    assert figures["create_status"] == {"202": 24}
    assert figures["create_accept_ms"]["n"] == 12
    assert 0 < figures["create_accept_ms"]["p50"] <= figures["create_accept_ms"]["p99"]
    assert 0 < figures["get_vm_ms"]["p50"] <= figures["get_vm_ms"]["p99"]
    assert figures["list_vms_ms"]["vms"] == 24
    assert figures["cold_import_function_app_s"]["median"] > 0
    assert all(figures["checks"].values())


@pytest.mark.timeout(TIMEOUT + 20)
def test_the_simulator_bench_lists_every_vm() -> None:
    figures = run("armsim.py", "--seconds", "0.2", "--vms", "30")

    assert figures["list_all_status_only_vms"] == 31
    assert figures["get_vm_rps_1"] > 0
    assert figures["get_vm_rps_8"] > 0
    assert all(figures["checks"].values())


@pytest.mark.timeout(TIMEOUT + 20)
def test_the_agent_bench_fits_in_custom_data() -> None:
    figures = run("agent.py", "--runs", "2")

    assert 0 < figures["custom_data_bytes"] <= figures["custom_data_limit_bytes"]
    assert figures["report_ms"] > 0


@pytest.mark.timeout(TIMEOUT + 20)
def test_the_week_bench_explains_every_stop_and_warns_before_stopping_a_busy_vm() -> None:
    figures = run("week.py", "--people", "3", "--days", "0.75")

    assert (figures["steps"], figures["sweeps"], figures["sweeps_failed"]) == (216, 216, 0)
    assert [m["person"] for m in figures["team"]] == ["ana", "bea", "chen"]
    assert all(m["starts"] >= 1 for m in figures["team"]), "everyone created a VM and used it"
    assert figures["stops_without_event"] == []
    assert figures["unwarned_stops_of_busy_vms"] == []
    assert sum(figures["stops_by_rule"].values()) == figures["stops_seen_by_arm"] > 0
    spend = figures["spend"]
    assert 0 < spend["oracle_usd"] < spend["always_on_usd"]
    assert 0 < spend["control_plane"]["usd"] < spend["always_on_usd"]
    assert set(figures["naive_policies"]) == {"stop_at_19_local", "stop_after_60_min_low_cpu"}
    # The targets are for a whole week; 18 hours (every time zone has begun its day) check only the invariants.
    assert set(figures["checks"]) == {
        "every stop has its deallocate event with rule and evidence",
        "no unwarned stop of a busy VM",
    }
    assert all(figures["checks"].values())
