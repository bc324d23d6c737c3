"""What can go wrong, as exit codes and messages a person can act on (never a traceback)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK = 0
REFUSED = 1  # the API (or the operation it ran) said no
USAGE = 2  # the command line itself is wrong; click uses 2 for its own usage errors too
UNREACHABLE = 3  # no API to talk to: not signed in, or nothing answers at the URL
INTERRUPTED = 130  # Ctrl-C, as shells report it


class CliError(Exception):
    """A problem to print on stderr (message, then hints) before exiting with `code`."""

    def __init__(self, message: str, *hints: str, code: int = REFUSED) -> None:
        super().__init__(message)
        self.message = message
        self.hints = list(hints)
        self.code = code

    def lines(self) -> list[str]:
        return [f"error: {self.message}", *(f"  {hint}" for hint in self.hints)]


@dataclass
class Problem:
    """An RFC 9457 problem the API answered with (or what we could make of a body that was not one)."""

    status: int
    title: str
    detail: str | None = None
    code: str | None = None
    fields: list[tuple[str, str]] = field(default_factory=list)
    retry_after: float | None = None
    body: Any = None

    @classmethod
    def parse(cls, status: int, reason: str, body: Any, text: str, retry_after: float | None) -> Problem:
        if not isinstance(body, dict):
            snippet = " ".join(text.split())[:200] or None
            return cls(status, reason or f"HTTP {status}", snippet, retry_after=retry_after, body=text)
        fields: list[tuple[str, str]] = []
        for error in body.get("errors") or []:
            if isinstance(error, dict):
                pair = (str(error.get("field", "")), str(error.get("message", "")))
                if pair not in fields:  # pydantic can report one fault on several union branches
                    fields.append(pair)
        return cls(
            status,
            str(body.get("title") or reason or f"HTTP {status}"),
            body.get("detail"),
            body.get("code"),
            fields,
            retry_after,
            body,
        )


class ApiError(CliError):
    """The API answered with an error status."""

    def __init__(self, problem: Problem, *hints: str) -> None:
        self.problem = problem
        head = f"{problem.title} ({problem.status})"
        # Shown once: a detail that only repeats the title or a field's message adds nothing.
        if problem.detail and problem.detail not in (problem.title, *(message for _, message in problem.fields)):
            head += f": {problem.detail}"
        if problem.code:
            head += f" [{problem.code}]"
        field_lines = [f"{name or 'body'}: {message}" for name, message in problem.fields]
        super().__init__(head, *field_lines, *hints, code=REFUSED)
