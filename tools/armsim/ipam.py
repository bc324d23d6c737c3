"""Address allocation. Public IPs come from the documentation ranges (RFC 5737) and then from
100.64.0.0/10 (RFC 6598), sequentially and never reused, so >4 million distinct addresses exist.
Private IPs come from the subnet, skipping the five addresses Azure reserves."""

from __future__ import annotations

import ipaddress
from typing import Any

from .errors import ArmError

_PUBLIC_POOLS = [
    ipaddress.IPv4Network("203.0.113.0/24"),
    ipaddress.IPv4Network("198.51.100.0/24"),
    ipaddress.IPv4Network("192.0.2.0/24"),
    ipaddress.IPv4Network("100.64.0.0/10"),
]


class PublicIpAllocator:
    def __init__(self) -> None:
        self._pool = 0
        self._offset = 1

    def allocate(self) -> str:
        while self._pool < len(_PUBLIC_POOLS):
            network = _PUBLIC_POOLS[self._pool]
            if self._offset < network.num_addresses - 1:
                address = network.network_address + self._offset
                self._offset += 1
                return str(address)
            self._pool += 1
            self._offset = 1
        raise ArmError(400, "PublicIPCountLimitReached", "No public IP addresses left in the simulator's pools.")


class SubnetAddresses:
    """Azure reserves the network address, .1-.3 and the broadcast address of every subnet."""

    def __init__(self, prefix: str) -> None:
        self.network = ipaddress.IPv4Network(prefix, strict=False)
        self._next = 4
        self._free: list[int] = []
        self.used: set[int] = set()

    def allocate(self, subnet_name: str, wanted: str | None = None) -> str:
        if wanted:
            offset = int(ipaddress.IPv4Address(wanted)) - int(self.network.network_address)
            if not 4 <= offset < self.network.num_addresses - 1:
                raise ArmError(
                    400,
                    "PrivateIPAddressNotInSubnet",
                    f"IP address {wanted} does not belong to subnet {subnet_name} with prefix {self.network}.",
                )
            if offset in self.used:
                raise ArmError(400, "PrivateIPAddressInUse", f"IP address {wanted} is already in use.")
        elif self._free:
            offset = min(self._free)
            self._free.remove(offset)
        else:
            if self._next >= self.network.num_addresses - 1:
                raise ArmError(
                    400,
                    "SubnetIsFull",
                    f"Subnet {subnet_name} with address prefix {self.network} does not have enough capacity "
                    "for 1 IP addresses.",
                )
            offset = self._next
            self._next += 1
        self.used.add(offset)
        return str(self.network.network_address + offset)

    def release(self, address: str) -> None:
        offset = int(ipaddress.IPv4Address(address)) - int(self.network.network_address)
        if offset in self.used:
            self.used.discard(offset)
            if offset < self._next:
                self._free.append(offset)

    def state(self) -> dict[str, Any]:
        return {"prefix": str(self.network), "used": len(self.used)}
