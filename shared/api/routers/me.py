"""`/api/me`: who the caller is, their role, and their usage against each limit."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shared.api.deps import Caller, Svc
from shared.api.errors import ApiRoute, errors
from shared.core.costs import month_of
from shared.core.policy import Policy, usage

router = APIRouter(prefix="/api", tags=["identity"], route_class=ApiRoute)


class Limit(BaseModel):
    # Counts stay integers (3 VMs, not 3.0); money is a number.
    used: int | float = Field(description="What you hold (VMs, vCPUs) or spent (USD) now")
    limit: int | float = Field(description="What the policy allows you")


class Me(BaseModel):
    user: str = Field(description="Who you are")
    role: Literal["admin", "user"] = Field(description="admin: may see every VM, issue tokens and edit the policy")
    usage: dict[str, Limit] = Field(description="vms and vcpus allocated now; month_usd spent this month")
    policy: Policy = Field(description="The policy that applies to you, your overrides included")


@router.get("/me", summary="Who you are, your limits and usage", operation_id="getMe", responses=errors(502))
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
