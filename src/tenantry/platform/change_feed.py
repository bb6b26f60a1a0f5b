"""A change feed that edges long-poll, woken the moment a change commits (within a second).

A service that others must follow (tcs's catalog, identity's accounts) writes each change to a
table of its own, numbered in order, in the same transaction as the change itself. Followers ask
`GET <feed>?after=N&wait=S` for the changes after number N; `poll` answers at once with any,
and otherwise holds the request until the next change is recorded (or S seconds pass).
`after=-1` asks only for the latest number, where a follower that starts (or lost its place)
begins.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

MAX_WAIT_SECONDS = 30.0
CHANGE_HEADER = "x-tenantry-change"
"""On an answer: the number the change the request made has in its service's feed, so the
caller that follows the feed (the edge) can wait until it has taken that change in."""
ChangeReader = Callable[[int], tuple[int, list[dict[str, Any]]]]
"""Reads the latest change number and the changes after a given one, in order."""


class ChangeFeed:
    """An in-process signal that the service has a new change; waiters re-read the table."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        """Wake every waiter (call on the event loop once a change has committed)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def poll(self, after: int, wait: float, read: ChangeReader) -> dict[str, Any]:
        """`{"seq": latest, "changes": [...]}` after `after`, waiting up to `wait` for one."""
        # Taken before reading: a change that commits after the read still sets this one.
        changed = self._changed
        latest, found = read(max(after, 0))
        if after < 0:
            return {"seq": latest, "changes": []}
        if not found and wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(wait, MAX_WAIT_SECONDS))
            latest, found = read(after)
        return {"seq": latest, "changes": found}
