"""The edge's account cache: one question to identity per account, dropped when the account
changes, everything dropped when the feed is lost, and no answer kept that predates a change."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
import pytest

from tenantry.platform.client import ServiceResponse
from tenantry.platform.context import TenantContext
from tenantry.platform.errors import ApiError
from tenantry.services.edge.account_cache import AccountCache, AccountState
from tenantry.services.edge.change_feeds import FEED_WAIT_SECONDS, feed_loop

WAIT = str(FEED_WAIT_SECONDS)
TENANT = TenantContext("tenant-a", "acme", "eu", "eu-1", "active")
ALICE, BOB = "a" * 32, "b" * 32


def answer(status: int, document: Any) -> ServiceResponse:
    return ServiceResponse(status, {}, orjson.dumps(document))


class FakeIdentity:
    """identity's account route and account feed, as the edge's client sees them."""

    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {
            account: {
                "account_id": account,
                "role": "admin",
                "active": True,
                "token_generation": 0,
                "revoked_tokens": [],
            }
            for account in (ALICE, BOB)
        }
        self.asked: Counter[str] = Counter()
        self.hold: asyncio.Event | None = None
        self.down = False
        self.feed: asyncio.Queue[ServiceResponse] = asyncio.Queue()
        self.feed_queries: list[Mapping[str, str]] = []

    async def call(self, callee: str, method: str, route: str, **kwargs: Any) -> ServiceResponse:
        assert (callee, method) == ("identity", "GET")
        if route == "/internal/identity/account-changes":
            self.feed_queries.append(kwargs["query"])
            return await self.feed.get()
        assert route == "/internal/identity/accounts/{account_id}"
        assert (kwargs["tenant_context"], kwargs["tenant_id"]) == ("signed", TENANT.cloud_id)
        account = kwargs["params"]["account_id"]
        self.asked[account] += 1
        if self.hold is not None:
            await self.hold.wait()
        if self.down:
            return answer(503, {"error": "unavailable"})
        found = self.accounts.get(account)
        return answer(200, found) if found else answer(404, {"error": "account_not_found"})


@pytest.fixture
def identity() -> FakeIdentity:
    return FakeIdentity()


@pytest.fixture
def cache(identity: FakeIdentity) -> AccountCache:
    return AccountCache(identity, max_accounts=10)  # type: ignore[arg-type]


async def lookup(cache: AccountCache, account: str) -> AccountState | None:
    return await cache.lookup(TENANT, "signed", account)


@contextlib.asynccontextmanager
async def watching(cache: AccountCache) -> AsyncIterator[None]:
    loop = feed_loop("account-feed", cache.follower())
    await loop.start()
    try:
        yield
    finally:
        await loop.stop()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_account_is_asked_for_once_and_a_deleted_one_is_none(
    cache: AccountCache, identity: FakeIdentity
) -> None:
    state = await lookup(cache, ALICE)
    assert state == AccountState("admin", True, 0, frozenset())
    assert state.accepts(0, "any") and not state.accepts(-1, "any")
    await lookup(cache, ALICE)
    assert identity.asked[ALICE] == 1
    assert await lookup(cache, "c" * 32) is None
    assert await lookup(cache, "c" * 32) is None
    assert identity.asked["c" * 32] == 1


async def test_a_change_in_the_feed_drops_that_account_only(
    cache: AccountCache, identity: FakeIdentity
) -> None:
    async with watching(cache):
        identity.feed.put_nowait(answer(200, {"seq": 7, "changes": []}))
        await settle()  # the follower has its position (and dropped what came before it)
        await lookup(cache, ALICE)
        await lookup(cache, BOB)
        identity.accounts[ALICE] = {**identity.accounts[ALICE], "role": "member"}
        change = {"seq": 8, "cloud_id": TENANT.cloud_id, "account_id": ALICE}
        identity.feed.put_nowait(answer(200, {"seq": 8, "changes": [change]}))
        await settle()
        assert identity.feed_queries[:2] == [{"after": "-1"}, {"after": "7", "wait": WAIT}]
        state = await lookup(cache, ALICE)
        assert state is not None and state.role == "member"
        await lookup(cache, BOB)
        assert (identity.asked[ALICE], identity.asked[BOB]) == (2, 1)
        assert identity.feed_queries[2] == {"after": "8", "wait": WAIT}


async def test_a_lost_feed_drops_everything_and_starts_over(
    cache: AccountCache, identity: FakeIdentity
) -> None:
    async with watching(cache):
        identity.feed.put_nowait(answer(200, {"seq": 3, "changes": []}))
        await settle()
        await lookup(cache, ALICE)
        await lookup(cache, BOB)
        assert cache.size() == 2
        identity.feed.put_nowait(answer(503, {"error": "down"}))
        await settle()
        assert cache.size() == 0  # revocations could not be heard of: nothing is trusted
        identity.feed.put_nowait(answer(200, {"seq": 4, "changes": []}))
        async with asyncio.timeout(5):  # the follower waits a moment before starting over
            while len(identity.feed_queries) < 4:  # noqa: ASYNC110 (the follower's own pace)
                await asyncio.sleep(0.05)
        assert identity.feed_queries[2:] == [{"after": "-1"}, {"after": "4", "wait": WAIT}]


async def test_an_answer_that_predates_a_change_serves_its_waiters_and_is_not_kept(
    cache: AccountCache, identity: FakeIdentity
) -> None:
    identity.hold = asyncio.Event()
    first = asyncio.create_task(lookup(cache, ALICE))
    joined = asyncio.create_task(lookup(cache, ALICE))
    await settle()
    assert identity.asked[ALICE] == 1  # one question for both requests
    cache.evict(TENANT.cloud_id, ALICE)  # the feed says alice changed while identity answers
    identity.hold.set()
    assert (await first) == (await joined)
    assert cache.size() == 0
    identity.hold = None
    await lookup(cache, ALICE)
    assert identity.asked[ALICE] == 2


async def test_the_cache_is_bounded_and_an_unanswered_lookup_refuses(
    cache: AccountCache, identity: FakeIdentity
) -> None:
    for n in range(30):
        await lookup(cache, f"{n:032x}")
    assert cache.size() == 10
    identity.down = True
    with pytest.raises(ApiError) as refused:
        await lookup(cache, ALICE)
    assert (refused.value.status, refused.value.code) == (503, "account_lookup_unavailable")
    assert cache.size() == 10


async def test_an_answer_naming_a_change_waits_until_the_feed_brought_it(
    cache: AccountCache, identity: FakeIdentity
) -> None:
    async with watching(cache):
        identity.feed.put_nowait(answer(200, {"seq": 10, "changes": []}))
        await settle()
        assert await cache.caught_up(10)  # already there
        waiting = asyncio.create_task(cache.caught_up(11))
        await settle()
        assert not waiting.done()
        change = {"seq": 11, "cloud_id": TENANT.cloud_id, "account_id": ALICE}
        identity.feed.put_nowait(answer(200, {"seq": 11, "changes": [change]}))
        assert await asyncio.wait_for(waiting, 5) is True
        # A change the feed never brings does not hold the answer for ever.
        assert await cache.caught_up(99, seconds=0.05) is False
