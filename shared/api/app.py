"""The HTTP API (FastAPI): the app factory. Routes live in `shared.api.routers`, one module per resource;
the caller, services and rate limit are dependencies in `shared.api.deps`; error answers in `shared.api.errors`.

Handlers are thin: they resolve the caller, call the shells (`shared.operations`) and shape the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI

from shared.api.docs import OPENAPI_URL, install_docs
from shared.api.errors import install_handlers
from shared.api.ratelimit import RateLimiter
from shared.api.routers import activity, costs, health, me, policy, tokens, vms
from shared.services import ServiceHolder, Services
from shared.settings import Settings

TAGS = [
    {"name": "vms", "description": "Create, use, stop and delete your Data Science VMs; the sizes you may create"},
    {"name": "costs", "description": "What VMs have cost, per VM and per owner, by month"},
    {"name": "admin", "description": "Admins: personal API tokens and the team policy"},
    {"name": "identity", "description": "Who you are, your limits and your usage"},
    {"name": "health", "description": "Liveness of Table storage and ARM (no token needed)"},
]


def create_app(settings: Settings, services: Callable[[], Services] | None = None) -> FastAPI:
    app = FastAPI(
        title="DSVM control plane",
        version="0.1.0",
        description=(
            "Create, use and delete Azure Data Science VMs (JupyterHub on 8000, SSH, 8787 for an RStudio Server). "
            "Every VM has a record; the sweeper deallocates idle, expired, over-budget and after-hours VMs. "
            "Errors are `application/problem+json` (RFC 9457)."
        ),
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        openapi_tags=TAGS,
    )
    app.state.services = services or ServiceHolder(settings)
    app.state.limiter = RateLimiter(settings.rate_limit_per_minute)
    install_handlers(app)
    install_docs(app)
    for router in (costs.router, health.router, me.router, tokens.router, policy.router, vms.router, activity.router):
        app.include_router(router)
    return app


def app_from_env() -> FastAPI:
    """For `uvicorn --factory shared.api.app:app_from_env` (the local stack)."""
    from shared.settings import get_settings

    # The Azure SDKs log every request's headers at INFO; a server logging at INFO would print them all.
    logging.getLogger("azure").setLevel(logging.WARNING)
    return create_app(get_settings())
