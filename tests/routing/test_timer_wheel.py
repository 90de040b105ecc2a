"""The timer wheel on a fake clock: firing, and the sweep of timers another replica armed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from contracts.base import Event
from contracts.envelope import Envelope, Metadata
from contracts.pbx import Leg
from contracts.routing import CallAnswered, RingStepEnded, RingStepStarted, StepOutcome
from runtime.clock import FakeClock
from runtime.eventstore import wrap
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


def _envelopes(call_id: str, *events: Event) -> list[Envelope]:
    return wrap(f"call:{call_id}", 0, events, ids=(uuid4() for _ in events), at=T0, meta=Metadata())


async def test_a_step_that_ended_disarms_its_timer_and_the_next_step_arms_its_own() -> None:
    """Given a call whose step 1 was answered before its ring time ran out, its timer does
    not fire (a FireTimer would read the ended call back to decide nothing); a step that
    follows arms its own timer, which fires."""
    clock = FakeClock(T0)
    fired: list[str] = []

    async def fire(call_id: str, timer_id: str, due: datetime) -> None:
        fired.append(timer_id)

    def started(call_id: str, step: int, seconds: int) -> RingStepStarted:
        return RingStepStarted(
            node="n1",
            caller="2000",
            step=step,
            legs=[Leg(leg_id=f"l{step}", extension="1001", device_id="desk")],
            seconds=seconds,
            deadline=T0 + timedelta(seconds=seconds),
            timer_id=f"{call_id}-s{step}",
            why="test",
        )

    wheel = TimerWheel(clock, fire)
    wheel.arm_from(_envelopes("c1", started("c1", 1, 3)))
    wheel.arm_from(_envelopes("c2", started("c2", 1, 3)))  # another call, left ringing
    assert len(wheel) == 2
    answered = CallAnswered(node="n1", leg_id="l1", why="test")
    wheel.arm_from(_envelopes("c1", answered))
    assert len(wheel) == 1
    running = asyncio.create_task(wheel.run())
    try:
        await clock.advance(5)
        await settle()
        assert fired == ["c2-s1"]  # c2's only
        ended = RingStepEnded(
            node="n1", step=1, outcome=StepOutcome.TIMED_OUT, cancel_legs=[], why="test"
        )
        wheel.arm_from(_envelopes("c3", started("c3", 1, 1)))
        wheel.arm_from(_envelopes("c3", ended, started("c3", 2, 8)))  # step 1 left, step 2 rings
        await clock.advance(10)
        await settle()
        assert fired == ["c2-s1", "c3-s2"]
    finally:
        wheel.stop()
        await running


@pytest.mark.parametrize("step", [3600, -3600])
async def test_a_clock_step_forward_or_back_leaves_a_ring_timeout_its_seconds(step: int) -> None:
    clock = FakeClock(T0)
    fired: list[str] = []
    stored: list[tuple[str, str, datetime]] = []

    async def fire(call_id: str, timer_id: str, due: datetime) -> None:
        fired.append(timer_id)

    async def reschedule(timers: Sequence[tuple[str, str, datetime]]) -> None:
        stored.extend(timers)

    wheel = TimerWheel(clock, fire, reschedule=reschedule)
    wheel.arm("c1", "c1-s1", T0 + timedelta(seconds=5))
    running = asyncio.create_task(wheel.run())
    try:
        await settle()
        await clock.advance(2)
        clock.step(step)  # NTP: the wall clock moves, no time passes
        wheel.arm("c2", "c2-s1", clock.now() + timedelta(seconds=5))  # after the step
        await settle()
        assert fired == []  # not at the step: 2 s of its 5 have passed
        assert ("c1", "c1-s1", T0 + timedelta(seconds=5 + step)) in stored  # for a restart
        await clock.advance(3)
        await settle()
        assert fired == ["c1-s1"]  # after its 5 s, not an hour early or late
        await clock.advance(2)
        await settle()
        assert fired == ["c1-s1", "c2-s1"]  # armed after the step: not shifted again
    finally:
        wheel.stop()
        await running
