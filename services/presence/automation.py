"""The timer behind automation: expiring notes and idle detection.

Every VOCO_PRESENCE_SWEEP_SECONDS it asks the read model which users are due
and issues ExpireNote / DetectIdle for each. The decider has the final word, so
a stale candidate (the user signed in meanwhile) changes nothing. Time comes
from the injected clock, so tests move it with a FakeClock.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from contracts.base import Role
from contracts.errors import CommandError
from contracts.presence import DetectIdle, ExpireNote
from runtime.clock import Clock
from services.presence.commands import PresenceCommands
from services.presence.domain.changes import AUTOMATION_ACTOR
from services.presence.queries import Queries

log = logging.getLogger(__name__)
AUTOMATION = {"actor": AUTOMATION_ACTOR, "role": Role.SERVICE}


class Sweeper:
    name = "presence-sweeper"

    def __init__(
        self, commands: PresenceCommands, queries: Queries, clock: Clock, interval: float
    ) -> None:
        self.commands = commands
        self.queries = queries
        self.clock = clock
        self.interval = interval
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.sweep()
            except Exception:
                # The database may be away for a moment; the next sweep catches up.
                log.exception("presence sweep failed")
            next_sweep = self.clock.now() + timedelta(seconds=self.interval)
            sleeper = asyncio.ensure_future(self.clock.sleep_until(next_sweep))
            stopper = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (sleeper, stopper):
                task.cancel()

    async def sweep(self) -> int:
        """Issue every due command once; returns how many were issued."""
        now = self.clock.now()
        issued = 0
        for extension in await self.queries.due_note_expiries(now):
            issued += await self._issue(ExpireNote(extension=extension, at=now, **AUTOMATION))
        for extension in await self.queries.due_idle(now):
            issued += await self._issue(DetectIdle(extension=extension, at=now, **AUTOMATION))
        return issued

    async def _issue(self, command: ExpireNote | DetectIdle) -> int:
        try:
            await self.commands.user(command)
        except CommandError as error:
            log.warning(
                "automation command refused",
                extra={"command": command.type_name, "reason": error.message},
            )
            return 0
        return 1
