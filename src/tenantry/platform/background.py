"""Work a service keeps doing beside its requests: outboxes to deliver, feeds to follow, keys to
check, queues to drain. Every such job is a `BackgroundLoop`; no service writes its own.

A loop runs its step in the process's event loop, pauses, and runs it again, until the process
stops. A step that fails is logged and tried again after a pause that doubles with each failure
in a row (from `first_retry_seconds` up to `max_retry_seconds`), so neither a hiccup nor a long
outage of a database or a callee ends the loop or floods it; `wake` cuts a pause short when a
request has just made work for it. A loop made with `until_done` ends after its first step that
succeeds (work to finish once, such as re-queueing what a stop left behind).

A step that finds nothing to do returns `Idle`: the loop then rests until it is woken, for at
most `idle_pause_seconds` (a safety net for work another process made), or until the time the
step says its next known work falls due. So an idle cloud does not spend CPU looking at empty
outboxes: the write that makes work wakes the loop that does it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger("tenantry.background")

FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Idle:
    """What a step returns when it has nothing to do now.

    `due_in` is the number of seconds until the next work it knows of falls due (a retry
    waiting out its back-off), or None when it knows of none.
    """

    due_in: float | None = None


class BackgroundLoop:
    """Runs `step` every `pause_seconds` (or sooner when woken) from `start` until `stop`.

    After a step that returns `Idle`, the pause is `idle_pause_seconds` instead (the same as
    `pause_seconds` unless given), cut short by `wake` or by the step's own `due_in`.
    """

    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[object]],
        pause_seconds: float,
        *,
        until_done: bool = False,
        first_retry_seconds: float = FIRST_RETRY_SECONDS,
        max_retry_seconds: float = MAX_RETRY_SECONDS,
        idle_pause_seconds: float | None = None,
    ) -> None:
        idle = pause_seconds if idle_pause_seconds is None else idle_pause_seconds
        if min(pause_seconds, idle) < 0 or not 0 < first_retry_seconds <= max_retry_seconds:
            raise ValueError("pauses must be positive, the first retry no longer than the last")
        self.name = name
        self._step = step
        self._pause = pause_seconds
        self._idle_pause = idle
        self._until_done = until_done
        self._first_retry = first_retry_seconds
        self._max_retry = max_retry_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._event_loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Run the step now rather than after the pause (call once a change has committed).

        Safe to call from any thread: a synchronous route runs in a worker thread.
        """
        loop = self._event_loop
        if loop is None or _running_loop() is loop:
            self._wake.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def pause_after(self, outcome: object) -> float:
        """The pause after a step that succeeded with `outcome`."""
        if not isinstance(outcome, Idle):
            return self._pause
        if outcome.due_in is None:
            return self._idle_pause
        return max(0.0, min(self._idle_pause, outcome.due_in))

    def retry_pause(self, failures: int) -> float:
        """The pause after `failures` failed steps in a row."""
        return float(min(self._first_retry * 2 ** max(failures - 1, 0), self._max_retry))

    async def start(self) -> None:
        """Start the loop (a startup hook of the service app)."""
        self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        """Stop the loop (a shutdown hook); work not done yet stays for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        """Run the loop in the calling task until it is cancelled (or, `until_done`, done)."""
        self._event_loop = asyncio.get_running_loop()
        failures = 0
        while True:
            try:
                outcome = await self._step()
            except Exception as exc:  # the loop outlives any one failure; the next pass tries again
                failures += 1
                pause = self.retry_pause(failures)
                if failures == 1:
                    log.exception("background_step_failed", loop=self.name, retry_in=pause)
                else:
                    log.warning(
                        "background_step_failed",
                        loop=self.name,
                        error=type(exc).__name__,
                        failures=failures,
                        retry_in=pause,
                    )
            else:
                if self._until_done:
                    return
                failures = 0
                pause = self.pause_after(outcome)
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=pause)
            else:
                await asyncio.sleep(0)  # a loop that never pauses still lets others run
            self._wake.clear()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
