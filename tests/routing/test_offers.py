"""A call offered by request (contracts/PBX.md, "Offering a call"), and its fallbacks."""

from __future__ import annotations

import json

import pytest

from contracts import pbx
from contracts.presence import DeviceState
from contracts.routing import ExplainCall
from runtime.bus import request
from services.pbxsim.scenario import Scenario
from services.pbxsim.simulator import PbxSimulator
from tests.principals import ADMIN
from tests.routing.platform import Platform, eventually

pytestmark = pytest.mark.integration


async def steps_of(platform: Platform, call_id: str) -> list[str]:
    explained = await request(platform.nc, "routing", ExplainCall(call_id=call_id, **ADMIN))
    return [step["event"] for step in explained["steps"]]


async def test_an_offer_is_answered_once_the_call_is_stored(platform: Platform) -> None:
    await platform.provision("1001", None, desk=DeviceState.IDLE)
    await platform.start_sim(Scenario())
    call = await platform.call("1001")  # returns when routing has answered
    assert (await steps_of(platform, call.call_id))[:1] == ["CallReceived"]
    await eventually(lambda: call.kinds() == ["RingTargets"])


async def test_a_repeated_offer_decides_nothing(platform: Platform) -> None:
    await platform.provision("1001", None, desk=DeviceState.IDLE)
    await platform.start_sim(Scenario())
    call = await platform.call("1001")
    await eventually(lambda: call.kinds() == ["RingTargets"])
    before = await steps_of(platform, call.call_id)
    offered = pbx.CallOffered(
        call_id=call.call_id, node="sim", caller="2000", callee="1001", at=platform.clock.now()
    )
    msg = await platform.pbx_nc.request(pbx.OFFER_SUBJECT, pbx.encode(offered), timeout=5)
    assert json.loads(msg.data) == {"ok": True, "result": {"call_id": call.call_id}, "error": None}
    assert await steps_of(platform, call.call_id) == before
    assert call.kinds() == ["RingTargets"]


async def test_an_offer_while_routing_is_down_waits_on_jetstream(platform: Platform) -> None:
    await platform.provision("1001", None, desk=DeviceState.IDLE)
    await platform.start_sim(Scenario())
    await platform.stop_routing()
    call = await platform.call("1001")  # no responders: the simulator publishes it
    assert call.kinds() == []
    await platform.start_routing()
    await eventually(lambda: call.kinds() == ["RingTargets"])


async def test_a_pbx_that_only_publishes_is_routed_too(platform: Platform) -> None:
    await platform.provision("1001", None, desk=DeviceState.IDLE)
    sim = PbxSimulator(platform.pbx_nc, platform.clock, Scenario(), offer_by_request=False)
    await sim.start()
    try:
        call = await sim.offer("2000", "1001")
        await eventually(lambda: call.kinds() == ["RingTargets"])
    finally:
        await sim.stop()


async def test_an_offer_not_answered_in_time_is_published_too(platform: Platform) -> None:
    await platform.provision("1001", None, desk=DeviceState.IDLE)
    await platform.stop_routing()
    silent = await platform.nc.subscribe(pbx.OFFER_SUBJECT)  # hears offers, never answers
    sim = PbxSimulator(platform.pbx_nc, platform.clock, Scenario(), offer_timeout=0.2)
    await sim.start()
    try:
        call = await sim.offer("2000", "1001")
        await silent.unsubscribe()
        await platform.start_routing()
        await eventually(lambda: call.kinds() == ["RingTargets"])
    finally:
        await sim.stop()
