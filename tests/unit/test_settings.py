"""Settings: one model from the environment; a bad or missing setting is named at startup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
