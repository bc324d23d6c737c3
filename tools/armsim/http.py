"""Minimal request/response types and a case-insensitive regex router (ARM paths ignore case)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .errors import ArmError


@dataclass
class Request:
    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes
    scheme: str = "https"
    params: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Query names compared case-insensitively; the first value wins.
        for key, value in parse_qsl(self.raw_query, keep_blank_values=True):
            self.params.setdefault(key.lower(), value)

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name.lower(), default)

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() == "true"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.headers.get('host', '127.0.0.1')}"

    @property
    def api_version(self) -> str:
        return self.param("api-version") or ""

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ArmError(400, "InvalidRequestContent", f"The request content was invalid: {exc}") from exc

    def json_object(self) -> dict[str, Any]:
        value = self.json()
        if not isinstance(value, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
        return value

    def url_with(self, **extra: str) -> str:
        """This request's URL with some query values replaced (used for nextLink)."""
        query = {k: v for k, v in parse_qsl(self.raw_query, keep_blank_values=True) if k.lower() not in extra}
        query.update(extra)
        return f"{self.base_url}{self.path}?{urlencode(query)}"


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status,
            json.dumps(payload, separators=(",", ":")).encode(),
            {"content-type": "application/json; charset=utf-8", **(headers or {})},
        )

    @classmethod
    def error(cls, err: ArmError) -> Response:
        return cls.json(err.status, err.envelope(), err.headers)


Handler = Callable[[Request, dict[str, str]], Awaitable[Response] | Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    handler: Handler


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, template: str, operation: str, handler: Handler) -> None:
        """`template` uses {name} placeholders for one path segment each."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self._routes.append(Route(method, re.compile(f"^{regex}/?$", re.IGNORECASE), operation, handler))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        path_known = False
        for route in self._routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            path_known = True
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, found.groupdict()
        if path_known:
            raise ArmError(405, "MethodNotAllowed", f"The requested method '{method}' is not allowed on '{path}'.")
        return None
