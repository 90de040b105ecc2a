"""Two routing replicas both decide calls (each its share of the partitions), and when one
is killed mid-burst the other takes its partitions: every call still reaches its outcome,
once."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from contracts.presence import DeviceState
from runtime.leases import PartitionedConsumer
from runtime.service import ServiceRuntime
from services.pbxsim.scenario import Action, Behaviour, Scenario
from services.pbxsim.simulator import PbxSimulator
from services.routing.app import CALLS_CONSUMER, build
from tests.routing.platform import Platform, eventually

pytestmark = pytest.mark.integration
CALLS = 40


def calls_consumer(runtime: ServiceRuntime) -> PartitionedConsumer:
    found = [w for w in runtime.workers if isinstance(w, PartitionedConsumer)]
    assert [w.name for w in found] == [CALLS_CONSUMER]
    return found[0]


async def kill(runtime: ServiceRuntime) -> None:
    """As kill -9 looks to the others: its PostgreSQL sessions end at once (locks and open
    transactions with them), then its loops stop and its NATS connection goes."""
    runtime.pool.terminate()
    for task in runtime._tasks:
        task.cancel()
    await asyncio.wait(runtime._tasks, timeout=5)
    await runtime.nc.close()


async def stored(database_url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(query)
    finally:
        await conn.close()


async def call_types(database_url: str) -> dict[str, list[str]]:
    rows = await stored(
        database_url,
        "SELECT stream, array_agg(type ORDER BY version) AS types FROM routing.events "
        "WHERE stream LIKE 'call:%' GROUP BY stream",
    )
    return {r["stream"].removeprefix("call:"): list(r["types"]) for r in rows}


async def test_both_replicas_decide_and_one_killed_mid_burst_loses_no_call_and_repeats_none(
    platform: Platform, database_url: str
) -> None:
    await platform.provision("1001", None, desk=DeviceState.IDLE)
    assert platform.routing is not None
    first = platform.routing
    second = await build(platform.connections, platform.clock)
    await second.start()
    try:
        await burst_with_a_kill(platform, first, second, database_url)
    finally:
        if not second.nc.is_closed:
            await second.stop()


async def burst_with_a_kill(
    platform: Platform, first: ServiceRuntime, second: ServiceRuntime, database_url: str
) -> None:
    await eventually(
        lambda: len(calls_consumer(first).held) == 2 and len(calls_consumer(second).held) == 2,
        timeout=10,
    )
    await eventually(lambda: second.routing.directory.directory.extension("1001"))  # type: ignore[attr-defined]
    # Every call event through the partitions: the offers too (published, not requested).
    sim = PbxSimulator(
        platform.pbx_nc,
        platform.clock,
        Scenario(behaviours={"1001-desk": Behaviour(action=Action.ANSWER)}, talk_seconds=0),
        offer_by_request=False,
    )
    platform.sim = sim
    await sim.start()
    calls = []
    seconds_partitions = calls_consumer(second).held
    for n in range(CALLS):
        calls.append(await sim.offer("2000", "1001"))
        await asyncio.sleep(0.02)
        if n == CALLS // 2:
            applied = await stored(
                database_url,
                "SELECT consumer, sequence FROM routing.checkpoints "
                "WHERE consumer LIKE 'routing-calls-p%'",
            )
            by_second = [
                r for r in applied if int(r["consumer"].rsplit("p", 1)[1]) in seconds_partitions
            ]
            assert by_second
            assert all(r["sequence"] > 0 for r in by_second)  # it decided calls: not idle
            await kill(second)
    await eventually(lambda: len(calls_consumer(first).held) == 4, timeout=10)
    await eventually(lambda: all(c.outcome for c in calls), timeout=15)
    decided: dict[str, list[str]] = {}
    for _ in range(200):  # the last calls' ends may still be on their way
        decided = await call_types(database_url)
        if len(decided) == CALLS and all(t[-1] == "CallFinished" for t in decided.values()):
            break
        await asyncio.sleep(0.05)
    assert sorted(decided) == sorted(c.call_id for c in calls)
    for call in calls:
        types = decided[call.call_id]
        assert types.count("CallReceived") == 1, types
        assert types.count("CallAnswered") == 1, types
        assert types.count("CallFinished") == 1, types
        assert types[-1] == "CallFinished", types
        assert call.kinds().count("RingTargets") == 1, call.kinds()
        assert call.outcome == "answered:1001-desk"
