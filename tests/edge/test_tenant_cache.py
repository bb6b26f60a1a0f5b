"""The edge's tenant cache is bounded: made-up names neither exhaust it nor push out real sites."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import orjson

from tenantry.platform.client import ServiceResponse
from tenantry.services.edge.tenant_cache import TenantCache

REAL = {f"real-{n}" for n in range(3)}


class FakeCatalog:
    """tcs's `GET /internal/tcs/tenants/by-site/{site}`: the REAL sites exist, every other name
    is a 404."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()

    async def call(self, callee: str, method: str, route: str, **kwargs: Any) -> ServiceResponse:
        site = kwargs["params"]["site"]
        self.asked[site] += 1
        if site not in REAL:
            return ServiceResponse(404, {}, orjson.dumps({"error": "unknown_site"}))
        document = {
            "cloud_id": f"id-{site}",
            "site": site,
            "region": "eu",
            "shard": "eu-1",
            "status": "active",
            "context": "signed",
            "context_expires": time.time() + 300,
        }
        return ServiceResponse(200, {}, orjson.dumps(document))


async def test_a_flood_of_made_up_names_stays_bounded_and_keeps_the_real_sites_cached() -> None:
    catalog = FakeCatalog()
    cache = TenantCache(catalog, max_sites=10, max_unknown_sites=50)  # type: ignore[arg-type]
    for site in sorted(REAL):
        assert (await cache.lookup(site)).tenant is not None

    for n in range(5000):
        assert (await cache.lookup(f"made-up-{n}")).tenant is None

    assert cache.sizes() == (len(REAL), 50)
    for site in REAL:  # still cached: tcs is not asked again
        assert (await cache.lookup(site)).tenant is not None
        assert catalog.asked[site] == 1


async def test_the_oldest_real_site_makes_room_and_is_looked_up_again() -> None:
    catalog = FakeCatalog()
    cache = TenantCache(catalog, max_sites=2, max_unknown_sites=2)  # type: ignore[arg-type]
    first, second, third = sorted(REAL)
    for site in (first, second, third):
        await cache.lookup(site)
    assert cache.sizes() == (2, 0)
    assert (await cache.lookup(first)).tenant is not None
    assert catalog.asked[first] == 2
    assert catalog.asked[third] == 1
