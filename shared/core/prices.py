"""What VMs cost: the shipped price catalogue, cost accrual, and the Azure Retail Prices API.

Prices are hourly Linux pay-as-you-go USD per (size, region). The catalogue in `data/prices.json` holds
list prices (source and date inside it) for when the API cannot be reached; the daily refresh
(`fetch_prices`) replaces them. OS disks bill per month at the smallest tier at least as large as the disk
(256 GB Premium_LRS bills as P15), whether the VM is allocated or not; compute bills only while allocated.

Everything here is pure except `load_catalogue` (reads the shipped file once) and `fetch_prices` (HTTP).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

CATALOGUE_PATH = Path(__file__).parent / "data" / "prices.json"
RETAIL_PRICES_URL = "https://prices.azure.com/api/retail/prices"
HOURS_PER_MONTH = 730.0
# Sizes per API query: keeps the URL short (each size adds ~40 characters to the filter).
SIZES_PER_QUERY = 20
# A guard against a server that never ends its NextPageLink chain.
MAX_PAGES = 100

PriceKey = tuple[str, str]  # (armSkuName, armRegionName)
Prices = Mapping[PriceKey, float]


@dataclass(frozen=True)
class SizeSpec:
    vcpus: int
    memory_gib: float


@dataclass(frozen=True)
class DiskTier:
    tier: str
    size_gib: int
    monthly_usd: float


@dataclass(frozen=True)
class Catalogue:
    source: str
    as_of: str
    prices: dict[PriceKey, float]
    sizes: dict[str, SizeSpec]
    disks: dict[str, list[DiskTier]]


def parse_catalogue(doc: Mapping[str, Any]) -> Catalogue:
    prices: dict[PriceKey, float] = {}
    sizes: dict[str, SizeSpec] = {}
    for size, entry in doc["vm_sizes"].items():
        sizes[size] = SizeSpec(vcpus=int(entry["vcpus"]), memory_gib=float(entry["memory_gib"]))
        for region, price in entry["hourly_usd"].items():
            prices[(size, region)] = float(price)
    disks = {
        disk_type: sorted(
            (DiskTier(str(t["tier"]), int(t["size_gib"]), float(t["monthly_usd"])) for t in tiers),
            key=lambda t: t.size_gib,
        )
        for disk_type, tiers in doc["os_disks"].items()
    }
    return Catalogue(str(doc["source"]), str(doc["as_of"]), prices, sizes, disks)


@lru_cache(maxsize=1)
def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    """The catalogue shipped in the repo (read once per process)."""
    return parse_catalogue(json.loads(path.read_text(encoding="utf-8")))


def hourly_price(prices: Prices, size: str, region: str) -> float | None:
    """Compute price per hour of `size` in `region`, or None if unknown."""
    return prices.get((size, region))


def disk_tier(disk_type: str, size_gb: int, disks: Mapping[str, Sequence[DiskTier]] | None = None) -> DiskTier:
    """The tier a disk bills at: the smallest at least as large; past the largest, the largest scaled by size."""
    tiers = (disks if disks is not None else load_catalogue().disks).get(str(disk_type))
    if not tiers:
        raise ValueError(f"no disk prices for {disk_type}")
    for tier in tiers:
        if tier.size_gib >= size_gb:
            return tier
    largest = tiers[-1]
    return DiskTier(largest.tier, size_gb, largest.monthly_usd * size_gb / largest.size_gib)


def disk_monthly_price(disk_type: str, size_gb: int, disks: Mapping[str, Sequence[DiskTier]] | None = None) -> float:
    """Monthly USD of a managed disk of `size_gb` of `disk_type` (Premium_LRS, StandardSSD_LRS, Standard_LRS)."""
    return disk_tier(disk_type, size_gb, disks).monthly_usd


def burn_rate(allocated: bool, compute_hourly: float | None, disk_monthly: float) -> float:
    """USD per hour right now: compute while allocated (0 if its price is unknown), the disk always."""
    compute = (compute_hourly or 0.0) if allocated else 0.0
    return compute + disk_monthly / HOURS_PER_MONTH


def accrue(
    start: datetime, end: datetime, *, allocated: bool, compute_hourly: float | None, disk_monthly: float
) -> float:
    """USD cost of the interval [start, end) spent in one allocation state; 0 for an empty or reversed interval."""
    hours = (end - start).total_seconds() / 3600.0
    if hours <= 0:
        return 0.0
    return hours * burn_rate(allocated, compute_hourly, disk_monthly)


def vm_burn_rate(
    prices: Prices, size: str, region: str, disk_type: str, disk_gb: int, allocated: bool
) -> tuple[float, bool]:
    """(USD per hour, whether the compute price was known) for one VM."""
    hourly = hourly_price(prices, size, region)
    return burn_rate(allocated, hourly, disk_monthly_price(disk_type, disk_gb)), hourly is not None


# --- The Retail Prices API (https://prices.azure.com/api/retail/prices) ---


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def price_query(sizes: Iterable[str], region: str) -> str:
    """The OData `$filter` for Linux/Windows consumption prices of `sizes` in `region` (Windows is dropped later).

    The size clauses are parenthesised: `and` binds tighter than `or` in OData.
    """
    names = sorted(set(sizes))
    if not names:
        raise ValueError("at least one size is needed")
    skus = " or ".join(f"armSkuName eq {_quote(name)}" for name in names)
    return (
        f"serviceName eq 'Virtual Machines' and armRegionName eq {_quote(region)} "
        f"and priceType eq 'Consumption' and ({skus})"
    )


def _usable(item: Mapping[str, Any]) -> bool:
    """A Linux pay-as-you-go hourly USD row (no Windows, Spot, Low Priority, reservation or savings plan)."""
    names = f"{item.get('skuName') or ''} {item.get('meterName') or ''}"
    return (
        "Windows" not in str(item.get("productName") or "")
        and "Spot" not in names
        and "Low Priority" not in names
        and item.get("type", "Consumption") == "Consumption"
        and item.get("unitOfMeasure") == "1 Hour"
        and item.get("currencyCode", "USD") == "USD"
        and bool(item.get("armSkuName"))
        and bool(item.get("armRegionName"))
        and isinstance(item.get("retailPrice"), int | float)
        and item["retailPrice"] > 0
    )


def parse_price_page(page: Mapping[str, Any]) -> tuple[dict[PriceKey, float], str | None]:
    """The usable prices on one API page (the lowest per (size, region)) and the next page's URL, or None.

    Rows for a primary meter region win over the others for the same (size, region).
    """
    best: dict[PriceKey, tuple[bool, float]] = {}
    for item in page.get("Items") or []:
        if not isinstance(item, Mapping) or not _usable(item):
            continue
        key = (str(item["armSkuName"]), str(item["armRegionName"]))
        rank = (item.get("isPrimaryMeterRegion") is False, float(item["retailPrice"]))
        if key not in best or rank < best[key]:
            best[key] = rank
    next_link = page.get("NextPageLink")
    return {key: price for key, (_, price) in best.items()}, (str(next_link) if next_link else None)


def merge_prices(*pages: Mapping[PriceKey, float]) -> dict[PriceKey, float]:
    """Prices from several pages, the lowest per (size, region)."""
    merged: dict[PriceKey, float] = {}
    for page in pages:
        for key, price in page.items():
            merged[key] = min(price, merged.get(key, price))
    return merged
