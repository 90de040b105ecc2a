"""The rows of the parts at the platform's edges (`./voco test -m faults`, F13 also in the
default selection): the edge killed while people use it over HTTP (F13), and the PBX
simulator process killed mid-call (F14)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.faults.edge_side import EdgeWorkload, assert_edge_survived
from tests.faults.pbx_side import SimulatorCalls
from tests.faults.platform import Platform
from tests.faults.rows import assert_nothing_lost, report, run_row
from tests.faults.workload import Workload

pytestmark = pytest.mark.integration


async def test_f13_the_edge_killed_loses_no_change_session_or_stream(platform: Platform) -> None:
    edge = EdgeWorkload(platform, "F13")
    await edge.prepare()

    async def kill(_: Workload) -> float:
        edge.start()
        await asyncio.sleep(2.0)
        old = platform.kill_service("gateway")
        since = time.monotonic()
        edge.killed_at = since
        await asyncio.to_thread(platform.wait_restarted, "gateway", old)
        await edge.until_answering(since)
        return since

    try:
        figures = await run_row(platform, "F13", kill)
        edge_figures = await edge.stop_and_check()
    finally:
        await edge.close()
    report("F13-edge", edge_figures)
    assert_nothing_lost(figures)
    assert_edge_survived(edge_figures)


@pytest.mark.faults
async def test_f14_the_pbx_simulator_killed_mid_call(platform: Platform) -> None:
    state: dict[str, float] = {}

    async def kill(workload: Workload) -> float:
        sim = SimulatorCalls(workload)
        await sim.prepare()
        await sim.offer_for(2.0)  # ringing and answered calls in the simulator when it dies
        held = list(sim.calls)
        old = platform.kill_service("pbxsim")
        since = time.monotonic()
        await sim.forget_devices()
        offering = asyncio.create_task(sim.offer_for(5.0))  # while it is down, and after
        await asyncio.to_thread(platform.wait_restarted, "pbxsim", old)
        missing = await wait_devices_back(sim)
        state["resync_seconds"] = round(time.monotonic() - since, 2)
        await offering
        # Those it held when it died, answered and talking: the restarted simulator
        # reports their end (services/pbxsim/held.py), or routing keeps them answered.
        state["answered_never_ended"] = len(await sim.answered_never_ended(held))
        workload.calls += sim.calls
        state["simulator_calls"] = len(sim.calls)
        state["simulator_offers_refused"] = sim.refused
        assert not missing, missing
        assert state["answered_never_ended"] == 0
        return since

    figures = await run_row(platform, "F14", kill)
    print(json.dumps({"row": "F14-pbx", **state}))
    assert_nothing_lost(figures)
    assert state["simulator_calls"] > 0


async def wait_devices_back(sim: SimulatorCalls, within: float = 30.0) -> list[str]:
    """Until presence has every simulator device registered again; what is still missing."""
    deadline = time.monotonic() + within
    while True:
        missing = await sim.devices_back()
        if not missing or time.monotonic() > deadline:
            return missing
        await asyncio.sleep(0.2)
