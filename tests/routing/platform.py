"""A running routing service, a PBX simulator and a way to tell routing about users.

`Platform.provision` feeds routing's read model the way the presence service does:
presence events (Envelope bytes) on VOCO_PRESENCE, published as presence (`presence_nc`).
Routing runs as its own principal, the simulator as pbxsim (`pbx_nc`); `nc` is the test
bench's, for asking and inspecting.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import nats
from nats.aio.client import Client as NatsClient

from contracts.base import Event
from contracts.envelope import Envelope
from contracts.errors import CommandError, ErrorCode
from contracts.presence import (
    DeviceState,
    DeviceStateChanged,
    Profile,
    ProfileActivated,
    ProfileSaved,
    UserProvisioned,
    event_subject,
)
from contracts.routing import WhatIf
from runtime.bus import connect, request
from runtime.clock import FakeClock
from runtime.config import Connections
from runtime.service import ServiceRuntime
from services.pbxsim.scenario import Scenario
from services.pbxsim.simulator import PbxSimulator, SimCall
from services.routing.app import build
from tests.principals import ADMIN
from tests.routing.given import T0

_versions = itertools.count(1)


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Wait (wall time, for I/O only) until `check()` is truthy; return its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


class Platform:
    def __init__(
        self,
        connections_for: Callable[[str], Connections],
        nc: NatsClient,
        pbx_nc: NatsClient,
        presence_nc: NatsClient,
        clock: FakeClock,
    ) -> None:
        self.connections_for = connections_for
        self.connections = connections_for("routing")
        self.nc = nc
        self.pbx_nc = pbx_nc
        self.presence_nc = presence_nc
        self.clock = clock
        self.routing: ServiceRuntime | None = None
        self.sim: PbxSimulator | None = None

    async def start_routing(self) -> ServiceRuntime:
        self.routing = await build(self.connections, self.clock)
        await self.routing.start()
        await self._until_answering()
        return self.routing

    async def _until_answering(self) -> None:
        """Right after start the server may not route requests to routing yet (seen rarely,
        as NoResponders); a client retries UNAVAILABLE, and so does this."""
        for _ in range(100):
            try:
                await request(self.nc, "routing", WhatIf(callee="99", **ADMIN), timeout=1)
                return
            except CommandError as error:
                if error.code is not ErrorCode.UNAVAILABLE:
                    raise
                await asyncio.sleep(0.02)
        raise AssertionError("routing never answered")

    async def stop_routing(self) -> None:
        assert self.routing is not None
        await self.routing.stop()
        self.routing = None

    async def start_sim(self, scenario: Scenario) -> PbxSimulator:
        self.sim = PbxSimulator(self.pbx_nc, self.clock, scenario)
        await self.sim.start()
        return self.sim

    @property
    def directory(self) -> Any:
        assert self.routing is not None
        return self.routing.routing.directory.directory  # type: ignore[attr-defined]

    async def publish(self, key: str, event: Event) -> None:
        envelope = Envelope.wrap(
            event, id=uuid4(), stream=f"user:{key}", version=next(_versions), at=self.clock.now()
        )
        await self.presence_nc.jetstream().publish(
            event_subject(key, event.type_name), envelope.to_bytes()
        )

    async def provision(
        self, extension: str, profile: Profile | None = None, **devices: DeviceState
    ) -> None:
        await self.publish(
            extension, UserProvisioned(extension=extension, display_name=f"User {extension}")
        )
        for name, state in devices.items():
            await self.device(extension, f"{extension}-{name}", state)
        if profile is not None:
            await self.activate(extension, profile)
        await eventually(lambda: self._reflects(extension, profile, devices))

    async def activate(self, extension: str, profile: Profile) -> None:
        await self.publish(extension, ProfileSaved(extension=extension, profile=profile))
        await self.publish(
            extension,
            ProfileActivated(
                extension=extension, profile_id=profile.id, channel="client", actor="test"
            ),
        )
        await eventually(lambda: self._reflects(extension, profile, {}))

    async def device(
        self, extension: str, device: str, state: DeviceState, wait: bool = False
    ) -> None:
        await self.publish(
            extension, DeviceStateChanged(extension=extension, device_id=device, state=state)
        )
        if wait:
            await eventually(
                lambda: (
                    (v := self.directory.extension(extension)) and v.devices.get(device) == state
                )
            )

    def _reflects(
        self, extension: str, profile: Profile | None, devices: dict[str, DeviceState]
    ) -> bool:
        view = self.directory.extension(extension)
        if view is None or (profile is not None and view.profile != profile):
            return False
        return all(view.devices.get(f"{extension}-{n}") == s for n, s in devices.items())

    async def call(self, callee: str, caller: str = "2000") -> SimCall:
        assert self.sim is not None
        return await self.sim.offer(caller, callee)


async def open_platform(
    connections: Connections, connections_for: Callable[[str], Connections]
) -> Platform:
    """`connections`: the test bench's; `connections_for`: each principal's."""
    nc = await nats.connect(connections.nats_url)
    pbx_nc = await connect(connections_for("pbxsim").nats_url, "test-pbx")
    presence_nc = await connect(connections_for("presence").nats_url, "test-presence")
    platform = Platform(connections_for, nc, pbx_nc, presence_nc, FakeClock(T0))
    await platform.start_routing()
    return platform


async def close_platform(platform: Platform) -> None:
    if platform.sim is not None:
        await platform.sim.stop()
    if platform.routing is not None:
        await platform.routing.stop()
    for nc in (platform.nc, platform.pbx_nc, platform.presence_nc):
        await nc.close()
