"""`.devstack/env`: one `KEY='value'` a line, read back exactly by sh, bash and Python.

Every value is single-quoted and a quote inside it is written `'\\''` (close, escaped quote, reopen): inside
single quotes a POSIX shell takes every character literally, so `set -a; . .devstack/env; set +a` yields the
written values even with the `;` and `=` of a connection string. Python reads the file with `shlex`, which
follows the same rule (and also reads the older unquoted `KEY=value` lines).
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from collections.abc import Mapping
from pathlib import Path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def render(values: Mapping[str, str]) -> str:
    for key, value in values.items():
        if not _NAME.match(key):
            raise ValueError(f"{key!r} is not a shell variable name")
        # One setting a line keeps the file readable by line-based tools (and an environment has no NUL).
        if "\n" in value or "\r" in value or "\0" in value:
            raise ValueError(f"{key}: the value must be a single line")
    return "".join(f"{key}={quote(value)}\n" for key, value in values.items())


def parse(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        for word in words:
            key, sep, value = word.partition("=")
            if not sep or not _NAME.match(key):
                raise ValueError(f"line {number}: expected KEY='value', found {word!r}")
            values[key] = value
    return values


def read(path: Path) -> dict[str, str]:
    return parse(path.read_text(encoding="utf-8"))


def write(path: Path, values: Mapping[str, str]) -> None:
    """Owner-only (it holds a token), and replaced in one step so a reader never sees half a file."""
    text = render(values)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
