"""User activity measured inside the VM (agent/dsvm_agent.py), as the control plane keeps and reads it.

A report says when a person last gave input on each channel (SSH terminal input, JupyterHub, RStudio) and
how busy the machine was (executing kernels, GPU utilisation, load) since the last report. It holds no user
content: only times and counters. The latest report of each VM is kept (its own table, one row per VM), and
the sweeper reads them all in one query a pass.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# A report's times may run ahead of ours by this much (clock skew on the VM); later ones are refused.
MAX_SKEW = timedelta(minutes=5)
# Busy signals: executing kernels, GPU utilisation (%), and the 1-minute load average per vCPU.
BUSY_KERNELS = 1
BUSY_GPU_PERCENT = 10.0
BUSY_LOAD_PER_VCPU = 0.5
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class LastInput(BaseModel):
    """When a person last gave input, per channel (null: none seen, or the channel is not there)."""

    model_config = STRICT

    ssh: AwareDatetime | None = Field(default=None, description="Last terminal input in an SSH session")
    jupyter: AwareDatetime | None = Field(default=None, description="Last activity JupyterHub recorded for a user")
    rstudio: AwareDatetime | None = Field(default=None, description="Last use of an RStudio Server session")


class Busy(BaseModel):
    """How busy the machine was since the last report (the highest sample)."""

    model_config = STRICT

    kernels: int = Field(default=0, ge=0, le=10_000, description="Kernels (and R sessions) executing")
    gpu_percent: float | None = Field(default=None, ge=0, le=100, description="Busiest GPU's utilisation")
    load1: float | None = Field(default=None, ge=0, le=100_000, description="1-minute load average")


class ActivityReport(BaseModel):
    """Body of `POST /api/vms/{name}/activity`: what the agent (or a script saying "I am working") reports."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "last_input": {"ssh": "2026-11-28T10:42:00Z", "jupyter": "2026-11-28T10:40:12Z", "rstudio": None},
                    "busy": {"kernels": 1, "gpu_percent": 87.0, "load1": 3.2},
                }
            ]
        },
    )

    last_input: LastInput = Field(default_factory=LastInput)
    busy: Busy = Field(default_factory=Busy)


class Activity(BaseModel):
    """A VM's latest report and when the control plane received it."""

    record_id: str
    received_at: datetime
    report: ActivityReport

    def last_input(self) -> datetime | None:
        """The latest input on any channel."""
        inputs = self.report.last_input
        return max((t for t in (inputs.ssh, inputs.jupyter, inputs.rstudio) if t is not None), default=None)

    def busy(self, vcpus: int | None) -> list[str]:
        """The busy signals this report shows, in words (empty: none)."""
        busy = self.report.busy
        signals = []
        if busy.kernels >= BUSY_KERNELS:
            signals.append(f"{busy.kernels} kernel(s) executing")
        if busy.gpu_percent is not None and busy.gpu_percent >= BUSY_GPU_PERCENT:
            signals.append(f"GPU at {busy.gpu_percent:.0f}%")
        if busy.load1 is not None and vcpus and busy.load1 / vcpus >= BUSY_LOAD_PER_VCPU:
            signals.append(f"load {busy.load1:.1f} on {vcpus} vCPUs")
        return signals


def future_times(report: ActivityReport, now: datetime) -> list[str]:
    """The fields whose time is later than `now` allows (clock skew included)."""
    limit = now + MAX_SKEW
    inputs = report.last_input
    return [
        f"last_input.{channel}"
        for channel, at in (("ssh", inputs.ssh), ("jupyter", inputs.jupyter), ("rstudio", inputs.rstudio))
        if at is not None and at > limit
    ]
