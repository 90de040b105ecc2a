"""The one source of time. Services take a Clock; tests pass a FakeClock.

`now()` is wall time, which an NTP step moves; `monotonic()` only ever moves forward, as
time passes. A moment (17:00 in Berlin) is wall time; a duration (ring for 5 s) is
monotonic, which is how a timer tells a clock step from time passing."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never stepped."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def sleep_until(self, moment: datetime) -> None:
        """Until `moment`: unlike `sleep(moment - now)` computed beforehand, a sleeper that
        starts late (time moved meanwhile) still wakes at `moment`, or at once if past."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def sleep_until(self, moment: datetime) -> None:
        await asyncio.sleep(max(0.0, (moment - self.now()).total_seconds()))


class FakeClock:
    """Time that moves only when a test advances it. Sleepers wake as time passes their
    deadline, counted on monotonic time as a real sleep is: a step of the wall clock
    (`step`) wakes nobody, and a sleeper until a moment wakes when as much time has
    passed as there was to it when it began."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start
        self._monotonic = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + timedelta(seconds=seconds))

    async def sleep_until(self, moment: datetime) -> None:
        if moment <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        wake_at = self._monotonic + (moment - self._now).total_seconds()
        self._sleepers.append((wake_at, future))
        await future

    async def advance(self, seconds: float) -> None:
        self.set(self._now + timedelta(seconds=seconds))
        await asyncio.sleep(0)

    def set(self, moment: datetime) -> None:
        """Time passes until `moment`; set back, it is a step (monotonic time stays)."""
        self._monotonic += max(0.0, (moment - self._now).total_seconds())
        self._now = moment
        due = [(t, f) for t, f in self._sleepers if t <= self._monotonic]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self._monotonic]
        for _, future in sorted(due, key=lambda pair: pair[0]):
            if not future.done():
                future.set_result(None)

    def step(self, seconds: float) -> None:
        """The wall clock stepped (NTP) by `seconds`, forward or back; no time passed."""
        self._now += timedelta(seconds=seconds)
