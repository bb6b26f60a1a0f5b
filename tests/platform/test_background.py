"""Background loops outlive failures, back off while they last, and end when told to."""

from __future__ import annotations

import asyncio

import pytest

from tenantry.platform.background import BackgroundLoop, Idle


async def _nothing() -> None:
    return None


def test_the_pause_after_failures_doubles_up_to_the_most() -> None:
    loop = BackgroundLoop("x", _nothing, 1.0, first_retry_seconds=0.5, max_retry_seconds=4.0)
    assert [loop.retry_pause(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


@pytest.mark.parametrize(
    ("pause", "first", "most"), [(-1.0, 0.5, 1.0), (1.0, 0.0, 1.0), (1.0, 2.0, 1.0)]
)
def test_nonsense_pauses_are_refused(pause: float, first: float, most: float) -> None:
    with pytest.raises(ValueError, match="pauses"):
        BackgroundLoop("x", _nothing, pause, first_retry_seconds=first, max_retry_seconds=most)


async def test_a_failing_step_is_tried_again_until_it_works_then_a_done_loop_ends() -> None:
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ConnectionError("not yet")

    loop = BackgroundLoop(
        "flaky", flaky, 60.0, until_done=True, first_retry_seconds=0.001, max_retry_seconds=0.002
    )
    await asyncio.wait_for(loop.run(), timeout=30)
    assert calls == 4


async def test_a_woken_loop_runs_its_step_again_and_stop_ends_it() -> None:
    ran = asyncio.Event()
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        ran.set()

    loop = BackgroundLoop("woken", step, 3600.0)
    await loop.start()
    await asyncio.wait_for(ran.wait(), timeout=30)
    ran.clear()
    loop.wake()  # without it, the next step would be an hour away
    await asyncio.wait_for(ran.wait(), timeout=30)
    await loop.stop()
    assert calls == 2


def test_an_idle_step_rests_for_the_idle_pause_or_until_its_work_falls_due() -> None:
    loop = BackgroundLoop("rest", _nothing, 1.0, idle_pause_seconds=60.0)
    assert loop.pause_after(3) == 1.0  # work was done: the ordinary pause
    assert loop.pause_after(None) == 1.0
    assert loop.pause_after(Idle()) == 60.0  # nothing known: rest until woken, at most this
    assert loop.pause_after(Idle(2.5)) == 2.5  # a retry falls due sooner
    assert loop.pause_after(Idle(-1.0)) == 0.0  # already due
    assert loop.pause_after(Idle(600.0)) == 60.0


async def test_an_idle_loop_waits_for_its_wake_and_then_runs_at_once() -> None:
    ran = asyncio.Event()
    calls = 0

    async def step() -> Idle:
        nonlocal calls
        calls += 1
        ran.set()
        return Idle()

    loop = BackgroundLoop("idle", step, 0.001, idle_pause_seconds=3600.0)
    await loop.start()
    await asyncio.wait_for(ran.wait(), timeout=30)
    ran.clear()
    await asyncio.sleep(0.05)  # a busy loop would have run dozens of times by now
    assert calls == 1
    loop.wake()
    await asyncio.wait_for(ran.wait(), timeout=30)
    await loop.stop()
    assert calls == 2
