"""A replay cache in Redis, shared by every process of a service across machines.

The scale-out choice: `SET key 1 NX EXAT` checks and records in one atomic command, and Redis
forgets the key by itself when the token could no longer be accepted anyway. The client is
redis-py's asyncio one, so a request waiting on Redis leaves the event loop to the others.
"""

from __future__ import annotations

import math
import time

import redis.asyncio

from tenantry.platform.replay import ReplayStoreUnavailable


class RedisReplayCache:
    """Remember token ids as Redis keys under `prefix`, each expiring with its token.

    Use it from one event loop: its connections belong to the loop that opened them.
    """

    def __init__(
        self, url: str, *, prefix: str = "tenantry:replay:", socket_timeout: float = 1.0
    ) -> None:
        self._prefix = prefix
        self._redis = redis.asyncio.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )

    async def first_use(self, key: str, expires_at: float) -> bool:
        """Atomically remember `key` until `expires_at`; True only the first time."""
        # Redis refuses or instantly drops a past expiry; keep such a key for a second instead.
        expire_at = max(math.ceil(expires_at), math.floor(time.time()) + 1)
        try:
            stored = await self._redis.set(self._prefix + key, b"1", nx=True, exat=expire_at)
        except redis.RedisError as exc:
            raise ReplayStoreUnavailable(f"redis: {exc}") from exc
        return bool(stored)

    async def close(self) -> None:
        """Release the connection pool."""
        await self._redis.aclose()
