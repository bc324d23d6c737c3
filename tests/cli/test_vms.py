"""A VM's life through `dsvm`: create waits until Running and ends with the URLs, actions wait until they
settle, tables for people and the API's JSON for scripts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from tests.cli.conftest import Dsvm
from tests.support.polling import wait_for_state


def created(dsvm: Dsvm, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    result = dsvm("create", name, "--size", "Standard_D4s_v5", "--cidr", "203.0.113.7/32", *extra)
    assert result.returncode == 0, result.stderr
    return result


def test_create_waits_until_running_and_ends_with_urls_and_ssh(dsvm: Dsvm, vm_name: str) -> None:
    result = created(dsvm, vm_name, "--ttl", "4", "--schedule", "Europe/Berlin 08:00-18:30 mon-thu")
    assert f"{vm_name}: Creating" in result.stderr and f"{vm_name}: Running" in result.stderr
    shown = result.stdout
    assert "Running" in shown
    vm = json.loads(dsvm("show", vm_name, "-o", "json").stdout)
    assert f"JupyterHub  {vm['jupyterhub_url']}" in shown
    assert f"RStudio     {vm['rstudio_url']}" in shown
    assert f"ssh         ssh azureuser@{vm['public_ip']}" in shown
    assert vm["schedule"] == {
        "timezone": "Europe/Berlin",
        "resume_at": "08:00",
        "stop_at": "18:30",
        "days_off": ["fri", "sat", "sun"],
    }
    assert vm["ttl_hours"] == 4 and vm["allowed_cidrs"] == ["203.0.113.7/32"]


def test_create_no_wait_returns_at_once_with_the_accepted_state(dsvm: Dsvm, vm_name: str) -> None:
    result = dsvm("create", vm_name, "--size", "Standard_D4s_v5", "--no-wait", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["state"] == "Creating"
    assert result.stderr == ""


def test_list_has_a_header_and_says_when_there_are_no_vms(dsvm: Dsvm, vm_name: str) -> None:
    empty = dsvm("list")
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.startswith("No VMs.")
    created(dsvm, vm_name)
    lines = dsvm("list").stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "SIZE", "PUBLIC", "IP", "COST", "NOTE"]
    row = next(line for line in lines if line.startswith(vm_name))
    assert row.split()[1:3] == ["Running", "Standard_D4s_v5"]
    assert all(line == line.rstrip() for line in lines)


def test_json_output_is_the_apis_json(dsvm: Dsvm, stack: object, vm_name: str) -> None:
    created(dsvm, vm_name)
    headers = {"Authorization": f"Bearer {dsvm.token}"}
    direct = httpx.get(f"{dsvm.api_url}/vms", headers=headers).json()
    listed = json.loads(dsvm("list", "-o", "json").stdout)
    assert [vm["name"] for vm in listed["value"]] == [vm["name"] for vm in direct["value"]] == [vm_name]
    assert listed["value"][0].keys() == direct["value"][0].keys()
    env_json = dsvm("sizes", env={"DSVM_OUTPUT": "json"})
    assert {size["name"] for size in json.loads(env_json.stdout)["value"]} >= {"Standard_D4s_v5"}
    assert json.loads(dsvm("costs", "-o", "json").stdout)["by_vm"][0]["name"] == vm_name
    assert json.loads(dsvm("events", vm_name, "-o", "json").stdout)["value"][-1]["action"] == "create"


def test_times_are_shown_in_the_users_zone_and_money_rounded(dsvm: Dsvm, vm_name: str) -> None:
    created(dsvm, vm_name, "--ttl", "3", "--budget", "12.345")
    vm = json.loads(dsvm("show", vm_name, "-o", "json").stdout)
    shown = dsvm("show", vm_name, env={"TZ": "Asia/Kolkata"}).stdout
    local = datetime.fromisoformat(vm["keep_until"]).astimezone(ZoneInfo("Asia/Kolkata"))
    assert f"time limit  {local:%Y-%m-%d %H:%M %Z} (in 3h)" in shown
    assert "budget $12.35" in shown


def test_stop_start_restart_delete_wait_until_settled(dsvm: Dsvm, vm_name: str) -> None:
    created(dsvm, vm_name)
    stopped = dsvm("stop", vm_name)
    assert stopped.returncode == 0, stopped.stderr
    assert "Stopping" in stopped.stderr and f"{vm_name}: Stopped" in stopped.stderr
    assert "compute billing has stopped" in stopped.stdout
    started = dsvm("start", vm_name, "-o", "json")
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["state"] == "Running"
    restarted = dsvm("restart", vm_name)
    assert restarted.returncode == 0, restarted.stderr
    assert "Restarting" in restarted.stderr and "JupyterHub" in restarted.stdout
    deleted = dsvm("delete", vm_name, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert f"{vm_name} deleted" in deleted.stdout
    assert "Deleted" in dsvm("list", "--deleted").stdout
    actions = [e["action"] for e in json.loads(dsvm("events", vm_name, "-o", "json").stdout)["value"]]
    assert {"create", "stop", "start", "restart", "delete"} <= set(actions)

    # The name is free again; this month's costs then hold two VMs of that name, told apart by record id.
    first_id = json.loads(dsvm("show", vm_name, "-o", "json").stdout)["id"]
    created(dsvm, vm_name)
    second_id = json.loads(dsvm("show", vm_name, "-o", "json").stdout)["id"]
    by_vm = json.loads(dsvm("costs", "-o", "json").stdout)["by_vm"]
    assert sorted(row["id"] for row in by_vm if row["name"] == vm_name) == sorted([first_id, second_id])
    shown = [line.split()[0:2] for line in dsvm("costs").stdout.splitlines() if line.startswith(vm_name)]
    assert sorted(shown) == sorted([[vm_name, f"({first_id[:8]})"], [vm_name, f"({second_id[:8]})"]])


def test_snooze_and_events(dsvm: Dsvm, vm_name: str) -> None:
    created(dsvm, vm_name)
    snoozed = dsvm("snooze", vm_name, "--hours", "2")
    assert snoozed.returncode == 0, snoozed.stderr
    assert "held off until" in snoozed.stdout and "(in 2h)" in snoozed.stdout
    events = dsvm("events", vm_name).stdout.splitlines()
    assert events[0].split() == ["TIME", "ACTOR", "ACTION", "STATE", "REASON"]
    assert any(" snooze " in line for line in events)


def test_ctrl_c_stops_waiting_not_the_create(dsvm: Dsvm, sim: httpx.Client, vm_name: str) -> None:
    sim.patch("/config", json={"provision_seconds": 600}).raise_for_status()
    process, first = dsvm.start("create", vm_name, "--size", "Standard_D4s_v5")
    # The first state line: the create was accepted and the wait began.
    assert f"{vm_name}: Creating" in first, first
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "stopped waiting" in err and "the create goes on" in err and f"dsvm show {vm_name}" in err
    assert "Traceback" not in err
    sim.patch("/config", json={"provision_seconds": 0}).raise_for_status()
    sim.post("/clock", json={"advance_seconds": 601}).raise_for_status()
    with httpx.Client(base_url=str(dsvm.api_url), headers={"Authorization": f"Bearer {dsvm.token}"}) as api:
        assert wait_for_state(api, vm_name, "Running")["state"] == "Running"


def test_ssh_runs_ssh_with_the_vms_user_and_address(dsvm: Dsvm, vm_name: str, tmp_path: Path) -> None:
    created(dsvm, vm_name, "--user", "ana")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ssh"
    fake.write_text('#!/bin/sh\necho "ssh $*"\nexit 7\n')
    fake.chmod(0o755)
    vm = json.loads(dsvm("show", vm_name, "-o", "json").stdout)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    result = dsvm("ssh", vm_name, "--", "-L", "8888:localhost:8888", env={"PATH": path})
    assert result.stdout.strip() == f"ssh ana@{vm['public_ip']} -L 8888:localhost:8888"
    assert result.returncode == 7  # ssh's own exit code


def test_open_prints_the_url_when_not_on_a_terminal(dsvm: Dsvm, vm_name: str) -> None:
    created(dsvm, vm_name)
    vm = json.loads(dsvm("show", vm_name, "-o", "json").stdout)
    assert dsvm("open", vm_name).stdout.strip() == vm["jupyterhub_url"]
    assert dsvm("open", vm_name, "rstudio", "--print").stdout.strip() == vm["rstudio_url"]
    dsvm("stop", vm_name)
    stopped = dsvm("open", vm_name)
    assert stopped.returncode == 1
    assert "Stopped" in stopped.stderr and f"dsvm start {vm_name}" in stopped.stderr


def test_vm_names_complete_from_the_api(dsvm: Dsvm, vm_name: str) -> None:
    created(dsvm, vm_name)
    env = {"_DSVM_COMPLETE": "bash_complete", "COMP_WORDS": f"dsvm show {vm_name[:5]}", "COMP_CWORD": "2"}
    result = dsvm(env=env)
    assert result.returncode == 0, result.stderr
    assert f"plain,{vm_name}" in result.stdout.splitlines()
    script = dsvm("completion", "bash")
    assert script.returncode == 0 and "_DSVM_COMPLETE" in script.stdout


def test_help_needs_no_login_and_lists_commands_by_purpose(home: Path) -> None:
    result = Dsvm(home)("--help")
    assert result.returncode == 0, result.stderr
    sections = [line for line in result.stdout.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert sections[1:] == ["Options:", "VMs:", "Reach a VM:", "Money:", "You:", "Admins:", "Shell:"][1:]
    assert "Exit codes" in result.stdout


def test_a_busy_answer_is_waited_out_as_retry_after_says(dsvm: Dsvm, vm_name: str) -> None:
    created(dsvm, vm_name)
    busy, drained = threading.Event(), threading.Event()
    busy.set()

    def spend_the_rate_limit() -> None:
        # Keeps the caller's bucket empty, so the CLI's stop is answered 429 with Retry-After.
        with httpx.Client(base_url=str(dsvm.api_url), headers={"Authorization": f"Bearer {dsvm.token}"}) as api:
            while busy.is_set():
                # Counted against the caller like any change, and leaves our VM alone.
                if api.post("/vms/no-such-vm/snooze", json={"hours": 1}).status_code == 429:
                    drained.set()

    spender = threading.Thread(target=spend_the_rate_limit)
    spender.start()
    try:
        assert drained.wait(timeout=60)
        process, first = dsvm.start("stop", vm_name)
    finally:
        busy.clear()
        spender.join()
    assert "Too Many Requests" in first or "At most" in first, first
    assert "trying again in" in first
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert f"{vm_name}: Stopped" in err and "compute billing has stopped" in out
