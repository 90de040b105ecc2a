"""The real presence and scheduler services in-process on the test NATS and Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats
from nats.aio.client import Client as NatsClient

from contracts.base import Command
from contracts.presence import GetHistory, ProvisionUser
from runtime.bus import request
from runtime.clock import FakeClock
from runtime.config import Connections
from runtime.service import ServiceRuntime
from services.presence.app import build as build_presence
from services.scheduler.app import build as build_scheduler
from services.scheduler.driver import Driver, DriverSettings
from tests.principals import ADMIN

FAST = DriverSettings(poll_seconds=0.05, retry_seconds=1.0)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@dataclass
class Platform:
    connections: Connections
    clock: FakeClock
    nc: NatsClient
    presence: ServiceRuntime
    scheduler: ServiceRuntime | None = None

    @classmethod
    async def start(
        cls, connections: Connections, connections_for: Callable[[str], Connections], now: datetime
    ) -> Platform:
        """Presence and the scheduler as themselves; `nc` the test bench's (`connections`)."""
        clock = FakeClock(now)
        presence = await build_presence(connections_for("presence"), clock)
        await presence.start()
        nc = await nats.connect(connections.nats_url)
        platform = cls(connections_for("scheduler"), clock, nc, presence)
        await platform.start_scheduler()
        return platform

    async def start_scheduler(self) -> None:
        self.scheduler = await build_scheduler(self.connections, self.clock, FAST)
        await self.scheduler.start()
        await asyncio.wait_for(self.driver.ready.wait(), 5)

    async def stop_scheduler(self) -> None:
        assert self.scheduler is not None
        await self.scheduler.stop()
        self.scheduler = None

    async def stop(self) -> None:
        if self.scheduler is not None:
            await self.stop_scheduler()
        await self.presence.stop()
        await self.nc.close()

    @property
    def driver(self) -> Driver:
        assert self.scheduler is not None
        found = self.scheduler.workers[0]
        assert isinstance(found, Driver)
        return found

    async def send(self, service: str, command: Command) -> dict[str, Any]:
        return await request(self.nc, service, command)

    async def provision(self, extension: str) -> None:
        await self.send(
            "presence",
            ProvisionUser(extension=extension, display_name=f"User {extension}", **ADMIN),
        )
        assert self.scheduler is not None
        pool = self.scheduler.pool

        async def profiles_known() -> bool:
            count = await pool.fetchval(
                "SELECT count(*) FROM scheduler.profiles WHERE extension = $1", extension
            )
            return bool(count and count >= 4)

        await eventually(profiles_known)

    async def scheduler_switches(self, extension: str) -> list[tuple[str, str, datetime]]:
        """(type, summary, at) of the presence history entries the scheduler made, oldest first."""
        history = await self.send("presence", GetHistory(extension=extension, limit=1000, **ADMIN))
        return [
            (e["type"], e["summary"], datetime.fromisoformat(e["at"]))
            for e in reversed(history["entries"])
            if e["channel"] == "scheduler" and e["type"] == "ProfileActivated"
        ]

    async def active_profile(self, extension: str) -> str | None:
        from contracts.presence import GetPresence

        view = await self.send("presence", GetPresence(extension=extension, **ADMIN))
        return view.get("active_profile")  # type: ignore[return-value]

    async def advance_to(self, moment: datetime) -> None:
        """Move the fake clock and let the driver finish what fell due."""
        self.clock.set(moment)
        await asyncio.sleep(0)
        await self.settle()

    async def settle(self) -> None:
        """Wait until no timer is due at the fake clock's now and the driver is idle."""
        driver = self.driver

        async def idle() -> bool:
            now = self.clock.now()
            return not any(due <= now for due in driver._due.values()) and driver.idle

        async def presence_applied() -> bool:
            # Switches announced ahead are applied by presence's own timer at the moment.
            due = await self.presence.pool.fetchval(
                "SELECT count(*) FROM presence.announced_switches WHERE takes_effect_at <= $1",
                self.clock.now(),
            )
            return not due

        await eventually(idle)
        await asyncio.sleep(0.1)  # a refresh round for changes committed meanwhile
        await eventually(idle)
        await eventually(presence_applied)
