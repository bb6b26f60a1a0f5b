"""Per-tenant and per-client-address request limits, so one tenant cannot starve the others."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from tenantry.platform.errors import ApiError
from tenantry.platform.topology import EdgeLimits


def limit_storage(redis_url: str | None) -> Storage:
    """Redis when configured, so every edge of a fleet shares the counts; memory otherwise."""
    if redis_url:
        # redis-py is already a dependency; the default client would need another one.
        return RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            key_prefix="tenantry-limits",
            wrap_exceptions=True,
        )
    return MemoryStorage()


class RateLimits:
    """Checks a request against the limit for its tenant, or its address when anonymous."""

    def __init__(self, limits: EdgeLimits, redis_url: str | None = None) -> None:
        self.storage = limit_storage(redis_url)
        """Where the counts live; the login throttle keeps its counts there too."""
        self._limiter = SlidingWindowCounterRateLimiter(self.storage)
        self._per_tenant: list[RateLimitItem] = parse_many(limits.per_tenant)
        self._per_ip: list[RateLimitItem] = parse_many(limits.per_client_ip)

    async def check_tenant(self, cloud_id: str) -> None:
        """Refuse with 429 when the tenant is over any of its limits."""
        await self._check(self._per_tenant, "tenant", cloud_id)

    async def check_client(self, address: str) -> None:
        """Refuse with 429 when an anonymous client address is over its limits."""
        await self._check(self._per_ip, "ip", address)

    async def _check(self, items: list[RateLimitItem], kind: str, key: str) -> None:
        with counting():
            await self._hit_all(items, kind, key)

    async def _hit_all(self, items: list[RateLimitItem], kind: str, key: str) -> None:
        for item in items:
            if not await self._limiter.hit(item, kind, key):
                stats = await self._limiter.get_window_stats(item, kind, key)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"over the {kind} limit of {item}",
                    headers={"Retry-After": str(retry_after)},
                )


@contextlib.contextmanager
def counting() -> Iterator[None]:
    """Turn a count store that cannot answer into 503 `rate_limit_store_unavailable`.

    Fail closed, as the services' replay check does: a limit that cannot be counted is not
    waved through (it is what stops password guessing at the login).
    """
    try:
        yield
    except StorageError as exc:
        raise ApiError(
            503,
            "rate_limit_store_unavailable",
            "the request rate cannot be checked now",
            headers={"Retry-After": "1"},
        ) from exc
