"""What every command shares: the output and debug options, the VM name (completed from the API), waiting."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.shell_completion import CompletionItem

from dsvm_cli import config
from dsvm_cli.client import Api

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_TIMEOUT_SECONDS = 1800  # generous for a create; a wait that ends early leaves the operation going on
MAX_TIMEOUT_SECONDS = 86400
COMPLETION_SECONDS = 3.0


def connect(read_seconds: float | None = None) -> Api:
    login = config.current()
    return Api(login) if read_seconds is None else Api(login, read_seconds)


def debug_option(command: F) -> F:
    # Read by main() from the command line itself, so it also covers errors raised before the command runs.
    return click.option("--debug", is_flag=True, expose_value=False, help="Show the traceback of an error.")(command)


def common(command: F) -> F:
    """-o/--output and --debug on every command, so they can go after the command's name."""
    command = click.option(
        "-o",
        "--output",
        type=click.Choice(["table", "json"]),
        default=lambda: os.environ.get("DSVM_OUTPUT", "table"),
        help="table for people; json (the API's answer as it is) for scripts. [default: table, or $DSVM_OUTPUT]",
    )(command)
    return debug_option(command)


def complete_vm_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    try:
        vms = connect(COMPLETION_SECONDS).json("GET", "vms")["value"]
    except Exception:  # completion must never print an error into the user's shell
        return []
    return [CompletionItem(vm["name"]) for vm in vms if str(vm.get("name", "")).startswith(incomplete)]


vm_name = click.argument("name", shell_complete=complete_vm_names)


def waiting(command: F) -> F:
    command = click.option(
        "--wait/--no-wait",
        default=True,
        show_default=True,
        help="Wait until the VM settles, showing its state as it changes.",
    )(command)
    return click.option(
        "--timeout",
        type=click.IntRange(1, MAX_TIMEOUT_SECONDS),
        default=DEFAULT_TIMEOUT_SECONDS,
        show_default=True,
        metavar="SECONDS",
        help="Stop waiting after this long (the operation goes on).",
    )(command)
