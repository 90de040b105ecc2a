"""The timer wheel on a fake clock: firing, and the sweep of timers another replica armed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from runtime.clock import FakeClock
from services.routing.timers import TimerWheel

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_the_sweep_arms_stored_timers_overdue_past_its_grace_once() -> None:
    clock = FakeClock(T0)
    fired: list[tuple[str, str]] = []
    stored = [("c1", "c1-s1", T0 + timedelta(seconds=10))]  # armed by a replica now gone
    asked: list[datetime] = []

    async def fire(call_id: str, timer_id: str, due: datetime) -> None:
        fired.append((call_id, timer_id))

    async def overdue(before: datetime) -> list[tuple[str, str, datetime]]:
        asked.append(before)
        return [row for row in stored if row[2] < before]

    wheel = TimerWheel(clock, fire, overdue=overdue, sweep_seconds=5)
    wheel.arm("c2", "c2-s1", T0 + timedelta(seconds=3))  # one of its own
    running = asyncio.create_task(wheel.run())
    try:
        await settle()
        await clock.advance(5)  # its own fires; the first sweep finds nothing past grace
        await settle()
        assert fired == [("c2", "c2-s1")]
        await clock.advance(5)  # c1 is due now, but within the grace of a live owner
        await settle()
        assert fired == [("c2", "c2-s1")]
        await clock.advance(6)  # 6 s overdue: nobody fired it, so this replica does
        await settle()
        assert fired == [("c2", "c2-s1"), ("c1", "c1-s1")]
        assert asked == [T0, T0 + timedelta(seconds=5), T0 + timedelta(seconds=11)]
    finally:
        wheel.stop()
        await running


async def test_a_timer_armed_twice_fires_once() -> None:
    clock = FakeClock(T0)
    fired: list[str] = []

    async def fire(call_id: str, timer_id: str, due: datetime) -> None:
        fired.append(timer_id)

    wheel = TimerWheel(clock, fire)
    wheel.arm("c1", "c1-s1", T0 + timedelta(seconds=1))
    wheel.arm("c1", "c1-s1", T0 + timedelta(seconds=1))  # e.g. a sweep after the commit
    running = asyncio.create_task(wheel.run())
    try:
        await clock.advance(2)
        await settle()
        assert fired == ["c1-s1"]
    finally:
        wheel.stop()
        await running
