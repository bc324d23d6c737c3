"""The dependencies every route declares: the services, the caller, the rate limit, admin-only.

The app keeps its services provider and rate limiter on `app.state` (set by `create_app`), so routers need
no closure over them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.api.ratelimit import RateLimiter
from shared.auth import easy_auth_user, resolve_token
from shared.core.models import User
from shared.core.problems import Problem
from shared.services import Services

bearer = HTTPBearer(auto_error=False, description="A personal API token: `dsvm_...`")


async def services(request: Request) -> Services:
    # async: a plain call, so it need not hop to the thread pool like blocking dependencies do.
    provider = request.app.state.services
    svc: Services = provider()
    return svc


Svc = Annotated[Services, Depends(services)]


def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    svc: Svc,
) -> User:
    settings = svc.settings
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


Caller = Annotated[User, Depends(current_user)]


def mutating_user(request: Request, user: Caller) -> User:
    limiter: RateLimiter = request.app.state.limiter
    wait = limiter.check(user.name)
    if wait:
        raise Problem(
            429,
            "Too Many Requests",
            f"At most {limiter.per_minute} changes a minute per person; try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    return user


def admin_user(user: Caller) -> User:
    if not user.is_admin:
        raise Problem(403, "Forbidden", "Only admins may do this.")
    return user


Changer = Annotated[User, Depends(mutating_user)]
Admin = Annotated[User, Depends(admin_user)]
