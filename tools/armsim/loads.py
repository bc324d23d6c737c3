"""Guest load per VM as a step function of simulator time, set through the control API."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .clock import iso, parse_iso
from .errors import ArmError

EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


@dataclass(frozen=True)
class Load:
    cpu_percent: float = 0.0
    network_in_bytes_per_min: float = 0.0
    network_out_bytes_per_min: float = 0.0


IDLE = Load()


def _load(body: dict[str, Any], base: Load) -> Load:
    return Load(
        float(body.get("cpu_percent", base.cpu_percent)),
        float(body.get("network_in_bytes_per_min", base.network_in_bytes_per_min)),
        float(body.get("network_out_bytes_per_min", base.network_out_bytes_per_min)),
    )


class LoadBook:
    def __init__(self) -> None:
        self._series: dict[str, tuple[list[datetime], list[Load]]] = {}

    def set(self, vm_key: str, body: dict[str, Any]) -> None:
        """Without `history` the load is constant for all time; with it, each entry holds from its `from`."""
        try:
            base = _load(body, IDLE)
            starts, loads = [EPOCH], [base]
            for entry in sorted(body.get("history") or [], key=lambda e: parse_iso(str(e["from"]))):
                starts.append(parse_iso(str(entry["from"])))
                loads.append(_load(entry, loads[-1]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArmError(400, "InvalidLoad", f"Invalid load: {exc}") from exc
        self._series[vm_key.lower()] = (starts, loads)

    def at(self, vm_key: str, when: datetime) -> Load:
        series = self._series.get(vm_key.lower())
        if series is None:
            return IDLE
        starts, loads = series
        return loads[max(0, bisect.bisect_right(starts, when) - 1)]

    def describe(self, vm_key: str) -> list[dict[str, Any]]:
        starts, loads = self._series.get(vm_key.lower(), ([EPOCH], [IDLE]))
        return [{"from": iso(s), **vars(load)} for s, load in zip(starts, loads, strict=True)]

    def forget(self, vm_key: str) -> None:
        self._series.pop(vm_key.lower(), None)
