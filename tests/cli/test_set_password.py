"""`dsvm set`, `dsvm password`, generated passwords at create, why/when a VM stops, and Retry-After on busy
actions: the routes of issue 13 (PATCH /api/vms/NAME, POST /api/vms/NAME/password, last_stop/next_stop)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx

from tests.cli.conftest import Dsvm


def running(dsvm: Dsvm, name: str, *extra: str) -> dict[str, object]:
    result = dsvm("create", name, "--size", "Standard_D4s_v5", "-o", "json", *extra)
    assert result.returncode == 0, result.stderr
    vm: dict[str, object] = json.loads(result.stdout)
    return vm


def test_set_changes_limits_schedule_idle_and_access(dsvm: Dsvm, vm_name: str) -> None:
    running(dsvm, vm_name, "--budget", "40")
    result = dsvm(
        "set",
        vm_name,
        "--ttl",
        "6",
        "--schedule",
        "Europe/Berlin 08:00-20:00 mon-fri",
        "--idle-cpu",
        "3",
        "--cidr",
        "198.51.100.0/24",
        "-o",
        "json",
    )
    assert result.returncode == 0, result.stderr
    vm = json.loads(result.stdout)
    assert vm["ttl_hours"] == 6 and vm["budget_usd"] == 40
    assert vm["schedule"]["stop_at"] == "20:00" and vm["schedule"]["days_off"] == ["sat", "sun"]
    assert vm["idle"]["cpu_percent"] == 3 and vm["idle"]["enabled"] is True
    assert vm["allowed_cidrs"] == ["198.51.100.0/24"]

    cleared = json.loads(dsvm("set", vm_name, "--budget", "none", "--no-idle", "-o", "json").stdout)
    assert cleared["budget_usd"] is None and cleared["idle"]["enabled"] is False
    people = dsvm("set", vm_name, "--schedule", "none")
    assert people.returncode == 0 and "schedule cleared" in people.stdout


def test_set_expiry_in_the_users_zone(dsvm: Dsvm, vm_name: str) -> None:
    running(dsvm, vm_name)
    # A local time a month ahead (the policy bounds an expiry to a year from now).
    day = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    result = dsvm("set", vm_name, "--expires", f"{day}T18:00", "-o", "json", env={"TZ": "Asia/Kolkata"})
    assert result.returncode == 0, result.stderr
    expires = datetime.fromisoformat(json.loads(result.stdout)["expires_at"])
    assert expires == datetime.fromisoformat(f"{day}T18:00+05:30")


def test_set_beyond_policy_names_the_field_and_bound(dsvm: Dsvm, vm_name: str) -> None:
    running(dsvm, vm_name)
    result = dsvm("set", vm_name, "--ttl", "5000")
    assert result.returncode == 1
    assert "(422)" in result.stderr and "ttl_hours" in result.stderr and "336" in result.stderr


def test_create_with_a_generated_password_shows_it_once(dsvm: Dsvm, vm_name: str) -> None:
    result = dsvm("create", vm_name, "--size", "Standard_D4s_v5", "--generate-password")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "shown once" in line)
    password = line.rsplit(": ", 1)[1]
    assert len(password) >= 12
    assert password not in dsvm("show", vm_name, "-o", "json").stdout
    assert password not in dsvm("events", vm_name, "-o", "json").stdout


def test_create_json_carries_the_generated_password(dsvm: Dsvm, vm_name: str) -> None:
    vm = running(dsvm, vm_name, "--generate-password")
    assert vm["state"] == "Running" and isinstance(vm["admin_password"], str)


def test_password_reset_generated_or_given(dsvm: Dsvm, vm_name: str) -> None:
    running(dsvm, vm_name)
    generated = dsvm("password", vm_name, "--generate", "-o", "json")
    assert generated.returncode == 0, generated.stderr
    answer = json.loads(generated.stdout)
    assert answer["name"] == vm_name and answer["admin_username"] == "azureuser" and len(answer["password"]) >= 12
    given = dsvm("password", vm_name, "--password-stdin", stdin="Another-Passw0rd-2031\n")
    assert given.returncode == 0, given.stderr
    assert "Another-Passw0rd-2031" not in given.stdout and "accepted" in given.stdout
    weak = dsvm("password", vm_name, "--password-stdin", stdin="short\n")
    assert weak.returncode == 1 and "password" in weak.stderr


def test_show_says_when_it_will_stop_and_why_it_stopped(dsvm: Dsvm, vm_name: str) -> None:
    running(dsvm, vm_name, "--ttl", "4")
    assert "next stop" in dsvm("show", vm_name).stdout
    assert dsvm("stop", vm_name).returncode == 0
    shown = dsvm("show", vm_name).stdout
    last = next(line for line in shown.splitlines() if "last stop" in line)
    assert "by " in last
    assert "stopped by" in dsvm("list").stdout


def test_start_while_stopping_waits_out_retry_after(dsvm: Dsvm, sim: httpx.Client, vm_name: str) -> None:
    running(dsvm, vm_name)
    sim.patch("/config", json={"transition_seconds": 4}).raise_for_status()
    assert dsvm("stop", vm_name, "--no-wait").returncode == 0
    result = dsvm("start", vm_name, "-o", "json")
    assert result.returncode == 0, result.stderr
    assert "trying again in" in result.stderr
    assert json.loads(result.stdout)["state"] == "Running"
