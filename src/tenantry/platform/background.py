"""Work a service keeps doing beside its requests: outboxes to deliver, queues to drain.

One `BackgroundLoop` per such job runs its step in the process's event loop, pauses, and runs it
again, until the process stops. A step that fails is logged and tried again after the pause,
so a database or network hiccup never ends the loop; `wake` cuts the pause short when a request
has just made work for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("tenantry.background")


class BackgroundLoop:
    """Runs `step` every `pause_seconds` (or sooner when woken) from `start` until `stop`."""

    def __init__(
        self, name: str, step: Callable[[], Awaitable[object]], pause_seconds: float
    ) -> None:
        self._name = name
        self._step = step
        self._pause = pause_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Run the step now rather than after the pause (call once a change has committed)."""
        self._wake.set()

    async def start(self) -> None:
        """Start the loop (a startup hook of the service app)."""
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Stop the loop (a shutdown hook); work not done yet stays for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except Exception:  # the loop outlives any one failure; the next pass tries again
                log.exception("background_step_failed", loop=self._name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._pause)
            self._wake.clear()
