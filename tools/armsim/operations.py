"""Async operation status URLs: Azure-AsyncOperation (a status body) and Location (202 until done)."""

from __future__ import annotations

from typing import Any

from .context import SimContext
from .errors import ArmError
from .http import Request, Response, Router
from .ids import operation_urls
from .state import Operation


class OperationsProvider:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx

    def register(self, router: Router) -> None:
        for scope in ("/subscriptions/{sub}", "/subscriptions/{sub}/resourceGroups/{rg}"):
            base = scope + "/providers/{ns}/locations/{loc}"
            router.add("GET", base + "/operations/{opid}", "Operations_Get", self.get)
            router.add("GET", base + "/operationResults/{opid}", "OperationResults_Get", self.result)

    def _op(self, p: dict[str, str]) -> Operation:
        op = self.ctx.store.operations.get(p["opid"].lower())
        if op is None or op.provider.lower() != p["ns"].lower():
            raise ArmError(404, "NotFound", f"The operation '{p['opid']}' was not found.")
        return op

    def get(self, req: Request, p: dict[str, str]) -> Response:
        op = self._op(p)
        if req.flag("monitor"):
            return self._location_poll(req, op)
        return Response.json(200, self.status_body(op), self._retry_after(op))

    def result(self, req: Request, p: dict[str, str]) -> Response:
        return self._location_poll(req, self._op(p))

    def status_body(self, op: Operation) -> dict[str, Any]:
        body: dict[str, Any] = {"name": op.id, "status": op.status, "startTime": op.start.isoformat()}
        if op.provider == "Microsoft.Network":
            body = {"status": op.status}
        elif op.end is not None:
            body["endTime"] = op.end.isoformat()
        if op.error is not None:
            body["error"] = {"code": op.error.code, "message": op.error.message}
            if op.error.details:
                body["error"]["details"] = op.error.details
        return body

    def _location_poll(self, req: Request, op: Operation) -> Response:
        if op.status == "InProgress":
            _, location = operation_urls(req.base_url, op, req.api_version)
            return Response(202, headers={"Location": location, **self._retry_after(op)})
        if op.error is not None:
            return Response.error(op.error)
        return Response(204 if op.is_delete and op.provider == "Microsoft.Network" else 200)

    def _retry_after(self, op: Operation) -> dict[str, str]:
        seconds = op.retry_after or self.ctx.config.retry_after_seconds
        return {"Retry-After": str(seconds)} if seconds > 0 and op.status == "InProgress" else {}
