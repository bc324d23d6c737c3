"""The API's contract: request bodies, records and views (pydantic).

Shape rules live here; rules that depend on the team's policy (allowed sizes, limits) live in policy.py.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, time
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

# Azure's reserved Linux admin names (VM osProfile.adminUsername validation).
RESERVED_USERNAMES = frozenset(
    [
        "administrator",
        "admin",
        "user",
        "user1",
        "test",
        "user2",
        "test1",
        "user3",
        "admin1",
        "1",
        "123",
        "a",
        "actuser",
        "adm",
        "admin2",
        "aspnet",
        "backup",
        "console",
        "david",
        "guest",
        "john",
        "owner",
        "root",
        "server",
        "sql",
        "support",
        "support_388945a0",
        "sys",
        "test2",
        "test3",
        "user4",
        "user5",
    ]
)
# Passwords Azure refuses outright, whatever their character classes.
REFUSED_PASSWORDS = frozenset(
    [
        "abc@123",
        "iloveyou!",
        "P@$$w0rd",
        "P@ssw0rd",
        "P@ssword123",
        "Pa$$word",
        "pass@word1",
        "Password!",
        "Password1",
        "Password22",
    ]
)
RESERVED_TAG_KEYS = frozenset({"managed-by", "owner", "dsvm-record", "dsvm-name"})
# Upper bounds that keep every number a sane, finite value (and date arithmetic in range).
MAX_HOURS = 24 * 366
MAX_USD = 1_000_000.0
MAX_NETWORK_MB = 1_000_000.0
# Every body the API accepts: unknown fields are refused, and so are NaN and Infinity (JSON parsers accept them).
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class VmState(StrEnum):
    CREATING = "Creating"
    RUNNING = "Running"
    STARTING = "Starting"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    RESTARTING = "Restarting"
    DELETING = "Deleting"
    DELETED = "Deleted"
    FAILED = "Failed"
    LOST = "Lost"


CreateStep = Literal["queued", "network", "vm"]

TRANSITIONAL_STATES = frozenset(
    {VmState.CREATING, VmState.STARTING, VmState.STOPPING, VmState.RESTARTING, VmState.DELETING}
)


class ImagePreset(StrEnum):
    DSVM_UBUNTU_2204 = "dsvm-ubuntu-2204"
    UBUNTU_2204 = "ubuntu-2204"


# preset -> (publisher, offer, sku); version is always "latest".
IMAGES: dict[ImagePreset, tuple[str, str, str]] = {
    ImagePreset.DSVM_UBUNTU_2204: ("microsoft-dsvm", "ubuntu-2204", "2204-gen2"),
    ImagePreset.UBUNTU_2204: ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"),
}
# The image's own OS disk: Azure refuses a smaller osDisk.diskSizeGB (409 OperationNotAllowed). Sources in
# docs/dsvm-image.md (150 GB for the DSVM image; 30 GB for Canonical's Ubuntu images).
IMAGE_OS_DISK_GB: dict[ImagePreset, int] = {ImagePreset.DSVM_UBUNTU_2204: 150, ImagePreset.UBUNTU_2204: 30}


class DiskType(StrEnum):
    PREMIUM_LRS = "Premium_LRS"
    STANDARDSSD_LRS = "StandardSSD_LRS"
    STANDARD_LRS = "Standard_LRS"


def _check_ssh_key(value: str) -> str:
    # Imported here: cryptography is heavy and only create requests need it.
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    value = value.strip()
    parts = value.split()
    if len(parts) < 2:
        raise ValueError("must be an OpenSSH public key line: '<type> <base64> [comment]'")
    try:
        key = load_ssh_public_key(" ".join(parts[:2]).encode())
    except UnsupportedAlgorithm:
        raise ValueError(f"key type {parts[0][:40]!r} is not supported") from None
    except (ValueError, TypeError, UnicodeError) as exc:
        raise ValueError(f"not a valid OpenSSH public key ({type(exc).__name__})") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError(f"RSA keys must have at least 2048 bits, this one has {key.key_size}")
    elif not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("key type not accepted: use ssh-ed25519, ecdsa-sha2-* or ssh-rsa (2048+ bits)")
    return value


# What Azure asks of a Linux adminPassword (OSProfile.adminPassword in the Compute REST reference,
# https://learn.microsoft.com/en-us/rest/api/compute/virtual-machines/create-or-update#osprofile): 6-72
# characters, 3 of the 4 classes, not on its list of refused values. We ask for at least 12.
LOGIN_RULES = (
    "12 to 72 characters with 3 of: a lower-case letter, an upper-case letter, a digit, a symbol; "
    "not on Azure's list of refused passwords (such as P@ssw0rd), and not containing the admin username"
)


def _check_password(secret: SecretStr) -> SecretStr:
    value = secret.get_secret_value()
    if not 12 <= len(value) <= 72:
        raise ValueError("must be 12 to 72 characters long")
    classes = [
        any(c.islower() for c in value),
        any(c.isupper() for c in value),
        any(c.isdigit() for c in value),
        any(not c.isalnum() for c in value),
    ]
    if sum(classes) < 3:
        raise ValueError("must contain 3 of: a lower-case letter, an upper-case letter, a digit, a symbol")
    if value in REFUSED_PASSWORDS:
        raise ValueError("is on Azure's list of refused passwords")
    return secret


def _check_cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 CIDR such as 203.0.113.7/32") from None
    return str(network)


def _check_timezone(value: str) -> str:
    if value not in available_timezones():
        raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Berlin")
    try:
        ZoneInfo(value)
    except ZoneInfoNotFoundError:
        raise ValueError(f"{value!r} is not an IANA time zone") from None
    return value


NAME_RULE = "3–40 lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen"
USERNAME_RULE = "1–32 lower-case letters, digits, underscores and hyphens, starting with a letter or underscore"


def say_rule(value: Any, handler: ValidatorFunctionWrapHandler, rule: str) -> Any:
    """Validate as the field says, but word a failed pattern as the rule, not as pydantic's regex."""
    try:
        return handler(value)
    except ValidationError as exc:
        if any(error["type"] == "string_pattern_mismatch" for error in exc.errors()):
            raise PydanticCustomError("string_pattern_mismatch", "must be {rule}", {"rule": rule}) from None
        raise


def worded(rule: str) -> WrapValidator:
    """`say_rule` as Annotated metadata, for a pattern-constrained type outside this module's models."""
    return WrapValidator(lambda value, handler: say_rule(value, handler, rule))


SshPublicKey = Annotated[str, Field(max_length=16384), AfterValidator(_check_ssh_key)]
AdminPassword = Annotated[SecretStr, AfterValidator(_check_password)]
Cidr = Annotated[str, Field(max_length=18), AfterValidator(_check_cidr)]
TimeZoneName = Annotated[str, Field(max_length=64), AfterValidator(_check_timezone)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _local_time_text(moment: time) -> str:
    return moment.isoformat(timespec="seconds" if moment.second else "minutes")


# A wall-clock time in the schedule's zone, written "19:00" (or "19:00:30"). Not JSON Schema's `format: time`,
# which is RFC 3339's full-time and needs a UTC offset that a local time of day does not have.
LocalTime = Annotated[
    time,
    PlainSerializer(_local_time_text, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$", "examples": ["19:00"]}
    ),
]


class Schedule(BaseModel):
    """Working hours: outside them the sweeper deallocates the VM (after a warning)."""

    model_config = STRICT

    timezone: TimeZoneName = Field(description="IANA time zone of the owner", examples=["Europe/Berlin"])
    stop_at: LocalTime = Field(default=time(19, 0), description="Local time (HH:MM) after which the VM is stopped")
    resume_at: LocalTime = Field(
        default=time(7, 0), description="Local time (HH:MM) from which the VM may run again on a work day"
    )
    days_off: list[Weekday] = Field(
        default_factory=lambda: list[Weekday](["sat", "sun"]),
        max_length=7,
        description="Days the VM is kept stopped all day",
    )

    @model_validator(mode="after")
    def _window(self) -> Schedule:
        if self.stop_at == self.resume_at:
            raise ValueError("stop_at and resume_at must differ")
        return self


class IdleRule(BaseModel):
    """When the VM counts as idle: every CPU sample below the threshold and little network over the window."""

    model_config = STRICT

    enabled: bool = Field(default=True, description="false: never stop the VM for being idle")
    cpu_percent: float = Field(default=5.0, gt=0, le=100, description="Idle while every CPU sample is below this")
    network_in_mb: float = Field(default=50.0, ge=0, le=MAX_NETWORK_MB, description="Network in, total over the window")
    window_minutes: int = Field(default=60, ge=15, le=24 * 60, description="How long it must stay idle")


class VmSettings(BaseModel):
    """What an owner may set at create and change afterwards (`PATCH /api/vms/{name}`): time limits, budget,
    schedule, idle rule and who may connect. An absent (or, in a PATCH, null) member takes its default."""

    model_config = STRICT

    allowed_cidrs: list[Cidr] | None = Field(
        default=None, min_length=1, max_length=10, description="Who may reach 22/8000/8787; default: your /32"
    )
    ttl_hours: int | None = Field(
        default=None,
        ge=1,
        le=MAX_HOURS,
        description="The longest the VM runs after each start before it is stopped (snooze extends it); "
        "default: the policy's",
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="Hard deadline: at this moment the VM is deallocated whatever happens (warned ahead, not "
        "snoozable) and it cannot be started after it. With a time zone, e.g. 2026-12-01T18:00:00Z",
    )
    budget_usd: float | None = Field(default=None, gt=0, le=MAX_USD, description="Deallocate once the VM has cost this")
    schedule: Schedule | None = Field(default=None, description="Working hours; none: the VM may run any time")
    idle: IdleRule = Field(default_factory=IdleRule, description="When the VM counts as idle and is stopped")


SETTINGS_FIELDS = tuple(VmSettings.model_fields)


class CreateVm(VmSettings):
    """Body of `POST /api/vms`."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "name": "ana-churn-model",
                    "size": "Standard_E4s_v5",
                    "image": "dsvm-ubuntu-2204",
                    "os_disk_gb": 256,
                    "os_disk_type": "Premium_LRS",
                    "admin_username": "ana",
                    "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ1Yq8f1pDDr4HPU3H6NMLVQ6KX6K3jv6bXb2FHU7Ck ana@laptop",
                    "allowed_cidrs": ["203.0.113.7/32"],
                    "ttl_hours": 8,
                    "budget_usd": 40,
                    "schedule": {"timezone": "Europe/Berlin", "stop_at": "19:00", "days_off": ["sat", "sun"]},
                    "idle": {"cpu_percent": 5, "window_minutes": 60},
                    "tags": {"project": "churn"},
                }
            ]
        },
    )

    name: str = Field(
        pattern=r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$",
        description=f"Unique among your live VMs: {NAME_RULE}",
    )
    size: str = Field(max_length=64, description="VM size from `GET /api/sizes`")
    image: ImagePreset = Field(
        default=ImagePreset.DSVM_UBUNTU_2204,
        description="dsvm-ubuntu-2204: the Data Science VM (JupyterHub; RStudio Server is no longer on the image, see "
        "docs/dsvm-image.md); ubuntu-2204: plain Ubuntu",
    )
    os_disk_gb: int = Field(default=256, ge=30, le=4095, description="OS disk size in GiB, within the policy")
    os_disk_type: DiskType = Field(default=DiskType.PREMIUM_LRS, description="OS disk type, as the policy allows")
    admin_username: str = Field(
        default="azureuser",
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description=f"The Linux user to create: {USERNAME_RULE}; not one of Azure's reserved names",
    )
    ssh_public_key: SshPublicKey | None = Field(
        default=None,
        description="An OpenSSH public key line: ssh-ed25519, ecdsa-sha2-* or ssh-rsa (2048+ bits). This, "
        "admin_password or generate_password, or both",
    )
    admin_password: AdminPassword | None = Field(
        default=None,
        description=f"The Linux password for JupyterHub, RStudio and ssh: {LOGIN_RULES}. "
        "Never stored, logged or returned; only its SHA-512 crypt hash reaches the VM.",
    )
    generate_password: bool = Field(
        default=False,
        description="Have a strong password generated (instead of admin_password): the 202 answer carries it "
        "as `admin_password`, once; a replay of the request does not (reset it with POST /api/vms/{name}/password).",
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        max_length=15,
        description="Azure tags for the VM's resources: names of 1–128 characters without <>%&\\?/, values up to 256",
    )

    @field_validator("name", "admin_username", mode="wrap")
    @classmethod
    def _rules_in_words(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        return say_rule(value, handler, NAME_RULE if info.field_name == "name" else USERNAME_RULE)

    @field_validator("admin_username")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_USERNAMES:
            raise ValueError(f"{value!r} is reserved by Azure")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tag in value.items():
            if not 1 <= len(key) <= 128 or re.search(r"[<>%&\\?/]", key):
                raise ValueError(f"tag name {key!r} must be 1-128 characters without <>%&\\?/")
            if key.lower() in RESERVED_TAG_KEYS:
                raise ValueError(f"tag name {key!r} is set by the control plane")
            if len(tag) > 256:
                raise ValueError(f"tag {key!r} value is longer than 256 characters")
        return value

    @field_validator("generate_password")
    @classmethod
    def _one_password(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("admin_password") is not None:
            raise ValueError("give admin_password or generate_password, not both")
        return value

    @model_validator(mode="after")
    def _some_credential(self) -> CreateVm:
        if self.ssh_public_key is None and self.admin_password is None and not self.generate_password:
            raise ValueError("give ssh_public_key, admin_password or generate_password")
        if self.admin_password is not None and self.admin_username in self.admin_password.get_secret_value():
            raise ValueError("admin_password must not contain admin_username")
        return self


class SnoozeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [{"hours": 2}]})

    hours: float = Field(gt=0, le=24 * 7, description="How long to postpone, within the policy's max_snooze_hours")


class PasswordReset(BaseModel):
    """Body of `POST /api/vms/{name}/password`: a new password, or `generate` for a strong one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"generate": True}]})

    generate: bool = Field(default=False, description="Generate a strong password; the answer carries it once")
    password: AdminPassword | None = Field(
        default=None, description=f"The new Linux password: {LOGIN_RULES}. Never stored, logged or returned."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> PasswordReset:
        if self.generate == (self.password is not None):
            raise ValueError('give either {"generate": true} or {"password": "..."}')
        return self


class PasswordResetAccepted(BaseModel):
    """A password reset handed to Azure (VMAccessForLinux); its result appears in the VM's events."""

    name: str = Field(description="The VM")
    admin_username: str = Field(description="The Linux user whose password is reset")
    password: str | None = Field(default=None, description="The generated password, only in this answer")


Stopper = Literal["owner", "admin", "sweeper"]


class LastStop(BaseModel):
    """The last stop the control plane made or was asked for: when, by whom, under which rule, and why."""

    at: datetime = Field(description="When the stop was decided or asked for (UTC)")
    by: Stopper = Field(description="owner, admin or sweeper")
    rule: str | None = Field(default=None, description="The sweeper's rule (budget, expiry, time-limit, ...)")
    reason: str = Field(description="Why, in words")


class NextStop(BaseModel):
    """The next automatic stop the sweeper will make if nothing changes (an idle stop once it is warned of)."""

    rule: str = Field(description="budget, expiry, time-limit, schedule, idle (once warned of) or stopped-allocated")
    due_at: datetime = Field(description="The sweeper stops the VM at its first pass at or after this moment")
    snoozable: bool
    how: str = Field(description="What keeps it running longer")


class Event(BaseModel):
    time: datetime = Field(description="When it happened (UTC)")
    actor: str = Field(description="Who did it: a user, or the sweeper")
    action: str = Field(description="What was done: create, stop, warn, ...")
    state: VmState | None = Field(default=None, description="The VM's state after it")
    reason: str = Field(description="Why, in words")
    evidence: dict[str, Any] = Field(
        default_factory=dict, description="What the decision rested on (rule, samples, cost)"
    )


class VmFields(BaseModel):
    """What a VM record and its API view share."""

    # A stored record with NaN or Infinity in it does not load (and is skipped, with a log line, by bulk reads).
    model_config = ConfigDict(allow_inf_nan=False)

    id: str = Field(description="The record's id; a new VM of the same name gets a new one")
    name: str = Field(description="The VM's name, unique among live VMs")
    owner: str = Field(description="Who created it")
    state: VmState = Field(description="Where the VM is in its life; transitional states end by themselves")
    power_state: str | None = Field(
        default=None, description="Azure's last reported power state: running, deallocated, stopped, ..."
    )
    still_billing: bool = Field(default=False, description="Stopped but still allocated: compute still bills")
    size: str = Field(description="The VM size")
    location: str = Field(description="The Azure region")
    image: ImagePreset = Field(description="The image preset it was created from")
    os_disk_gb: int = Field(description="OS disk size in GiB")
    os_disk_type: DiskType = Field(description="OS disk type")
    admin_username: str = Field(description="The Linux user on the VM")
    allowed_cidrs: list[str] = Field(description="Source ranges that may reach ports 22, 8000 and 8787")
    tags: dict[str, str] = Field(default_factory=dict, description="The caller's Azure tags")
    ttl_hours: int = Field(description="The longest the VM runs after each start")
    keep_until: datetime = Field(
        description="When the time limit stops the current run (each start: start + ttl_hours; snooze moves it)"
    )
    expires_at: datetime | None = Field(default=None, description="Hard deadline: deallocated then, whatever happens")
    budget_usd: float | None = Field(default=None, description="The VM is deallocated once it has cost this")
    schedule: Schedule | None = Field(default=None, description="Working hours; none: the VM may run any time")
    idle: IdleRule = Field(default_factory=IdleRule, description="When the VM counts as idle and is stopped")
    public_ip: str | None = Field(default=None, description="The public IP address, while it has one")
    created_at: datetime = Field(description="When the VM was asked for (UTC)")
    updated_at: datetime = Field(description="When the record last changed (UTC)")
    error_code: str | None = Field(default=None, description="Azure's error code when something failed")
    error_message: str | None = Field(default=None, description="Azure's message when something failed")
    snoozed_until: datetime | None = Field(
        default=None, description="Schedule, time-limit and idle stops are held off until then; budget stops are not"
    )
    cost_usd: float = Field(
        default=0.0, description="What the VM has cost so far (compute while allocated, disk always)"
    )
    last_stop: LastStop | None = Field(
        default=None, description="The last stop the control plane made or was asked for, and why; null when none"
    )


class VmRecord(VmFields):
    """What Table storage holds for one VM: the desired state plus what was last observed."""

    # When reconcile first saw the current power state (a start made outside the API included).
    power_since: datetime | None = None
    ssh_public_key: str | None = None
    password_auth: bool = False
    # When the last action (create/start/stop/...) was sent to ARM; reconcile retries stale ones.
    action_at: datetime
    # cost_usd is accrued up to cost_at (the last sweep that accrued it).
    cost_at: datetime | None = None
    # The calendar month (UTC, YYYY-MM) of cost_at and what the VM has cost in it.
    month: str | None = None
    month_cost_usd: float = 0.0
    # Warnings already sent, by key (rule and due time), so none is sent twice.
    warned: dict[str, datetime] = Field(default_factory=dict)
    # Consecutive observations (ARM list or GET) that did not find the VM, from when: Lost needs several.
    missing_since: datetime | None = None
    missing_seen: int = 0
    # How often reconcile has re-sent the current action; past a bound the record settles with an error.
    action_attempts: int = 0
    # The queue worker's progress on a create: queued -> network (NSG ready) -> vm (the VM PUT was sent).
    create_step: CreateStep | None = None
    # sha256 of the Idempotency-Key that created the record: a retry with that key finishes the create.
    request_key: str | None = None
    # Nothing of this record is left in Azure (a failed create, cleaned up): a new create may take the name.
    released: bool = False
    # sha256 of the VM's activity-agent token (given to the VM in its customData, never stored in clear).
    agent_token_hash: str | None = None
    # allowed_cidrs changed then and the NSG is not known to follow yet; reconcile re-sends the update after a
    # grace, counting attempts (see lifecycle._network_rules).
    nsg_pending_since: datetime | None = None
    nsg_attempts: int = 0
    # Events saved with the record that may not be in the events table yet (an outbox; see operations.save).
    pending_events: list[Event] = Field(default_factory=list)
    etag: str | None = Field(default=None, exclude=True)


class VmView(VmFields):
    """A VM as the API shows it."""

    jupyterhub_url: str | None = Field(description="JupyterHub (self-signed certificate), while there is a public IP")
    rstudio_url: str | None = Field(
        description="Port 8787, for an RStudio Server you install (current DSVM images do not ship one), while "
        "there is a public IP"
    )
    ssh: str | None = Field(description="The ssh command to log in, while there is a public IP")
    burn_usd_per_hour: float | None = Field(default=None, description="What it costs per hour as it is now")
    next_stop: NextStop | None = Field(
        default=None, description="The next automatic stop if nothing changes; null when none is foreseen"
    )


class NewVm(VmView):
    """The answer to a create."""

    admin_password: str | None = Field(
        default=None, description="With generate_password: the generated password, only in this answer"
    )


class VmList(BaseModel):
    value: list[VmView] = Field(description="The VMs, by name")


class EventList(BaseModel):
    value: list[Event] = Field(description="Newest first")


class User(BaseModel):
    """The caller, resolved by the auth dependency."""

    name: str
    is_admin: bool = False


class SizeInfo(BaseModel):
    name: str = Field(description="The VM size, as `size` in a create")
    vcpus: int | None = Field(description="vCPUs (none: unknown in this region)")
    memory_gib: float | None = Field(description="Memory in GiB (none: unknown in this region)")
    hourly_usd: float | None = Field(description="Linux pay-as-you-go list price in the workload region")


class SizeList(BaseModel):
    region: str = Field(description="The region VMs are created in")
    value: list[SizeInfo] = Field(description="The sizes you may create")


class VmCost(BaseModel):
    id: str = Field(description="The VM record's id: a name deleted and created again in a month has two rows")
    name: str = Field(description="The VM's name")
    owner: str = Field(description="Who owns it")
    usd: float = Field(description="What it cost in the month")


class CostReport(BaseModel):
    month: str = Field(description="Calendar month, UTC (YYYY-MM)")
    total_usd: float = Field(description="What all VMs cost in the month")
    by_owner: dict[str, float] = Field(description="Cost per owner")
    by_vm: list[VmCost] = Field(description="Cost per VM")
