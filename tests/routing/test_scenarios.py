"""Every use case of the seed, through real NATS and Postgres, with the PBX simulator."""

from __future__ import annotations

import pytest

from contracts import pbx
from contracts.presence import DeviceState, Profile
from contracts.routing import ExplainCall, WhatIf
from runtime.bus import request
from services.pbxsim.scenario import Action, Behaviour, Scenario
from services.routing.app import build
from tests.principals import ADMIN
from tests.routing.platform import Platform, eventually

pytestmark = pytest.mark.integration
IDLE, BUSY, GONE = DeviceState.IDLE, DeviceState.BUSY, DeviceState.UNREGISTERED
MOBILE = "+491701234567"
ANSWER = Behaviour(action=Action.ANSWER)


def profile(**fields: object) -> Profile:
    return Profile.model_validate({"id": "test", "name": "Test", **fields})


DESK_THEN_MOBILE = profile(
    id="office",
    name="Office",
    mobile_number=MOBILE,
    ringing={
        "strategy": "sequential",
        "devices": [{"device": "1001-desk", "seconds": 10}, {"device": "mobile"}],
    },
)


async def test_desk_rings_10_seconds_then_the_mobile_answers(platform: Platform) -> None:
    await platform.provision("1001", DESK_THEN_MOBILE, desk=IDLE)
    sim = await platform.start_sim(Scenario(behaviours={MOBILE: ANSWER}))
    call = await platform.call("1001")
    await eventually(lambda: call.kinds() == ["RingTargets"])
    first = call.commands[0]
    assert isinstance(first, pbx.RingTargets)
    assert ([leg.device_id for leg in first.legs], first.timeout_seconds) == (["1001-desk"], 10)
    await platform.clock.advance(10)
    await eventually(lambda: call.outcome)
    assert call.kinds() == ["RingTargets", "CancelLegs", "RingTargets"]
    assert call.outcome == f"answered:{MOBILE}"
    assert sim.calls[call.call_id] is call


async def test_after_hours_profile_forwards_to_the_mobile(platform: Platform) -> None:
    await platform.provision("1001", DESK_THEN_MOBILE, desk=IDLE)
    after_hours = profile(
        id="after-hours",
        name="After hours",
        forwarding={"always": {"kind": "external", "target": MOBILE}},
    )
    await platform.activate("1001", after_hours)
    await platform.start_sim(Scenario())
    call = await platform.call("1001")
    await eventually(lambda: call.outcome)
    assert call.outcome == f"forwarded:external:{MOBILE}"


async def test_do_not_disturb_goes_to_voicemail(platform: Platform) -> None:
    dnd = profile(
        id="dnd",
        name="Do not disturb",
        shows="do_not_disturb",
        direct_to_voicemail=True,
        voicemail={"greeting": "dnd"},
    )
    await platform.provision("1001", dnd, desk=IDLE)
    await platform.start_sim(Scenario())
    call = await platform.call("1001")
    await eventually(lambda: call.outcome)
    assert call.outcome == "voicemail:1001:dnd"


async def test_busy_goes_to_an_alternate_extension_routed_by_its_profile(
    platform: Platform,
) -> None:
    await platform.provision(
        "1001", profile(forwarding={"busy": {"kind": "extension", "target": "1002"}}), desk=BUSY
    )
    await platform.provision("1002", None, desk=IDLE)
    await platform.start_sim(Scenario(behaviours={"1002-desk": ANSWER}))
    call = await platform.call("1001")
    await eventually(lambda: call.outcome)
    assert call.outcome == "answered:1002-desk"


async def test_busy_goes_to_a_ring_group(platform: Platform) -> None:
    from contracts.presence import RingGroupSaved

    await platform.publish(
        "sales",
        RingGroupSaved(
            group_id="sales",
            name="Sales",
            members=["1003", "1004"],
            strategy="simultaneous",
            timeout=20,
        ),
    )
    await platform.provision("1003", None, desk=IDLE)
    await platform.provision("1004", None, desk=IDLE)
    await platform.provision(
        "1001", profile(forwarding={"busy": {"kind": "ring_group", "target": "sales"}}), desk=BUSY
    )
    await eventually(lambda: platform.directory.group("sales"))
    await platform.start_sim(Scenario(behaviours={"1004-desk": ANSWER}))
    call = await platform.call("1001")
    await eventually(lambda: call.outcome)
    ring = call.commands[0]
    assert isinstance(ring, pbx.RingTargets)
    assert sorted(str(leg.device_id) for leg in ring.legs) == ["1003-desk", "1004-desk"]
    assert call.outcome == "answered:1004-desk"


async def test_not_registered_goes_to_voicemail(platform: Platform) -> None:
    await platform.provision("1001", profile(), desk=GONE, softphone=GONE)
    await platform.start_sim(Scenario())
    call = await platform.call("1001")
    await eventually(lambda: call.outcome)
    assert call.outcome == "voicemail:1001:default"


async def test_ring_all_answered_on_one_device_cancels_the_other(platform: Platform) -> None:
    await platform.provision("1001", profile(), desk=IDLE, softphone=IDLE)
    await platform.start_sim(Scenario(behaviours={"1001-softphone": ANSWER}))
    call = await platform.call("1001")
    await eventually(lambda: len(call.commands) == 2)
    ring, cancel = call.commands
    assert isinstance(ring, pbx.RingTargets)
    assert isinstance(cancel, pbx.CancelLegs)
    assert len(ring.legs) == 2
    desk_leg = next(leg.leg_id for leg in ring.legs if leg.device_id == "1001-desk")
    assert (cancel.leg_ids, cancel.reason) == ([desk_leg], pbx.CancelReason.ANSWERED_ELSEWHERE)
    assert call.outcome == "answered:1001-softphone"


async def test_first_available_skips_the_busy_phone(platform: Platform) -> None:
    first_available = profile(
        ringing={
            "strategy": "first_available",
            "devices": [{"device": "1001-desk"}, {"device": "1001-softphone"}],
        }
    )
    await platform.provision("1001", first_available, desk=BUSY, softphone=IDLE)
    await platform.start_sim(Scenario(behaviours={"1001-softphone": ANSWER}))
    call = await platform.call("1001")
    await eventually(lambda: call.outcome)
    ring = call.commands[0]
    assert isinstance(ring, pbx.RingTargets)
    assert [leg.device_id for leg in ring.legs] == ["1001-softphone"]


async def test_a_forward_loop_ends_at_the_first_callees_voicemail_and_is_explained(
    platform: Platform,
) -> None:
    await platform.provision(
        "1001", profile(forwarding={"always": {"kind": "extension", "target": "1002"}}), desk=IDLE
    )
    await platform.provision(
        "1002", profile(forwarding={"always": {"kind": "extension", "target": "1001"}}), desk=IDLE
    )
    await platform.start_sim(Scenario())
    call = await platform.call("1001")
    await eventually(lambda: call.outcome)
    assert call.outcome == "voicemail:1001:default"
    explanation = await request(platform.nc, "routing", ExplainCall(call_id=call.call_id, **ADMIN))
    whys = " ".join(step["why"] for step in explanation["steps"])
    assert "a loop (1001 → 1002 → 1001)" in whys
    assert explanation["outcome"].startswith("voicemail 1001")


async def test_routing_restarted_mid_ring_still_reaches_the_outcome_once(
    platform: Platform,
) -> None:
    await platform.provision("1001", DESK_THEN_MOBILE, desk=IDLE)
    await platform.start_sim(Scenario(behaviours={MOBILE: ANSWER}))
    call = await platform.call("1001")
    await eventually(lambda: call.kinds() == ["RingTargets"])
    await platform.stop_routing()  # killed while the desk rings
    await platform.clock.advance(12)  # the desk's 10 s pass while routing is down
    await platform.start_routing()  # loads the due timer from Postgres and fires it
    await eventually(lambda: call.outcome)
    assert call.kinds() == ["RingTargets", "CancelLegs", "RingTargets"]
    assert call.outcome == f"answered:{MOBILE}"
    steps = [c.step for c in call.commands if isinstance(c, pbx.RingTargets)]
    assert steps == [1, 2]


async def test_a_step_started_by_a_timer_survives_a_restart_too(platform: Platform) -> None:
    await platform.provision("1001", DESK_THEN_MOBILE, desk=IDLE)
    await platform.start_sim(Scenario())  # nobody answers
    call = await platform.call("1001")
    await eventually(lambda: call.kinds() == ["RingTargets"])
    await platform.clock.advance(10)  # the desk's 10 s: the timer starts the mobile's step
    await eventually(lambda: call.kinds() == ["RingTargets", "CancelLegs", "RingTargets"])
    await platform.stop_routing()
    await platform.clock.advance(25)  # the rest of the 30 s ring timeout passes while down
    await platform.start_routing()  # the mobile step's timer is stored too
    await eventually(lambda: call.outcome)
    kinds = ["RingTargets", "CancelLegs", "RingTargets", "CancelLegs", "SendToVoicemail"]
    assert call.kinds() == kinds
    assert call.outcome is not None
    assert call.outcome.startswith("voicemail:1001:")


async def test_what_if_answers_without_placing_a_call(platform: Platform) -> None:
    await platform.provision("1001", DESK_THEN_MOBILE, desk=IDLE)
    result = await request(platform.nc, "routing", WhatIf(callee="1001", caller="2000", **ADMIN))
    assert [s["event"] for s in result["steps"] if s["event"] == "RingStepStarted"] == [
        "RingStepStarted"
    ] * 2
    assert result["outcome"].startswith("voicemail 1001")
    proposed = profile(
        id="dnd", name="DND", direct_to_voicemail=True, voicemail={"greeting": "dnd"}
    )
    result = await request(platform.nc, "routing", WhatIf(callee="1001", profile=proposed, **ADMIN))
    assert result["outcome"] == "voicemail 1001 (dnd greeting)"
    assert platform.directory.extension("1001").profile == DESK_THEN_MOBILE  # nothing changed


async def test_a_timer_armed_on_a_replica_that_died_is_fired_by_another(
    platform: Platform,
) -> None:
    await platform.provision("1001", DESK_THEN_MOBILE, desk=IDLE)
    sim = await platform.start_sim(Scenario(behaviours={MOBILE: ANSWER}))
    other = await build(platform.connections, platform.clock)  # started before the call:
    await other.start()  # it did not load the call's timer from Postgres
    try:
        assert platform.routing is not None
        offered = pbx.CallOffered(
            call_id="c-replica",
            node=sim.node,
            caller="2000",
            callee="1001",
            at=platform.clock.now(),
        )
        await platform.routing.routing.offer(offered)  # type: ignore[attr-defined]
        await eventually(lambda: "c-replica" in sim.calls)
        call = sim.calls["c-replica"]
        await platform.stop_routing()  # the replica holding the timer dies
        await platform.clock.advance(16)  # the desk's 10 s, and the sweep's 5 s of grace
        await eventually(lambda: call.outcome)
        assert call.kinds() == ["RingTargets", "CancelLegs", "RingTargets"]
        assert call.outcome == f"answered:{MOBILE}"
    finally:
        await other.stop()
