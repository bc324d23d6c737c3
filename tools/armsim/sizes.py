"""VM size catalogue. Cores, memory, data-disk and temp-disk figures as published on
learn.microsoft.com/azure/virtual-machines/sizes (Dsv3/Dsv4/Dsv5, Esv3/Esv4/Esv5, Fsv2, M, NCv3, NCasT4_v3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VmSize:
    name: str
    cores: int
    memory_mb: int
    max_data_disks: int
    resource_disk_mb: int
    os_disk_mb: int = 1047552

    def as_arm(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "numberOfCores": self.cores,
            "osDiskSizeInMB": self.os_disk_mb,
            "resourceDiskSizeInMB": self.resource_disk_mb,
            "memoryInMB": self.memory_mb,
            "maxDataDiskCount": self.max_data_disks,
        }


GIB = 1024

_SIZES = [
    VmSize("Standard_B2s", 2, 4 * GIB, 4, 8 * GIB),
    VmSize("Standard_D1_v2", 1, 3584, 4, 50 * GIB),
    VmSize("Standard_DS3_v2", 4, 14 * GIB, 16, 28 * GIB),
    VmSize("Standard_D2s_v3", 2, 8 * GIB, 4, 16 * GIB),
    VmSize("Standard_D4s_v3", 4, 16 * GIB, 8, 32 * GIB),
    VmSize("Standard_D8s_v3", 8, 32 * GIB, 16, 64 * GIB),
    VmSize("Standard_D16s_v3", 16, 64 * GIB, 32, 128 * GIB),
    VmSize("Standard_D32s_v3", 32, 128 * GIB, 32, 256 * GIB),
    VmSize("Standard_D64s_v3", 64, 256 * GIB, 32, 512 * GIB),
    VmSize("Standard_D2s_v4", 2, 8 * GIB, 4, 0),
    VmSize("Standard_D4s_v4", 4, 16 * GIB, 8, 0),
    VmSize("Standard_D8s_v4", 8, 32 * GIB, 16, 0),
    VmSize("Standard_D2s_v5", 2, 8 * GIB, 4, 0),
    VmSize("Standard_D4s_v5", 4, 16 * GIB, 8, 0),
    VmSize("Standard_D8s_v5", 8, 32 * GIB, 16, 0),
    VmSize("Standard_D16s_v5", 16, 64 * GIB, 32, 0),
    VmSize("Standard_D32s_v5", 32, 128 * GIB, 32, 0),
    VmSize("Standard_D64s_v5", 64, 256 * GIB, 32, 0),
    VmSize("Standard_E2s_v3", 2, 16 * GIB, 4, 32 * GIB),
    VmSize("Standard_E4s_v3", 4, 32 * GIB, 8, 64 * GIB),
    VmSize("Standard_E8s_v3", 8, 64 * GIB, 16, 128 * GIB),
    VmSize("Standard_E16s_v3", 16, 128 * GIB, 32, 256 * GIB),
    VmSize("Standard_E32s_v3", 32, 256 * GIB, 32, 512 * GIB),
    VmSize("Standard_E64s_v3", 64, 432 * GIB, 32, 864 * GIB),
    VmSize("Standard_E2s_v4", 2, 16 * GIB, 4, 0),
    VmSize("Standard_E4s_v4", 4, 32 * GIB, 8, 0),
    VmSize("Standard_E8s_v4", 8, 64 * GIB, 16, 0),
    VmSize("Standard_E16s_v4", 16, 128 * GIB, 32, 0),
    VmSize("Standard_E32s_v4", 32, 256 * GIB, 32, 0),
    VmSize("Standard_E64s_v4", 64, 504 * GIB, 32, 0),
    VmSize("Standard_E2s_v5", 2, 16 * GIB, 4, 0),
    VmSize("Standard_E4s_v5", 4, 32 * GIB, 8, 0),
    VmSize("Standard_E8s_v5", 8, 64 * GIB, 16, 0),
    VmSize("Standard_E16s_v5", 16, 128 * GIB, 32, 0),
    VmSize("Standard_E32s_v5", 32, 256 * GIB, 32, 0),
    VmSize("Standard_E64s_v5", 64, 512 * GIB, 32, 0),
    VmSize("Standard_F2s_v2", 2, 4 * GIB, 4, 16 * GIB),
    VmSize("Standard_F4s_v2", 4, 8 * GIB, 8, 32 * GIB),
    VmSize("Standard_F8s_v2", 8, 16 * GIB, 16, 64 * GIB),
    VmSize("Standard_F16s_v2", 16, 32 * GIB, 32, 128 * GIB),
    VmSize("Standard_F32s_v2", 32, 64 * GIB, 32, 256 * GIB),
    VmSize("Standard_F48s_v2", 48, 96 * GIB, 32, 384 * GIB),
    VmSize("Standard_F64s_v2", 64, 128 * GIB, 32, 512 * GIB),
    VmSize("Standard_F72s_v2", 72, 144 * GIB, 32, 576 * GIB),
    VmSize("Standard_M64s", 64, 1024 * GIB, 64, 2048 * GIB),
    VmSize("Standard_M128s", 128, 2048 * GIB, 64, 4096 * GIB),
    VmSize("Standard_NC6s_v3", 6, 112 * GIB, 12, 736 * GIB),
    VmSize("Standard_NC12s_v3", 12, 224 * GIB, 24, 1474 * GIB),
    VmSize("Standard_NC24s_v3", 24, 448 * GIB, 32, 2948 * GIB),
    VmSize("Standard_NC4as_T4_v3", 4, 28 * GIB, 8, 180 * GIB),
    VmSize("Standard_NC8as_T4_v3", 8, 56 * GIB, 16, 360 * GIB),
]

SIZES: dict[str, VmSize] = {size.name.lower(): size for size in _SIZES}


def find_size(name: str) -> VmSize | None:
    return SIZES.get(name.lower())


def all_sizes() -> list[VmSize]:
    return list(_SIZES)
