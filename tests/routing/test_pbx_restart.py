"""A PBX killed mid-call comes back and reports the end of the answered calls it held
(contracts/PBX.md, "The PBX dies mid-call"): routing finishes them instead of keeping
them answered for ever."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
from pathlib import Path

import pytest

from contracts.presence import DeviceState
from contracts.routing import ExplainCall
from runtime.bus import request
from services.pbxsim.held import HeldCalls
from services.pbxsim.scenario import Action, Behaviour, Scenario
from services.pbxsim.simulator import PbxSimulator
from tests.principals import ADMIN
from tests.routing.platform import Platform, eventually

ANSWERING = Scenario(behaviours={"1001-desk": Behaviour(action=Action.ANSWER)}, talk_seconds=600)


async def steps_of(platform: Platform, call_id: str) -> list[str]:
    explained = await request(platform.nc, "routing", ExplainCall(call_id=call_id, **ADMIN))
    return [step["event"] for step in explained["steps"]]


async def until_step(platform: Platform, call_id: str, event: str) -> list[str]:
    for _ in range(250):
        steps = await steps_of(platform, call_id)
        if event in steps:
            return steps
        await asyncio.sleep(0.02)
    raise AssertionError(f"{event} never among {steps}")


@pytest.mark.integration
async def test_answered_calls_a_killed_simulator_held_end_when_it_starts_again(
    platform: Platform, tmp_path: Path
) -> None:
    await platform.provision("1001", None, desk=DeviceState.IDLE)
    held = tmp_path / "pbxsim-sim1-calls.json"
    first = PbxSimulator(platform.pbx_nc, platform.clock, ANSWERING, held=HeldCalls(held))
    await first.start()
    call = await first.offer("2000", "1001")
    await eventually(lambda: call.outcome == "answered:1001-desk")
    await until_step(platform, call.call_id, "CallAnswered")

    await first.stop()  # as a kill: the talking call's end is never reported
    assert json.loads(held.read_text()) == [call.call_id]
    assert stat.S_IMODE(held.stat().st_mode) == 0o600
    assert "CallFinished" not in await steps_of(platform, call.call_id)

    second = PbxSimulator(platform.pbx_nc, platform.clock, ANSWERING, held=HeldCalls(held))
    await second.start()
    try:
        steps = await until_step(platform, call.call_id, "CallFinished")
    finally:
        await second.stop()
    assert steps.count("CallFinished") == 1
    assert json.loads(held.read_text()) == []


@pytest.mark.integration
async def test_a_call_that_ended_is_no_longer_held(platform: Platform, tmp_path: Path) -> None:
    await platform.provision("1001", None, desk=DeviceState.IDLE)
    held = HeldCalls(tmp_path / "calls.json")
    scenario = ANSWERING.model_copy(update={"talk_seconds": 5})
    sim = PbxSimulator(platform.pbx_nc, platform.clock, scenario, held=held)
    platform.sim = sim
    await sim.start()
    call = await sim.offer("2000", "1001")
    await eventually(lambda: held.ids() == [call.call_id])
    await platform.clock.advance(5)
    await until_step(platform, call.call_id, "CallFinished")
    assert held.ids() == []
    assert HeldCalls(tmp_path / "calls.json").ids() == []


def test_an_unreadable_file_of_held_calls_is_set_aside_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "calls.json"
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        held = HeldCalls(path)
    assert held.ids() == []
    assert "held calls not read" in caplog.text
    held.add("c1")
    assert HeldCalls(path).ids() == ["c1"]
