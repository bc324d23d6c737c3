"""Settings: one model from the environment; a bad or missing setting is named at startup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import annotated_types
import pytest
from pydantic.fields import FieldInfo

from shared.core.policy import Policy
from shared.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
SUBNET = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/default"
REQUIRED = {
    "AZURE_SUBSCRIPTION_ID": "s",
    "DSVM_RESOURCE_GROUP": "rg",
    "DSVM_LOCATION": "eastus",
    "DSVM_SUBNET_ID": SUBNET,
    "DSVM_TABLES_CONNECTION": "UseDevelopmentStorage=true",
    "DSVM_QUEUE": "UseDevelopmentStorage=true",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for field in Settings.model_fields.values():
        monkeypatch.delenv(str(field.alias), raising=False)
    for key, value in REQUIRED.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_reads_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("DSVM_ALLOWED_SIZES", "Standard_D4s_v5, Standard_E8s_v5")
    env.setenv("DRY_RUN", "true")
    settings = load_settings()
    assert settings.allowed_sizes == ["Standard_D4s_v5", "Standard_E8s_v5"]
    assert settings.dry_run is True
    assert settings.resource_group == "rg"


@pytest.mark.parametrize("missing", ["AZURE_SUBSCRIPTION_ID", "DSVM_RESOURCE_GROUP", "DSVM_SUBNET_ID"])
def test_a_missing_setting_is_named(env: pytest.MonkeyPatch, missing: str) -> None:
    env.delenv(missing)
    with pytest.raises(SettingsError, match=missing):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [("DSVM_SUBNET_ID", "not-an-id"), ("NOTIFY_LEAD_MINUTES", "-3"), ("DSVM_MAX_OS_DISK_GB", "9000")],
)
def test_an_invalid_setting_is_named(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_a_table_source_is_required(env: pytest.MonkeyPatch) -> None:
    env.delenv("DSVM_TABLES_CONNECTION")
    with pytest.raises(SettingsError, match="DSVM_TABLES_CONNECTION"):
        load_settings()


def test_the_sample_local_settings_list_every_setting() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    aliases = {str(field.alias) for field in Settings.model_fields.values()}
    assert aliases - set(sample) == set()
    assert sample["FUNCTIONS_WORKER_RUNTIME"] == "python"


def test_the_readme_settings_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [str(f.alias) for f in Settings.model_fields.values() if f"| `{f.alias}` |" not in readme]
    assert missing == []


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "Infinity"])
def test_a_non_finite_number_stops_the_app_at_start(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("DSVM_MAX_BUDGET_USD", value)
    with pytest.raises(SettingsError, match="DSVM_MAX_BUDGET_USD"):
        load_settings()


def test_the_work_queue_is_required(env: pytest.MonkeyPatch) -> None:
    env.delenv("DSVM_QUEUE")
    with pytest.raises(SettingsError, match="DSVM_QUEUE"):
        load_settings()


def _just_outside(field: FieldInfo) -> list[str]:
    """Setting values one step beyond each bound the policy model puts on `field`."""
    step = 1 if field.annotation is int else 0.001
    values = []
    for bound in field.metadata:
        if isinstance(bound, annotated_types.Le):
            values.append(str(bound.le + step))
        elif isinstance(bound, annotated_types.Ge):
            values.append(str(bound.ge - step))
        elif isinstance(bound, annotated_types.Gt):
            values.append(str(bound.gt))
        elif isinstance(bound, annotated_types.MinLen) and bound.min_length == 1:
            values.append(" , ")
        elif isinstance(bound, annotated_types.MaxLen):
            values.append(",".join(f"x{i}" for i in range(bound.max_length + 1)))
    return values


# Every policy limit that has a setting, with the values just outside its bounds.
POLICY_SETTINGS = [
    (str(Settings.model_fields[name].alias), value)
    for name, field in Policy.model_fields.items()
    if name in Settings.model_fields
    for value in _just_outside(field)
]


def test_every_bounded_policy_limit_is_checked_on_its_setting() -> None:
    assert {name for name, _ in POLICY_SETTINGS} == {
        "DSVM_ALLOWED_SIZES",
        "DSVM_ALLOWED_REGIONS",
        "DSVM_MAX_OS_DISK_GB",
        "DSVM_DEFAULT_TTL_HOURS",
        "DSVM_MAX_TTL_HOURS",
        "DSVM_MAX_BUDGET_USD",
        "DSVM_MONTHLY_BUDGET_USD",
        "DSVM_MAX_VMS_PER_USER",
        "DSVM_MAX_VCPUS_PER_USER",
        "DSVM_MAX_SNOOZE_HOURS",
        "DSVM_ACTIVITY_GRACE_MINUTES",
        "DSVM_ACTIVITY_BUMP_HOURS",
    }


@pytest.mark.parametrize(("name", "value"), POLICY_SETTINGS)
def test_a_setting_the_policy_would_refuse_is_named_at_start(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DSVM_MAX_VMS_PER_USER", "100000"),
        ("DSVM_MAX_BUDGET_USD", "inf"),
        ("DSVM_MONTHLY_BUDGET_USD", "5000000"),
        ("DSVM_ALLOWED_SIZES", " , "),
    ],
)
def test_settings_that_once_made_every_request_fail_are_refused(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_the_policy_built_from_valid_settings_is_valid(env: pytest.MonkeyPatch) -> None:
    env.setenv("DSVM_MAX_VMS_PER_USER", "10000")
    env.setenv("DSVM_MAX_BUDGET_USD", "1000000")
    policy = Policy.from_settings(load_settings())
    assert (policy.max_vms_per_user, policy.max_budget_usd) == (10000, 1_000_000)


def test_the_function_app_does_not_start_with_a_setting_the_policy_refuses() -> None:
    env = {**os.environ, **REQUIRED, "DSVM_MAX_VMS_PER_USER": "100000"}
    result = subprocess.run(
        [sys.executable, "-c", "import function_app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "SettingsError" in result.stderr
    assert "DSVM_MAX_VMS_PER_USER" in result.stderr
