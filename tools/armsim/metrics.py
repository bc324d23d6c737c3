"""Azure Monitor platform metrics for VMs: the per-resource ARM endpoint
(GET {vm}/providers/Microsoft.Insights/metrics) and the batch data-plane endpoint used by
azure-monitor-querymetrics (POST /subscriptions/{sub}/metrics:getBatch, body {"resourceids": [...]}).

Each minute the guest was running yields one sample from the VM's load; minutes when it was not
running (or did not exist, or lie in the future) yield none, and their points carry only timeStamp,
as Azure Monitor answers for gaps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .context import SimContext
from .errors import ArmError, not_found
from .http import Request, Response, Router
from .ids import parse_id, resource_id
from .loads import Load
from .state import Resource
from .vm import VM_TYPE, runtime

NAMESPACE = "Microsoft.Compute/virtualMachines"
BATCH_LIMIT = 50
MAX_MINUTES = 31 * 24 * 60


@dataclass(frozen=True)
class MetricDef:
    name: str
    unit: str
    primary: str
    description: str
    field: str


_METRICS = [
    MetricDef("Percentage CPU", "Percent", "average",
              "The percentage of allocated compute units that are currently in use by the Virtual Machine(s)",
              "cpu_percent"),
    MetricDef("Network In Total", "Bytes", "total",
              "The number of bytes received on all network interfaces by the Virtual Machine(s) (Incoming Traffic)",
              "network_in_bytes_per_min"),
    MetricDef("Network Out Total", "Bytes", "total",
              "The number of bytes out on all network interfaces by the Virtual Machine(s) (Outgoing Traffic)",
              "network_out_bytes_per_min"),
    MetricDef("Network In", "Bytes", "total",
              "The number of billable bytes received on all network interfaces by the Virtual Machine(s)",
              "network_in_bytes_per_min"),
    MetricDef("Network Out", "Bytes", "total",
              "The number of billable bytes out on all network interfaces by the Virtual Machine(s)",
              "network_out_bytes_per_min"),
]  # fmt: skip
METRICS = {m.name.lower(): m for m in _METRICS}
AGGREGATIONS = {"average", "minimum", "maximum", "total", "count"}
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    found = _DURATION.match(text.strip())
    if not found or text.strip().upper() in ("P", "PT"):
        raise ArmError(400, "BadRequest", f"Invalid ISO 8601 duration: {text}")
    days, hours, minutes, seconds = (int(g or 0) for g in found.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    time_part = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    return out + ("T" + time_part if time_part else ("" if days else "T0S"))


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ArmError(400, "BadRequest", f"Invalid time: {text}") from exc
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class MetricsProvider:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx

    def register(self, router: Router) -> None:
        vm = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
        router.add("GET", vm + "/providers/Microsoft.Insights/metrics", "Metrics_List", self.list_metrics)
        router.add("POST", "/subscriptions/{sub}/metrics:getBatch", "Metrics_Batch", self.batch)

    def _names(self, raw: str | None) -> list[MetricDef]:
        names = [n.strip().replace("%2", ",") for n in (raw or "Percentage CPU").split(",") if n.strip()]
        out = []
        for name in names:
            metric = METRICS.get(name.lower())
            if metric is None:
                valid = ", ".join(m.name for m in _METRICS)
                raise ArmError(
                    400,
                    "BadRequest",
                    f"Failed to find metric configuration for provider: Microsoft.Compute, resource Type: "
                    f"virtualMachines, metric: {name}, Valid metrics: {valid}",
                )
            out.append(metric)
        return out

    @staticmethod
    def _aggregations(raw: str | None) -> list[str] | None:
        if not raw:
            return None
        wanted = [a.strip().lower() for a in raw.split(",") if a.strip()]
        bad = [a for a in wanted if a not in AGGREGATIONS]
        if bad:
            raise ArmError(400, "BadRequest", f"Invalid aggregation type(s): {', '.join(bad)}")
        return wanted

    def _timespan(self, raw: str | None) -> tuple[datetime, datetime]:
        now = self.ctx.now()
        if not raw:
            return now - timedelta(hours=1), now
        first, _, second = raw.partition("/")
        if not second:
            return now - parse_duration(first), now
        start = _parse_time(first)
        end = start + parse_duration(second) if second.upper().startswith("P") else _parse_time(second)
        return start, end

    def list_metrics(self, req: Request, p: dict[str, str]) -> Response:
        group = self.ctx.require_group(p["sub"], p["rg"])
        vm = self.ctx.store.get(resource_id(p["sub"], group.name, VM_TYPE, p["name"]))
        if vm is None:
            raise not_found(VM_TYPE, p["name"], p["rg"])
        namespace = req.param("metricnamespace")
        if namespace and namespace.lower() != NAMESPACE.lower():
            raise ArmError(400, "BadRequest", f"Metric namespace {namespace} is not valid for this resource.")
        start, end = self._timespan(req.param("timespan"))
        interval_raw = req.param("interval") or "PT1M"
        interval = end - start if interval_raw.upper() == "FULL" else parse_duration(interval_raw)
        metrics = self._names(req.param("metricnames"))
        aggregations = self._aggregations(req.param("aggregation"))
        values = [self._metric(vm, m, start, end, interval, aggregations) for m in metrics]
        body = {
            "cost": len(metrics) * max(1, int((end - start) / timedelta(minutes=1))),
            "timespan": f"{_stamp(start)}/{_stamp(end)}",
            "interval": format_duration(interval),
            "value": values,
            "namespace": NAMESPACE,
            "resourceregion": vm.location,
        }
        return Response.json(200, body)

    def batch(self, req: Request, p: dict[str, str]) -> Response:
        body = req.json_object()
        ids = body.get("resourceids")
        if not isinstance(ids, list) or not ids:
            raise ArmError(400, "BadRequest", "resourceids must be a non-empty list.")
        if len(ids) > BATCH_LIMIT:
            raise ArmError(
                400,
                "BadRequest",
                f"The number of resource ids in the request ({len(ids)}) exceeds the limit of {BATCH_LIMIT}.",
            )
        namespace = req.param("metricnamespace") or ""
        if namespace.lower() != NAMESPACE.lower():
            raise ArmError(400, "BadRequest", f"Metric namespace '{namespace}' is not supported.")
        now = self.ctx.now()
        start = _parse_time(req.param("starttime") or "") if req.param("starttime") else now - timedelta(hours=1)
        end = _parse_time(req.param("endtime") or "") if req.param("endtime") else now
        interval = parse_duration(req.param("interval") or "PT1M")
        metrics = self._names(req.param("metricnames"))
        aggregations = self._aggregations(req.param("aggregation"))
        values = []
        for raw_id in ids:
            vm = self._vm_by_id(str(raw_id), p["sub"])
            item: dict[str, Any] = {
                "starttime": _stamp(start),
                "endtime": _stamp(end),
                "interval": format_duration(interval),
                "namespace": NAMESPACE,
                "resourceregion": vm.location if vm else "",
                "resourceid": vm.id if vm else str(raw_id),
                "value": [self._metric(vm, m, start, end, interval, aggregations) for m in metrics] if vm else [],
            }
            values.append(item)
        return Response.json(200, {"values": values})

    def _vm_by_id(self, raw_id: str, subscription: str) -> Resource | None:
        parsed = parse_id(raw_id)
        if parsed is None or parsed.full_type.lower() != VM_TYPE.lower():
            raise ArmError(400, "BadRequest", f"Resource id '{raw_id}' is not a virtual machine id.")
        if parsed.subscription.lower() != subscription.lower():
            raise ArmError(400, "BadRequest", "All resource ids must be in the subscription of the request.")
        return self.ctx.store.get(raw_id)

    def _metric(
        self,
        vm: Resource,
        metric: MetricDef,
        start: datetime,
        end: datetime,
        interval: timedelta,
        aggregations: list[str] | None,
    ) -> dict[str, Any]:
        wanted = aggregations or [metric.primary]
        rt = runtime(vm)
        now = self.ctx.now()
        minute = timedelta(minutes=1)
        step = max(interval, minute)
        bucket = start.replace(second=0, microsecond=0)
        data = []
        budget = MAX_MINUTES
        while bucket < end and budget > 0:
            samples = []
            t = bucket
            bucket_end = min(bucket + step, end)
            while t < bucket_end and budget > 0:
                budget -= 1
                if t + minute <= now and rt.running_at(t):
                    load: Load = self.ctx.loads.at(vm.key, t)
                    samples.append(float(getattr(load, metric.field)))
                t += minute
            point: dict[str, Any] = {"timeStamp": _stamp(bucket)}
            if samples:
                stats = {
                    "average": sum(samples) / len(samples),
                    "minimum": min(samples),
                    "maximum": max(samples),
                    "total": sum(samples),
                    "count": float(len(samples)),
                }
                point.update({a: stats[a] for a in wanted})
            data.append(point)
            bucket += step
        return {
            "id": f"{vm.id}/providers/Microsoft.Insights/metrics/{metric.name}",
            "type": "Microsoft.Insights/metrics",
            "name": {"value": metric.name, "localizedValue": metric.name},
            "displayDescription": metric.description,
            "unit": metric.unit,
            "timeseries": [{"metadatavalues": [], "data": data}],
            "errorCode": "Success",
        }
