"""RFC 9457 problem details: the one error shape the API answers with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from shared.core.observations import ArmError

PROBLEM_JSON = "application/problem+json"


class FieldProblem(BaseModel):
    field: str = Field(description="Dotted path of the field at fault, e.g. `allowed_cidrs.0`")
    message: str


class ProblemBody(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldProblem] | None = None
    code: str | None = Field(default=None, description="Azure's error code, when Azure refused")


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        errors: list[FieldProblem] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        type_: str = "about:blank",
    ) -> None:
        super().__init__(detail or title)
        self.body = ProblemBody(type=type_, title=title, status=status, detail=detail, errors=errors, code=code)
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return self.body.status

    def content(self) -> dict[str, Any]:
        return self.body.model_dump(exclude_none=True)


def not_found(name: str) -> Problem:
    return Problem(404, "Not Found", f"no VM named '{name}'")


def from_arm(error: ArmError, doing: str) -> Problem:
    """What to tell the caller when ARM refused or failed `doing` (e.g. 'create the VM')."""
    code, message = error.code, error.message
    if code == "QuotaExceeded" or "quota" in message.lower():
        return Problem(
            409,
            "Quota exceeded",
            f"Azure refused to {doing}: {message} Choose a smaller size, stop or delete another VM, "
            "or ask an admin to raise the regional vCPU quota.",
            code=code,
        )
    if code in (
        "SkuNotAvailable",
        "AllocationFailed",
        "ZonalAllocationFailed",
        "OverconstrainedAllocationRequest",
    ):
        return Problem(
            409,
            "Size not available",
            f"Azure could not {doing}: {message} Choose another size or try again later.",
            code=code,
        )
    if error.status == 429:
        retry = str(error.retry_after or 30)
        return Problem(
            503,
            "Azure is throttling requests",
            f"Azure throttled the request to {doing}; try again in {retry} s.",
            code=code,
            headers={"Retry-After": retry},
        )
    if error.status == 409:
        # Another operation on the resource is still running: the same call succeeds once it has finished.
        busy = {"Retry-After": str(error.retry_after or 15)} if code == "AnotherOperationInProgress" else None
        return Problem(409, "Conflict", f"Azure refused to {doing}: {message}", code=code, headers=busy)
    if error.status in (401, 403):
        return Problem(
            502,
            "Azure refused the control plane",
            f"Azure refused the control plane's own identity the right to {doing} ({code}); tell an admin.",
            code=code,
        )
    if 400 <= error.status < 500:
        return Problem(400, "Azure refused the request", f"Azure refused to {doing}: {message}", code=code)
    return Problem(
        503,
        "Azure is unavailable",
        f"Could not {doing}: Azure did not answer ({code}). Nothing was changed; try again in a few seconds.",
        code=code,
        headers={"Retry-After": "10"},
    )
