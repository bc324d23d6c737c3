"""Each collector against what its source returns on a DSVM (recorded outputs), bad outputs included."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent import dsvm_agent as agent
from tests.agent.fakes import HUB_USERS, KERNELS, LOADAVG, NVIDIA_SMI_OUTPUT, WHO_OUTPUT


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- SSH: terminal input, read from the terminals' access times -------------------------------------------


def test_who_lists_the_terminal_of_each_login_session_not_x_displays() -> None:
    assert agent.tty_lines(WHO_OUTPUT) == ["pts/0", "pts/1", "pts/2", "ttyS0"]


def test_ssh_last_input_is_the_newest_terminal_access_time() -> None:
    atimes = {"pts/0": at("2026-05-04T09:05:00").timestamp(), "pts/1": at("2026-05-04T09:20:00").timestamp()}
    assert agent.ssh_last_input(WHO_OUTPUT, atimes) == at("2026-05-04T09:20:00")


def test_terminals_not_in_who_do_not_count() -> None:
    # A pty of a process that is no login session (a Jupyter terminal, a VS Code shell) is not read.
    assert agent.ssh_last_input(WHO_OUTPUT, {"pts/9": at("2026-05-04T10:00:00").timestamp()}) is None


def test_no_login_session_means_no_ssh_input() -> None:
    assert agent.ssh_last_input("", {}) is None
    assert agent.ssh_last_input("carol    :0           May  4 09:02 (:0)\n", {}) is None


def test_terminal_names_that_are_not_terminals_are_ignored() -> None:
    # `who` output is only trusted for a device name; anything else never becomes a path to stat.
    assert agent.tty_lines("mallory  ../../etc/shadow  May  4 09:12\nx pts/1/../../x May 4\n") == []


def test_read_ssh_stats_the_terminals_under_dev(tmp_path: Path) -> None:
    (tmp_path / "pts").mkdir()
    (tmp_path / "pts" / "2").write_text("")
    os.utime(tmp_path / "pts" / "2", (at("2026-05-04T09:14:30").timestamp(), 0))
    who = tmp_path / "who"
    who.write_text(f"#!/bin/sh\ncat <<'EOF'\n{WHO_OUTPUT}EOF\n")
    who.chmod(0o755)
    # pts/0, pts/1 and ttyS0 have no device here (stale utmp entries): they are skipped, not fatal.
    assert agent.read_ssh(agent.Sources(who=str(who), dev=str(tmp_path))) == at("2026-05-04T09:14:30")


# --- JupyterHub: activity as the hub records it; kernels as each Jupyter server reports them ---------------


def test_jupyter_last_activity_is_the_newest_of_users_and_their_servers() -> None:
    assert agent.jupyter_last_activity(HUB_USERS) == datetime(2026, 5, 4, 9, 41, 2, 512000, tzinfo=UTC)


def test_users_without_activity_or_with_odd_fields_are_skipped() -> None:
    users = [{"name": "new", "last_activity": None, "servers": {}}, {"name": "x", "last_activity": "yesterday"}, "junk"]
    assert agent.jupyter_last_activity(users) is None
    assert agent.jupyter_last_activity([]) is None


def test_times_parse_with_z_offsets_or_none() -> None:
    assert agent.parse_time("2026-05-04T09:41:02.512000Z") == datetime(2026, 5, 4, 9, 41, 2, 512000, tzinfo=UTC)
    assert agent.parse_time("2026-05-04T11:41:02+02:00") == datetime(2026, 5, 4, 9, 41, 2, tzinfo=UTC)
    assert agent.parse_time("2026-05-04T09:41:02") == datetime(2026, 5, 4, 9, 41, 2, tzinfo=UTC)
    assert agent.parse_time(None) is None
    assert agent.parse_time(17) is None


def test_busy_kernels_are_those_executing() -> None:
    assert agent.busy_kernel_count(KERNELS) == 1
    assert agent.busy_kernel_count([{**k, "execution_state": "idle"} for k in KERNELS]) == 0
    assert agent.busy_kernel_count({"message": "Forbidden"}) == 0


def test_a_jupyter_servers_address_comes_from_its_environment_on_loopback_only() -> None:
    env = b"HOME=/home/alice\0JUPYTERHUB_SERVICE_URL=http://127.0.0.1:43121/user/alice\0PATH=/usr/bin\0"
    assert agent.singleuser_url(env) == "http://127.0.0.1:43121/user/alice/"
    assert agent.singleuser_url(b"JUPYTERHUB_SERVICE_URL=http://10.0.0.5:8888/user/alice/\0") is None
    assert agent.singleuser_url(b"HOME=/root\0") is None


def test_read_singleuser_urls_finds_jupyter_processes_once(tmp_path: Path) -> None:
    url = "http://127.0.0.1:43121/user/alice/"
    for pid, cmdline in (("10", b"python\0jupyterhub-singleuser\0"), ("11", b"python\0-m\0ipykernel_launcher\0")):
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "cmdline").write_bytes(cmdline)
        (tmp_path / pid / "environ").write_bytes(f"JUPYTERHUB_SERVICE_URL={url}\0".encode())
    (tmp_path / "12").mkdir()  # a process that ended between the listing and the read
    (tmp_path / "self").mkdir()
    # A kernel whose command line does not name jupyter is not read (its server was found already).
    assert agent.read_singleuser_urls(str(tmp_path)) == {url}


# --- RStudio Server: session properties it writes -----------------------------------------------------------


def rstudio_session(home: Path, sid: str, **props: str) -> Path:
    folder = home / ".local/share/rstudio/sessions/active" / f"session-{sid}" / "properites"
    folder.mkdir(parents=True)
    for name, value in props.items():
        (folder / name.replace("_", "-")).write_text(value)
    return folder


def test_rstudio_last_input_is_the_last_console_command_or_session_use(tmp_path: Path) -> None:
    home = tmp_path / "alice"
    idle = rstudio_session(home, "a1", last_used="1777885200000.000000", running="1", executing="0")
    os.utime(idle / "executing", (0, at("2026-05-04T09:30:00").timestamp()))
    rstudio_session(home, "b2", last_used="1777888800000.000000", running="0", executing="0")
    os.utime(home / ".local/share/rstudio/sessions/active/session-b2/properites/executing", (0, 0))
    last, executing = agent.rstudio_activity(agent.read_rsessions([str(home)]))
    assert last == at("2026-05-04T10:00:00")  # session b2 was last used (ended) at 10:00
    assert executing == 0


def test_rstudio_counts_running_sessions_executing_r(tmp_path: Path) -> None:
    home = tmp_path / "bob"
    rstudio_session(home, "c3", last_used="1777885200000.000000", running="1", executing="1")
    rstudio_session(home, "d4", last_used="1777885200000.000000", running="0", executing="1")  # crashed, stale
    assert agent.rstudio_activity(agent.read_rsessions([str(home)]))[1] == 1


def test_rstudio_older_layout_and_missing_files(tmp_path: Path) -> None:
    home = tmp_path / "carol"
    legacy = home / ".rstudio/sessions/active/session-e5/properites"
    legacy.mkdir(parents=True)
    (legacy / "last-used").write_text("not a number")
    sessions = agent.read_rsessions([str(home), str(tmp_path / "nobody")])
    assert sessions == [agent.RSession(last_used="not a number", executing=None, executing_mtime=None, running=None)]
    assert agent.rstudio_activity(sessions) == (None, 0)


# --- GPU and load -----------------------------------------------------------------------------------------


def test_gpu_percent_is_the_busiest_gpu() -> None:
    assert agent.gpu_percent(NVIDIA_SMI_OUTPUT) == 87.0
    assert agent.gpu_percent("0\n") == 0.0


@pytest.mark.parametrize("output", ["[N/A]\n", "[Not Supported]\n", "", "NVIDIA-SMI has failed\n", "250\n"])
def test_gpu_percent_unknown(output: str) -> None:
    assert agent.gpu_percent(output) is None


def test_no_nvidia_smi_means_no_gpu_figure(tmp_path: Path) -> None:
    assert agent.read_gpu(agent.Sources(nvidia_smi=str(tmp_path / "absent"))) is None


def test_load1_is_the_first_field_of_loadavg() -> None:
    assert agent.load1(LOADAVG) == 0.42
    assert agent.load1("") is None
    assert agent.load1("x y z") is None


# --- the report --------------------------------------------------------------------------------------------


def test_the_report_body_is_exactly_the_contract() -> None:
    now = at("2026-05-04T10:00:00")
    body = agent.report_body(
        {"ssh": at("2026-05-04T09:20:00"), "jupyter": None, "rstudio": now + timedelta(hours=1)},
        agent.Busy(kernels=2, gpu_percent=87.04, load1=0.4249),
        now,
    )
    assert body == {
        "last_input": {"ssh": "2026-05-04T09:20:00+00:00", "jupyter": None, "rstudio": None},  # the future is dropped
        "busy": {"kernels": 2, "gpu_percent": 87.0, "load1": 0.42},
    }


def test_busy_figures_keep_the_highest_sample() -> None:
    merged = agent.Busy(1, 80.0, None).merge(agent.Busy(0, None, 3.5)).merge(agent.Busy(2, 10.0, 1.0))
    assert merged == agent.Busy(kernels=2, gpu_percent=80.0, load1=3.5)
