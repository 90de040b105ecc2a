"""The one source of time. Services take a Clock; tests pass a FakeClock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...

    async def sleep_until(self, moment: datetime) -> None:
        """Until `moment`: unlike `sleep(moment - now)` computed beforehand, a sleeper that
        starts late (time moved meanwhile) still wakes at `moment`, or at once if past."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def sleep_until(self, moment: datetime) -> None:
        await asyncio.sleep(max(0.0, (moment - self.now()).total_seconds()))


class FakeClock:
    """Time that moves only when a test advances it; sleepers wake as it passes their deadline."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + timedelta(seconds=seconds))

    async def sleep_until(self, moment: datetime) -> None:
        if moment <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((moment, future))
        await future

    async def advance(self, seconds: float) -> None:
        self.set(self._now + timedelta(seconds=seconds))
        await asyncio.sleep(0)

    def set(self, moment: datetime) -> None:
        self._now = moment
        due = [(t, f) for t, f in self._sleepers if t <= moment]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > moment]
        for _, future in sorted(due, key=lambda pair: pair[0]):
            if not future.done():
                future.set_result(None)
