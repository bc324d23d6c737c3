"""OS disk sizes of the marketplace images the product uses: Compute refuses an OS disk smaller than its
image's and gives a disk created without `diskSizeGB` the image's size.

- microsoft-dsvm/ubuntu-2204/2204-gen2: 150 GB. The DSVM Ubuntu images' disk "in the VM image: 150 GB"
  (github.com/skypilot-org/skypilot/issues/2219, SkyPilot's Azure default is a DSVM Ubuntu image); the
  one-file DSVM guide and other DSVM templates set diskSizeGB 150 as the minimum (tools/armsim/README.md).
- Canonical/0001-com-ubuntu-server-jammy/22_04-lts-gen2: 30 GB ("...in the VM image: 30 GB" for Ubuntu,
  github.com/scalar-labs/scalar-terraform/pull/230; 30 GB root disk by default,
  github.com/cloud-barista/cb-spider/pull/1561).
Any other image is taken as 30 GB, the usual size of Linux marketplace images."""

from __future__ import annotations

from typing import Any

DEFAULT_OS_DISK_GB = 30
_OS_DISK_GB = {
    ("microsoft-dsvm", "ubuntu-2204", "2204-gen2"): 150,
    ("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"): 30,
}


def os_disk_gb(image: dict[str, Any]) -> int:
    def part(name: str) -> str:
        return str(image.get(name) or "").lower()

    return _OS_DISK_GB.get((part("publisher"), part("offer"), part("sku")), DEFAULT_OS_DISK_GB)
