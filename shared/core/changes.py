"""Changing a VM's settings after create (`PATCH /api/vms/{name}`), as pure functions: a JSON merge patch
(RFC 7396) of its `VmSettings`, checked exactly as a create is (the same model, `policy.check_settings`, the
same defaults), and the event that records every change old -> new.

A member set to null is removed, so it takes its default as at create: no expiry, no budget, no schedule,
the default idle rule, the policy's time limit, the caller's /32. Only the members that change are held to
today's policy: a VM created under a looser policy keeps what it has until its owner changes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.core.decide import last_started
from shared.core.lifecycle import Refusal
from shared.core.models import SETTINGS_FIELDS, Event, VmRecord, VmSettings, VmState
from shared.core.policy import Policy, against_policy, check_settings, with_defaults
from shared.core.problems import FieldProblem, Problem

# States whose settings no longer mean anything.
_FINISHED = frozenset({VmState.DELETING, VmState.DELETED, VmState.FAILED, VmState.LOST})
# How long to suggest waiting for a creating VM's network before changing who may reach it (seconds).
_NETWORK_RETRY_AFTER = 30


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge member by member, null removes a member, anything else replaces."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass(frozen=True)
class Change:
    record: VmRecord
    event: Event
    fields: list[str]


def refusal(record: VmRecord, patch: Mapping[str, Any]) -> Refusal | None:
    """Why the VM's state does not allow this change now."""
    if record.state in _FINISHED:
        return Refusal(409, f"VM '{record.name}' is {record.state.value}; its settings can no longer be changed")
    if record.state == VmState.CREATING and "allowed_cidrs" in patch:
        return Refusal(
            409,
            f"VM '{record.name}' is Creating and its network with it; change allowed_cidrs once it runs",
            _NETWORK_RETRY_AFTER,
        )
    return None


def plan_change(
    record: VmRecord, patch: Mapping[str, Any], policy: Policy, caller_ip: str | None, now: datetime, actor: str
) -> Change | None:
    """The record after the patch and the event that explains it; None when nothing changes.

    Raises Problem: 422 naming the field (an unknown member, a policy bound), or 409 when the VM's state
    does not allow the change (with Retry-After when that state passes); pydantic's ValidationError when the
    patched settings are malformed (the web layer answers it as any invalid body).
    """
    unknown = sorted(set(patch) - set(SETTINGS_FIELDS))
    if unknown:
        allowed = ", ".join(SETTINGS_FIELDS)
        raise Problem(
            422,
            "Unprocessable Content",
            f"Only these settings can be changed: {allowed}.",
            errors=[FieldProblem(field=name, message="cannot be changed after create") for name in unknown],
        )
    refused = refusal(record, patch)
    if refused is not None:
        raise refused.problem()
    current = record.model_dump(mode="json", include=set(SETTINGS_FIELDS))
    wanted = VmSettings.model_validate(merge_patch(current, patch))
    values = with_defaults(wanted, policy, caller_ip)
    changed = {name: value for name, value in values.items() if value != getattr(record, name)}
    errors = [e for e in check_settings(wanted, policy, now) if e.field.split(".")[0] in changed]
    if errors:
        raise against_policy(errors)
    if not changed:
        return None
    update: dict[str, Any] = dict(changed)
    if "ttl_hours" in changed:
        # The new limit counts from the start of the current run; an active snooze still holds.
        keep_until = last_started(record) + timedelta(hours=changed["ttl_hours"])
        if record.snoozed_until is not None and record.snoozed_until > keep_until:
            keep_until = record.snoozed_until
        update["keep_until"] = keep_until
    if "allowed_cidrs" in changed:
        update |= {"nsg_pending_since": now, "nsg_attempts": 0}
    after = record.model_copy(update=update)
    before_json, after_json = current, after.model_dump(mode="json", include=set(changed))
    event = Event(
        time=now,
        actor=actor,
        action="change",
        state=record.state,
        reason=f"{actor} changed {', '.join(changed)}",
        evidence={name: {"old": before_json.get(name), "new": after_json.get(name)} for name in changed},
    )
    return Change(after, event, list(changed))
