"""The HTTP API (FastAPI): routes, the auth dependency, and problem+json error handling.

Handlers are thin: they resolve the caller, call operations.py and shape the answer.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from shared import operations
from shared.api import idempotency
from shared.api.ratelimit import RateLimiter
from shared.auth import TokenInfo, easy_auth_user, issue_token, list_tokens, resolve_token, revoke_token
from shared.azure.tables import Stale
from shared.core.costs import month_of
from shared.core.models import CostReport, CreateVm, EventList, SizeList, SnoozeRequest, User, VmList, VmView
from shared.core.observations import ArmError
from shared.core.policy import Policy, PolicyOverride, usage
from shared.core.problems import PROBLEM_JSON, FieldProblem, Problem, ProblemBody, from_arm
from shared.services import OVERRIDE_PARTITION, POLICY_PARTITION, TEAM_POLICY, ServiceHolder, Services
from shared.settings import Settings

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


def create_app(settings: Settings, services: Callable[[], Services] | None = None) -> FastAPI:
    get_services = services or ServiceHolder(settings)
    app = FastAPI(
        title="DSVM control plane",
        version="0.1.0",
        description=(
            "Create, use and delete Azure Data Science VMs (JupyterHub on 8000, RStudio on 8787, SSH). "
            "Every VM has a record; the sweeper deallocates idle, expired, over-budget and after-hours VMs. "
            "Errors are `application/problem+json` (RFC 9457)."
        ),
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.add_middleware(BodyGuard)
    bearer = HTTPBearer(auto_error=False, description="A personal API token: `dsvm_...`")

    async def svc() -> Services:
        # async: a plain call, so it need not hop to the thread pool like blocking dependencies do.
        return get_services()

    def current_user(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        svc: Annotated[Services, Depends(svc)],
    ) -> User:
        if settings.easy_auth_enabled:
            header = request.headers.get("x-ms-client-principal")
            if header:
                user = easy_auth_user(header, settings.admin_role)
                if user is not None:
                    return user
        if credentials is not None:
            user = resolve_token(svc.store, credentials.credentials, svc.clock())
            if user is not None:
                return user
        raise Problem(
            401,
            "Unauthorized",
            "Send a personal API token as 'Authorization: Bearer dsvm_...'.",
            headers={"WWW-Authenticate": 'Bearer realm="dsvm"'},
        )

    limiter = RateLimiter(settings.rate_limit_per_minute)

    def mutating_user(user: Annotated[User, Depends(current_user)]) -> User:
        wait = limiter.check(user.name)
        if wait:
            raise Problem(
                429,
                "Too Many Requests",
                f"At most {limiter.per_minute} changes a minute per person; try again in {wait} s.",
                headers={"Retry-After": str(wait)},
            )
        return user

    def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
        if not user.is_admin:
            raise Problem(403, "Forbidden", "Only admins may do this.")
        return user

    Caller = Annotated[User, Depends(current_user)]
    Changer = Annotated[User, Depends(mutating_user)]
    Admin = Annotated[User, Depends(admin_user)]
    Svc = Annotated[Services, Depends(svc)]

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

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        from azure.core.exceptions import AzureError

        if isinstance(exc, AzureError):
            log.warning("storage unavailable: %s", exc)
            return problem_response(
                Problem(
                    503,
                    "Storage unavailable",
                    "Table storage did not answer; try again.",
                    headers={"Retry-After": "5"},
                )
            )
        log.exception("unhandled error")
        return problem_response(Problem(500, "Internal Server Error", "Something broke on our side."))

    # --- routes -------------------------------------------------------------------------------------

    @app.get("/api/sizes", tags=["vms"], responses=errors())
    def get_sizes(user: Caller, svc: Svc) -> SizeList:
        """The sizes you may create, with vCPUs, memory and hourly Linux pay-as-you-go price."""
        return operations.sizes(svc, user)

    @app.get("/api/costs", tags=["costs"], responses=errors())
    def get_costs(
        user: Caller,
        svc: Svc,
        month: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM, UTC")] = None,
        owner: Annotated[str | None, Query(max_length=256, description="Admins: only this owner")] = None,
    ) -> CostReport:
        """Cost per VM and per owner for a month (default: this month), as accrued by the sweeper."""
        return operations.month_report(svc, user, month or month_of(svc.clock()), owner)

    @app.get("/api/health", tags=["health"], responses={503: ERRORS[503]})
    def health(svc: Svc) -> JSONResponse:
        """Anonymous liveness of Table storage and ARM."""
        checks: dict[str, str] = {}
        for name, ping in (("storage", svc.store.ping), ("arm", svc.arm.ping)):
            try:
                ping()
                checks[name] = "ok"
            except Exception as exc:
                log.warning("health: %s down: %s", name, exc)
                checks[name] = f"down: {type(exc).__name__}"
        down = [name for name, status in checks.items() if status != "ok"]
        if down:
            body = Problem(503, "Unavailable", f"{' and '.join(down)} unreachable").content() | {"checks": checks}
            return JSONResponse(body, status_code=503, media_type=PROBLEM_JSON)
        return JSONResponse({"status": "ok", "checks": checks})

    @app.get("/api/me", tags=["identity"], responses=errors(502))
    def me(user: Caller, svc: Svc) -> Me:
        """Who the caller is, their role, and their usage against each limit."""
        policy = svc.policy_for(user.name)
        records = svc.store.list_vms(owner=user.name, include_deleted=True)
        held = usage(records, svc.arm.size_vcpus(), month_of(svc.clock()))
        return Me(
            user=user.name,
            role="admin" if user.is_admin else "user",
            usage={
                "vms": Limit(used=held.vms, limit=policy.max_vms_per_user),
                "vcpus": Limit(used=held.vcpus, limit=policy.max_vcpus_per_user),
                "month_usd": Limit(used=round(held.month_usd, 2), limit=policy.monthly_budget_usd),
            },
            policy=policy,
        )

    @app.post("/api/tokens", status_code=201, tags=["identity"], responses=errors(403, *CHANGES))
    def create_token(body: NewToken, admin: Admin, svc: Svc) -> IssuedToken:
        """Issue a personal API token. The token is shown in this answer only; it is stored as a hash."""
        expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
        token_id, token = issue_token(svc.store, body.user.lower(), body.admin, expires, body.note)
        info = next(t for t in list_tokens(svc.store, body.user.lower()) if t.id == token_id)
        return IssuedToken(**info.model_dump(), token=token)

    @app.get("/api/tokens", tags=["identity"], responses=errors(403))
    def get_tokens(admin: Admin, svc: Svc, user: Annotated[str | None, Query(max_length=256)] = None) -> TokenList:
        """Every token's metadata (never the token itself)."""
        return TokenList(value=list_tokens(svc.store, user))

    @app.delete("/api/tokens/{token_id}", status_code=204, tags=["identity"], responses=errors(403, 404, *CHANGES))
    def delete_token(token_id: str, admin: Admin, svc: Svc) -> Response:
        """Revoke a token at once."""
        if not revoke_token(svc.store, token_id):
            raise Problem(404, "Not Found", f"no token with id '{token_id}'")
        return Response(status_code=204)

    @app.get("/api/policy", tags=["policy"], responses=errors())
    def get_policy(user: Caller, svc: Svc, response: Response) -> Policy:
        """The team policy. Its `ETag` goes in `If-Match` when an admin changes it."""
        policy, etag = svc.team_policy()
        response.headers["ETag"] = etag or DEFAULTS_ETAG
        return policy

    @app.put("/api/policy", tags=["policy"], responses=errors(403, 412, 428, *CHANGES))
    def put_policy(
        body: Policy,
        admin: Admin,
        svc: Svc,
        response: Response,
        if_match: Annotated[str | None, Header(description="The ETag from GET /api/policy")] = None,
    ) -> Policy:
        """Replace the team policy (admins). A stale `If-Match` → 412, so two admins cannot overwrite each other."""
        etag = write_doc(svc, POLICY_PARTITION, TEAM_POLICY, body.model_dump_json(), if_match)
        response.headers["ETag"] = etag
        return body

    @app.get("/api/policy/users/{user}", tags=["policy"], responses=errors(403))
    def get_override(user: str, admin: Admin, svc: Svc, response: Response) -> PolicyOverride:
        """One user's exceptions to the team policy (empty if none)."""
        override, etag = svc.override(user.lower())
        response.headers["ETag"] = etag or DEFAULTS_ETAG
        return override or PolicyOverride()

    @app.put("/api/policy/users/{user}", tags=["policy"], responses=errors(403, 412, 428, *CHANGES))
    def put_override(
        user: str,
        body: PolicyOverride,
        admin: Admin,
        svc: Svc,
        response: Response,
        if_match: Annotated[str | None, Header()] = None,
    ) -> PolicyOverride:
        """Set one user's exceptions (admins), ETag-checked like the team policy."""
        response.headers["ETag"] = write_doc(svc, OVERRIDE_PARTITION, user.lower(), body.model_dump_json(), if_match)
        return body

    @app.post(
        "/api/vms",
        status_code=202,
        tags=["vms"],
        responses=errors(400, 409, 502, *CHANGES),
    )
    def create_vm(
        body: CreateVm,
        request: Request,
        response: Response,
        user: Changer,
        svc: Svc,
        idempotency_key: Annotated[
            str | None,
            Header(max_length=idempotency.MAX_KEY_LENGTH, description="Retry-safe: same key + body → same answer"),
        ] = None,
    ) -> VmView:
        """Create a Data Science VM. Answers 202 at once; poll the `Location` until `state` is Running."""
        caller_ip = client_ip(request)
        if idempotency_key is None:
            record = operations.create(svc, user, body, caller_ip)
            response.headers["Location"] = f"/api/vms/{record.name}"
            return operations.view(record)
        return idempotent_create(svc, user, body, caller_ip, idempotency_key)  # type: ignore[return-value]

    @app.get("/api/vms", tags=["vms"], responses=errors(), response_model=VmList)
    def list_vms(
        user: Caller,
        svc: Svc,
        owner: Annotated[str | None, Query(max_length=256, description="Admins: only this owner's VMs")] = None,
        include_deleted: bool = False,
    ) -> Response:
        """Your VMs (admins: everyone's), with power state from one group-wide ARM list (at most 10 s old)."""
        # Serialised here, once: letting FastAPI re-validate a thousand views would double the cost.
        views = VmList(value=operations.list_views(svc, user, owner, include_deleted))
        return Response(views.model_dump_json(), media_type="application/json")

    @app.get("/api/vms/{name}", tags=["vms"], responses=errors(404, 502), response_model=VmView)
    def get_vm(name: str, user: Caller, svc: Svc) -> Response:
        """One VM: record, live power state, public IP, JupyterHub/RStudio URLs, ssh command, cost and burn rate."""
        record = operations.refresh(svc, operations.owned(svc, user, name))
        view = operations.view(record, operations.known_prices(svc), svc.clock())
        return Response(view.model_dump_json(), media_type="application/json")

    @app.delete(
        "/api/vms/{name}",
        status_code=202,
        tags=["vms"],
        responses=errors(400, 404, 409, 502, *CHANGES),
    )
    def delete_vm(name: str, response: Response, user: Changer, svc: Svc) -> VmView:
        """Delete the VM and everything it owns (NIC, public IP, OS disk, NSG). The record stays as a tombstone."""
        record = operations.act(svc, user, name, "delete")
        response.headers["Location"] = f"/api/vms/{record.name}"
        return operations.view(record)

    @app.post(
        "/api/vms/{name}/snooze",
        tags=["vms"],
        responses=errors(404, 409, *CHANGES),
    )
    def snooze_vm(name: str, body: SnoozeRequest, user: Changer, svc: Svc) -> VmView:
        """Postpone schedule, time-limit and idle stops by `hours` (within policy). Budget caps still apply."""
        return operations.view(operations.snooze(svc, user, name, body.hours))

    @app.post(
        "/api/vms/{name}/{action}",
        status_code=202,
        tags=["vms"],
        responses=errors(400, 404, 409, 502, *CHANGES),
    )
    def power(
        name: str, action: Literal["start", "stop", "restart"], response: Response, user: Changer, svc: Svc
    ) -> VmView:
        """start, stop (deallocate: compute billing stops) or restart."""
        record = operations.act(svc, user, name, action)
        response.headers["Location"] = f"/api/vms/{record.name}"
        return operations.view(record)

    @app.get("/api/vms/{name}/events", tags=["vms"], responses=errors(404))
    def events(name: str, user: Caller, svc: Svc, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> EventList:
        """The audit trail, newest first."""
        record = operations.owned(svc, user, name)
        return EventList(value=svc.store.list_events(record.id, limit))

    return app


DEFAULTS_ETAG = '"defaults"'


def write_doc(svc: Services, partition: str, row: str, doc: str, if_match: str | None) -> str:
    if not if_match:
        raise Problem(428, "Precondition Required", "Send the ETag from the last GET in If-Match.")
    try:
        return svc.store.put_doc(partition, row, doc, None if if_match == DEFAULTS_ETAG else if_match)
    except Stale:
        raise Problem(412, "Precondition Failed", "It changed since you read it; GET it again and retry.") from None


class Limit(BaseModel):
    used: float
    limit: float


class Me(BaseModel):
    user: str
    role: Literal["admin", "user"]
    usage: dict[str, Limit]
    policy: Policy


class NewToken(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"user": "ana@example.com", "expires_in_days": 90}]}
    )

    user: str = Field(min_length=3, max_length=256, pattern=r"^[^\s/\\#?']+$")
    admin: bool = False
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    note: str = Field(default="", max_length=200)


class IssuedToken(TokenInfo):
    token: str = Field(description="Shown once; store it in a secret manager")


class TokenList(BaseModel):
    value: list[TokenInfo]


def client_ip(request: Request) -> str | None:
    # Azure's front end puts the caller first in X-Forwarded-For, sometimes with a port.
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        first = forwarded.split(",")[0].strip()
        return first.rsplit(":", 1)[0] if first.count(":") == 1 else first
    return request.client.host if request.client else None


def idempotent_create(svc: Services, user: User, body: CreateVm, caller_ip: str | None, key: str) -> JSONResponse:
    raw = body.model_dump(mode="json", exclude={"admin_password"})
    if body.admin_password is not None:
        raw["admin_password"] = body.admin_password.get_secret_value()
    key_hash = idempotency.key_hash(key)
    now = svc.clock()
    salt = idempotency.new_salt()
    fingerprint = idempotency.fingerprint(raw, salt)
    stored = svc.store.claim_idempotency(user.name, key_hash, fingerprint, salt, now)
    if (
        stored is not None
        and idempotency.expired(stored.created_at, now)
        and svc.store.replace_idempotency(user.name, key_hash, fingerprint, salt, now, stored.created_at)
    ):
        stored = None
    if stored is not None:
        if not idempotency.same_request(stored.fingerprint, raw, stored.salt):
            raise Problem(
                422,
                "Idempotency-Key reused",
                "This Idempotency-Key was used with a different body; use a new key for a new request.",
                errors=[FieldProblem(field="Idempotency-Key", message="already used with another body")],
            )
        if stored.status is None or stored.body is None:
            raise Problem(409, "Conflict", "A request with this Idempotency-Key is still in progress.")
        import json

        replay = json.loads(stored.body)
        headers = {"Idempotent-Replayed": "true"}
        if stored.status == 202:
            headers["Location"] = f"/api/vms/{replay['name']}"
        media = "application/json" if stored.status < 400 else PROBLEM_JSON
        return JSONResponse(replay, status_code=stored.status, headers=headers, media_type=media)
    try:
        record = operations.create(svc, user, body, caller_ip)
    except Problem as problem:
        if problem.status >= 500:
            svc.store.release_idempotency(user.name, key_hash)
        else:
            svc.store.finish_idempotency(user.name, key_hash, problem.status, problem.content())
        raise
    except Exception:
        svc.store.release_idempotency(user.name, key_hash)
        raise
    content = operations.view(record).model_dump(mode="json")
    svc.store.finish_idempotency(user.name, key_hash, 202, content)
    return JSONResponse(content, status_code=202, headers={"Location": f"/api/vms/{record.name}"})


def app_from_env() -> FastAPI:
    """For `uvicorn --factory shared.api.app:app_from_env` (the local stack)."""
    from shared.settings import get_settings

    return create_app(get_settings())
