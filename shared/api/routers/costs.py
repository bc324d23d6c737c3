"""`/api/sizes` and `/api/costs`: what VMs may be created at what price, and what they have cost."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shared import operations
from shared.api.deps import Caller, Svc
from shared.api.errors import ApiRoute
from shared.core.costs import month_of
from shared.core.models import CostReport, SizeList, worded

router = APIRouter(prefix="/api", route_class=ApiRoute)


@router.get("/sizes", tags=["vms"], summary="Sizes you may create, with prices", operation_id="listSizes")
def get_sizes(user: Caller, svc: Svc) -> SizeList:
    """The sizes you may create, with vCPUs, memory and hourly Linux pay-as-you-go price."""
    return operations.sizes(svc, user)


@router.get("/costs", tags=["costs"], summary="Cost per VM and per owner for a month", operation_id="getCosts")
def get_costs(
    user: Caller,
    svc: Svc,
    month: Annotated[
        str | None,
        Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM, UTC; default: this month"),
        worded("a month as YYYY-MM, such as 2026-11"),
    ] = None,
    owner: Annotated[str | None, Query(max_length=256, description="Admins: only this owner")] = None,
) -> CostReport:
    """Cost per VM and per owner for a month (default: this month), as accrued by the sweeper."""
    return operations.month_report(svc, user, month or month_of(svc.clock()), owner)
