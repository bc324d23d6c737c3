"""`/api/policy`: the team policy and per-user overrides, ETag-checked so admins never overwrite each other."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from shared.api.deps import Admin, Caller, Svc
from shared.api.errors import ApiRoute, Responses, errors
from shared.azure.tables import Stale
from shared.core.policy import Policy, PolicyOverride
from shared.core.problems import Problem
from shared.services import OVERRIDE_PARTITION, POLICY_PARTITION, TEAM_POLICY, Services

router = APIRouter(prefix="/api/policy", tags=["admin"], route_class=ApiRoute)

ETAG = {"ETag": {"description": "Send it in `If-Match` to change this document", "schema": {"type": "string"}}}
WITH_ETAG: Responses = {200: {"description": "The document; its version in `ETag`", "headers": ETAG}}

DEFAULTS_ETAG = '"defaults"'


def write_doc(svc: Services, partition: str, row: str, doc: str, if_match: str | None) -> str:
    if not if_match:
        raise Problem(428, "Precondition Required", "Send the ETag from the last GET in If-Match.")
    try:
        return svc.store.put_doc(partition, row, doc, None if if_match == DEFAULTS_ETAG else if_match)
    except Stale:
        raise Problem(412, "Precondition Failed", "It changed since you read it; GET it again and retry.") from None


@router.get("", summary="The team policy", operation_id="getPolicy", responses=WITH_ETAG)
def get_policy(user: Caller, svc: Svc, response: Response) -> Policy:
    """The team policy. Its `ETag` goes in `If-Match` when an admin changes it."""
    policy, etag = svc.team_policy()
    response.headers["ETag"] = etag or DEFAULTS_ETAG
    return policy


@router.put(
    "", summary="Replace the team policy", operation_id="putPolicy", responses={**WITH_ETAG, **errors(412, 428)}
)
def put_policy(
    body: Policy,
    admin: Admin,
    svc: Svc,
    response: Response,
    if_match: Annotated[str | None, Header(description="The ETag from GET /api/policy")] = None,
) -> Policy:
    """Replace the team policy (admins). A stale `If-Match` → 412, so two admins cannot overwrite each other."""
    response.headers["ETag"] = write_doc(svc, POLICY_PARTITION, TEAM_POLICY, body.model_dump_json(), if_match)
    return body


@router.get(
    "/users/{user}", summary="One user's policy overrides", operation_id="getPolicyOverride", responses=WITH_ETAG
)
def get_override(user: str, admin: Admin, svc: Svc, response: Response) -> PolicyOverride:
    """One user's exceptions to the team policy (empty if none)."""
    override, etag = svc.override(user.lower())
    response.headers["ETag"] = etag or DEFAULTS_ETAG
    return override or PolicyOverride()


@router.put(
    "/users/{user}",
    summary="Set one user's policy overrides",
    operation_id="putPolicyOverride",
    responses={**WITH_ETAG, **errors(412, 428)},
)
def put_override(
    user: str,
    body: PolicyOverride,
    admin: Admin,
    svc: Svc,
    response: Response,
    if_match: Annotated[str | None, Header(description="The ETag from GET /api/policy/users/{user}")] = None,
) -> PolicyOverride:
    """Set one user's exceptions (admins), ETag-checked like the team policy."""
    response.headers["ETag"] = write_doc(svc, OVERRIDE_PARTITION, user.lower(), body.model_dump_json(), if_match)
    return body
