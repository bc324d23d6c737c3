"""The ASGI application: authentication, fault injection, throttling, counters and ARM's common
headers around the provider routers; /_sim/ is served without any of that."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from .compute import ComputeProvider
from .config import SimConfig
from .context import SimContext
from .control import ControlApi
from .errors import ArmError
from .extensions import ExtensionsProvider
from .history import WriteRequest
from .http import Request, Response, Route, Router
from .metrics import MetricsProvider
from .network import NetworkProvider
from .operations import OperationsProvider
from .persistence import StateFile
from .preconditions import check as check_preconditions
from .resources import ResourcesProvider
from .state import Resource
from .throttle import category
from .timing import kind_of
from .vm import VM_TYPE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_UNTHROTTLED = {"Metrics_Batch"}
_VM_PATH = re.compile(
    r"^(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/virtualMachines/([^/]+))(/|$)",
    re.IGNORECASE,
)


class ArmSimApp:
    def __init__(self, config: SimConfig, state_file: str | Path | None = None) -> None:
        self.ctx = SimContext(config)
        self.network = NetworkProvider(self.ctx)
        self.compute = ComputeProvider(self.ctx, self.network)
        self.groups = ResourcesProvider(self.ctx, self._delete_group_contents)
        self.arm = Router()
        self.groups.register(self.arm)
        self.compute.register(self.arm)
        ExtensionsProvider(self.ctx).register(self.arm)
        self.network.register(self.arm)
        OperationsProvider(self.ctx).register(self.arm)
        MetricsProvider(self.ctx).register(self.arm)
        self.control = Router()
        ControlApi(self.ctx, self.compute, self.network, self.groups).register(self.control)
        self.state = StateFile(state_file, self.ctx) if state_file else None
        if self.state is not None:
            self.state.load()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if self.state is not None:
                        self.state.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.state is not None:
                        await self.state.stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        req = Request(
            method=scope["method"],
            path=scope["path"],
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            scheme=scope.get("scheme", "https"),
        )
        response = await self.handle(req)
        payload = b"" if req.method == "HEAD" else response.body
        raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        raw_headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": payload})

    async def handle(self, req: Request) -> Response:
        if req.method not in ("GET", "HEAD"):
            self.ctx.writes += 1
        if req.path.startswith("/_sim/") or req.path == "/_sim":
            # What the control API shows is the world as of now, like any ARM read.
            self.ctx.store.tick(self.ctx.now())
            return await self._dispatch(self.control, req, counted=False)
        request_id = str(uuid.uuid4())
        common = {
            "x-ms-request-id": request_id,
            "x-ms-correlation-request-id": req.headers.get("x-ms-correlation-request-id", request_id),
            "x-ms-routing-request-id": f"SIMULATOR:{request_id}",
            "cache-control": "no-cache",
        }
        if req.headers.get("x-ms-client-request-id"):
            common["x-ms-client-request-id"] = req.headers["x-ms-client-request-id"]
        response = await self._dispatch(self.arm, req, counted=True)
        response.headers.update(common)
        return response

    async def _dispatch(self, router: Router, req: Request, *, counted: bool) -> Response:
        kind = category(req.method)
        caller = ""
        route: Route | None = None
        try:
            if counted:
                self.ctx.counters["__total__"] += 1
                caller = self._authenticate(req)
            found = router.match(req.method, req.path)
            if found is None:
                raise ArmError(
                    404,
                    "InvalidResourceType" if counted else "NotFound",
                    f"The resource type could not be found for path '{req.path}'.",
                )
            route, params = found
            if counted:
                fault = await self._inject_fault(req)
                if fault is not None:
                    self.ctx.counters[route.operation] += 1
                    raise fault
                self.ctx.store.tick(self.ctx.now())
                if not req.api_version:
                    raise ArmError(
                        400,
                        "MissingApiVersionParameter",
                        "The api-version query parameter (?api-version=) is required for all requests.",
                    )
                self.ctx.api_versions[req.api_version] += 1
                if route.operation not in _UNTHROTTLED:
                    self._throttle(caller, kind)
                self.ctx.counters[route.operation] += 1
                check_preconditions(req, self.ctx.store)
                await self._latency(req, route.operation)
            result = route.handler(req, params)
            response = await result if inspect.isawaitable(result) else result
        except ArmError as err:
            response = Response.error(err)
        if counted and route is not None:
            self._record_vm_write(req, route.operation, response)
        if counted and caller:
            remaining = self.ctx.throttle.peek(caller, kind, self.ctx.config.throttle_scale)
            response.headers.setdefault(f"x-ms-ratelimit-remaining-subscription-{kind}", str(remaining))
        return response

    async def _latency(self, req: Request, operation: str) -> None:
        """The profile's time before ARM answers; on the simulator clock, so `speed` shortens it."""
        exists = req.method == "PUT" and self.ctx.store.get(req.path.rstrip("/")) is not None
        seconds = self.ctx.timing(kind_of(operation, req.method, exists)).latency
        if seconds > 0:
            speed = self.ctx.clock.speed
            await asyncio.sleep(seconds / speed if speed > 0 else seconds)
            self.ctx.store.tick(self.ctx.now())

    def _record_vm_write(self, req: Request, operation: str, response: Response) -> None:
        found = _VM_PATH.match(req.path) if req.method not in ("GET", "HEAD") else None
        if found is None:
            return
        vm = self.ctx.store.get(found.group(1))
        code = None
        if response.status >= 400 and response.body:
            code = json.loads(response.body).get("error", {}).get("code")
        self.ctx.history.request(
            WriteRequest(
                self.ctx.now(),
                vm.id if vm is not None else found.group(1),
                vm.name if vm is not None else found.group(2),
                req.method,
                operation,
                response.status,
                code,
            )
        )

    def _authenticate(self, req: Request) -> str:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            missing = "authorization" not in req.headers
            detail = "is missing" if missing else "is provided in an invalid format"
            raise ArmError(
                401,
                "AuthenticationFailed",
                f"Authentication failed. The 'Authorization' header {detail}.",
                headers={
                    "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common", '
                    'error="invalid_token", error_description="The authentication failed because of missing '
                    "'Authorization' header.\""
                },
            )
        return hashlib.sha256(token.strip().encode()).hexdigest()[:16]

    async def _inject_fault(self, req: Request) -> ArmError | None:
        fault = self.ctx.faults.take(req.method, req.path)
        if fault is None:
            return None
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        return fault.error()

    def _throttle(self, caller: str, kind: str) -> None:
        if not self.ctx.config.throttle:
            return
        _, wait = self.ctx.throttle.take(caller, kind, self.ctx.config.throttle_scale)
        if wait:
            self.ctx.counters["Throttled"] += 1
            action = {"reads": "read", "writes": "write", "deletes": "delete"}[kind]
            raise ArmError(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of '{action}' requests for subscription actor '{caller}' exceeded. Please try again "
                f"after '{wait}' seconds after additional tokens are available. Refer to "
                "https://aka.ms/arm-throttling",
                details=[{"code": "TooManyRequests", "message": f"Retry after {wait} seconds."}],
                headers={"Retry-After": str(wait), f"x-ms-ratelimit-remaining-subscription-{kind}": "0"},
            )

    def _delete_group_contents(self, group: Resource) -> None:
        prefix = group.key + "/"
        doomed = [r for key, r in self.ctx.store.resources.items() if key.startswith(prefix)]
        for resource in doomed:
            if resource.type == VM_TYPE and self.ctx.store.get(resource.id) is not None:
                self.compute.remove_vm(resource, self.ctx.now())
        for resource in doomed:
            self.ctx.store.remove(resource.id)


def create_app(config: SimConfig | None = None, state_file: str | Path | None = None) -> ArmSimApp:
    return ArmSimApp(config or SimConfig(), state_file)
