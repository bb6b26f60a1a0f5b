"""A change feed that edges long-poll, woken the moment a change commits (within a second).

A service that others must follow (tcs's catalog, identity's accounts) writes each change to a
table of its own, numbered in order, in the same transaction as the change itself. Followers ask
`GET <feed>?after=N&wait=S` for the changes after number N; `poll` answers at once with any,
and otherwise holds the request until the next change is recorded (or S seconds pass).
`after=-1` asks only for the latest number, where a follower that starts (or lost its place)
begins.

A server that is shutting down waits for every request it is serving to end; `end_every_wait`
(called by `platform/server.py` as it begins) answers every held poll at once, so a process
stops in a moment instead of after its graceful-shutdown timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from typing import Any

MAX_WAIT_SECONDS = 30.0
CHANGE_HEADER = "x-tenantry-change"
"""On an answer: the number the change the request made has in its service's feed, so the
caller that follows the feed (the edge) can wait until it has taken that change in."""
ChangeReader = Callable[[int], tuple[int, list[dict[str, Any]]]]
"""Reads the latest change number and the changes after a given one, in order."""


_FEEDS: weakref.WeakSet[ChangeFeed] = weakref.WeakSet()


def end_every_wait() -> None:
    """Answer every poll held by this process's feeds now, and every later one without waiting:
    the process is shutting down, and its followers poll again elsewhere or after the restart."""
    for feed in list(_FEEDS):
        feed.close()


class ChangeFeed:
    """An in-process signal that the service has a new change; waiters re-read the table."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()
        self._closed = False
        _FEEDS.add(self)

    def close(self) -> None:
        """Wake every waiter, and hold no later poll (the server is shutting down)."""
        self._closed = True
        self._changed.set()

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
        if not found and wait > 0 and not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(wait, MAX_WAIT_SECONDS))
            latest, found = read(after)
        return {"seq": latest, "changes": found}
