"""Maintenance commands run by an operator: `python -m shared.admin issue-token --user alice@example.com --admin`."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from shared.auth import issue_token
from shared.azure.tables import Store
from shared.settings import SettingsError, get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.admin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    issue = commands.add_parser("issue-token", help="issue a personal API token and print it once")
    issue.add_argument("--user", required=True, help="the user's e-mail / UPN, e.g. alice@example.com")
    issue.add_argument("--admin", action="store_true", help="the token carries the admin role")
    issue.add_argument("--days", type=int, default=None, help="expire after this many days (default: never)")
    issue.add_argument("--note", default="", help="what the token is for")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    store = Store.from_settings(settings)
    store.ensure_tables()
    expires = timedelta(days=args.days) if args.days else None
    token_id, token = issue_token(store, args.user.lower(), args.admin, expires, args.note)
    print(token)
    print(f"token id {token_id} for {args.user.lower()}{' (admin)' if args.admin else ''}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
