"""ListCalls: a user's calls, newest first, and the membership check the edge relies on."""

from __future__ import annotations

import pytest

from contracts.presence import DeviceState
from contracts.routing import ListCalls
from runtime.bus import request
from services.pbxsim.scenario import Action, Behaviour, Scenario
from tests.principals import ADMIN
from tests.routing.platform import Platform, eventually

pytestmark = pytest.mark.integration


async def test_calls_are_listed_for_caller_and_callee_only(platform: Platform) -> None:
    await platform.provision("1001", desk=DeviceState.IDLE)
    await platform.start_sim(Scenario(behaviours={"1001-desk": Behaviour(action=Action.ANSWER)}))
    first = await platform.call("1001", caller="2000")
    await eventually(lambda: first.outcome)
    second = await platform.call("1001", caller="1002")
    await eventually(lambda: second.outcome)

    mine = await request(platform.nc, "routing", ListCalls(extension="1001", **ADMIN))
    assert [c["call_id"] for c in mine["calls"]] == [second.call_id, first.call_id]
    assert mine["calls"][0]["caller"] == "1002"
    assert mine["calls"][0]["callee"] == "1001"
    callers = await request(platform.nc, "routing", ListCalls(extension="1002", **ADMIN))
    assert [c["call_id"] for c in callers["calls"]] == [second.call_id]
    stranger = await request(
        platform.nc, "routing", ListCalls(extension="1003", call_id=first.call_id, **ADMIN)
    )
    assert stranger["calls"] == []
    one = await request(
        platform.nc, "routing", ListCalls(extension="1001", call_id=first.call_id, **ADMIN)
    )
    assert [c["call_id"] for c in one["calls"]] == [first.call_id]
