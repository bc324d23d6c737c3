"""Waiting for a VM to settle: GET it until Running, Stopped, Failed, Deleted (or gone) or Lost, showing the
state as it changes and the time so far on stderr, and pausing as long as `Retry-After` asks.

Ctrl-C ends the wait only: the operation was accepted by the API and goes on without us.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

import click

from dsvm_cli.client import Api, Unreachable, problem_of, retry_after
from dsvm_cli.errors import INTERRUPTED, REFUSED, ApiError, CliError
from dsvm_cli.render import SETTLED, span

if TYPE_CHECKING:
    import httpx
    from rich.console import Console
    from rich.status import Status

FIRST_POLL_SECONDS = 1.0
MAX_POLL_SECONDS = 10.0
# A Retry-After longer than this is capped: we would rather ask again than go quiet for minutes.
MAX_RETRY_AFTER_SECONDS = 60.0
# Consecutive network failures tolerated while waiting (a blip, a restarting local stack).
NETWORK_RETRIES = 5
TICK_SECONDS = 0.25
# Answers that mean "not now": with Retry-After they are waited out instead of shown as errors.
BUSY = frozenset({409, 429, 503})


class Progress:
    """A live status line on a terminal; elsewhere one line per change, so logs stay readable."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.start = time.monotonic()
        self.text = ""
        self.live = sys.stderr.isatty()
        self._console: Console | None = None
        self._status: Status | None = None

    def __enter__(self) -> Progress:
        # Ctrl-C ends the wait, but never inside the HTTP client: an interrupt that lands while it holds its
        # connection pool's lock can leave that lock taken and the process hung. One that comes during a
        # request is kept until the request returns (a second of a read timeout at most).
        self._sending = self._interrupted = False
        self._previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
        if self.live:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False)
            self._status = self._console.status("", spinner="dots")
            self._status.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        if self._status is not None:
            self._status.stop()

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        if self._sending:
            self._interrupted = True
            return
        raise KeyboardInterrupt

    def send(self, api: Api, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """`api.send`, with Ctrl-C held off until the answer is in (see __enter__)."""
        self._sending = True
        try:
            response = api.send(method, path, **kwargs)
        finally:
            self._sending = False
            if self._interrupted:
                raise KeyboardInterrupt
        return response

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def say(self, text: str) -> None:
        """A change worth keeping on screen (a new state, a pause and why)."""
        if text == self.text:
            return
        self.text = text
        line = f"{self.name}: {text} ({span(self.elapsed)})"
        if self._console is not None:
            self._console.print(line, markup=False)
        else:
            click.echo(line, err=True)
        self._refresh()

    def _refresh(self) -> None:
        if self._status is not None:
            self._status.update(f"{self.name}: {self.text} … {span(self.elapsed)}")

    def pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(TICK_SECONDS, left))
            self._refresh()


def bounded(seconds: float | None) -> float | None:
    return None if seconds is None else min(max(seconds, 0.5), MAX_RETRY_AFTER_SECONDS)


def timed_out(progress: Progress, pause: float, timeout: float) -> bool:
    return progress.elapsed + pause > timeout


def interrupted(progress: Progress, what: str, state: str | None) -> CliError:
    now = f" ({progress.name} is {state})" if state else ""
    return CliError(
        f"stopped waiting after {span(progress.elapsed)}; the {what} goes on{now}",
        f"Check on it with `dsvm show {progress.name}`.",
        code=INTERRUPTED,
    )


def send_when_ready(api: Api, method: str, path: str, name: str, timeout: float, **kwargs: Any) -> httpx.Response:
    """Send an action; while the API answers "busy, retry after N s" (e.g. the VM is still Stopping), wait
    and send it again, up to `timeout`."""
    with Progress(name) as progress:
        try:
            while True:
                response = progress.send(api, method, path, **kwargs)
                if response.status_code < 400:
                    return response
                problem = problem_of(response)
                pause = bounded(problem.retry_after)
                if response.status_code not in BUSY or pause is None or timed_out(progress, pause, timeout):
                    raise ApiError(problem)
                progress.say(f"{problem.detail or problem.title}; trying again in {span(pause)}")
                progress.pause(pause)
        except KeyboardInterrupt:
            raise CliError(
                f"stopped before the API confirmed the request for {name}",
                f"It may have gone through: check with `dsvm show {name}`.",
                code=INTERRUPTED,
            ) from None


def settle(api: Api, name: str, what: str, timeout: float, accepted: str | None = None) -> dict[str, Any] | None:
    """The VM once settled, or None when it is gone (a finished delete). `accepted` is the state the
    action's answer showed, said first."""
    interval = FIRST_POLL_SECONDS
    failures = 0
    state = accepted
    with Progress(name) as progress:
        try:
            if accepted:
                progress.say(accepted)
            while True:
                try:
                    response = progress.send(api, "GET", f"vms/{name}")
                    failures = 0
                except Unreachable as exc:
                    failures += 1
                    if failures >= NETWORK_RETRIES:
                        raise exc from None
                    progress.say("the API is not answering; asking again")
                    pause = interval
                else:
                    if response.status_code == 404:
                        return None
                    if response.status_code >= 400:
                        problem = problem_of(response)
                        busy = bounded(problem.retry_after)
                        if busy is None:
                            raise ApiError(problem)
                        progress.say(f"{problem.title}; asking again in {span(busy)}")
                        pause = busy
                    else:
                        vm: dict[str, Any] = response.json()
                        state = str(vm.get("state"))
                        progress.say(state)
                        if state in SETTLED:
                            return vm
                        pause = bounded(retry_after(response)) or interval
                        interval = min(MAX_POLL_SECONDS, interval * 1.5)
                if timed_out(progress, pause, timeout):
                    raise CliError(
                        f"{name} had not settled after {span(progress.elapsed)} (still {state}); the {what} goes on",
                        f"Check on it with `dsvm show {name}`, or wait longer with --timeout.",
                        code=REFUSED,
                    )
                progress.pause(pause)
        except KeyboardInterrupt:
            raise interrupted(progress, what, state) from None
