"""`/api/vms`: create, list, read, delete, power actions, snooze and the audit trail."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from shared import operations
from shared.api import idempotency
from shared.api.deps import Caller, Changer, Svc
from shared.api.errors import ApiRoute, Responses, errors
from shared.core.lifecycle import Action
from shared.core.models import CreateVm, EventList, SnoozeRequest, User, VmList, VmView
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
) -> VmView:
    """Create a Data Science VM. Answers 202 at once; poll the `Location` until `state` is Running (or Failed,
    with Azure's reason)."""
    caller_ip = client_ip(request)
    if idempotency_key is None:
        record = operations.create(svc, user, body, caller_ip)
        response.headers["Location"] = f"/api/vms/{record.name}"
        return operations.view(record)
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
    """One VM: record, live power state, public IP, JupyterHub/RStudio URLs, ssh command, cost and burn rate."""
    record = operations.refresh(svc, operations.owned(svc, user, name))
    view = operations.view(record, operations.known_prices(svc), svc.clock())
    return Response(view.model_dump_json(), media_type="application/json")


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
)
def snooze_vm(name: str, body: SnoozeRequest, user: Changer, svc: Svc) -> VmView:
    """Postpone schedule, time-limit and idle stops by `hours` (within policy). Budget caps still apply."""
    return operations.view(operations.snooze(svc, user, name, body.hours))


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
        record = operations.create(svc, user, body, caller_ip, request_key=key_hash)
    except BaseException:
        svc.store.release_idempotency(user.name, key_hash)
        raise
    content = operations.view(record).model_dump(mode="json")
    svc.store.finish_idempotency(user.name, key_hash, 202, content)
    return JSONResponse(content, status_code=202, headers={"Location": f"/api/vms/{record.name}"})
