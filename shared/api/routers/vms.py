"""`/api/vms`: create, list, read, change, delete, power actions, snooze, password reset and the audit trail."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from shared import operations
from shared.api import idempotency
from shared.api.deps import Caller, Changer, Svc
from shared.api.errors import ApiRoute, Responses, errors
from shared.core.lifecycle import Action
from shared.core.models import (
    CreateVm,
    EventList,
    NewVm,
    PasswordReset,
    PasswordResetAccepted,
    SnoozeRequest,
    User,
    VmList,
    VmRecord,
    VmSettings,
    VmView,
)
from shared.core.problems import PROBLEM_JSON, FieldProblem, Problem
from shared.services import Services

router = APIRouter(prefix="/api/vms", tags=["vms"], route_class=ApiRoute)

LOCATION = {"Location": {"description": "The VM to poll: `/api/vms/{name}`", "schema": {"type": "string"}}}
REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored first answer to the same Idempotency-Key and body",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
ACCEPTED: Responses = {202: {"description": "Accepted: poll the `Location` until `state` settles", "headers": LOCATION}}

MERGE_PATCH = "application/merge-patch+json"


def patch_schema() -> dict[str, Any]:
    """The PATCH body as OpenAPI shows it: any of the settings, each nullable (null: back to its default)."""
    schema = VmSettings.model_json_schema(ref_template="#/components/schemas/{model}")
    properties = {
        name: {"anyOf": [*(prop.get("anyOf") or [{k: v for k, v in prop.items() if k != "default"}]), {"type": "null"}]}
        | {k: prop[k] for k in ("title", "description") if k in prop}
        for name, prop in schema["properties"].items()
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "description": "A JSON merge patch (RFC 7396) of the VM's settings: objects merge member by member, null "
        "removes a member so it takes its default as at create (no expiry, budget or schedule; the default idle "
        "rule; the policy's ttl_hours; your /32 for allowed_cidrs).",
        "examples": [{"ttl_hours": 10, "budget_usd": 80, "schedule": {"stop_at": "21:00"}, "expires_at": None}],
    }


@router.post(
    "",
    status_code=202,
    summary="Create a VM",
    operation_id="createVm",
    responses={
        202: {"description": "Accepted: poll the `Location` until `state` is Running", "headers": LOCATION | REPLAYED},
        **errors(409, 502),
    },
)
def create_vm(
    body: CreateVm,
    request: Request,
    response: Response,
    user: Changer,
    svc: Svc,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=idempotency.MAX_KEY_LENGTH,
            description="Retry-safe creates: the same key and body within 24 h get the first answer again",
        ),
    ] = None,
) -> NewVm:
    """Create a Data Science VM. Answers 202 at once; poll the `Location` until `state` is Running (or Failed,
    with Azure's reason).

    With `generate_password` the answer carries the generated password in `admin_password`, once: it is
    stored nowhere, and a replay with the same Idempotency-Key does not carry it.
    """
    caller_ip = client_ip(request)
    if idempotency_key is None:
        record, password = operations.create(svc, user, body, caller_ip)
        response.headers["Location"] = f"/api/vms/{record.name}"
        return NewVm(**operations.view(record).model_dump(), admin_password=password)
    return idempotent_create(svc, user, body, caller_ip, idempotency_key)  # type: ignore[return-value]


@router.get("", summary="List your VMs", operation_id="listVms", response_model=VmList)
def list_vms(
    user: Caller,
    svc: Svc,
    owner: Annotated[str | None, Query(max_length=256, description="Admins: only this owner's VMs")] = None,
    include_deleted: Annotated[bool, Query(description="Include tombstones of deleted VMs")] = False,
) -> Response:
    """Your VMs (admins: everyone's), with power state from one group-wide ARM list (at most 10 s old)."""
    # Serialised here, once: letting FastAPI re-validate a thousand views would double the cost.
    views = VmList(value=operations.list_views(svc, user, owner, include_deleted))
    return Response(views.model_dump_json(), media_type="application/json")


@router.get("/{name}", summary="Show a VM", operation_id="getVm", responses=errors(404, 502), response_model=VmView)
def get_vm(name: str, user: Caller, svc: Svc) -> Response:
    """One VM: record, live power state, public IP, JupyterHub/RStudio URLs, ssh command, cost and burn rate,
    why it last stopped and when it will next be stopped. Its `ETag` goes in `If-Match` of a PATCH."""
    return vm_response(*operations.show(svc, user, name))


def vm_response(record: VmRecord, view: VmView) -> Response:
    headers = {"ETag": record.etag} if record.etag else None
    return Response(view.model_dump_json(), media_type="application/json", headers=headers)


@router.patch(
    "/{name}",
    summary="Change a VM's limits, schedule, idle rule or access",
    operation_id="changeVm",
    responses=errors(404, 409, 412),
    response_model=VmView,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {MERGE_PATCH: {"schema": patch_schema()}, "application/json": {"schema": patch_schema()}},
        }
    },
)
def change_vm(
    name: str,
    request: Request,
    user: Changer,
    svc: Svc,
    patch: Annotated[dict[str, Any], Body(media_type=MERGE_PATCH)],
    if_match: Annotated[str | None, Header(max_length=200, description="The ETag from GET /api/vms/{name}")] = None,
) -> Response:
    """Change a VM's time limit, expiry, budget, schedule, idle rule or allowed_cidrs (JSON merge patch; send
    `application/merge-patch+json` or `application/json`). Each is bounded by the owner's policy as at create
    (422 names the field); admins may change anyone's. Every change is evented old → new. New allowed_cidrs
    reach the VM's network security group through the queue worker. Raising budget_usd above the cost so far
    lets a VM stopped by its budget start again. With `If-Match`, a VM changed since that ETag → 412."""
    try:
        record = operations.change(svc, user, name, patch, if_match, client_ip(request))
    except ValidationError as exc:
        # The patched settings are malformed: answered like any invalid body, naming the fields.
        raise RequestValidationError(exc.errors()) from None
    return vm_response(record, operations.present_one(svc, record))


@router.delete(
    "/{name}",
    status_code=202,
    summary="Delete a VM",
    operation_id="deleteVm",
    responses={**ACCEPTED, **errors(400, 404, 409, 502)},
)
def delete_vm(name: str, response: Response, user: Changer, svc: Svc) -> VmView:
    """Delete the VM and everything it owns (NIC, public IP, OS disk, NSG). The record stays as a tombstone."""
    return accepted(svc, user, name, "delete", response)


@router.post(
    "/{name}/snooze",
    summary="Postpone automatic stops",
    operation_id="snoozeVm",
    responses=errors(404, 409),
    response_model=VmView,
)
def snooze_vm(name: str, body: SnoozeRequest, user: Changer, svc: Svc) -> Response:
    """Postpone schedule, time-limit and idle stops by `hours` (within policy). Budget caps and expiry still apply."""
    record = operations.snooze(svc, user, name, body.hours)
    return vm_response(record, operations.present_one(svc, record))


@router.post(
    "/{name}/password",
    status_code=202,
    summary="Reset the Linux password",
    operation_id="resetVmPassword",
    responses=errors(400, 404, 409, 502),
)
def reset_password(name: str, body: PasswordReset, user: Changer, svc: Svc) -> PasswordResetAccepted:
    """Reset the Linux password of the VM's admin user (JupyterHub, RStudio and ssh login) through the
    VMAccessForLinux extension. The VM must be running. Answers 202 once Azure has the request, with the
    generated password (only in this answer); the result appears in the VM's events, without the secret."""
    record, password = operations.reset_password(svc, user, name, body)
    return PasswordResetAccepted(name=record.name, admin_username=record.admin_username, password=password)


POWER: Responses = {**ACCEPTED, **errors(400, 404, 409, 502)}


@router.post("/{name}/start", status_code=202, summary="Start a VM", operation_id="startVm", responses=POWER)
def start_vm(name: str, response: Response, user: Changer, svc: Svc) -> VmView:
    """Start a stopped VM; compute billing resumes."""
    return accepted(svc, user, name, "start", response)


@router.post("/{name}/stop", status_code=202, summary="Stop (deallocate) a VM", operation_id="stopVm", responses=POWER)
def stop_vm(name: str, response: Response, user: Changer, svc: Svc) -> VmView:
    """Stop the VM and deallocate it: compute billing stops, the disk (and its cost) stays."""
    return accepted(svc, user, name, "stop", response)


@router.post("/{name}/restart", status_code=202, summary="Restart a VM", operation_id="restartVm", responses=POWER)
def restart_vm(name: str, response: Response, user: Changer, svc: Svc) -> VmView:
    """Restart a running VM in place."""
    return accepted(svc, user, name, "restart", response)


@router.get("/{name}/events", summary="A VM's audit trail", operation_id="listVmEvents", responses=errors(404))
def events(
    name: str,
    user: Caller,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many events")] = 200,
) -> EventList:
    """What happened to the VM and why (every automatic stop with its rule and evidence), newest first."""
    record = operations.owned(svc, user, name)
    return EventList(value=svc.store.list_events(record.id, limit))


def accepted(svc: Services, user: User, name: str, action: Action, response: Response) -> VmView:
    record = operations.act(svc, user, name, action)
    response.headers["Location"] = f"/api/vms/{record.name}"
    return operations.view(record)


def client_ip(request: Request) -> str | None:
    # Azure's front end puts the caller first in X-Forwarded-For, sometimes with a port.
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        first = forwarded.split(",")[0].strip()
        return first.rsplit(":", 1)[0] if first.count(":") == 1 else first
    return request.client.host if request.client else None


def idempotent_create(svc: Services, user: User, body: CreateVm, caller_ip: str | None, key: str) -> JSONResponse:
    """`Idempotency-Key`: the same key and body replay the first answer for 24 h.

    Only an accepted create (202) is stored as the answer: any failure releases the key, so the retry the
    failure advises really runs again. A claim whose request died mid-way (its instance was recycled) holds
    the key only for `CLAIM_LEASE`; a retry then takes it over and finishes the half-made create.
    """
    raw = body.model_dump(mode="json", exclude={"admin_password"})
    if body.admin_password is not None:
        raw["admin_password"] = body.admin_password.get_secret_value()
    key_hash = idempotency.key_hash(key)
    now = svc.clock()
    salt = idempotency.new_salt()
    fingerprint = idempotency.fingerprint(raw, salt)
    stored = svc.store.claim_idempotency(user.name, key_hash, fingerprint, salt, now)
    fresh = stored is not None and not idempotency.expired(stored.created_at, now)
    if stored is not None and fresh and not idempotency.same_request(stored.fingerprint, raw, stored.salt):
        raise Problem(
            422,
            "Idempotency-Key reused",
            "This Idempotency-Key was used with a different body; use a new key for a new request.",
            errors=[FieldProblem(field="Idempotency-Key", message="already used with another body")],
        )
    if stored is not None and fresh and stored.status is not None:
        replay = json.loads(stored.body or "{}")
        return JSONResponse(
            replay,
            status_code=stored.status,
            headers={"Idempotent-Replayed": "true", "Location": f"/api/vms/{replay.get('name', body.name)}"},
            # Answers stored before only 202s were kept may be problems.
            media_type="application/json" if stored.status < 400 else PROBLEM_JSON,
        )
    if stored is not None:
        if stored.status is None and not idempotency.claim_lapsed(stored.created_at, now):
            raise Problem(
                409,
                "Conflict",
                "A request with this Idempotency-Key is in progress; send it again in a few seconds.",
                headers={"Retry-After": str(idempotency.retry_after(stored.created_at, now))},
            )
        # A finished answer past its lifetime, or a claim whose request died: take the key over.
        if not svc.store.replace_idempotency(user.name, key_hash, fingerprint, salt, now, stored.created_at):
            raise Problem(
                409,
                "Conflict",
                "Another request with this Idempotency-Key just started; send it again in a few seconds.",
                headers={"Retry-After": "2"},
            )
    try:
        record, password = operations.create(svc, user, body, caller_ip, request_key=key_hash)
    except BaseException:
        svc.store.release_idempotency(user.name, key_hash)
        raise
    # What is kept for replays never holds the generated password.
    content = operations.view(record).model_dump(mode="json")
    svc.store.finish_idempotency(user.name, key_hash, 202, content)
    answer = {**content, "admin_password": password} if password else content
    return JSONResponse(answer, status_code=202, headers={"Location": f"/api/vms/{record.name}"})
