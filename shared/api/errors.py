"""How the API answers when something goes wrong: problem+json responses, the documented error answers of
each route, the request-body guard, and the exception handlers that turn failures into problems."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.azure.tables import Unreadable
from shared.core.observations import ArmError
from shared.core.problems import PROBLEM_JSON, FieldProblem, Problem, ProblemBody, from_arm

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemBody, "content": {PROBLEM_JSON: {}}, "description": text}
    for status, text in {
        400: "Azure refused the request",
        401: "No or unknown credentials",
        403: "Admins only",
        404: "No such VM (or not yours)",
        409: "Conflicting state",
        411: "Send a Content-Length",
        413: "Body too large",
        415: "Body is not JSON",
        412: "The ETag in If-Match is stale: read again",
        422: "Invalid input; `errors` names the fields",
        428: "If-Match is required",
        429: "Too many requests",
        502: "Azure failed",
        503: "A dependency is unavailable",
    }.items()
}

# Every route can answer these: the caller's identity, input validation, Table storage being down.
ALWAYS = (401, 422, 503)
# Routes that change something also meet the rate limit and the body guard.
CHANGES = (400, 411, 413, 415, 429)


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: ERRORS[code] for code in sorted({*ALWAYS, *codes})}


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(problem.content(), status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON)


def body_problem(headers: dict[str, str]) -> Problem | None:
    """Why a request body is refused before it is read: too large, of unknown length, or not JSON."""
    length = headers.get("content-length")
    if length is None:
        if "chunked" in headers.get("transfer-encoding", ""):
            return Problem(411, "Length Required", "Send the body with a Content-Length.")
        return None
    if not length.isdigit():
        return Problem(400, "Bad Request", "Content-Length is not a number.")
    if int(length) > MAX_BODY_BYTES:
        return Problem(413, "Content Too Large", f"The body is larger than {MAX_BODY_BYTES} bytes.")
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    if int(length) > 0 and media != "application/json" and not media.endswith("+json"):
        return Problem(
            415,
            "Unsupported Media Type",
            "Send the body as JSON with 'Content-Type: application/json'.",
            errors=[FieldProblem(field="content-type", message=f"{media or 'none'} is not JSON")],
        )
    return None


class BodyGuard:
    """ASGI middleware applying `body_problem` to POST/PUT/PATCH (cheaper than BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            problem = body_problem(headers)
            if problem is not None:
                await problem_response(problem)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_handlers(app: FastAPI) -> None:
    """Every failure leaves the API as problem+json."""

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for error in exc.errors():
            loc = [str(p) for p in error.get("loc", ()) if p != "body"]
            # pydantic puts the union/annotated branch in the path; keep the names a caller sent.
            loc = [p for p in loc if not p.startswith(("function-after", "constrained-str"))]
            fields.append(FieldProblem(field=".".join(loc) or "body", message=str(error.get("msg"))))
        return problem_response(
            Problem(422, "Unprocessable Content", "The request is not valid; see errors.", errors=fields)
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(Problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {})))

    @app.exception_handler(ArmError)
    async def on_arm(request: Request, exc: ArmError) -> JSONResponse:
        return problem_response(from_arm(exc, "read the VM from Azure"))

    @app.exception_handler(Unreadable)
    async def on_unreadable(request: Request, exc: Unreadable) -> JSONResponse:
        log.error("%s", exc)
        return problem_response(
            Problem(500, "Unreadable record", f"{exc}. It was logged; an admin can repair or remove the row.")
        )

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        from azure.core.exceptions import AzureError

        # ARM's failures arrive as ArmError (above): an AzureError here is Table storage or the queue.
        if isinstance(exc, AzureError):
            log.warning("storage unavailable: %s", type(exc).__name__)
            return problem_response(
                Problem(
                    503,
                    "Storage unavailable",
                    "Azure Storage (tables or the work queue) did not answer; try again.",
                    headers={"Retry-After": "5"},
                )
            )
        log.exception("unhandled error")
        return problem_response(Problem(500, "Internal Server Error", "Something broke on our side."))
