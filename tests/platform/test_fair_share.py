"""The fair share gate: a flooding site waits its turn; a light one is not stuck behind it."""

from __future__ import annotations

import asyncio

import pytest

from tenantry.platform.errors import ApiError
from tenantry.platform.fair_share import FairShare


async def hold(gate: FairShare, tenant: str, release: asyncio.Event, order: list[str]) -> None:
    async with gate.slot(tenant):
        order.append(tenant)
        await release.wait()


async def test_a_light_tenant_gets_the_next_free_slot_ahead_of_a_flood() -> None:
    gate = FairShare(slots=2)
    order: list[str] = []
    done = [asyncio.Event() for _ in range(12)]
    flood = [asyncio.create_task(hold(gate, "a", done[i], order)) for i in range(10)]
    await asyncio.sleep(0)
    assert gate.in_flight("a") == 2 and gate.waiting("a") == 8
    light = asyncio.create_task(hold(gate, "b", done[10], order))
    await asyncio.sleep(0)
    assert gate.waiting("b") == 1
    done[0].set()  # one of a's requests ends: the slot goes to b, not to a's next
    await asyncio.sleep(0.01)
    assert order[:3] == ["a", "a", "b"]
    assert gate.in_flight("b") == 1 and gate.in_flight("a") == 1
    for event in done:
        event.set()
    await asyncio.gather(*flood, light)
    assert gate.in_flight("a") == gate.in_flight("b") == 0
    assert order.count("a") == 10


async def test_with_one_slot_a_freed_turn_goes_to_the_site_served_longest_ago() -> None:
    """With a single slot every site has none in flight when it frees: the waiting site that
    has not had a turn goes before the flood's next request."""
    gate = FairShare(slots=1)
    order: list[str] = []
    done = {name: asyncio.Event() for name in ("a1", "a2", "a3", "b1", "c1")}

    async def hold_named(tenant: str, name: str) -> None:
        async with gate.slot(tenant):
            order.append(name)
            await done[name].wait()

    flood = [asyncio.create_task(hold_named("a", f"a{n}")) for n in (1, 2, 3)]
    await asyncio.sleep(0)
    others = [asyncio.create_task(hold_named(t, f"{t}1")) for t in ("b", "c")]
    await asyncio.sleep(0)
    for name in ("a1", "b1", "c1", "a2", "a3"):
        done[name].set()
        await asyncio.sleep(0.01)
    await asyncio.gather(*flood, *others)
    assert order == ["a1", "b1", "c1", "a2", "a3"]


async def test_with_room_to_spare_nothing_waits() -> None:
    gate = FairShare(slots=8)
    release = asyncio.Event()
    order: list[str] = []
    tasks = [asyncio.create_task(hold(gate, "a", release, order)) for _ in range(8)]
    await asyncio.sleep(0)
    assert gate.in_flight("a") == 8 and gate.waiting("a") == 0
    release.set()
    await asyncio.gather(*tasks)


async def test_a_full_queue_is_refused_with_503_and_retry_after() -> None:
    gate = FairShare(slots=1, queue_limit=2)
    release = asyncio.Event()
    order: list[str] = []
    tasks = [asyncio.create_task(hold(gate, "a", release, order)) for _ in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(ApiError) as refused:
        async with gate.slot("a"):
            pass
    assert (refused.value.status, refused.value.code) == (503, "tenant_fair_share")
    assert refused.value.headers["Retry-After"] == "1"
    async with asyncio.timeout(1):  # another site is not refused: it waits its turn
        waiting = asyncio.create_task(hold(gate, "b", release, order))
        await asyncio.sleep(0)
        assert gate.waiting("b") == 1
        release.set()
        await asyncio.gather(*tasks, waiting)


async def test_a_client_that_goes_away_gives_its_place_or_slot_back() -> None:
    gate = FairShare(slots=1)
    release = asyncio.Event()
    order: list[str] = []
    first = asyncio.create_task(hold(gate, "a", release, order))
    await asyncio.sleep(0)
    gone = asyncio.create_task(hold(gate, "b", release, order))
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert gate.waiting("b") == 0
    release.set()
    await first
    assert gate.in_flight("a") == 0
    async with gate.slot("c"):  # the slot is free again
        assert gate.in_flight("c") == 1
