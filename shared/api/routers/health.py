"""`/api/health`: anonymous liveness of Table storage and ARM."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shared.api.deps import Svc
from shared.api.errors import ERRORS
from shared.core.problems import PROBLEM_JSON, Problem

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", responses={503: ERRORS[503]})
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
