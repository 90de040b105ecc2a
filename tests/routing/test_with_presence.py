"""Routing fed by the real presence service: users, profiles and devices as a PBX reports them."""

from __future__ import annotations

import pytest

from contracts import pbx
from contracts.presence import ActivateProfile, DeviceState, Profile, ProvisionUser, SaveProfile
from runtime.bus import request
from runtime.config import Connections
from services.pbxsim.scenario import Action, Behaviour, Scenario
from services.presence.app import build as build_presence
from tests.conftest import ConnectionsFor
from tests.principals import ADMIN
from tests.routing.platform import close_platform, eventually, open_platform

pytestmark = pytest.mark.integration


async def test_presence_provisions_and_the_pbx_registers_then_a_call_routes(
    connections: Connections, connections_for: ConnectionsFor
) -> None:
    platform = await open_platform(connections, connections_for)
    presence = await build_presence(connections_for("presence"), platform.clock)
    await presence.start()
    try:
        nc = platform.nc
        await request(nc, "presence", ProvisionUser(extension="1001", display_name="Ada", **ADMIN))
        sim = await platform.start_sim(
            Scenario(
                devices={"1001": ["1001-desk", "1001-softphone"]},
                behaviours={"1001-softphone": Behaviour(action=Action.ANSWER)},
            )
        )
        await sim.report_device("1001", "1001-desk", DeviceState.BUSY)

        await eventually(
            lambda: (v := platform.directory.extension("1001")) and len(v.devices) == 2
        )
        office = Profile(
            id="office",
            name="Office",
            ringing={
                "strategy": "first_available",
                "devices": [{"device": "1001-desk"}, {"device": "1001-softphone"}],
            },
        )
        await request(nc, "presence", SaveProfile(extension="1001", profile=office, **ADMIN))
        await request(
            nc, "presence", ActivateProfile(extension="1001", profile_id="office", **ADMIN)
        )

        def ready() -> bool:
            view = platform.directory.extension("1001")
            return bool(
                view
                and view.profile.id == "office"
                and view.devices
                == {"1001-desk": DeviceState.BUSY, "1001-softphone": DeviceState.REGISTERED}
            )

        await eventually(ready)
        call = await platform.call("1001")
        await eventually(lambda: call.outcome)
        ring = call.commands[0]
        assert isinstance(ring, pbx.RingTargets)
        assert [leg.device_id for leg in ring.legs] == ["1001-softphone"]
        assert call.outcome == "answered:1001-softphone"
    finally:
        await presence.stop()
        await close_platform(platform)
