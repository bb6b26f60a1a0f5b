"""Following a change feed (tcs's tenants, identity's accounts) one long poll at a time.

Each feed is long-polled: `after=-1` gives the position to start from, then `after=N&wait=S`
answers with the changes after N as soon as there are any. Every change is handed to the
cache that follows the feed, which drops what it held of the thing named. If the feed is lost
(the service is down, an answer is not understood), the cache drops everything, because it can
no longer learn of changes, and the follower starts over from the latest position.

A `FeedFollower.step` is one long poll; the edge runs it in a `BackgroundLoop` with no pause
(the long poll is the pause) and a short retry, so a lost feed is taken up again quickly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tenantry.platform.background import BackgroundLoop
from tenantry.platform.client import ServiceResponse

FEED_WAIT_SECONDS = 25
"""How long one long poll waits for a change (a change ends it at once): at rest, each feed
costs a request this often, and no more."""
FEED_ATTEMPT_SECONDS = FEED_WAIT_SECONDS + 5
"""How long a feed read may take before it counts as lost: the wait, and time to answer."""
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 2.0
"""A lost feed is tried again at least this often: while it is lost, caches refill unwatched."""

FeedRead = Callable[[Mapping[str, str]], Awaitable[ServiceResponse]]
"""One call to the feed with the query given (the caller writes the literal route)."""


class FeedFollower:
    """Hands every change of one feed to `on_change`; calls `on_lost` whenever it was lost.

    `on_position` hears the number of the last change taken into account, each time it moves.
    """

    def __init__(
        self,
        read: FeedRead,
        on_change: Callable[[dict[str, Any]], None],
        on_lost: Callable[[], None],
        on_position: Callable[[int], None] = lambda seq: None,
    ) -> None:
        self._read = read
        self._on_change = on_change
        self._on_lost = on_lost
        self._on_position = on_position
        self._seq: int | None = None

    async def step(self) -> None:
        """Follow the feed one long poll further; on any failure drop everything and re-raise."""
        try:
            if self._seq is None:
                self._seq = int(_document(await self._read({"after": "-1"}))["seq"])
                self._on_lost()  # whatever was held may predate the position just taken
                self._on_position(self._seq)
            query = {"after": str(self._seq), "wait": str(FEED_WAIT_SECONDS)}
            document = _document(await self._read(query))
            changes = document["changes"]
            for change in changes:
                self._on_change(change)
            # Resume after the last change seen; a feed hands out a batch at a time.
            self._seq = int(changes[-1]["seq"] if changes else document["seq"])
            self._on_position(self._seq)
        except Exception:
            self._on_lost()
            self._seq = None
            raise


def feed_loop(name: str, follower: FeedFollower) -> BackgroundLoop:
    """The background loop that follows one feed from start to shutdown."""
    return BackgroundLoop(
        name,
        follower.step,
        0,
        first_retry_seconds=FIRST_RETRY_SECONDS,
        max_retry_seconds=MAX_RETRY_SECONDS,
    )


def _document(response: ServiceResponse) -> dict[str, Any]:
    if response.status != 200:
        raise RuntimeError(f"change feed answered {response.status}")
    document: dict[str, Any] = response.json()
    return document
