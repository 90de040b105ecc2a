"""F10 (default selection): the PBX delivers call events twice and out of order (a
retried publish with a new id, a late ringing and a late failure after the answer, the
end reported twice): each call is decided once and ends final, and nothing else suffers."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from contracts import pbx
from contracts.base import Message, Role
from contracts.routing import ExplainCall
from tests.faults.platform import Platform
from tests.faults.rows import assert_nothing_lost, run_row
from tests.faults.workload import Workload

pytestmark = pytest.mark.integration
CALLS = 4


async def publish(workload: Workload, message: Message, call_id: str) -> None:
    assert workload.pbx_nc is not None  # the PBX's own NATS user publishes PBX events
    js = workload.pbx_nc.jetstream()
    await js.publish(
        pbx.call_subject(call_id),
        pbx.encode(message),
        headers={"Nats-Msg-Id": f"{call_id}:{uuid.uuid4().hex}"},  # not a dedupable repeat
    )


async def messy_call(workload: Workload, callee: str) -> str:
    """A call to a user who lets it ring, answered and ended by hand, messily."""
    assert workload.sim is not None
    call = await workload.sim.offer("+4930888", callee)
    for _ in range(100):
        if call.legs:
            break
        await asyncio.sleep(0.05)
    leg = next(iter(call.legs))
    now = workload.sim.clock.now
    answered = pbx.LegAnswered(call_id=call.call_id, leg_id=leg, at=now())
    await publish(workload, answered, call.call_id)
    await publish(workload, answered, call.call_id)  # delivered twice
    await publish(
        workload, pbx.LegRinging(call_id=call.call_id, leg_id=leg, at=now()), call.call_id
    )
    failed = pbx.LegFailed(
        call_id=call.call_id, leg_id=leg, reason=pbx.LegFailure.NO_ANSWER, at=now()
    )
    await publish(workload, failed, call.call_id)  # a late failure after the answer
    ended = pbx.CallEnded(call_id=call.call_id, at=now())
    await publish(workload, ended, call.call_id)
    await publish(workload, ended, call.call_id)  # the end, twice
    await publish(workload, answered, call.call_id)  # and an answer after the end
    return call.call_id


async def test_f10_duplicate_and_reordered_pbx_events(platform: Platform) -> None:
    messy: list[str] = []

    async def mess(workload: Workload) -> float:
        ringing_users = workload.users[0::2]  # these never answer by themselves
        for n in range(CALLS):
            messy.append(await messy_call(workload, ringing_users[n % len(ringing_users)]))
        workload.calls += messy
        return time.monotonic()

    figures = await run_row(platform, "F10", mess, before=1.0)
    assert_nothing_lost(figures)
    assert len(messy) == CALLS


async def test_f10_a_messy_call_is_answered_once(platform: Platform) -> None:
    workload = Workload(
        platform.endpoints()["VOCO_NATS_URL"],
        "F10b",
        users=2,
        watchers=1,
        pbx_url=platform.principal_url("pbxsim"),
    )
    try:
        await workload.prepare()
        call_id = await messy_call(workload, workload.users[0])
        for _ in range(100):
            explained = await workload.send_patiently(
                "routing", ExplainCall(call_id=call_id, actor="faults", role=Role.ADMIN)
            )
            events = [step["event"] for step in explained["steps"]]
            if explained["outcome"].startswith("answered") and "CallFinished" in events:
                break
            await asyncio.sleep(0.1)
        assert explained["outcome"].startswith("answered"), explained
        assert events.count("CallAnswered") == 1, events
        assert events.count("CallFinished") <= 1, events
    finally:
        await workload.close()
