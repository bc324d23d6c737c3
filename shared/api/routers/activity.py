"""`POST /api/vms/{name}/activity`: a VM's activity agent (or its owner) reports user activity.

Reports are not changes: they never count against the per-person rate limit (an agent on each of a user's VMs
reports every few minutes), and they are kept in their own table, so heartbeats never contend with the
record writes of the API, the worker and the sweeper.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from shared import operations
from shared.api.deps import Svc, bearer, current_user
from shared.api.errors import ApiRoute, errors
from shared.auth import AGENT_TOKEN_PREFIX, agent_may_report
from shared.core.activity import ActivityReport
from shared.core.problems import Problem, not_found

router = APIRouter(prefix="/api/vms", tags=["vms"], route_class=ApiRoute)


@router.post(
    "/{name}/activity",
    status_code=204,
    summary="Report user activity on a VM",
    operation_id="reportVmActivity",
    responses=errors(401, 404),
    response_class=Response,
)
def report_activity(
    name: str,
    body: ActivityReport,
    request: Request,
    svc: Svc,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Response:
    """When a person last gave input on the VM (SSH, JupyterHub, RStudio) and how busy it is (kernels, GPU,
    load): times and counters, no content. Sent every few minutes by the VM's activity agent with its own
    token (good for this VM only), or by the owner's token ("I am working"). The latest report counts: the
    sweeper does not stop a VM someone is using, and moves its time limit while they are active."""
    token = credentials.credentials if credentials is not None else ""
    if token.startswith(AGENT_TOKEN_PREFIX):
        record = svc.store.get_vm(name)
        if record is None or not agent_may_report(record, token):
            raise Problem(
                401,
                "Unauthorized",
                "This agent token is not the VM's.",
                headers={"WWW-Authenticate": 'Bearer realm="dsvm"'},
            )
    else:
        record = operations.owned(svc, current_user(request, credentials, svc), name)
    if record.state.value == "Deleted":
        raise not_found(name)
    operations.record_activity(svc, record, body)
    return Response(status_code=204)
