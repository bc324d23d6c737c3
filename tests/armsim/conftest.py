"""Fixtures for talking to the ARM simulator through the real Azure SDK clients.

- `armsim` (session): the simulator running in a subprocess; `.url`, `.ca`, `.control()`.
- `arm` (function): a reset, seeded simulator (provision/transition 0 s, throttling off) plus
  Compute/Network/Resource clients, the seeded subnet id and a `SimControl` as `.sim`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from tools.armsim.client import SimControl, SimProcess, StaticTokenCredential, sdk_kwargs

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
RESOURCE_GROUP = "rg-dsvm-workload"
LOCATION = "eastus"


@dataclass
class ArmEnv:
    url: str
    ca: str
    sim: SimControl
    credential: StaticTokenCredential
    compute: ComputeManagementClient
    network: NetworkManagementClient
    resources: ResourceManagementClient
    subscription: str
    resource_group: str
    location: str
    subnet_id: str

    def client_kwargs(self, **extra: Any) -> dict[str, Any]:
        return sdk_kwargs(self.url, self.ca, **extra)


@pytest.fixture(scope="session")
def armsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    cert_dir: Path = tmp_path_factory.mktemp("armsim-certs")
    with SimProcess(cert_dir, "--provision-seconds", "0", "--transition-seconds", "0", "--no-throttle") as process:
        yield process


@pytest.fixture
def arm(armsim: SimProcess) -> Iterator[ArmEnv]:
    sim = armsim.control()
    sim.reset()
    sim.config(provision_seconds=0, transition_seconds=0, throttle=False, retry_after_seconds=0)
    seeded = sim.seed(
        subscription=SUBSCRIPTION,
        resource_group=RESOURCE_GROUP,
        location=LOCATION,
        vnet="vnet-dsvm",
        address_prefix="10.20.0.0/16",
        subnet="snet-dsvm",
        subnet_prefix="10.20.0.0/20",
    )
    credential = StaticTokenCredential()
    kwargs = sdk_kwargs(armsim.url, armsim.ca)
    env = ArmEnv(
        url=armsim.url,
        ca=armsim.ca,
        sim=sim,
        credential=credential,
        compute=ComputeManagementClient(credential, SUBSCRIPTION, **kwargs),
        network=NetworkManagementClient(credential, SUBSCRIPTION, **kwargs),
        resources=ResourceManagementClient(credential, SUBSCRIPTION, **kwargs),
        subscription=SUBSCRIPTION,
        resource_group=RESOURCE_GROUP,
        location=LOCATION,
        subnet_id=seeded["subnet_id"],
    )
    yield env
    env.compute.close()
    env.network.close()
    env.resources.close()
    sim.close()
