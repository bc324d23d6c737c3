"""Where the API URL and token come from.

In order: the environment (`DSVM_API`, `DSVM_TOKEN`); `.devstack/env` in this folder or a parent (what
`make dev` writes); the login `dsvm login` stored in the user's config dir. The URL comes from the first
source that has one, and the token from that same source unless `DSVM_TOKEN` is set, so a stored token is
never sent to a URL it was not stored for.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dsvm_cli.errors import UNREACHABLE, CliError

LOGIN_FILE = "login.json"
DEVSTACK_ENV = Path(".devstack") / "env"


@dataclass(frozen=True)
class Login:
    api: str
    token: str
    source: str  # where the URL came from, said in messages about it


def config_dir() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("dsvm", appauthor=False))


def login_path() -> Path:
    return config_dir() / LOGIN_FILE


def normalise_url(url: str) -> str:
    """`https://host` and `https://host/` mean the API under `/api`; anything else is taken as given."""
    url = url.strip().rstrip("/")
    _scheme, sep, rest = url.partition("://")
    if sep and "/" not in rest:
        url += "/api"
    return url


def parse_env_file(text: str) -> dict[str, str]:
    """`KEY=value` lines as `sh` would read them: plain, or shell-quoted (`KEY='a;b'`, a quote as `'\\''`)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # an unbalanced quote: take the line literally rather than give up on the file
            words = [line.strip()]
        if words[:1] == ["export"]:
            words = words[1:]
        for word in words:
            key, sep, value = word.partition("=")
            if sep and key.isidentifier():
                values[key] = value
    return values


def find_devstack_env(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / DEVSTACK_ENV
        if candidate.is_file():
            return candidate
    return None


def read_login() -> dict[str, str]:
    path = login_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {path}: {exc}", "Sign in again with `dsvm login`.", code=UNREACHABLE) from None
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def sources() -> Iterator[tuple[str, dict[str, str]]]:
    """(name, {"api"?, "token"?}) from the most to the least specific, each read only when asked for."""
    yield "DSVM_API", {"api": os.environ.get("DSVM_API", ""), "token": os.environ.get("DSVM_TOKEN", "")}
    env_file = find_devstack_env(Path.cwd())
    if env_file is not None:
        values: dict[str, str] = {}
        with contextlib.suppress(OSError):
            values = parse_env_file(env_file.read_text())
        yield str(env_file), {"api": values.get("DSVM_API", ""), "token": values.get("DSVM_TOKEN", "")}
    yield str(login_path()), read_login()


def current() -> Login:
    env_token = os.environ.get("DSVM_TOKEN", "")
    for name, values in sources():
        if values.get("api"):
            token = env_token or values.get("token", "")
            if not token:
                raise CliError(
                    f"no token for {values['api']} (from {name})",
                    "Set DSVM_TOKEN, or sign in with `dsvm login`.",
                    code=UNREACHABLE,
                )
            return Login(normalise_url(values["api"]), token, name)
    raise CliError(
        "not signed in: no API URL",
        "Sign in with `dsvm login` (your team's API URL and a token from an admin),",
        "or set DSVM_API and DSVM_TOKEN, or run `make dev` and use dsvm inside the control-plane repo.",
        code=UNREACHABLE,
    )


def save_login(api: str, token: str) -> Path:
    """Write the login readable by its owner only (0600, in a 0700 folder), replacing any earlier one."""
    path = login_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = path.with_name(f".{LOGIN_FILE}.{os.getpid()}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump({"api": api, "token": token}, handle)
        os.chmod(scratch, 0o600)
        os.replace(scratch, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            scratch.unlink()
    return path


def forget_login() -> Path | None:
    path = login_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path
