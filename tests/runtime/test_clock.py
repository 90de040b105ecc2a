"""The fake clock's sleepers: what the timer loops rely on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from runtime.clock import FakeClock

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def test_a_sleeper_that_starts_after_time_moved_still_wakes_at_its_moment() -> None:
    clock = FakeClock(T0)
    late = asyncio.ensure_future(clock.sleep_until(T0 + timedelta(seconds=5)))  # not started
    clock.set(T0 + timedelta(seconds=10))  # time moves before it registers
    for _ in range(3):
        await asyncio.sleep(0)
    assert late.done()  # a relative sleep(5) started now would wait until T0 + 15 s


async def test_sleepers_wake_as_time_passes_their_moment() -> None:
    clock = FakeClock(T0)
    woke: list[int] = []

    async def sleeper(seconds: int) -> None:
        await clock.sleep(seconds)
        woke.append(seconds)

    tasks = [asyncio.create_task(sleeper(s)) for s in (3, 1, 2)]
    await asyncio.sleep(0)
    await clock.advance(2)
    await asyncio.sleep(0)
    assert sorted(woke) == [1, 2]
    await clock.advance(1)
    await asyncio.gather(*tasks)
    assert sorted(woke) == [1, 2, 3]
