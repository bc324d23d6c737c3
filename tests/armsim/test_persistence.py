"""--state-file: the simulated world survives a restart of the simulator process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from tools.armsim.client import SimControl, SimProcess, StaticTokenCredential, sdk_kwargs

from .conftest import LOCATION, RESOURCE_GROUP, SUBSCRIPTION
from .test_armsim import nsg_body, vm_body


@contextmanager
def simulator(certs: Path, state: Path, *extra: str) -> Iterator[tuple[SimProcess, ComputeManagementClient,
                                                                   NetworkManagementClient, SimControl]]:  # fmt: skip
    with SimProcess(certs, "--state-file", str(state), "--no-throttle", *extra) as process:
        kwargs = sdk_kwargs(process.url, process.ca)
        credential = StaticTokenCredential()
        compute = ComputeManagementClient(credential, SUBSCRIPTION, **kwargs)
        network = NetworkManagementClient(credential, SUBSCRIPTION, **kwargs)
        control = process.control()
        try:
            yield process, compute, network, control
        finally:
            compute.close()
            network.close()
            control.close()


def _env_for_body(subnet_id: str) -> Any:
    """What vm_body reads from an ArmEnv."""
    return SimpleNamespace(location=LOCATION, subnet_id=subnet_id)


def test_a_restart_on_the_same_state_file_keeps_vm_nic_ip_and_disk(tmp_path: Path) -> None:
    certs, state = tmp_path / "certs", tmp_path / "armsim" / "state.json"
    with simulator(certs, state, "--provision-seconds", "0", "--transition-seconds", "0") as (_, compute, network, sim):
        subnet_id = sim.seed(subscription=SUBSCRIPTION, resource_group=RESOURCE_GROUP, location=LOCATION)["subnet_id"]
        nsg = network.network_security_groups.begin_create_or_update(
            RESOURCE_GROUP, "keep-nsg", nsg_body(LOCATION)
        ).result()
        vm = compute.virtual_machines.begin_create_or_update(
            RESOURCE_GROUP, "keep", vm_body(_env_for_body(subnet_id), "keep", nsg_id=nsg.id)
        ).result()
        ip = network.public_ip_addresses.get(RESOURCE_GROUP, "keep-ip").ip_address
        sim.config(provision_seconds=300)
        compute.virtual_machines.begin_create_or_update(
            RESOURCE_GROUP, "later", vm_body(_env_for_body(subnet_id), "later")
        )
        sim.advance(100)
        before = sim.clock()["now"]
    assert json.loads(state.read_text())["version"] == 1

    with simulator(certs, state) as (_, compute, network, sim):
        again = compute.virtual_machines.get(RESOURCE_GROUP, "keep", expand="instanceView")
        assert again.vm_id == vm.vm_id
        assert [s.code for s in again.instance_view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
        nic = network.network_interfaces.get(RESOURCE_GROUP, "keep-nic")
        assert nic.virtual_machine.id == vm.id
        assert nic.network_security_group.id == nsg.id
        assert network.public_ip_addresses.get(RESOURCE_GROUP, "keep-ip").ip_address == ip
        disk = compute.disks.get(RESOURCE_GROUP, vm.storage_profile.os_disk.name)
        assert disk.managed_by == vm.id
        assert sim.clock()["now"] >= before  # the simulator clock goes on from where it stopped
        # The in-flight create finishes on time, and the allocators go on without reusing anything.
        assert compute.virtual_machines.get(RESOURCE_GROUP, "later").provisioning_state == "Creating"
        sim.advance(201)
        assert compute.virtual_machines.get(RESOURCE_GROUP, "later").provisioning_state == "Succeeded"
        assert network.public_ip_addresses.get(RESOURCE_GROUP, "later-ip").ip_address not in (ip, None)
        assert network.network_interfaces.get(RESOURCE_GROUP, "later-nic").ip_configurations[0].private_ip_address != (
            nic.ip_configurations[0].private_ip_address
        )
        assert [v["name"] for v in sim.history()["vms"]] == ["keep", "later"]
        compute.virtual_machines.begin_delete(RESOURCE_GROUP, "keep").result()
        sim.reset()

    with simulator(certs, state) as (_, compute, network, sim):
        assert sim.resources() == []


def test_changes_are_saved_within_about_a_second(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with simulator(tmp_path / "certs", state) as (_, _compute, _network, sim):
        sim.seed(subscription=SUBSCRIPTION, resource_group=RESOURCE_GROUP, location=LOCATION)
        deadline = time.monotonic() + 5
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert state.exists()
        saved = json.loads(state.read_text())
        assert any(r["type"] == "Microsoft.Network/virtualNetworks" for r in saved["resources"])
        assert not list(tmp_path.glob("*.tmp"))


def test_a_state_file_from_another_version_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"version": 0}))
    with pytest.raises(RuntimeError):
        SimProcess(tmp_path / "certs", "--state-file", str(state)).start(timeout=10)
