"""Calls to the control plane's HTTP API; problem+json answers become ApiError, network failures Unreachable."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from dsvm_cli import __version__
from dsvm_cli.config import Login
from dsvm_cli.errors import UNREACHABLE, ApiError, CliError, Problem

if TYPE_CHECKING:
    import httpx

CONNECT_SECONDS = 10.0
READ_SECONDS = 60.0
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


class Unreachable(CliError):
    def __init__(self, login: Login, reason: str) -> None:
        hints = [f"The URL came from {login.source}."]
        if any(f"//{host}" in login.api for host in LOCAL_HOSTS):
            hints.append("Is the local stack up? Start it with `make dev` in the control-plane repo.")
        else:
            hints.append("Check the URL and your network (VPN?).")
        hints.append("To use another API, sign in with `dsvm login` (or set DSVM_API and DSVM_TOKEN).")
        super().__init__(f"cannot reach the DSVM API at {login.api}: {reason}", *hints, code=UNREACHABLE)


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: we poll again at our own pace


def problem_of(response: httpx.Response) -> Problem:
    try:
        body = response.json()
    except ValueError:
        body = None
    return Problem.parse(response.status_code, response.reason_phrase, body, response.text, retry_after(response))


def hints_for(status: int) -> list[str]:
    if status == 401:
        return ["Your token was refused (unknown, revoked or expired): sign in again with `dsvm login`."]
    if status == 403:
        return ["Only admins may do this."]
    return []


class Api:
    def __init__(self, login: Login, read_seconds: float = READ_SECONDS) -> None:
        import httpx

        self.login = login
        self._http = httpx.Client(
            base_url=login.api,
            headers={"Authorization": f"Bearer {login.token}", "User-Agent": f"dsvm-cli/{__version__}"},
            timeout=httpx.Timeout(read_seconds, connect=min(CONNECT_SECONDS, read_seconds)),
        )

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The raw answer, whatever its status; only a network failure raises."""
        import httpx

        try:
            return self._http.request(method, path.lstrip("/"), **kwargs)
        except httpx.TimeoutException:
            raise Unreachable(self.login, "no answer in time") from None
        except httpx.TransportError as exc:
            raise Unreachable(self.login, str(exc) or type(exc).__name__) from None

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer when it is a success; an error status raises ApiError with the problem."""
        response = self.send(method, path, **kwargs)
        if response.status_code >= 400:
            raise ApiError(problem_of(response), *hints_for(response.status_code))
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except json.JSONDecodeError:
            raise CliError(
                f"{self.login.api} answered {method} {path} with something that is not JSON",
                "Is DSVM_API the API's URL (it ends in /api)?",
            ) from None
