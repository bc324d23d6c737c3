"""The control plane's settings: one model, read from the environment (app settings in Azure).

A missing or invalid setting fails at startup with the setting's name in the message.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.core.policy import (
    BumpHours,
    GraceMinutes,
    Hours,
    OsDiskGb,
    Regions,
    Sizes,
    SnoozeHours,
    Usd,
    VcpuCount,
    VmCount,
)

ARM_PUBLIC_ENDPOINT = "https://management.azure.com"


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every setting the app reads. Field aliases are the environment variable names."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", frozen=True, allow_inf_nan=False)

    # Where the VMs live.
    subscription_id: str = Field(alias="AZURE_SUBSCRIPTION_ID", min_length=1)
    resource_group: str = Field(alias="DSVM_RESOURCE_GROUP", min_length=1, max_length=90)
    location: str = Field(alias="DSVM_LOCATION", min_length=1)
    subnet_id: str = Field(alias="DSVM_SUBNET_ID", min_length=1)

    # Table storage: a connection string (Azurite, local) or an endpoint reached with the identity.
    tables_connection: str | None = Field(default=None, alias="DSVM_TABLES_CONNECTION")
    tables_endpoint: str | None = Field(default=None, alias="DSVM_TABLES_ENDPOINT")
    table_prefix: str = Field(default="dsvm", alias="DSVM_TABLE_PREFIX", pattern=r"^[A-Za-z][A-Za-z0-9]{0,40}$")

    # The work queue the queue-triggered worker takes its jobs from: a connection string (Azurite, local) or,
    # in Azure, the queue endpoint reached with the identity. The names are the Functions trigger's own
    # identity-based connection settings (connection prefix DSVM_QUEUE), so one setting serves both.
    queue_connection: str | None = Field(default=None, alias="DSVM_QUEUE")
    queue_endpoint: str | None = Field(default=None, alias="DSVM_QUEUE__queueServiceUri")
    work_queue: str = Field(default="dsvm-work", alias="DSVM_WORK_QUEUE", pattern=r"^[a-z0-9][a-z0-9-]{1,50}[a-z0-9]$")

    # ARM: the public endpoint in Azure; the simulator's URL and CA bundle locally.
    arm_endpoint: str = Field(default=ARM_PUBLIC_ENDPOINT, alias="ARM_ENDPOINT")
    arm_ca_bundle: str | None = Field(default=None, alias="ARM_CA_BUNDLE")
    # Seconds between LRO polls; only the simulator makes a small value sensible.
    arm_polling_interval: float = Field(default=30.0, alias="ARM_POLLING_INTERVAL", ge=0, le=600)
    # The sweeper's and worker's retries of ARM calls back off from this many seconds, doubling (azure-core's
    # retry_backoff_factor; its default). A Retry-After from ARM always wins.
    arm_retry_backoff: float = Field(default=0.8, alias="ARM_RETRY_BACKOFF", ge=0, le=60)
    # Azure Monitor's regional batch metrics endpoint; default https://{location}.metrics.monitor.azure.com.
    metrics_endpoint: str | None = Field(default=None, alias="METRICS_ENDPOINT")
    # The Azure Retail Prices API (no auth); empty: no refresh (the shipped catalogue and the cache only).
    prices_url: str | None = Field(default="https://prices.azure.com/api/retail/prices", alias="PRICES_URL")
    # The user-assigned managed identity (also read by azure-identity itself).
    azure_client_id: str | None = Field(default=None, alias="AZURE_CLIENT_ID")

    # The API's base URL as the VMs reach it (https://<app>.azurewebsites.net/api): each VM's activity agent
    # reports there. Empty: VMs get no agent, and idle decisions rest on CPU and network alone.
    public_api_url: str | None = Field(default=None, alias="DSVM_PUBLIC_API_URL", pattern=r"^https?://\S+$")

    # Local stack and tests only: take the time from this URL (the ARM simulator's /_sim/clock, trusted with
    # ARM_CA_BUNDLE) instead of the system clock, so a whole stack runs in the simulator's time.
    clock_url: str | None = Field(default=None, alias="DSVM_CLOCK_URL")

    # Identity.
    easy_auth_enabled: bool = Field(default=False, alias="DSVM_EASY_AUTH")
    admin_role: str = Field(default="DSVM.Admin", alias="DSVM_ADMIN_ROLE")

    # Policy defaults (an admin-editable copy lives in Table storage), within the policy's own bounds.
    allowed_sizes: Annotated[Sizes, NoDecode] = Field(
        default=[
            "Standard_D2s_v5",
            "Standard_D4s_v5",
            "Standard_D8s_v5",
            "Standard_D16s_v5",
            "Standard_E2s_v5",
            "Standard_E4s_v5",
            "Standard_E8s_v5",
            "Standard_E16s_v5",
            "Standard_E4s_v3",
            "Standard_E8s_v3",
            "Standard_E16s_v3",
        ],
        alias="DSVM_ALLOWED_SIZES",
    )
    max_os_disk_gb: OsDiskGb = Field(default=1024, alias="DSVM_MAX_OS_DISK_GB")
    max_ttl_hours: Hours = Field(default=24 * 14, alias="DSVM_MAX_TTL_HOURS")
    default_ttl_hours: Hours = Field(default=12, alias="DSVM_DEFAULT_TTL_HOURS")
    max_budget_usd: Usd = Field(default=1000.0, alias="DSVM_MAX_BUDGET_USD")
    allow_open_cidr: bool = Field(default=False, alias="DSVM_ALLOW_OPEN_CIDR")
    max_snooze_hours: SnoozeHours = Field(default=12, alias="DSVM_MAX_SNOOZE_HOURS")
    activity_grace_minutes: GraceMinutes = Field(default=20, alias="DSVM_ACTIVITY_GRACE_MINUTES")
    activity_bump_hours: BumpHours = Field(default=1, alias="DSVM_ACTIVITY_BUMP_HOURS")
    allowed_regions: Annotated[Regions, NoDecode] = Field(default=[], alias="DSVM_ALLOWED_REGIONS")
    max_vms_per_user: VmCount = Field(default=5, alias="DSVM_MAX_VMS_PER_USER")
    max_vcpus_per_user: VcpuCount = Field(default=64, alias="DSVM_MAX_VCPUS_PER_USER")
    monthly_budget_usd: Usd = Field(default=500.0, alias="DSVM_MONTHLY_BUDGET_USD")
    rate_limit_per_minute: int = Field(default=30, alias="DSVM_RATE_LIMIT_PER_MINUTE", ge=1)

    # Sweeper.
    sweep_schedule: str = Field(default="0 */5 * * * *", alias="SWEEP_SCHEDULE")
    dry_run: bool = Field(default=False, alias="DRY_RUN")
    notify_webhook_url: str | None = Field(default=None, alias="NOTIFY_WEBHOOK_URL")
    notify_lead_minutes: int = Field(default=30, alias="NOTIFY_LEAD_MINUTES", ge=0)

    _split = field_validator("allowed_sizes", "allowed_regions", mode="before")(_csv)

    @field_validator("subnet_id")
    @classmethod
    def _subnet_is_an_arm_id(cls, value: str) -> str:
        parts = value.strip("/").split("/")
        if len(parts) != 10 or parts[0].lower() != "subscriptions" or parts[8].lower() != "subnets":
            raise ValueError("must be a subnet resource id: /subscriptions/…/virtualNetworks/VNET/subnets/SUBNET")
        return value

    @model_validator(mode="after")
    def _storage_is_reachable(self) -> Settings:
        if not (self.tables_connection or self.tables_endpoint):
            raise ValueError("set DSVM_TABLES_CONNECTION (connection string) or DSVM_TABLES_ENDPOINT (URL)")
        if not (self.queue_connection or self.queue_endpoint):
            raise ValueError("set DSVM_QUEUE (connection string) or DSVM_QUEUE__queueServiceUri (URL)")
        return self


class SettingsError(RuntimeError):
    """Raised at startup when a setting is missing or invalid; the message names each setting."""


def load_settings() -> Settings:
    try:
        return Settings()  # type: ignore[call-arg]  # fields come from the environment
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"]) or "settings"
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
