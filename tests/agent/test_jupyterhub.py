"""The agent and JupyterHub: reading the hub's REST API (a local fake hub over HTTP), asking a Jupyter server
for its kernels without counting as activity, and registering the agent as a hub service."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config, LazyConfigValue
from traitlets.config.loader import PyFileConfigLoader

from agent import dsvm_agent as agent
from tests.agent.fakes import HUB_TOKEN, HUB_USERS, FakeHub, running


@pytest.fixture
def hub() -> Any:
    fake = FakeHub()
    yield fake
    fake.close()


def test_users_are_read_page_by_page(hub: FakeHub) -> None:
    hub.page_size = 1
    assert agent.read_hub_users(f"{hub.url}/hub/api", HUB_TOKEN) == HUB_USERS
    offsets = [r.query["offset"] for r in hub.recorder.snapshot()]
    assert offsets == [["0"], ["1"]]
    assert all(r.headers["authorization"] == f"token {HUB_TOKEN}" for r in hub.recorder.snapshot())


@pytest.mark.parametrize("kind", [{"paginates": False}, {"tls": True}], ids=["plain-list", "self-signed-https"])
def test_other_hubs_are_read_too(kind: dict[str, bool]) -> None:
    # A hub before 2.0 answers a plain list. The DSVM's hub serves https with a self-signed certificate,
    # which the agent does not verify on loopback.
    other = FakeHub(**kind)
    with running(other):
        assert agent.read_hub_users(f"{other.url}/hub/api", HUB_TOKEN) == HUB_USERS


def test_a_refused_token_reports_null_not_a_crash(hub: FakeHub) -> None:
    read = lambda: agent.read_hub_users(f"{hub.url}/hub/api", "wrong")  # noqa: E731
    assert agent.guarded("jupyter", read, None) is None


def test_kernels_are_asked_without_counting_as_activity(hub: FakeHub) -> None:
    assert agent.read_busy_kernels({f"{hub.url}/user/alice/"}, HUB_TOKEN) == 1
    (request,) = hub.recorder.snapshot()
    assert request.path == "/user/alice/api/kernels"
    assert request.query["no_track_activity"] == ["1"]
    assert request.headers["authorization"] == f"token {HUB_TOKEN}"


def test_an_unreachable_jupyter_server_counts_no_kernels(hub: FakeHub) -> None:
    assert agent.read_busy_kernels({f"{hub.url}/user/nobody/", "http://127.0.0.1:9/user/gone/"}, HUB_TOKEN) == 0


# --- registration: token, drop-in, include line, restart ----------------------------------------------------

DSVM_HUB_CONFIG = """\
c.JupyterHub.port = 8000
c.JupyterHub.ssl_cert = '/etc/jupyterhub/srv/server.crt'
c.Spawner.default_url = '/lab'
c.JupyterHub.services = [{'name': 'idle-culler', 'command': ['python3', '-m', 'jupyterhub_idle_culler']}]
"""


def load_hub_config(path: Path) -> Config:
    """The config JupyterHub would get from its file (it loads jupyterhub_config.py through traitlets)."""
    return PyFileConfigLoader(path.name, str(path.parent)).load_config()


def resolved(value: Any) -> list[Any]:
    return value.get_value([]) if isinstance(value, LazyConfigValue) else list(value)


def test_setup_registers_the_agent_as_a_hub_service(tmp_path: Path) -> None:
    hub_config = tmp_path / "jupyterhub" / "jupyterhub_config.py"
    hub_config.parent.mkdir()
    hub_config.write_text(DSVM_HUB_CONFIG)
    token_file = tmp_path / "dsvm-agent" / "jupyterhub-token"
    restarts: list[bool] = []

    assert agent.setup_jupyterhub(hub_config, token_file, lambda: restarts.append(True))

    token = token_file.read_text().strip()
    assert len(token) == 64
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    config = load_hub_config(hub_config)
    services = resolved(config.JupyterHub.services)
    assert [s["name"] for s in services] == ["idle-culler", "dsvm-agent"]
    assert services[1]["api_token"] == token
    roles = resolved(config.JupyterHub.load_roles)
    assert roles == [
        {
            "name": "dsvm-agent",
            "scopes": ["list:users", "read:users:activity", "read:servers", "access:servers"],
            "services": ["dsvm-agent"],
        }
    ]
    assert config.Spawner.default_url == "/lab"  # the DSVM's own settings stand
    assert restarts == [True]


def test_setup_twice_changes_nothing_more(tmp_path: Path) -> None:
    hub_config = tmp_path / "jupyterhub_config.py"
    hub_config.write_text("c.JupyterHub.port = 8000")  # no final newline
    token_file = tmp_path / "token"
    restarts: list[bool] = []
    agent.setup_jupyterhub(hub_config, token_file, lambda: restarts.append(True))
    first_token, first_config = token_file.read_text(), hub_config.read_text()
    agent.setup_jupyterhub(hub_config, token_file, lambda: restarts.append(True))
    assert restarts == [True]  # the hub is not restarted again for nothing
    assert token_file.read_text() == first_token
    assert hub_config.read_text() == first_config
    assert first_config.count("load_subconfig") == 1
    # A hub config that set no services gets just the agent's.
    assert [s["name"] for s in resolved(load_hub_config(hub_config).JupyterHub.services)] == ["dsvm-agent"]


def test_without_the_token_file_the_hub_starts_as_before(tmp_path: Path) -> None:
    hub_config = tmp_path / "jupyterhub_config.py"
    hub_config.write_text(DSVM_HUB_CONFIG)
    token_file = tmp_path / "token"
    agent.setup_jupyterhub(hub_config, token_file, lambda: None)
    token_file.unlink()
    config = load_hub_config(hub_config)
    assert [s["name"] for s in resolved(config.JupyterHub.services)] == ["idle-culler"]
    assert resolved(config.JupyterHub.load_roles) == []


def test_setup_on_a_vm_without_jupyterhub_changes_nothing(tmp_path: Path) -> None:
    restarts: list[bool] = []
    assert not agent.setup_jupyterhub(tmp_path / "absent.py", tmp_path / "token", lambda: restarts.append(True))
    assert list(tmp_path.iterdir()) == []
    assert restarts == []
