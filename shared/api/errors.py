"""How the API answers when something goes wrong: problem+json responses, the error answers each route
documents, the request-body guard, and the exception handlers that turn failures into problems."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from shared.api.deps import admin_user, current_user, mutating_user
from shared.api.docs import DOCS_URL
from shared.azure.tables import Unreadable
from shared.core.observations import ArmError
from shared.core.problems import PROBLEM_JSON, FieldProblem, Problem, ProblemBody, from_arm

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

PROBLEM_SCHEMA = {"$ref": f"#/components/schemas/{ProblemBody.__name__}"}
RETRY_AFTER = {
    "description": "Seconds to wait before trying again, when the refusal will clear by itself",
    "schema": {"type": "integer", "minimum": 0},
}
WWW_AUTHENTICATE = {"description": 'How to authenticate: `Bearer realm="dsvm"`', "schema": {"type": "string"}}


def problem_answer(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A documented error answer: what it means, its problem+json body, and the headers it carries."""
    answer: dict[str, Any] = {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
    if headers:
        answer["headers"] = headers
    return answer


ERRORS: dict[int, dict[str, Any]] = {
    400: problem_answer("Azure refused the request, or the request is malformed"),
    401: problem_answer("No credentials, or unknown ones", {"WWW-Authenticate": WWW_AUTHENTICATE}),
    403: problem_answer("Admins only"),
    404: problem_answer("Not found (another user's VM is not found either)"),
    409: problem_answer(
        "The VM's state does not allow this now, or Azure refused (quota, size not available)",
        {"Retry-After": RETRY_AFTER},
    ),
    411: problem_answer("The body was sent without a Content-Length"),
    412: problem_answer("The ETag in If-Match is stale: read again"),
    413: problem_answer(f"The body is larger than {MAX_BODY_BYTES} bytes"),
    415: problem_answer("The body is not JSON"),
    422: problem_answer("Invalid input; `errors` names each field at fault"),
    428: problem_answer("If-Match is required"),
    429: problem_answer("Too many changes a minute; wait `Retry-After` seconds", {"Retry-After": RETRY_AFTER}),
    502: problem_answer("Azure failed"),
    503: problem_answer("Table storage or Azure is unavailable or busy", {"Retry-After": RETRY_AFTER}),
}

# What the body guard can answer, so only routes that read a body document it.
BODY_ERRORS = (400, 411, 413, 415, 422)


Responses = dict[int | str, dict[str, Any]]


def errors(*codes: int) -> Responses:
    """The error answers a route documents beyond those its shape implies (see `ApiRoute`)."""
    return {code: ERRORS[code] for code in sorted(codes)}


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(problem.content(), status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON)


def body_problem(headers: Mapping[str, str]) -> Problem | None:
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


def dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from dependants(sub)


class ApiRoute(APIRoute):
    """A route that documents the errors its shape implies, so the document cannot drift from the code:
    a body (the body guard, validation), query or header parameters (validation), a caller (401),
    admins only (403), the rate limit (429), and Table storage behind every route (503).

    Routes that read a body check it before it is read (`body_problem`); routes without one ignore any.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        parts = list(dependants(self.dependant))
        calls = {part.call for part in parts}
        implied = {503}
        if self.body_field is not None:
            implied.update(BODY_ERRORS)
        if any(part.query_params or part.header_params for part in parts):
            implied.add(422)
        for call, code in ((current_user, 401), (admin_user, 403), (mutating_user, 429)):
            if call in calls:
                implied.add(code)
        documented = errors(*implied)
        for status, answer in self.responses.items():
            documented[status] = {**documented.get(status, {}), **answer}
        self.responses = documented

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def guarded(request: Request) -> Response:
            problem = body_problem(request.headers)
            if problem is not None:
                return problem_response(problem)
            return await handler(request)

        return guarded


def field_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    # pydantic puts the union/annotated branch in the path; keep the names a caller sent.
    parts = [p for p in parts if not p.startswith(("function-after", "function-wrap", "constrained-str"))]
    return ".".join(parts) or "body"


def field_message(error: Mapping[str, Any]) -> str:
    """pydantic's message, without its prefixes ('Value error, ') and with its stock phrases in words."""
    kind, context = error.get("type"), error.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in context:
        return str(context["error"])
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "not a field of this request (the schema is at /api/docs)"
    return str(error.get("msg"))


def json_position(doc: str, pos: int) -> str:
    line = doc.count("\n", 0, pos) + 1
    column = pos - doc.rfind("\n", 0, pos)
    return f"line {line}, column {column}"


def validation_problem(exc: RequestValidationError) -> Problem:
    fields = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid" and isinstance(exc.body, str) and isinstance(loc[-1], int):
            reason = str((error.get("ctx") or {}).get("error", "not JSON"))
            message = f"{reason} at {json_position(exc.body, loc[-1])}"
            return Problem(
                422,
                "Unprocessable Content",
                "The body is not valid JSON; see errors.",
                errors=[FieldProblem(field="body", message=message)],
            )
        fields.append(FieldProblem(field=field_name(loc), message=field_message(error)))
    return Problem(422, "Unprocessable Content", "The request is not valid; see errors.", errors=fields)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the API's routes accept at `path`, from the OpenAPI document."""
    methods: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        if compile_path(template)[0].match(path):
            methods.update(method.upper() for method in operations)
    return sorted(methods)


def http_problem(request: Request, exc: StarletteHTTPException) -> Problem:
    """Starlette's own refusals (no such route, wrong method, a body it could not parse) as problems."""
    title = HTTPStatus(exc.status_code).phrase
    path, docs = request.url.path, f"{request.scope.get('root_path', '')}{DOCS_URL}"
    headers = dict(exc.headers or {})
    detail: str | None
    if exc.status_code == 404:
        detail = f"There is nothing at {path}; the API's routes are listed at {docs}."
    elif exc.status_code == 405:
        # Starlette's Allow names the methods of the first route that matched the path, not of all of them.
        headers["Allow"] = ", ".join(allowed_methods(request.app, path)) or headers.get("Allow", "")
        detail = f"{path} does not accept {request.method}; it accepts {headers['Allow']}."
    else:
        detail = str(exc.detail) if exc.detail and exc.detail != title else None
    return Problem(exc.status_code, title, detail, headers=headers)


def install_handlers(app: FastAPI) -> None:
    """Every failure leaves the API as problem+json."""

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(http_problem(request, exc))

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
