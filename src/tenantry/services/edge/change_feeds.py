"""Following a change feed (tcs's tenants, identity's accounts) for as long as the edge runs.

Each feed is long-polled: `after=-1` gives the position to start from, then `after=N&wait=S`
answers with the changes after N as soon as there are any. Every change is handed to the
cache that follows the feed, which drops what it held of the thing named. If the feed is lost
(the service is down, an answer is not understood), the cache drops everything, because it can
no longer learn of changes, and the follower starts over from the latest position.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from tenantry.platform.client import ServiceResponse

FEED_WAIT_SECONDS = 8
RETRY_SECONDS = 0.5
FeedRead = Callable[[Mapping[str, str]], Awaitable[ServiceResponse]]
"""One call to the feed with the query given (the caller writes the literal route)."""

log = structlog.get_logger("tenantry.edge.feeds")


async def follow_feed(
    name: str,
    read: FeedRead,
    on_change: Callable[[dict[str, Any]], None],
    on_lost: Callable[[], None],
    on_position: Callable[[int], None] = lambda seq: None,
) -> None:
    """Hand every change of the feed to `on_change`; call `on_lost` whenever it was lost.

    `on_position` hears the number of the last change taken into account, each time it moves.
    """
    seq: int | None = None
    while True:
        try:
            if seq is None:
                seq = int(_document(await read({"after": "-1"}))["seq"])
                on_lost()  # whatever was held may predate the position just taken
                on_position(seq)
            document = _document(await read({"after": str(seq), "wait": str(FEED_WAIT_SECONDS)}))
            changes = document["changes"]
            for change in changes:
                on_change(change)
            # Resume after the last change seen; a feed hands out a batch at a time.
            seq = int(changes[-1]["seq"] if changes else document["seq"])
            on_position(seq)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure: drop everything, then start over
            log.warning("feed_lost", feed=name, error=type(exc).__name__)
            on_lost()
            seq = None
            await asyncio.sleep(RETRY_SECONDS)


def _document(response: ServiceResponse) -> dict[str, Any]:
    if response.status != 200:
        raise RuntimeError(f"change feed answered {response.status}")
    document: dict[str, Any] = response.json()
    return document
