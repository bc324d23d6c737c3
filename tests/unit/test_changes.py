"""Changing a VM's settings after create: RFC 7396 merge patches, the create's checks, events old -> new."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.core.changes import merge_patch, plan_change
from shared.core.models import Schedule, VmState
from shared.core.problems import Problem
from tests.support.factories import utc, vm_record
from tests.unit.test_decide import POLICY

NOW = utc(2026, 11, 25, 12, 0)
CREATED = NOW - timedelta(hours=30)
STARTED = NOW - timedelta(hours=2)


def running(**extra: Any) -> Any:
    """A VM created 30 h ago whose current run began 2 h ago (ttl 48 h)."""
    fields = {"power_state": "running", "power_since": STARTED, **extra}
    return vm_record(CREATED, STARTED + timedelta(hours=48), **fields)


def change(patch: dict[str, Any], record: Any = None, policy: Any = POLICY) -> Any:
    return plan_change(record or running(), patch, policy, "198.51.100.4", NOW, "ana@example.com")


def refused(patch: dict[str, Any], record: Any = None, policy: Any = POLICY) -> Problem:
    with pytest.raises(Problem) as caught:
        change(patch, record, policy)
    return caught.value


# RFC 7396, appendix A: target, patch, result.
RFC_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_EXAMPLES)
def test_merge_patch_follows_rfc_7396(target: Any, patch: Any, result: Any) -> None:
    assert merge_patch(target, patch) == result


def test_a_change_within_policy_is_applied_and_evented_old_to_new() -> None:
    plan = change({"budget_usd": 80, "idle": {"cpu_percent": 3}})
    assert plan is not None
    assert plan.record.budget_usd == 80
    assert plan.record.idle.cpu_percent == 3
    assert plan.record.idle.window_minutes == 60, "the rest of the idle rule is kept (a merge, not a replace)"
    assert sorted(plan.fields) == ["budget_usd", "idle"]
    assert plan.event.actor == "ana@example.com"
    assert plan.event.evidence["budget_usd"] == {"old": None, "new": 80.0}
    assert plan.event.evidence["idle"]["old"]["cpu_percent"] == 5.0
    assert plan.event.evidence["idle"]["new"]["cpu_percent"] == 3.0


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"ttl_hours": 400}, "ttl_hours", "at most 336 hours"),
        ({"budget_usd": 5000}, "budget_usd", "at most 1000 USD"),
        ({"allowed_cidrs": ["10.0.0.0/8"]}, "allowed_cidrs.0", "wider than /16"),
        ({"expires_at": "2026-11-25T11:00:00Z"}, "expires_at", "in the future"),
        ({"expires_at": "2028-01-01T00:00:00Z"}, "expires_at", "at most 8784 hours"),
    ],
)
def test_a_change_beyond_policy_names_the_bound(patch: dict[str, Any], field: str, words: str) -> None:
    problem = refused(patch)
    assert problem.status == 422
    assert [(e.field, words in e.message) for e in problem.body.errors or []] == [(field, True)]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"ttl_hours": 0}, "ttl_hours"),
        ({"budget_usd": -1}, "budget_usd"),
        ({"schedule": {"stop_at": "20:00"}}, "schedule.timezone"),
        ({"idle": {"window_minutes": 5}}, "idle.window_minutes"),
        ({"expires_at": "2026-12-01T10:00:00"}, "expires_at"),
        ({"allowed_cidrs": []}, "allowed_cidrs"),
    ],
)
def test_a_malformed_change_names_the_field_and_changes_nothing(patch: dict[str, Any], field: str) -> None:
    record = running()
    before = record.model_dump()
    with pytest.raises(ValidationError) as caught:
        change(patch, record)
    assert field in [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()]
    assert record.model_dump() == before


def test_null_takes_the_default_as_at_create() -> None:
    record = running(
        budget_usd=50,
        expires_at=NOW + timedelta(days=3),
        schedule=Schedule(timezone="Europe/Berlin"),
        ttl_hours=8,
        allowed_cidrs=["203.0.113.7/32"],
    )
    plan = change(
        {"budget_usd": None, "expires_at": None, "schedule": None, "ttl_hours": None, "allowed_cidrs": None}, record
    )
    assert plan is not None
    assert plan.record.budget_usd is None and plan.record.expires_at is None and plan.record.schedule is None
    assert plan.record.ttl_hours == POLICY.default_ttl_hours
    assert plan.record.allowed_cidrs == ["198.51.100.4/32"], "the caller's own address, as at create"


def test_a_nested_member_of_the_schedule_is_merged() -> None:
    plan = change({"schedule": {"stop_at": "21:30"}}, running(schedule=Schedule(timezone="Asia/Tokyo")))
    assert plan is not None and plan.record.schedule is not None
    assert (plan.record.schedule.timezone, plan.record.schedule.stop_at.isoformat()) == ("Asia/Tokyo", "21:30:00")


def test_a_new_time_limit_counts_from_the_start_of_the_current_run() -> None:
    plan = change({"ttl_hours": 3})
    assert plan is not None
    assert plan.record.keep_until == STARTED + timedelta(hours=3)
    snoozed = running(snoozed_until=NOW + timedelta(hours=5))
    held = change({"ttl_hours": 3}, snoozed)
    assert held is not None and held.record.keep_until == NOW + timedelta(hours=5), "an active snooze still holds"


def test_new_allowed_cidrs_are_owed_to_the_network_security_group() -> None:
    plan = change({"allowed_cidrs": ["198.51.100.0/24", "203.0.113.9"]})
    assert plan is not None
    assert plan.record.allowed_cidrs == ["198.51.100.0/24", "203.0.113.9/32"]
    assert plan.record.nsg_pending_since == NOW
    assert plan.fields == ["allowed_cidrs"]


def test_the_same_values_again_change_nothing() -> None:
    record = running(budget_usd=20)
    assert change({"budget_usd": 20, "ttl_hours": record.ttl_hours}, record) is None


def test_only_the_changed_settings_meet_todays_policy() -> None:
    grandfathered = running(ttl_hours=300)
    strict = POLICY.model_copy(update={"max_ttl_hours": 24})
    plan = change({"budget_usd": 10}, grandfathered, strict)
    assert plan is not None and plan.record.ttl_hours == 300
    assert refused({"ttl_hours": 200}, grandfathered, strict).status == 422


def test_unknown_members_are_named() -> None:
    problem = refused({"owner": "eve@example.com", "size": "Standard_E64s_v5", "budget_usd": 5})
    assert problem.status == 422
    assert [e.field for e in problem.body.errors or []] == ["owner", "size"]


def test_a_creating_vm_cannot_change_its_network_yet_but_may_change_the_rest() -> None:
    creating = running(state=VmState.CREATING, power_state=None)
    problem = refused({"allowed_cidrs": ["203.0.113.8/32"]}, creating)
    assert problem.status == 409 and problem.headers["Retry-After"] == "30"
    assert change({"budget_usd": 30}, creating) is not None


@pytest.mark.parametrize("state", [VmState.DELETING, VmState.DELETED, VmState.FAILED, VmState.LOST])
def test_a_finished_vm_cannot_be_changed(state: VmState) -> None:
    problem = refused({"budget_usd": 30}, running(state=state))
    assert problem.status == 409
    assert state.value in (problem.body.detail or "")
