"""The contract of a replay cache: remember each token id once, across every process of a service.

A service token is single-use within its lifetime; a verifier asks the cache whether it has seen
`iss` + `jti` before. The cache must be shared by all processes of the service, or a token
refused by one worker would be accepted by the next.
"""

from __future__ import annotations

from typing import Protocol


class ReplayCache(Protocol):
    """Remember keys until they expire and tell the first use of a key from any later one."""

    def first_use(self, key: str, expires_at: float) -> bool:
        """Atomically remember `key` until `expires_at` (Unix time).

        Return True the first time, False if the key is already remembered and not expired.
        """
        ...
