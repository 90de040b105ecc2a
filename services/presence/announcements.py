"""The timer that makes announced switches happen at their moment.

The moments are stored (`announced_switches`, written with the events by the read model),
so a restart between the announcement and the moment re-arms from the table: the loop
sleeps on the injected clock until the earliest moment, then applies every switch due,
1,000 users per transaction. It looks at the table again after every
VOCO_PRESENCE_SWEEP_SECONDS (announcements made on another replica) and at once when this
replica committed one. Several replicas may apply the same moment: the decider turns the
second into nothing (no switch pending any more).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from runtime.clock import Clock
from runtime.eventstore import EventStore
from services.presence.commands import PresenceCommands
from services.presence.read_model import ReadModel

log = logging.getLogger(__name__)
BATCH = 1000  # users per transaction (SwitchUsers' largest batch)


class AnnouncedSwitches:
    name = "presence-announced-switches"

    def __init__(
        self, store: EventStore, commands: PresenceCommands, clock: Clock, interval: float
    ) -> None:
        self.store = store
        self.commands = commands
        self.clock = clock
        self.interval = interval
        self.applied = 0
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                if await self.apply_due():
                    continue
                upcoming = await self._earliest()
            except Exception:
                # The database may be away for a moment; the next look catches up.
                log.exception("applying announced switches failed")
                upcoming = None
            await self._nap(upcoming)

    async def apply_due(self) -> int:
        """Apply one batch of the switches whose moment has come; returns how many."""
        now = self.clock.now()
        async with self.store.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT extension, actor FROM {self.store.s}.announced_switches "
                "WHERE takes_effect_at <= $1 ORDER BY takes_effect_at LIMIT $2",
                now,
                BATCH,
            )
        if not rows:
            return 0
        extensions = [r["extension"] for r in rows]
        refused = await self.commands.apply_announced(
            {r["extension"]: r["actor"] for r in rows}, now
        )
        if refused:
            # A user whose switch cannot be decided (none is left pending by the refusal)
            # would be due forever: its moment is dropped, the switch is lost, and said so.
            log.warning("announced switches refused", extra={"refused": refused, "at": now})
            async with self.store.pool.acquire() as conn:
                await conn.execute(
                    f"DELETE FROM {self.store.s}.announced_switches "
                    "WHERE extension = ANY($1::text[]) AND takes_effect_at <= $2",
                    extensions,
                    now,
                )
        self.applied += len(extensions)
        return len(extensions)

    async def _earliest(self) -> datetime | None:
        async with self.store.pool.acquire() as conn:
            moment: datetime | None = await conn.fetchval(
                f"SELECT min(takes_effect_at) FROM {self.store.s}.announced_switches"
            )
        return moment

    async def _nap(self, upcoming: datetime | None) -> None:
        """Until the earliest moment (on the injected clock), a wake-up, or the interval."""
        waits: list[asyncio.Task[Any]] = [
            asyncio.create_task(self._wake.wait()),
            asyncio.create_task(asyncio.sleep(self.interval)),
        ]
        if upcoming is not None:
            waits.append(asyncio.create_task(self.clock.sleep_until(upcoming)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def wake_on_announcement(read_model: ReadModel, timer: AnnouncedSwitches) -> None:
    """After a commit: wake the timer when the commit announced a switch."""
    if read_model.announced:
        read_model.announced = False
        timer.wake()
