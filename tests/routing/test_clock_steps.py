"""F11: the wall clock stepped (NTP) an hour forward and an hour back while a call rings
with a 5 s timeout pending: the timeout fires once, after its 5 s (not at the step, not
an hour late), and the call ends final, once."""

from __future__ import annotations

import asyncio

import pytest

from contracts.presence import DeviceState, Profile, Ringing
from services.pbxsim.scenario import Scenario
from tests.routing.platform import Platform, eventually

pytestmark = pytest.mark.integration
QUICK = Profile(id="quick", name="Quick", ringing=Ringing(timeout=5))


def armed(platform: Platform) -> int:
    assert platform.routing is not None
    return len(platform.routing.routing.timers)  # type: ignore[attr-defined]


async def test_a_step_forward_fires_the_pending_ring_timeout_once(platform: Platform) -> None:
    await platform.provision("1001", QUICK, desk=DeviceState.IDLE)
    await platform.start_sim(Scenario())
    call = await platform.call("1001")
    await eventually(lambda: call.kinds() == ["RingTargets"])
    await eventually(lambda: armed(platform) == 1)  # armed just after RingTargets left
    platform.clock.step(3600)
    await platform.clock.advance(1)
    await asyncio.sleep(0.5)
    assert call.kinds() == ["RingTargets"]  # still ringing: 1 s of its 5 have passed
    await platform.clock.advance(5)
    await eventually(lambda: call.outcome)
    assert call.outcome == "voicemail:1001:default"
    await platform.clock.advance(3600)
    assert call.kinds() == ["RingTargets", "CancelLegs", "SendToVoicemail"]


async def test_a_step_back_fires_the_timeout_after_its_seconds_once(platform: Platform) -> None:
    await platform.provision("1001", QUICK, desk=DeviceState.IDLE)
    await platform.start_sim(Scenario())
    call = await platform.call("1001")
    await eventually(lambda: call.kinds() == ["RingTargets"])
    await eventually(lambda: armed(platform) == 1)  # armed just after RingTargets left
    platform.clock.step(-3600)
    await platform.clock.advance(6)  # past the 5 s, an hour before its first due time
    await eventually(lambda: call.outcome)
    assert call.outcome == "voicemail:1001:default"
    assert call.kinds() == ["RingTargets", "CancelLegs", "SendToVoicemail"]
