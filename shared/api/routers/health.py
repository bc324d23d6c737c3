"""`/api/health`: anonymous liveness of Table storage and ARM."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shared.api.deps import Svc
from shared.api.errors import ApiRoute
from shared.core.problems import PROBLEM_JSON, Problem

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["health"], route_class=ApiRoute)


class Health(BaseModel):
    status: Literal["ok"] = Field(description="Both dependencies answered")
    checks: dict[str, str] = Field(description="Each dependency (storage, arm): ok")


@router.get(
    "/health",
    summary="Are storage and ARM reachable?",
    operation_id="getHealth",
    response_model=Health,
    responses={503: {"description": "Storage or ARM is down; `checks` says which and how"}},
)
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
