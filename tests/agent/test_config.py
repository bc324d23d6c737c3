"""The agent's config file: what cloud-init writes is accepted; anything else stops it naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from agent import dsvm_agent as agent

GOOD = {"api_url": "https://func-dsvm.azurewebsites.net/api", "vm_name": "ana-churn", "token": "dsvm_agent_x1"}


def test_defaults_are_five_minutes_a_minute_and_the_local_hub() -> None:
    config = agent.parse_config(GOOD)
    assert (config.interval_seconds, config.sample_seconds) == (300, 60)
    assert config.jupyterhub_api_url == "http://127.0.0.1:8081/hub/api"
    assert config.activity_url == "https://func-dsvm.azurewebsites.net/api/vms/ana-churn/activity"
    assert config.sources == agent.Sources()


def test_a_short_interval_samples_at_most_as_often() -> None:
    assert agent.parse_config({**GOOD, "interval_seconds": 20}).sample_seconds == 20


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"api_url": "http://func-dsvm.azurewebsites.net/api"}, "api_url"),  # the token would travel in clear
        ({"api_url": "ftp://x/api"}, "api_url"),
        ({"api_url": None}, "api_url"),
        ({"vm_name": "../admin"}, "vm_name"),
        ({"vm_name": ""}, "vm_name"),
        ({"token": "two words"}, "token"),
        ({"token": ""}, "token"),
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"interval_seconds": 3601}, "interval_seconds"),
        ({"interval_seconds": 30.5}, "interval_seconds"),
        ({"interval_seconds": True}, "interval_seconds"),
        ({"interval_seconds": 60, "sample_seconds": 61}, "sample_seconds"),
        ({"jupyterhub_api_url": "https://hub.example.com/hub/api"}, "jupyterhub_api_url"),
        ({"jupyterhub_token_file": "relative/token"}, "jupyterhub_token_file"),
        ({"sources": {"who": ""}}, "sources.who"),
        ({"sources": {"homes": "/home"}}, "sources.homes"),
        ({"sources": {"shell": "/bin/sh"}}, "sources.shell"),
        ({"intervall_seconds": 60}, "intervall_seconds"),
    ],
)
def test_a_bad_field_is_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(agent.ConfigError, match=f"'{field}'"):
        agent.parse_config({**GOOD, **change})


def test_plain_http_is_allowed_to_loopback_only() -> None:
    assert agent.parse_config({**GOOD, "api_url": "http://127.0.0.1:7071/api"}).api_url == "http://127.0.0.1:7071/api"
