"""Signing in and out, and who you are: login, logout, whoami, me."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from dsvm_cli import config
from dsvm_cli.client import Api
from dsvm_cli.errors import USAGE, CliError
from dsvm_cli.options import common, connect, debug_option
from dsvm_cli.render import Out, money, number


@click.command()
@click.option("--url", help="The API's URL, e.g. https://func-dsvm.azurewebsites.net/api.")
@click.option("--with-token", is_flag=True, help="Read the token from standard input instead of asking.")
@debug_option
def login(url: str | None, with_token: bool) -> None:
    """Sign in to an API and keep the login.

    Checks the URL and your token (from an admin) with the API, then stores both in your config folder,
    readable by you only.
    """
    api_url = config.normalise_url(url or click.prompt("API URL"))
    if with_token:
        token = sys.stdin.readline().strip()
    else:
        token = str(click.prompt("Token (dsvm_…, not shown)", hide_input=True)).strip()
    if not token:
        raise CliError("no token given", code=USAGE)
    me = Api(config.Login(api_url, token, "the URL you gave")).json("GET", "me")
    path = config.save_login(api_url, token)
    click.echo(f"Signed in to {api_url} as {me.get('user')} ({me.get('role')}); saved in {path}, readable by you only.")
    if os.environ.get("DSVM_API") or os.environ.get("DSVM_TOKEN"):
        click.echo("Note: DSVM_API/DSVM_TOKEN are set in your environment and take precedence.", err=True)


@click.command()
@debug_option
def logout() -> None:
    """Forget the stored login."""
    path = config.forget_login()
    click.echo(f"Signed out: removed {path}." if path else "Not signed in: there was no stored login.")
    if os.environ.get("DSVM_TOKEN"):
        click.echo("Note: DSVM_TOKEN is still set in your environment.", err=True)


@click.command()
@common
def whoami(output: str) -> None:
    """Which API, as whom, and where that came from."""
    api = connect()
    me = api.json("GET", "me")
    who = {"user": me.get("user"), "role": me.get("role"), "api": api.login.api, "source": api.login.source}
    out = Out(output)
    if out.is_json:
        out.json(who)
        return
    out.line(f"{who['user']} ({who['role']}) at {who['api']}")
    out.line(f"  signed in through {who['source']}", style="dim")


def limit_row(label: str, usage: dict[str, Any], as_money: bool = False) -> list[Any]:
    used, limit = usage.get("used"), usage.get("limit")
    show = money if as_money else number
    return [label, show(used), show(limit)]


@click.command()
@common
def me(output: str) -> None:
    """Your usage against your limits, and your policy."""
    body = connect().json("GET", "me")
    out = Out(output)
    if out.is_json:
        out.json(body)
        return
    usage = body.get("usage", {})
    out.line(f"{body.get('user')} ({body.get('role')})", style="bold")
    rows = [
        limit_row("VMs allocated", usage.get("vms", {})),
        limit_row("vCPUs allocated", usage.get("vcpus", {})),
        limit_row("spent this month", usage.get("month_usd", {}), as_money=True),
    ]
    out.table(["", "USED", "LIMIT"], rows, "")
    policy = body.get("policy", {})
    out.line(f"Sizes: {', '.join(policy.get('allowed_sizes', [])) or 'any'}")
    out.line(
        f"Time limit: {policy.get('default_ttl_hours')} h by default, at most {policy.get('max_ttl_hours')} h; "
        f"budget per VM at most {money(policy.get('max_budget_usd'))}; snooze at most {policy.get('max_snooze_hours')} h"
    )
