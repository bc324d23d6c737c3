"""Prices: the shipped catalogue, disk tiers, accrual, and the Retail Prices API pages (parsed, and fetched
from a local HTTP server serving recorded-looking pages)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import ServiceRequestError

from shared.azure.retail_prices import fetch_prices
from shared.core.prices import (
    HOURS_PER_MONTH,
    accrue,
    burn_rate,
    disk_monthly_price,
    disk_tier,
    hourly_price,
    load_catalogue,
    merge_prices,
    parse_price_page,
    price_query,
)
from shared.settings import Settings


def item(sku: str, price: float, region: str = "eastus", **extra: Any) -> dict[str, Any]:
    """One row as the Retail Prices API returns it (Linux pay-as-you-go unless `extra` says otherwise)."""
    short = sku.removeprefix("Standard_").replace("_", " ")
    first, *rest = short.split() or [""]
    series = "".join(c for c in first if not c.isdigit()) + "".join(rest[-1:])  # E4s v5 -> Esv5
    row: dict[str, Any] = {
        "currencyCode": "USD",
        "tierMinimumUnits": 0.0,
        "retailPrice": price,
        "unitPrice": price,
        "armRegionName": region,
        "location": {"eastus": "US East", "westeurope": "EU West"}.get(region, region),
        "effectiveStartDate": "2023-04-01T00:00:00Z",
        "meterId": "7d1c2d4c-2d2b-5d0e-9a7e-1c5a0f3e2b11",
        "meterName": short,
        "productId": "DZH318Z0CSHH",
        "skuId": "DZH318Z0CSHH/00G4",
        "productName": f"Virtual Machines {series} Series",
        "skuName": short,
        "serviceName": "Virtual Machines",
        "serviceId": "DZH313Z7MMC8",
        "serviceFamily": "Compute",
        "unitOfMeasure": "1 Hour",
        "type": "Consumption",
        "isPrimaryMeterRegion": True,
        "armSkuName": sku,
    }
    row.update(extra)
    return row


def page(items: list[dict[str, Any]], next_link: str | None = None) -> dict[str, Any]:
    return {
        "BillingCurrency": "USD",
        "CustomerEntityId": "Default",
        "CustomerEntityType": "Retail",
        "Items": items,
        "NextPageLink": next_link,
        "Count": len(items),
    }


PAGE_ONE = page(
    [
        item("Standard_E4s_v5", 0.252),
        item(
            "Standard_E4s_v5",
            0.436,
            productName="Virtual Machines Esv5 Series Windows",
        ),
        item("Standard_E4s_v5", 0.0504, skuName="E4s v5 Spot", meterName="E4s v5 Spot"),
        item("Standard_E4s_v5", 0.0504, skuName="E4s v5 Low Priority", meterName="E4s v5 Low Priority"),
        item("Standard_D4s_v5", 0.192),
        item("Standard_D4s_v5", 0.199, isPrimaryMeterRegion=False),
        item("Standard_D4s_v5", 0.188, isPrimaryMeterRegion=False),
    ],
    next_link="https://prices.azure.com:443/api/retail/prices?$filter=serviceName%20eq%20%27Virtual%20Machines%27&$skip=100",
)


# --- the API's filter and pages ---


def test_price_query_groups_the_sizes_in_parentheses() -> None:
    query = price_query(["Standard_E4s_v5", "Standard_D4s_v5", "Standard_E4s_v5"], "westeurope")
    assert query == (
        "serviceName eq 'Virtual Machines' and armRegionName eq 'westeurope' and priceType eq 'Consumption' "
        "and (armSkuName eq 'Standard_D4s_v5' or armSkuName eq 'Standard_E4s_v5')"
    )


def test_price_query_quotes_and_needs_a_size() -> None:
    assert "armSkuName eq 'O''Brien'" in price_query(["O'Brien"], "eastus")
    with pytest.raises(ValueError):
        price_query([], "eastus")


def test_parse_keeps_linux_pay_as_you_go_only() -> None:
    prices, next_link = parse_price_page(PAGE_ONE)
    # Windows, Spot and Low Priority rows are dropped; the primary-region meter wins over cheaper others.
    assert prices == {("Standard_E4s_v5", "eastus"): 0.252, ("Standard_D4s_v5", "eastus"): 0.192}
    assert next_link is not None and "$skip=100" in next_link


def test_parse_takes_the_lowest_of_several_and_skips_other_units() -> None:
    prices, next_link = parse_price_page(
        page(
            [
                item("Standard_E8s_v5", 0.51),
                item("Standard_E8s_v5", 0.504),
                item("Standard_E8s_v5", 12.0, unitOfMeasure="1/Month"),
                item("Standard_E8s_v5", 0.3, type="Reservation", reservationTerm="1 Year"),
                item("Standard_E8s_v5", 0.0, skuName="E8s v5"),
                item("Standard_E8s_v5", 0.4, currencyCode="EUR"),
                item("Standard_E8s_v5", 0.1, armSkuName=""),
            ]
        )
    )
    assert prices == {("Standard_E8s_v5", "eastus"): 0.504}
    assert next_link is None


def test_parse_an_empty_or_odd_page() -> None:
    assert parse_price_page({"Items": [], "NextPageLink": None, "Count": 0}) == ({}, None)
    assert parse_price_page({}) == ({}, None)


def test_merge_prices_keeps_the_lowest() -> None:
    merged = merge_prices({("a", "r"): 2.0, ("b", "r"): 1.0}, {("a", "r"): 1.5})
    assert merged == {("a", "r"): 1.5, ("b", "r"): 1.0}


# --- fetch_prices over HTTP against a local server ---


class _Recorded(BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, dict[str, Any]]] = {}
    seen: ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        type(self).seen.append(query)
        body = json.dumps(self.pages["2" if query.get("$skip") == ["100"] else "1"]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def price_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorded)
    base = f"http://127.0.0.1:{server.server_address[1]}/api/retail/prices"
    _Recorded.seen = []
    _Recorded.pages = {
        "1": page(
            [
                item("Standard_E4s_v5", 0.252),
                item("Standard_D4s_v5", 0.192, productName="Virtual Machines Dsv5 Series Windows"),
            ],
            next_link=f"{base}?$filter=serviceName%20eq%20%27Virtual%20Machines%27&$skip=100",
        ),
        "2": page([item("Standard_D4s_v5", 0.192), item("Standard_F2s_v2", 0.0846)]),
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_prices_follows_next_page_link(price_server: str) -> None:
    prices = fetch_prices(price_server, ["Standard_E4s_v5", "Standard_D4s_v5"], "eastus", retries=0)
    # F2s_v2 was not asked for; D4s_v5's Windows row on page 1 is dropped, its Linux row on page 2 kept.
    assert prices == {("Standard_E4s_v5", "eastus"): 0.252, ("Standard_D4s_v5", "eastus"): 0.192}
    first, second = _Recorded.seen
    assert first["$filter"] == [price_query(["Standard_E4s_v5", "Standard_D4s_v5"], "eastus")]
    assert second["$skip"] == ["100"]


def test_fetch_prices_raises_when_the_server_is_down() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorded)
    port = server.server_address[1]
    server.server_close()
    with pytest.raises(ServiceRequestError):  # the caller falls back to its cache or the catalogue
        fetch_prices(f"http://127.0.0.1:{port}/api/retail/prices", ["Standard_E4s_v5"], "eastus", retries=0, timeout=2)


# --- the catalogue, disks and accrual ---


def test_catalogue_covers_the_default_sizes_in_three_regions() -> None:
    catalogue = load_catalogue()
    assert catalogue.source and catalogue.as_of
    defaults = Settings.model_fields["allowed_sizes"].default
    extra = [f"Standard_D{n}s_v3" for n in (2, 4, 8, 16)]
    extra += [f"Standard_E{n}s_{v}" for n in (2, 4, 8, 16, 20, 32, 48, 64) for v in ("v3", "v4", "v5")]
    extra += [f"Standard_F{n}s_v2" for n in (2, 4, 8, 16)] + ["Standard_NC6s_v3", "Standard_NC4as_T4_v3"]
    for size in [*defaults, *extra]:
        assert catalogue.sizes[size].vcpus > 0
        for region in ("eastus", "westeurope", "northeurope"):
            price = hourly_price(catalogue.prices, size, region)
            assert price is not None and 0 < price < 10, (size, region)
    assert catalogue.sizes["Standard_E4s_v5"].memory_gib == 32
    assert hourly_price(catalogue.prices, "Standard_E4s_v5", "eastus") == 0.252
    assert hourly_price(catalogue.prices, "Standard_E4s_v5", "mars") is None


@pytest.mark.parametrize(
    ("disk_type", "size_gb", "tier"),
    [
        ("Premium_LRS", 256, "P15"),
        ("Premium_LRS", 257, "P20"),
        ("Premium_LRS", 30, "P4"),
        ("Premium_LRS", 4095, "P50"),
        ("StandardSSD_LRS", 128, "E10"),
        ("StandardSSD_LRS", 1000, "E30"),
        ("Standard_LRS", 10, "S4"),
        ("Standard_LRS", 64, "S6"),
    ],
)
def test_disks_bill_at_the_tier_at_least_their_size(disk_type: str, size_gb: int, tier: str) -> None:
    assert disk_tier(disk_type, size_gb).tier == tier


def test_disk_prices() -> None:
    assert disk_monthly_price("Premium_LRS", 256) == 38.02
    assert disk_monthly_price("Premium_LRS", 8192) == pytest.approx(495.57 * 2)
    with pytest.raises(ValueError):
        disk_monthly_price("UltraSSD_LRS", 256)


def test_accrue_counts_compute_only_while_allocated() -> None:
    start = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    disk = disk_monthly_price("Premium_LRS", 256)
    running = accrue(start, start + timedelta(hours=2), allocated=True, compute_hourly=0.252, disk_monthly=disk)
    assert running == pytest.approx(2 * 0.252 + 2 * disk / HOURS_PER_MONTH)
    stopped = accrue(start, start + timedelta(hours=2), allocated=False, compute_hourly=0.252, disk_monthly=disk)
    assert stopped == pytest.approx(2 * disk / HOURS_PER_MONTH)
    assert accrue(start, start, allocated=True, compute_hourly=0.252, disk_monthly=disk) == 0
    assert accrue(start, start - timedelta(hours=1), allocated=True, compute_hourly=0.252, disk_monthly=disk) == 0


def test_burn_rate() -> None:
    assert burn_rate(True, 0.252, 73.0) == pytest.approx(0.352)
    assert burn_rate(False, 0.252, 73.0) == pytest.approx(0.1)
    assert burn_rate(True, None, 73.0) == pytest.approx(0.1)
