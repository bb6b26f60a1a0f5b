"""A server that begins to shut down answers every held long poll at once, and holds no more."""

from __future__ import annotations

import asyncio
from typing import Any

from tenantry.platform.change_feed import MAX_WAIT_SECONDS, ChangeFeed, end_every_wait

BOUND_SECONDS = 10.0
"""Well under the polls' wait: a poll still held this long was not ended."""


def no_changes(_after: int) -> tuple[int, list[dict[str, Any]]]:
    return 7, []


async def test_a_held_poll_is_answered_when_the_server_shuts_down_and_no_later_one_waits() -> None:
    feed = ChangeFeed()
    held = asyncio.create_task(feed.poll(7, MAX_WAIT_SECONDS, no_changes))
    await asyncio.sleep(0.05)
    assert not held.done()
    end_every_wait()
    async with asyncio.timeout(BOUND_SECONDS):
        assert await held == {"seq": 7, "changes": []}
        assert await feed.poll(7, MAX_WAIT_SECONDS, no_changes) == {"seq": 7, "changes": []}


async def test_a_change_still_wakes_a_held_poll() -> None:
    changes: list[dict[str, Any]] = []

    def read(after: int) -> tuple[int, list[dict[str, Any]]]:
        return after + len(changes), list(changes)

    feed = ChangeFeed()
    held = asyncio.create_task(feed.poll(3, MAX_WAIT_SECONDS, read))
    await asyncio.sleep(0.05)
    changes.append({"site": "acme"})
    feed.notify()
    async with asyncio.timeout(BOUND_SECONDS):
        assert await held == {"seq": 4, "changes": [{"site": "acme"}]}
