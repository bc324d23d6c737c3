"""Admins: personal API tokens, and the team policy (and per-user overrides) edited in $EDITOR."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any
from urllib.parse import quote

import click

from dsvm_cli.client import problem_of
from dsvm_cli.errors import USAGE, ApiError, CliError
from dsvm_cli.options import common, connect
from dsvm_cli.render import Out, when


@click.group()
def tokens() -> None:
    """Personal API tokens (admins)."""


@tokens.command("list")
@click.option("--user", metavar="EMAIL", help="Only this person's tokens.")
@common
def list_tokens(user: str | None, output: str) -> None:
    """Every token's owner, role, expiry and last use (never the token itself)."""
    body = connect().json("GET", "tokens", params={"user": user} if user else {})
    out = Out(output)
    if out.is_json:
        out.json(body)
        return
    rows: list[list[Any]] = [
        [
            str(t.get("id")),
            str(t.get("user")),
            "admin" if t.get("is_admin") else "user",
            when(t.get("expires_at")) if t.get("expires_at") else "never",
            when(t.get("last_used")) if t.get("last_used") else "never",
            "revoked" if t.get("revoked") else "active",
            str(t.get("note") or ""),
        ]
        for t in body.get("value", [])
    ]
    out.table(["ID", "USER", "ROLE", "EXPIRES", "LAST USED", "STATUS", "NOTE"], rows, "No tokens.")


@tokens.command("create")
@click.argument("user")
@click.option("--admin", is_flag=True, help="The token makes its holder an admin.")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), metavar="DAYS", help="[default: never]")
@click.option("--note", default="", help="What the token is for (up to 200 characters).")
@common
def create_token(user: str, admin: bool, expires_in_days: int | None, note: str, output: str) -> None:
    """Issue a token for USER; it is shown once."""
    body: dict[str, Any] = {"user": user, "admin": admin, "note": note}
    if expires_in_days is not None:
        body["expires_in_days"] = expires_in_days
    api = connect()
    issued = api.json("POST", "tokens", json=body)
    out = Out(output)
    if out.is_json:
        out.json(issued)
        return
    out.line(f"Token {issued.get('id')} for {issued.get('user')} (shown once; hand it over safely):")
    out.line(str(issued.get("token")), style="bold")
    out.line(f"They sign in with: dsvm login --url {api.login.api}")


@tokens.command("revoke")
@click.argument("token_id", metavar="ID")
@common
def revoke_token(token_id: str, output: str) -> None:
    """Revoke a token at once."""
    connect().call("DELETE", f"tokens/{quote(token_id, safe='')}")
    out = Out(output)
    out.json({"id": token_id, "revoked": True}) if out.is_json else out.line(f"Token {token_id} revoked.")


@click.group()
def policy() -> None:
    """The team policy and per-user overrides."""


def policy_path(user: str | None) -> str:
    return "policy" if user is None else f"policy/users/{quote(user, safe='@')}"


@policy.command("show")
@click.option("--user", metavar="EMAIL", help="Admins: this person's overrides instead of the team policy.")
@common
def show_policy(user: str | None, output: str) -> None:
    """The team policy (or one person's overrides)."""
    body = connect().json("GET", policy_path(user))
    out = Out(output)
    if out.is_json:
        out.json(body)
        return
    rows: list[list[Any]] = [
        [key, (", ".join(map(str, value)) or "-") if isinstance(value, list) else json.dumps(value)]
        for key, value in body.items()
    ]
    out.table(["SETTING", "VALUE"], rows, f"No overrides for {user}: the team policy applies." if user else "")


def keep_draft(text: str) -> str:
    fd, path = tempfile.mkstemp(prefix="dsvm-policy-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


@policy.command("edit")
@click.option("--user", metavar="EMAIL", help="Edit this person's overrides instead of the team policy.")
@common
def edit_policy(user: str | None, output: str) -> None:
    """Edit the policy in $EDITOR; saved only if nobody changed it meanwhile (ETag)."""
    path = policy_path(user)
    api = connect()
    response = api.call("GET", path)
    etag = response.headers.get("etag")
    current = response.json()
    edited = click.edit(json.dumps(current, indent=2) + "\n", extension=".json", require_save=True)
    if edited is None or edited.strip() == "":
        click.echo("No changes; nothing saved.")
        return
    try:
        wanted = json.loads(edited)
    except json.JSONDecodeError as exc:
        draft = keep_draft(edited)
        raise CliError(
            f"that is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); nothing saved",
            f"Your edit is in {draft}.",
            code=USAGE,
        ) from None
    if wanted == current:
        click.echo("No changes; nothing saved.")
        return
    headers = {"If-Match": etag} if etag else {}
    answer = api.send("PUT", path, json=wanted, headers=headers)
    if answer.status_code >= 400:
        draft = keep_draft(edited)
        if answer.status_code == 412:
            raise CliError(
                "someone changed the policy since you opened it; nothing saved",
                f"Your edit is in {draft}: run `dsvm policy edit` again and make it on the new version.",
            )
        raise ApiError(problem_of(answer), f"Your edit is in {draft}.")
    out = Out(output)
    out.json(answer.json()) if out.is_json else out.line(
        "Policy saved." if user is None else f"Overrides for {user} saved."
    )
