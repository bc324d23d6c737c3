"""Session fixtures: Azurite (tables and queue), the ARM simulator and the API under uvicorn, on free ports.

Everything goes over HTTP through the real SDK clients; nothing in the product is replaced by a mock.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.azure.tables import Store
from shared.settings import Settings
from tools.devstack import Stack

# The worker's ARM client backs off briefly between retries (Azure's default is seconds).
WORKER_ENV = {"ARM_RETRY_BACKOFF": "0.05"}
# Simulator settings the API tests start from; a test may PATCH /_sim/config for its own needs.
SIM_DEFAULTS = {"provision_seconds": 0, "transition_seconds": 0, "throttle": False, "page_size": 100}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("stack")
    stack = Stack.on_free_ports(Path(state))
    try:
        stack.start_tables(in_memory=True)
        stack.start_queue(in_memory=True)
        stack.start_arm()
        httpx.patch(f"{stack.arm_url}/_sim/config", json=SIM_DEFAULTS, verify=str(stack.arm_ca)).raise_for_status()
        stack.start_api()
        # The queue worker as make dev runs it, polling often and retrying a failed message soon.
        stack.start_worker("--every", "0.1", "--retry-seconds", "1", env=WORKER_ENV)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def settings(stack: Stack) -> Settings:
    return Settings.model_validate(stack.app_env())


@pytest.fixture(scope="session")
def store(settings: Settings) -> Store:
    store = Store.from_settings(settings)
    store.ensure_tables()
    return store


@pytest.fixture
def sim(stack: Stack) -> Iterator[httpx.Client]:
    """The simulator's control API, reset and re-seeded for each test."""
    with httpx.Client(base_url=f"{stack.arm_url}/_sim", verify=str(stack.arm_ca), timeout=30) as client:
        client.post("/reset").raise_for_status()
        stack.seed()
        client.patch("/config", json=SIM_DEFAULTS).raise_for_status()
        yield client


def issue(store: Store, user: str, admin: bool = False) -> str:
    from shared.auth import issue_token

    return issue_token(store, user, admin)[1]


@pytest.fixture
def user_name() -> str:
    return f"user-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture
def api(stack: Stack, store: Store, user_name: str, sim: httpx.Client) -> Iterator[httpx.Client]:
    """An HTTP client for the API, signed in as a fresh non-admin user."""
    token = issue(store, user_name)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=60) as client:
        yield client


@pytest.fixture
def admin_name() -> str:
    return f"admin-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture
def admin(stack: Stack, store: Store, admin_name: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in as a fresh admin."""
    token = issue(store, admin_name, admin=True)
    with httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        yield client


@pytest.fixture
def vm_name() -> str:
    return f"vm-{uuid.uuid4().hex[:10]}"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
