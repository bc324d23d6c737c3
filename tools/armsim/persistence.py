"""`--state-file`: the simulated world on disk, so a restart keeps every VM, NIC, IP and disk.

Saved as JSON (tagged where JSON has no type: times, sets, tuples, our dataclasses), at most about once a
second while something changes (less often for a world that takes long to save) and at shutdown, atomically
(a temporary file renamed over the old one).
Kept: resources with their runtime, in-flight operations and their due changes, loads, history, the public
IP allocator, the simulator clock and the live config. Not kept: faults, counters and throttle buckets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from .config import SimConfig
from .context import SimContext
from .errors import ArmError
from .history import HistoryBook, VmLedger, WriteRequest
from .ipam import PublicIpAllocator, SubnetAddresses
from .loads import Load, LoadBook
from .sizes import VmSize, find_size
from .state import Operation, Pending, Resource
from .vm import Child, VmRuntime

VERSION = 1
SAVE_EVERY_SECONDS = 1.0
_DATACLASSES: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (Resource, Operation, Pending, VmRuntime, Child, VmLedger, WriteRequest, Load)
}
_OBJECTS: dict[str, type[Any]] = {cls.__name__: cls for cls in (SubnetAddresses, PublicIpAllocator, LoadBook)}


class _Codec:
    def __init__(self, ledgers: list[VmLedger]) -> None:
        self.ledgers = ledgers
        self._ledger_index = {id(ledger): i for i, ledger in enumerate(ledgers)}

    def dump(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, datetime):
            return {"$dt": value.isoformat()}
        if isinstance(value, list):
            return [self.dump(v) for v in value]
        if isinstance(value, tuple):
            return {"$tuple": [self.dump(v) for v in value]}
        if isinstance(value, set):
            return {"$set": sorted(self.dump(v) for v in value)}
        if isinstance(value, dict):
            return (
                {"$dict": [[k, self.dump(v)] for k, v in value.items()]}
                if _tagged(value)
                else {k: self.dump(v) for k, v in value.items()}
            )
        if isinstance(value, VmLedger) and id(value) in self._ledger_index:
            return {"$ledger": self._ledger_index[id(value)]}
        if isinstance(value, VmSize):
            return {"$size": value.name}
        if isinstance(value, ipaddress.IPv4Network):
            return {"$net": str(value)}
        if isinstance(value, ArmError):
            return {"$error": [value.status, value.code, value.message, value.target, value.details, value.headers]}
        if dataclasses.is_dataclass(value) and type(value).__name__ in _DATACLASSES:
            return self.fields(value)
        if type(value).__name__ in _OBJECTS:
            return {"$obj": type(value).__name__, "state": self.dump(vars(value))}
        raise TypeError(f"cannot save {type(value).__name__}")

    def fields(self, value: Any) -> dict[str, Any]:
        out = {f.name: self.dump(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "body"}
        if isinstance(value, Resource):
            # A resource body is plain JSON already; walking it would cost most of a save.
            out["body"] = {"$raw": value.body}
        return {"$type": type(value).__name__, **out}

    def load(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.load(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "$raw" in value:
            return value["$raw"]
        if "$dt" in value:
            return datetime.fromisoformat(value["$dt"])
        if "$tuple" in value:
            return tuple(self.load(v) for v in value["$tuple"])
        if "$set" in value:
            return {self.load(v) for v in value["$set"]}
        if "$dict" in value:
            return {k: self.load(v) for k, v in value["$dict"]}
        if "$ledger" in value:
            return self.ledgers[value["$ledger"]]
        if "$size" in value:
            return find_size(value["$size"])
        if "$net" in value:
            return ipaddress.IPv4Network(value["$net"])
        if "$error" in value:
            status, code, message, target, details, headers = value["$error"]
            return ArmError(status, code, message, target=target, details=details, headers=headers)
        if "$type" in value:
            cls = _DATACLASSES[value["$type"]]
            return cls(**{k: self.load(v) for k, v in value.items() if k != "$type"})
        if "$obj" in value:
            obj = object.__new__(_OBJECTS[value["$obj"]])
            vars(obj).update(self.load(value["state"]))
            return obj
        return {k: self.load(v) for k, v in value.items()}


def _tagged(value: dict[Any, Any]) -> bool:
    """A dict whose keys are not all strings, or that could be mistaken for a tag."""
    return any(not isinstance(k, str) or k.startswith("$") for k in value)


def snapshot(ctx: SimContext) -> dict[str, Any]:
    codec = _Codec(ctx.history.ledgers)
    store = ctx.store
    return {
        "version": VERSION,
        "clock": {"now": ctx.now().isoformat(), "speed": ctx.clock.speed},
        "config": ctx.config.as_dict(),
        "history": {
            "ledgers": [codec.fields(ledger) for ledger in ctx.history.ledgers],
            "requests": codec.dump(ctx.history.requests),
        },
        "resources": codec.dump(list(store.resources.values())),
        "operations": codec.dump(list(store.operations.values())),
        "events": [[codec.dump(due), codec.dump(pending)] for due, _, pending in sorted(store.events)],
        "public_ips": codec.dump(ctx.public_ips),
        "loads": codec.dump(ctx.loads),
    }


def restore(ctx: SimContext, doc: dict[str, Any]) -> None:
    if doc.get("version") != VERSION:
        raise ValueError(f"state file version {doc.get('version')} is not {VERSION}")
    ctx.reset()
    ctx.config = SimConfig(**doc["config"])
    ledgers: list[VmLedger] = []
    codec = _Codec(ledgers)
    ledgers.extend(codec.load(entry) for entry in doc["history"]["ledgers"])
    ctx.history = HistoryBook()
    ctx.history.ledgers = ledgers
    ctx.history.requests = codec.load(doc["history"]["requests"])
    events = [(codec.load(due), codec.load(pending)) for due, pending in doc["events"]]
    ctx.store.restore(codec.load(doc["resources"]), codec.load(doc["operations"]), events)
    ctx.public_ips = codec.load(doc["public_ips"])
    ctx.loads = codec.load(doc["loads"])
    ctx.clock.set(datetime.fromisoformat(doc["clock"]["now"]))
    ctx.clock.set_speed(float(doc["clock"]["speed"]))


class StateFile:
    """Loads the world at start, saves it when it changed (debounced) and at shutdown."""

    def __init__(self, path: str | Path, ctx: SimContext) -> None:
        self.path = Path(path)
        self.ctx = ctx
        self._saved: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def load(self) -> bool:
        if not self.path.exists():
            return False
        restore(self.ctx, json.loads(self.path.read_text()))
        self._saved = self._generation()
        return True

    def _generation(self) -> tuple[int, int, int]:
        return (self.ctx.writes, id(self.ctx.store), self.ctx.store.applied)

    def save(self) -> None:
        generation = self._generation()
        text = json.dumps(snapshot(self.ctx), separators=(",", ":"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        self._saved = generation

    def save_if_changed(self) -> None:
        if self._generation() != self._saved:
            self.save()

    async def _loop(self) -> None:
        # Saving blocks the event loop, so a world that takes long to save is saved less often: the loop
        # spends at most about a fifth of its time saving.
        pause = SAVE_EVERY_SECONDS
        while True:
            await asyncio.sleep(pause)
            started = time.monotonic()
            self.save_if_changed()
            pause = max(SAVE_EVERY_SECONDS, 4 * (time.monotonic() - started))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.save_if_changed()
