"""Conditional writes: If-None-Match and If-Match on PUT and PATCH, for every resource type.

Compute documents `If-None-Match: *` as "allow a new resource to be created, but prevent updating an existing
one" (learn.microsoft.com/javascript/api/@azure/arm-compute/virtualmachinescreateorupdateoptionalparams) and
answers a failed condition with 412 PreconditionFailed, "Etag provided in if-match header "2" does not match
etag "3" of resource." (github.com/kubernetes-sigs/cloud-provider-azure/issues/9728)."""

from __future__ import annotations

from .errors import ArmError
from .http import Request
from .state import Store


def check(req: Request, store: Store) -> None:
    if req.method not in ("PUT", "PATCH"):
        return
    if_none_match = req.headers.get("if-none-match")
    if_match = req.headers.get("if-match")
    if if_none_match is None and if_match is None:
        return
    resource = store.get(req.path.rstrip("/"))
    etag = str(resource.body.get("etag") or "") if resource is not None else ""
    if if_none_match is not None and resource is not None and if_none_match.strip() in ("*", etag):
        raise _failed(
            f"Etag provided in if-none-match header {_quoted(if_none_match)} matches etag {_quoted(etag)} of resource."
        )
    if if_match is not None:
        if resource is None:
            raise _failed(
                f"Etag provided in if-match header {_quoted(if_match)} does not match: the resource does not exist."
            )
        if if_match.strip() not in ("*", etag):
            raise _failed(
                f"Etag provided in if-match header {_quoted(if_match)} does not match etag {_quoted(etag)} of resource."
            )


def _quoted(etag: str) -> str:
    etag = etag.strip()
    return etag if etag.startswith('"') or etag.startswith("W/") else f'"{etag}"'


def _failed(message: str) -> ArmError:
    return ArmError(412, "PreconditionFailed", message)
