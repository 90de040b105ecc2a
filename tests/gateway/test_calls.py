"""My calls through the edge: a real call (PBX simulator) listed and explained to the
callee; another user cannot read it, and gets for it what a call that never was gives."""

from __future__ import annotations

import asyncio

import pytest

from runtime.clock import SystemClock
from services.pbxsim.scenario import Action, Behaviour, Scenario
from services.pbxsim.simulator import PbxSimulator
from tests.gateway.platform import Gateway

pytestmark = pytest.mark.integration


async def test_a_call_is_listed_and_explained_to_its_callee_and_to_nobody_else(
    gateway: Gateway,
) -> None:
    admin, ann, cleo = [await gateway.sign_in(u) for u in ("admin", "1001", "1003")]
    registered = await admin.put(
        "/api/admin/users/1001/devices/1001-desk", json={"state": "registered"}
    )
    assert registered.status_code == 200, registered.text
    sim = PbxSimulator(
        gateway.nc,
        SystemClock(),
        Scenario(behaviours={"1001-desk": Behaviour(action=Action.ANSWER)}),
    )
    await sim.start()
    try:
        for _ in range(100):  # routing's read model learns of the device from presence
            call = await sim.offer("2000", "1001")
            for _ in range(100):
                if call.outcome:
                    break
                await asyncio.sleep(0.02)
            if call.outcome and call.outcome.startswith("answered"):
                break
    finally:
        await sim.stop()
    listed = (await ann.get("/api/users/1001/calls")).json()["calls"]
    assert listed[0]["call_id"] == call.call_id
    assert listed[0]["caller"] == "2000"
    explained = await ann.get(f"/api/users/1001/calls/{call.call_id}")
    assert explained.status_code == 200
    assert explained.json()["steps"][0]["why"]
    assert (await cleo.get(f"/api/users/1001/calls/{call.call_id}")).status_code == 403
    theirs = await cleo.get(f"/api/users/1003/calls/{call.call_id}")
    never = await cleo.get("/api/users/1003/calls/no-such-call")
    assert theirs.status_code == never.status_code == 404
    assert theirs.json()["error"]["field"] == never.json()["error"]["field"] == "call_id"
    what_if = await ann.post("/api/users/1001/what-if", json={"caller": "2000"})
    assert what_if.status_code == 200
    assert what_if.json()["steps"]
    for client in (admin, ann, cleo):
        await client.aclose()
