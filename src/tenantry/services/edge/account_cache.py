"""The edge's picture of each signed-in account, kept current by following identity's feed.

A user token proves who signed in, once; what the account may do now is identity's to say. So
for every request the edge holds, per account: its current role, whether it is active, its
token generation (tokens issued before the current one are revoked) and the ids of its single
revoked tokens (logouts). A deleted account is held as "no such account". A change in identity
(role, standing, tokens, deletion) drops the account here within milliseconds through the
long-poll of its `follower`; the next request looks it up again. If the feed is lost, everything is
dropped and looked up again, so a revocation is never missed for long. An answer of identity
to a change made through this edge names the change, and the edge holds it until it has
followed the feed that far (`caught_up`), so the client's next request here sees the change.

Entries are bounded, oldest first out, and expire after `TTL_SECONDS` whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext
from tenantry.platform.errors import ApiError
from tenantry.services.edge.change_feeds import FEED_ATTEMPT_SECONDS, FeedFollower

TTL_SECONDS = 60.0
MAX_ACCOUNTS = 200_000
CATCH_UP_SECONDS = 1.0
"""The longest an answer waits for the feed to bring its change (then it goes anyway)."""

Key = tuple[str, str]
"""(cloud id, account id)."""


@dataclass(frozen=True, slots=True)
class AccountState:
    """What identity says of one account now."""

    role: str
    active: bool
    token_generation: int
    revoked_tokens: frozenset[str]

    def accepts(self, token_generation: int, token_id: str) -> bool:
        """Whether a token of this account, of that generation and id, still stands."""
        return (
            self.active
            and token_generation >= self.token_generation
            and token_id not in self.revoked_tokens
        )


@dataclass(frozen=True, slots=True)
class _Cached:
    state: AccountState | None
    expires: float


class AccountCache:
    """(tenant, account) -> the account's current state, single-flight, dropped on change."""

    def __init__(self, client: ServiceClient, *, max_accounts: int = MAX_ACCOUNTS) -> None:
        self._client = client
        self._max = max_accounts
        self._entries: dict[Key, _Cached] = {}
        self._inflight: dict[Key, asyncio.Future[AccountState | None]] = {}
        self._position = -1
        self._moved = asyncio.Event()

    def size(self) -> int:
        """How many accounts the cache holds now."""
        return len(self._entries)

    async def lookup(
        self, tenant: TenantContext, context: str, account_id: str
    ) -> AccountState | None:
        """The account's state, from the cache or from identity; None when it does not exist.

        Raises ApiError 503 `account_lookup_unavailable` when identity cannot say.
        """
        key = (tenant.cloud_id, account_id)
        entry = self._entries.get(key)
        if entry is not None and entry.expires > time.monotonic():
            return entry.state
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[AccountState | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            state = await self._fetch(key, context)
            # An account that changed while we asked is no longer in `_inflight`: this answer
            # may predate the change, so it serves the requests already waiting, and no more.
            if self._inflight.get(key) is future:
                self._remember(key, _Cached(state, time.monotonic() + TTL_SECONDS))
            future.set_result(state)
            return state
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved when nobody else waits
            raise
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]

    async def _fetch(self, key: Key, context: str) -> AccountState | None:
        cloud_id, account_id = key
        response = await self._client.call(
            "identity",
            "GET",
            "/internal/identity/accounts/{account_id}",
            params={"account_id": account_id},
            tenant_context=context,
            tenant_id=cloud_id,
        )
        if response.status == 200:
            return _state(response.json())
        if response.status in (404, 422):  # deleted, or an id identity never makes
            return None
        raise ApiError(
            503,
            "account_lookup_unavailable",
            "the account service did not answer",
            {"Retry-After": "1"},
        )

    def _remember(self, key: Key, entry: _Cached) -> None:
        self._entries.pop(key, None)
        while len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = entry

    def evict(self, cloud_id: str, account_id: str) -> None:
        """Forget one account now, and any answer about it still on its way."""
        key = (cloud_id, account_id)
        self._entries.pop(key, None)
        self._inflight.pop(key, None)

    def clear(self) -> None:
        """Forget every account (the change feed was lost)."""
        self._entries.clear()
        self._inflight.clear()

    def follower(self) -> FeedFollower:
        """What follows identity's account feed for this cache, evicting the accounts changed."""
        return FeedFollower(
            lambda query: self._client.call(
                "identity",
                "GET",
                "/internal/identity/account-changes",
                query=query,
                attempt_seconds=FEED_ATTEMPT_SECONDS,
            ),
            lambda change: self.evict(str(change["cloud_id"]), str(change["account_id"])),
            self.clear,
            self._moved_to,
        )

    def _moved_to(self, seq: int) -> None:
        self._position = seq
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    async def caught_up(self, seq: int, seconds: float = CATCH_UP_SECONDS) -> bool:
        """Wait until the feed has been followed to change `seq`; False if it took too long."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while self._position < seq:
                    await self._moved.wait()
        return self._position >= seq


def _state(document: dict[str, Any]) -> AccountState:
    return AccountState(
        role=str(document["role"]),
        active=document["active"] is True,
        token_generation=int(document["token_generation"]),
        revoked_tokens=frozenset(str(jti) for jti in document["revoked_tokens"]),
    )
