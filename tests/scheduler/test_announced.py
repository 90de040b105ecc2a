"""Boundaries announced ahead, end to end on real NATS and Postgres (one FakeClock): the
scheduler announces, presence stores, routing decides a call just after the moment by the
new profile even with presence down at the moment; a manual switch in between wins; an
edited schedule retracts its announcement; presence applies a pending switch after a
restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest

from contracts.presence import ActivateProfile, DeviceState, GetPresence, ProvisionUser
from contracts.scheduler import SaveSchedule
from runtime.bus import request
from runtime.config import Connections
from runtime.service import ServiceRuntime
from services.pbxsim.scenario import Scenario
from services.presence.app import build as build_presence
from services.scheduler.app import build as build_scheduler
from services.scheduler.driver import Driver
from tests.conftest import ConnectionsFor
from tests.principals import ADMIN, as_user
from tests.routing.given import T0
from tests.routing.platform import Platform, close_platform, eventually, open_platform
from tests.scheduler.fixtures import office_hours
from tests.scheduler.platform import FAST

pytestmark = pytest.mark.integration
MOMENT = T0 + timedelta(minutes=10)  # Monday 09:10 UTC: office hours end, dnd from then
USERS = ("1001", "1002", "1003")


class Services:
    def __init__(self, platform: Platform, connections_for: ConnectionsFor) -> None:
        self.platform = platform
        self.connections_for = connections_for
        self.presence: ServiceRuntime | None = None
        self.scheduler: ServiceRuntime | None = None

    async def start_presence(self) -> None:
        self.presence = await build_presence(
            self.connections_for("presence"), self.platform.clock, sweep_seconds=0.2
        )
        await self.presence.start()

    async def stop_presence(self) -> None:
        assert self.presence is not None
        await self.presence.stop()
        self.presence = None

    @property
    def driver(self) -> Driver:
        assert self.scheduler is not None
        found = self.scheduler.workers[0]
        assert isinstance(found, Driver)
        return found

    async def active(self, extension: str) -> str:
        view = await request(
            self.platform.nc, "presence", GetPresence(extension=extension, **ADMIN)
        )
        return str(view["active_profile"])

    def upcoming(self, extension: str) -> str | None:
        view = self.platform.directory.extension(extension)
        return view.upcoming.view.profile.id if view and view.upcoming else None


@pytest.fixture
async def services(
    connections: Connections, connections_for: ConnectionsFor
) -> AsyncIterator[Services]:
    platform = await open_platform(connections, connections_for)
    found = Services(platform, connections_for)
    await found.start_presence()
    found.scheduler = await build_scheduler(connections_for("scheduler"), platform.clock, FAST)
    await found.scheduler.start()
    await asyncio.wait_for(found.driver.ready.wait(), 5)
    yield found
    if found.scheduler is not None:
        await found.scheduler.stop()
    if found.presence is not None:
        await found.presence.stop()
    await close_platform(platform)


async def test_announced_boundary_routes_calls_at_the_moment_manual_wins_edit_retracts(
    services: Services,
) -> None:
    platform = services.platform
    nc = platform.nc
    sim = await platform.start_sim(Scenario(devices={x: [f"{x}-desk"] for x in USERS}))
    schedule = office_hours(zone="UTC", start="08:00", end="09:10", default_profile="dnd")
    for extension in USERS:
        await request(
            nc, "presence", ProvisionUser(extension=extension, display_name=extension, **ADMIN)
        )
        await sim.report_device(extension, f"{extension}-desk", DeviceState.REGISTERED)

    async def scheduler_knows_profiles() -> bool:
        assert services.scheduler is not None
        count = await services.scheduler.pool.fetchval("SELECT count(*) FROM scheduler.profiles")
        return bool(count >= 4 * len(USERS))

    await eventually_async(scheduler_knows_profiles)
    for extension in USERS:
        await request(
            nc, "scheduler", SaveSchedule(extension=extension, schedule=schedule, **ADMIN)
        )

    # A minute ahead the scheduler announces; routing learns the pending switch.
    platform.clock.set(MOMENT - timedelta(seconds=30))
    services.driver.wake()
    await eventually(lambda: all(services.upcoming(x) == "dnd" for x in USERS))
    assert [await services.active(x) for x in USERS] == ["available"] * 3

    # 1002 switches by hand in between: that wins. 1003's schedule is edited: retracted.
    await request(
        nc, "presence", ActivateProfile(extension="1002", profile_id="away", **as_user("1002"))
    )
    all_day = office_hours(zone="UTC", start="08:00", end="18:00", default_profile="dnd")
    await request(nc, "scheduler", SaveSchedule(extension="1003", schedule=all_day, **ADMIN))
    await eventually(
        lambda: services.upcoming("1002") is None and services.upcoming("1003") is None
    )

    # Presence is down at the moment: routing needs nothing from it to decide by time.
    await services.stop_presence()
    platform.clock.set(MOMENT + timedelta(milliseconds=100))
    calls = {x: await platform.call(x) for x in USERS}
    await eventually(lambda: all(call.commands for call in calls.values()))
    assert calls["1001"].kinds()[0] == "SendToVoicemail"  # dnd: by the announced profile
    assert calls["1002"].kinds()[0] == "RingTargets"  # away, chosen by hand
    assert calls["1003"].kinds()[0] == "RingTargets"  # available: the edit retracted it

    # Back up after the moment, presence applies what was pending (re-armed from its table).
    await services.start_presence()

    async def switched() -> bool:
        return [await services.active(x) for x in USERS] == ["dnd", "away", "available"]

    await eventually_async(switched)
    await asyncio.sleep(0.5)  # the driver's boundary has passed: it sent nothing over them
    assert [await services.active(x) for x in USERS] == ["dnd", "away", "available"]
    assert services.upcoming("1001") is None  # ProfileActivated reached routing


async def eventually_async(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
