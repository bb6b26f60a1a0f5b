"""The contract of a replay cache: remember each token id once, across every process of a service.

A service token is single-use within its lifetime; a verifier asks the cache whether it has seen
`iss` + `jti` before. The cache must be shared by all processes of the service, or a token
refused by one worker would be accepted by the next.

The check is a coroutine because the shared store may be across a network (Redis for a fleet):
waiting for it must leave the event loop free to serve other requests.
"""

from __future__ import annotations

from typing import Protocol


class ReplayStoreUnavailable(Exception):
    """The shared store could not say whether a token id is new; the token must be refused."""


class ReplayCache(Protocol):
    """Remember keys until they expire and tell the first use of a key from any later one."""

    async def first_use(self, key: str, expires_at: float) -> bool:
        """Atomically remember `key` until `expires_at` (Unix time).

        Return True the first time, False if the key is already remembered and not expired.
        Raise ReplayStoreUnavailable when the store cannot answer.
        """
        ...
