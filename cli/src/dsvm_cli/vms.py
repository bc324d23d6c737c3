"""Commands on VMs: list, create, show, the power actions and delete, snooze, set, password, events, ssh, open."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
import webbrowser
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from dsvm_cli.client import Api
from dsvm_cli.errors import USAGE, CliError
from dsvm_cli.keys import read_public_key
from dsvm_cli.options import common, connect, debug_option, vm_name, waiting
from dsvm_cli.render import Out, stamp, vm_details, vm_rows, when
from dsvm_cli.specs import (
    CLEAR,
    LocalTime,
    OrClear,
    ScheduleSpec,
    body_value,
    idle_body,
    idle_options,
)
from dsvm_cli.waiting import send_when_ready, settle

MAX_TTL_HOURS = 24 * 365
MAX_USD = 1_000_000.0
MAX_SNOOZE_HOURS = 24 * 7
TTL = click.IntRange(1, MAX_TTL_HOURS)
BUDGET = click.FloatRange(0, MAX_USD, min_open=True)
# What each action leaves the VM as once it has settled.
SETTLES_AS = {"create": "Running", "start": "Running", "restart": "Running", "stop": "Stopped", "delete": "Deleted"}
APPS = {"jupyter": "jupyterhub_url", "rstudio": "rstudio_url"}


def read_password(ask: bool, from_stdin: bool, what: str) -> str | None:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("--password-stdin: standard input had no password", code=USAGE)
        return password
    if ask:
        return str(click.prompt(what, hide_input=True, confirmation_prompt=True))
    return None


def show_password(out: Out, user: str, name: str, password: str) -> None:
    out.line(f"Password of {user} on {name} (shown once, store it now): {password}", style="bold")


def finish(out: Out, name: str, vm: dict[str, Any] | None, action: str, extra: dict[str, Any] | None = None) -> None:
    """After a wait: the VM as it settled (URLs and ssh command), or why it did not end as asked."""
    expected = SETTLES_AS[action]
    if vm is None:
        if action == "delete":
            out.json({"name": name, "state": "Deleted"}) if out.is_json else out.line(f"{name} deleted.")
            return
        raise CliError(f"{name} is gone: it was deleted while we waited")
    if out.is_json:
        out.json({**vm, **(extra or {})})
    elif vm.get("state") == expected and action == "delete":
        out.line(f"{name} deleted: the VM, its disk, network interface, public IP and NSG are gone.")
    elif vm.get("state") == expected and action == "stop":
        out.line(f"{name} stopped and deallocated: compute billing has stopped (the disk still costs).")
    else:
        vm_details(out, vm)
    if vm.get("state") == "Failed":
        raise CliError(
            f"{name} failed: {vm.get('error_code') or 'no error code'}: {vm.get('error_message') or 'no message'}",
            f"See `dsvm events {name}`; delete it with `dsvm delete {name}` before trying again.",
        )
    if vm.get("state") != expected:
        raise CliError(f"{name} settled as {vm.get('state')}, not {expected}", f"See `dsvm events {name}`.")


def accepted(out: Out, vm: dict[str, Any], action: str) -> None:
    """--no-wait: what the API accepted, and how to follow it."""
    if out.is_json:
        out.json(vm)
        return
    out.line(f"{vm.get('name')}: {vm.get('state')} ({action} accepted). Follow it with `dsvm show {vm.get('name')}`.")


@click.command("list")
@click.option("--owner", metavar="EMAIL", help="Admins: only this person's VMs.")
@click.option("--deleted", is_flag=True, help="Include deleted VMs (kept for audit and costs).")
@common
def list_vms(owner: str | None, deleted: bool, output: str) -> None:
    """Your VMs (admins: everyone's)."""
    params = {"include_deleted": "true"} if deleted else {}
    if owner:
        params["owner"] = owner
    body = connect().json("GET", "vms", params=params)
    out = Out(output)
    if out.is_json:
        out.json(body)
        return
    headers, rows = vm_rows(body.get("value", []), datetime.now(UTC))
    out.table(headers, rows, "No VMs. Create one with `dsvm create NAME --size SIZE` (`dsvm sizes` lists sizes).")


@click.command()
@click.argument("name")
@click.option("--size", required=True, help="A size from `dsvm sizes`, e.g. Standard_E4s_v5.")
@click.option(
    "--key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="SSH public key file [default: ~/.ssh/id_ed25519.pub, else ~/.ssh/id_rsa.pub].",
)
@click.option(
    "--generate-password", is_flag=True, help="Have a strong password made for JupyterHub/RStudio (shown once)."
)
@click.option("--password", "ask_password", is_flag=True, help="Type the admin password (JupyterHub/RStudio login).")
@click.option("--password-stdin", is_flag=True, help="Read the admin password from standard input.")
@click.option("--user", "admin_username", metavar="NAME", help="Linux admin user [default: azureuser].")
@click.option("--cidr", multiple=True, help="Who may connect (repeatable) [default: your address /32].")
@click.option("--ttl", type=TTL, metavar="HOURS", help="Stop it automatically after this many hours.")
@click.option("--budget", type=BUDGET, metavar="USD", help="Deallocate it once it has cost this much.")
@click.option(
    "--schedule",
    type=ScheduleSpec(),
    metavar="'ZONE [HH:MM-HH:MM] [DAYS]'",
    help="Working hours, e.g. 'Europe/Berlin 07:00-19:00 mon-fri'; stopped outside them.",
)
@idle_options
@click.option("--disk", "os_disk_gb", type=click.IntRange(30, 4095), metavar="GB", help="OS disk size.")
@click.option("--disk-type", type=click.Choice(["Premium_LRS", "StandardSSD_LRS", "Standard_LRS"]))
@click.option("--image", type=click.Choice(["dsvm-ubuntu-2204", "ubuntu-2204"]))
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag (repeatable).")
@waiting
@common
def create(
    name: str,
    size: str,
    key: Path | None,
    generate_password: bool,
    ask_password: bool,
    password_stdin: bool,
    admin_username: str | None,
    cidr: tuple[str, ...],
    ttl: int | None,
    budget: float | None,
    schedule: dict[str, Any] | None,
    idle_enabled: bool | None,
    idle_cpu: float | None,
    idle_minutes: int | None,
    idle_network_mb: float | None,
    os_disk_gb: int | None,
    disk_type: str | None,
    image: str | None,
    tags: tuple[str, ...],
    wait: bool,
    timeout: int,
    output: str,
) -> None:
    """Create a Data Science VM and wait until it runs.

    Ends with its JupyterHub and RStudio URLs and the ssh command (or Azure's error if it failed).
    """
    if sum((generate_password, ask_password, password_stdin)) > 1:
        raise CliError("give only one of --generate-password, --password and --password-stdin", code=USAGE)
    body: dict[str, Any] = {"name": name, "size": size}
    password = read_password(ask_password, password_stdin, "Admin password")
    by_password = generate_password or password is not None
    if key is not None or not by_password:
        body["ssh_public_key"] = read_public_key(key)
    else:  # signing in by password: a key is added when there is one, and not asked for when not
        with contextlib.suppress(CliError):
            body["ssh_public_key"] = read_public_key(None)
    if generate_password:
        body["generate_password"] = True
    if password is not None:
        body["admin_password"] = password
    tag_pairs: dict[str, str] = {}
    for tag in tags:
        tag_key, sep, value = tag.partition("=")
        if not sep or not tag_key:
            raise click.BadParameter(f"{tag!r} is not KEY=VALUE", param_hint="--tag")
        tag_pairs[tag_key] = value
    optional = {
        "admin_username": admin_username,
        "allowed_cidrs": list(cidr) or None,
        "ttl_hours": ttl,
        "budget_usd": budget,
        "schedule": body_value(schedule),
        "idle": idle_body(idle_enabled, idle_cpu, idle_minutes, idle_network_mb),
        "os_disk_gb": os_disk_gb,
        "os_disk_type": disk_type,
        "image": image,
        "tags": tag_pairs or None,
    }
    body.update({field: value for field, value in optional.items() if value is not None})

    api = connect()
    created = api.json("POST", "vms", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    out = Out(output)
    generated = created.pop("admin_password", None)
    if generated and not out.is_json:
        show_password(out, str(created.get("admin_username")), name, generated)
    extra = {"admin_password": generated} if generated else {}
    if not wait:
        accepted(out, {**created, **extra}, "create")
        return
    finish(out, name, settle(api, name, "create", timeout, created.get("state")), "create", extra)


@click.command()
@vm_name
@common
def show(name: str, output: str) -> None:
    """One VM: state, URLs, ssh, cost, next and last stop."""
    vm = connect().json("GET", f"vms/{name}")
    out = Out(output)
    out.json(vm) if out.is_json else vm_details(out, vm)


def power(action: str, name: str, wait: bool, timeout: int, output: str) -> None:
    method, path = ("DELETE", f"vms/{name}") if action == "delete" else ("POST", f"vms/{name}/{action}")
    api = connect()
    out = Out(output)
    if not wait:
        accepted(out, api.json(method, path), action)
        return
    answer = send_when_ready(api, method, path, name, timeout).json()
    finish(out, name, settle(api, name, action, timeout, answer.get("state")), action)


def power_command(action: str, summary: str) -> click.Command:
    @click.command(action, help=summary)
    @vm_name
    @waiting
    @common
    def command(name: str, wait: bool, timeout: int, output: str) -> None:
        power(action, name, wait, timeout, output)

    return command


start = power_command("start", "Start a stopped VM and wait until it runs.")
stop = power_command("stop", "Stop (deallocate) a VM: compute billing stops; the disk stays.")
restart = power_command("restart", "Restart a running VM.")


@click.command()
@vm_name
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@waiting
@common
def delete(name: str, yes: bool, wait: bool, timeout: int, output: str) -> None:
    """Delete a VM with its disk, NIC, public IP and NSG."""
    if not yes:
        if not sys.stdin.isatty():
            raise CliError(f"deleting {name} needs --yes when there is no terminal to confirm on", code=USAGE)
        click.confirm(f"Delete {name} and its disk? This cannot be undone", abort=True)
    power("delete", name, wait, timeout, output)


@click.command()
@vm_name
@click.option(
    "--hours",
    type=click.FloatRange(0, MAX_SNOOZE_HOURS, min_open=True),
    required=True,
    help="How long to hold off schedule, time-limit and idle stops (not budget caps).",
)
@common
def snooze(name: str, hours: float, output: str) -> None:
    """Hold off automatic stops for a while."""
    vm = connect().json("POST", f"vms/{name}/snooze", json={"hours": hours})
    out = Out(output)
    if out.is_json:
        out.json(vm)
        return
    out.line(f"{name}: automatic stops held off until {when(vm.get('snoozed_until'))} (budget caps still apply).")


@click.command("set")
@vm_name
@click.option("--ttl", type=TTL, metavar="HOURS", help="New time limit, counted from creation.")
@click.option("--expires", type=LocalTime(), metavar="TIME|none", help="Stop it at this time (your zone unless given).")
@click.option("--budget", type=OrClear(BUDGET), metavar="USD|none", help="Deallocate once it has cost this much.")
@click.option("--schedule", type=ScheduleSpec(), metavar="'ZONE [HH:MM-HH:MM] [DAYS]'|none", help="Working hours.")
@idle_options
@click.option("--cidr", multiple=True, help="Who may connect; replaces the list (repeatable).")
@common
def set_vm(
    name: str,
    ttl: int | None,
    expires: Any,
    budget: Any,
    schedule: Any,
    idle_enabled: bool | None,
    idle_cpu: float | None,
    idle_minutes: int | None,
    idle_network_mb: float | None,
    cidr: tuple[str, ...],
    output: str,
) -> None:
    """Change a VM's limits, schedule, idle rule or access.

    One JSON merge patch of what you give; `none` clears a setting (e.g. --budget none).
    """
    given = {
        "ttl_hours": ttl,
        "expires_at": expires,
        "budget_usd": budget,
        "schedule": schedule,
        "idle": idle_body(idle_enabled, idle_cpu, idle_minutes, idle_network_mb),
        "allowed_cidrs": list(cidr) or None,
    }
    patch = {field: body_value(value) for field, value in given.items() if value is not None}
    if not patch:
        raise click.UsageError(
            "nothing to change: give --ttl, --expires, --budget, --schedule, --idle… or --cidr (`none` clears)"
        )
    vm = connect().json(
        "PATCH",
        f"vms/{name}",
        content=json.dumps(patch),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    out = Out(output)
    if out.is_json:
        out.json(vm)
        return
    cleared = [field for field, value in given.items() if value is CLEAR]
    out.line(f"{name} updated: " + ", ".join(f"{f} cleared" if f in cleared else f for f in patch))
    vm_details(out, vm)


@click.command()
@vm_name
@click.option("--generate", is_flag=True, help="Have a strong password made (shown once).")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@common
def password(name: str, generate: bool, password_stdin: bool, output: str) -> None:
    """Reset the Linux password (JupyterHub and RStudio login).

    Asks for the new password unless --generate or --password-stdin.
    """
    if generate and password_stdin:
        raise CliError("give only one of --generate and --password-stdin", code=USAGE)
    if generate:
        body: dict[str, Any] = {"generate": True}
    else:
        if not password_stdin and not sys.stdin.isatty():
            raise CliError("no terminal to type the password on: use --generate or --password-stdin", code=USAGE)
        body = {"password": read_password(not password_stdin, password_stdin, "New password")}
    answer = connect().json("POST", f"vms/{name}/password", json=body)
    out = Out(output)
    if out.is_json:
        out.json(answer)
        return
    user = str(answer.get("admin_username"))
    if answer.get("password"):
        show_password(out, user, name, answer["password"])
    out.line(f"Password reset of {user} on {name} accepted; `dsvm events {name}` shows when it is done.")


@click.command()
@vm_name
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Newest events to show.")
@common
def events(name: str, limit: int, output: str) -> None:
    """A VM's audit trail, newest first.

    Who did what, and every automatic stop with its reason.
    """
    body = connect().json("GET", f"vms/{name}/events", params={"limit": limit})
    out = Out(output)
    if out.is_json:
        out.json(body)
        return
    rows: list[list[Any]] = [
        [
            stamp(e.get("time")),
            str(e.get("actor")),
            str(e.get("action")),
            e.get("state") or "",
            e.get("reason") or "",
        ]
        for e in body.get("value", [])
    ]
    out.table(["TIME", "ACTOR", "ACTION", "STATE", "REASON"], rows, f"No events for {name}.")


def reachable(api: Api, name: str) -> dict[str, Any]:
    vm: dict[str, Any] = api.json("GET", f"vms/{name}")
    if vm.get("state") != "Running" or not vm.get("public_ip"):
        hint = f"Start it with `dsvm start {name}`." if vm.get("state") == "Stopped" else f"See `dsvm show {name}`."
        raise CliError(f"{name} is {vm.get('state')}: it has no address to connect to", hint)
    return vm


@click.command(context_settings={"ignore_unknown_options": True})
@vm_name
@click.argument("ssh_args", nargs=-1, type=click.UNPROCESSED)
@debug_option
def ssh(name: str, ssh_args: tuple[str, ...]) -> None:
    """Open an ssh session on a VM.

    Anything after NAME goes to ssh, e.g. `dsvm ssh NAME -- -L 8888:localhost:8888`.
    """
    vm = reachable(connect(), name)
    program = shutil.which("ssh")
    if program is None:
        raise CliError("ssh is not installed (or not on PATH)", "Install the OpenSSH client.", code=USAGE)
    argv = ["ssh", f"{vm['admin_username']}@{vm['public_ip']}", *ssh_args]
    sys.stdout.flush()
    if os.name == "posix":
        os.execv(program, argv)  # noqa: S606 - ssh takes over the terminal; its exit code is ours
    raise SystemExit(subprocess.call([program, *argv[1:]]))


@click.command("open")
@vm_name
@click.argument("app", type=click.Choice(sorted(APPS)), default="jupyter")
@click.option("--print", "print_only", is_flag=True, help="Print the URL instead of opening a browser.")
@common
def open_app(name: str, app: str, print_only: bool, output: str) -> None:
    """Open JupyterHub or RStudio in the browser.

    Prints the URL instead with --print, or when not on a terminal.
    """
    vm = reachable(connect(), name)
    url = vm.get(APPS[app])
    if not url:
        raise CliError(f"{name} has no {app} URL", f"See `dsvm show {name}`.")
    out = Out(output)
    if out.is_json:
        out.json({"name": name, "app": app, "url": url})
        return
    if print_only or not sys.stdout.isatty() or not webbrowser.open(url):
        click.echo(url)
        return
    click.echo(f"Opened {url} (log in as {vm.get('admin_username')} with the VM's password).")
