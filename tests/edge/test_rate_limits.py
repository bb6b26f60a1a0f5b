"""Per-tenant and per-address limits refuse the excess with 429 and a Retry-After, and keep
tenants apart; with Redis, every edge of a fleet shares the counts."""

from __future__ import annotations

import uuid

import pytest

from tenantry.platform.errors import ApiError
from tenantry.platform.topology import EdgeLimits
from tenantry.services.edge.rate_limits import RateLimits

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize("redis_url", [None, REDIS_URL])
async def test_a_tenant_over_its_limit_gets_429_and_others_do_not(redis_url: str | None) -> None:
    limits = RateLimits(EdgeLimits(per_tenant="5/minute", per_client_ip="2/minute"), redis_url)
    noisy, quiet = f"noisy-{uuid.uuid4()}", f"quiet-{uuid.uuid4()}"
    for _ in range(5):
        await limits.check_tenant(noisy)
    with pytest.raises(ApiError) as refused:
        await limits.check_tenant(noisy)
    assert refused.value.status == 429
    assert refused.value.code == "rate_limited"
    assert int(refused.value.headers["Retry-After"]) >= 1
    await limits.check_tenant(quiet)


async def test_edges_sharing_redis_share_the_count() -> None:
    tenant = f"shared-{uuid.uuid4()}"
    first = RateLimits(EdgeLimits(per_tenant="3/minute"), REDIS_URL)
    second = RateLimits(EdgeLimits(per_tenant="3/minute"), REDIS_URL)
    await first.check_tenant(tenant)
    await second.check_tenant(tenant)
    await first.check_tenant(tenant)
    with pytest.raises(ApiError):
        await second.check_tenant(tenant)


async def test_anonymous_clients_are_limited_by_address() -> None:
    limits = RateLimits(EdgeLimits(per_client_ip="2/minute"))
    await limits.check_client("10.0.0.1")
    await limits.check_client("10.0.0.1")
    with pytest.raises(ApiError):
        await limits.check_client("10.0.0.1")
    await limits.check_client("10.0.0.2")
