"""The Azure Retail Prices API (https://prices.azure.com/api/retail/prices, no auth): the daily refresh of
list prices. Parsing the answer is pure (`shared.core.prices`); this is the HTTP half."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from shared.core.prices import MAX_PAGES, SIZES_PER_QUERY, PriceKey, merge_prices, parse_price_page, price_query

if TYPE_CHECKING:
    from azure.core.pipeline.transport import HttpTransport


def fetch_prices(
    base_url: str,
    sizes: Iterable[str],
    region: str,
    transport: HttpTransport[Any, Any] | None = None,
    *,
    retries: int = 3,
    timeout: float = 30.0,
) -> dict[PriceKey, float]:
    """Ask the Retail Prices API for `sizes` in `region`, following NextPageLink until it is null.

    `base_url` is the prices endpoint (RETAIL_PRICES_URL in Azure; a local server in tests). azure-core's
    pipeline retries transient failures; any error left after that propagates, and the caller falls back
    to its cache or the catalogue. Only the sizes asked for are returned.
    """
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import HeadersPolicy, RetryPolicy
    from azure.core.rest import HttpRequest

    wanted = sorted(set(sizes))
    policies: list[Any] = [HeadersPolicy({"Accept": "application/json"}), RetryPolicy(retry_total=retries)]
    client: PipelineClient[Any, Any] = PipelineClient(base_url, policies=policies, transport=transport)
    found: dict[PriceKey, float] = {}
    with client:
        for first in range(0, len(wanted), SIZES_PER_QUERY):
            chunk = wanted[first : first + SIZES_PER_QUERY]
            request = HttpRequest("GET", base_url, params={"$filter": price_query(chunk, region)})
            for _ in range(MAX_PAGES):
                response = client.send_request(request, connection_timeout=timeout, read_timeout=timeout)
                response.raise_for_status()
                prices, next_link = parse_price_page(response.json())
                found = merge_prices(found, prices)
                if next_link is None:
                    break
                request = HttpRequest("GET", next_link)
            else:
                raise RuntimeError(f"the price API returned more than {MAX_PAGES} pages")
    keep = set(wanted)
    return {key: price for key, price in found.items() if key[0] in keep and key[1] == region}
