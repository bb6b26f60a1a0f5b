"""Wake long-polling edges the moment the catalog changes, so a suspension lands within a second."""

from __future__ import annotations

import asyncio


class ChangeFeed:
    """An in-process signal that the catalog has a new change; waiters re-read the table."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        """Wake every waiter (called after a catalog write has committed)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        """Return when the next change is recorded, or after `seconds`."""
        try:
            await asyncio.wait_for(self._changed.wait(), seconds)
        except TimeoutError:
            return
