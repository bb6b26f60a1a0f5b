"""Share a process's scarce capacity fairly between the tenants that want it at the same time.

Rate limits stop a tenant that sends more than it is allowed; they do nothing for a tenant that
stays under its limit yet asks for more than the machine can do. Then every request queues behind
its requests, the neighbours' too. The edge gates its forwarding with it, identity its password
hashing (argon2, the costliest work a login does). This gate lets at most `slots` pieces of work
run at once. While there is room, a request goes straight through. When there is none, it
waits, and each freed slot goes to the waiting tenant with the fewest requests in flight, so a
light tenant's request waits for one slot, not for the heavy tenant's whole queue; between
tenants with as many in flight, to the one whose last turn is longest ago (with a single slot,
every tenant has none in flight when it frees). Waiting costs no CPU, which is what keeps a
flood from crowding out the rest. A tenant with `queue_limit`
requests already waiting is refused with 503 `tenant_fair_share` and `Retry-After`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import AsyncIterator

from tenantry.platform.errors import ApiError

REASON = "tenant_fair_share"
DEFAULT_QUEUE_LIMIT = 256


def default_slots() -> int:
    """One piece of work per core.

    On the noisy-neighbour benchmark (2 cores) this kept the light tenant's p99 within 1.64x of
    its p99 alone, where 2 per core gave 2.16x and 4 per core 3.99x; a single tenant's full-path
    throughput was the same with 1 per core as with 4 (bench/RESULTS.md).
    """
    return os.cpu_count() or 1


class FairShare:
    """The in-flight and waiting requests of each tenant at one process."""

    def __init__(self, slots: int, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        if slots < 1 or queue_limit < 1:
            raise ValueError("slots and queue_limit must be at least 1")
        self.slots = slots
        self.queue_limit = queue_limit
        self._in_flight: dict[str, int] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}
        self._total = 0
        self._turns = 0
        self._last_turn: dict[str, int] = {}
        """When each tenant with work here last took a slot (forgotten once it has none)."""

    def in_flight(self, tenant_id: str) -> int:
        """How many of the tenant's requests hold a slot now."""
        return self._in_flight.get(tenant_id, 0)

    def waiting(self, tenant_id: str) -> int:
        """How many of the tenant's requests wait for a slot."""
        return len(self._waiting.get(tenant_id, ()))

    @contextlib.asynccontextmanager
    async def slot(self, tenant_id: str) -> AsyncIterator[None]:
        """Hold one slot for the block, waiting for a fair turn if none is free."""
        if self._total < self.slots and not self._waiting:
            self._take(tenant_id)
        else:
            await self._wait_for_turn(tenant_id)
        try:
            yield
        finally:
            self._release(tenant_id)

    async def _wait_for_turn(self, tenant_id: str) -> None:
        queue = self._waiting.setdefault(tenant_id, deque())
        if len(queue) >= self.queue_limit:
            raise ApiError(
                503,
                REASON,
                "this site has too many requests waiting; retry shortly",
                {"Retry-After": "1"},
            )
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release(tenant_id)  # the slot was handed over as the client went away
            else:
                self._forget(tenant_id, turn)
            raise

    def _take(self, tenant_id: str) -> None:
        self._in_flight[tenant_id] = self._in_flight.get(tenant_id, 0) + 1
        self._total += 1
        self._turns += 1
        self._last_turn[tenant_id] = self._turns

    def _release(self, tenant_id: str) -> None:
        remaining = self._in_flight[tenant_id] - 1
        if remaining:
            self._in_flight[tenant_id] = remaining
        else:
            del self._in_flight[tenant_id]
            self._forget_idle(tenant_id)
        self._total -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        """Give free slots to the waiting tenants with the fewest requests in flight."""
        while self._total < self.slots and self._waiting:
            tenant_id = min(self._waiting, key=self._priority)
            queue = self._waiting[tenant_id]
            turn = queue.popleft()
            if not queue:
                del self._waiting[tenant_id]
            self._take(tenant_id)
            turn.set_result(None)

    def _priority(self, tenant_id: str) -> tuple[int, int]:
        """Fewest in flight first; then the one served longest ago (or never)."""
        return self.in_flight(tenant_id), self._last_turn.get(tenant_id, 0)

    def _forget(self, tenant_id: str, turn: asyncio.Future[None]) -> None:
        queue = self._waiting.get(tenant_id)
        if queue is not None and turn in queue:
            queue.remove(turn)
            if not queue:
                del self._waiting[tenant_id]
                self._forget_idle(tenant_id)

    def _forget_idle(self, tenant_id: str) -> None:
        if tenant_id not in self._in_flight and tenant_id not in self._waiting:
            self._last_turn.pop(tenant_id, None)
