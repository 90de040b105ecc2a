"""Breakthrough on real NATS and Postgres: VIP callers and urgent repeats through DND."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from contracts import pbx
from contracts.errors import CommandError, ErrorCode
from contracts.presence import (
    ActivateProfile,
    DeviceState,
    ListProfiles,
    Profile,
    ProfileActivated,
    ProfileSaved,
    ProvisionUser,
    ReportDevice,
    SaveProfile,
)
from contracts.routing import ExplainCall, WhatIf
from contracts.visibility import AddContact, GetContacts, MarkFavourite, UnmarkFavourite
from runtime.bus import request
from runtime.service import ServiceRuntime
from services.pbxsim.scenario import Scenario
from services.pbxsim.simulator import SimCall
from services.presence.app import build as build_presence
from services.visibility.app import build as build_visibility
from tests.principals import ADMIN, SERVICE, as_user
from tests.routing.platform import Platform, eventually

pytestmark = pytest.mark.integration
IDLE = DeviceState.IDLE
OFFICE = Profile(id="office", name="Office")


def dnd(**section: object) -> Profile:
    return Profile.model_validate(
        {
            "id": "dnd",
            "name": "Do Not Disturb",
            "shows": "do_not_disturb",
            "direct_to_voicemail": True,
            "voicemail": {"greeting": "dnd"},
            "breakthrough": section,
        }
    )


async def quiet(platform: Platform, profile: Profile) -> None:
    """1001 had 'office' active, then switched to `profile` (as presence reports it)."""
    await platform.provision("1001", OFFICE, desk=IDLE)
    await platform.publish("1001", ProfileSaved(extension="1001", profile=profile))
    await platform.publish(
        "1001",
        ProfileActivated(
            extension="1001",
            profile_id=profile.id,
            previous_profile_id="office",
            channel="client",
            actor="1001",
        ),
    )

    def ready() -> bool:
        view = platform.directory.extension("1001")
        return bool(view and view.profile == profile and view.breakthrough_to == OFFICE)

    await eventually(ready)
    await platform.start_sim(Scenario())


async def settled(platform: Platform, caller: str) -> SimCall:
    """A call from `caller` to 1001: voicemail, or ringing (nobody answers in the sim)."""
    call = await platform.call("1001", caller)
    await eventually(lambda: call.outcome or call.kinds())
    return call


def rang(call: SimCall) -> bool:
    return bool(call.commands) and isinstance(call.commands[0], pbx.RingTargets)


async def whys(platform: Platform, call: SimCall) -> str:
    explained = await request(platform.nc, "routing", ExplainCall(call_id=call.call_id, **ADMIN))
    return " | ".join(step["why"] for step in explained["steps"])


async def test_a_listed_extension_rings_through_dnd_and_another_goes_to_voicemail(
    platform: Platform,
) -> None:
    await quiet(platform, dnd(extensions=["1002"]))
    vip = await settled(platform, "1002")
    assert rang(vip)
    why = await whys(platform, vip)
    assert "1002 is on 1001's breakthrough list of profile 'Do Not Disturb'" in why
    assert "routed by profile 'Office' (office): the profile active before it" in why
    other = await settled(platform, "1003")
    await eventually(lambda: other.outcome)
    assert other.outcome == "voicemail:1001:dnd"
    assert "1003 is not on 1001's breakthrough list" in await whys(platform, other)


async def test_a_number_with_a_listed_prefix_rings_through(platform: Platform) -> None:
    await quiet(platform, dnd(prefixes=["+4930123"]))
    assert rang(await settled(platform, "+4930123456"))
    other = await settled(platform, "+4930999456")
    await eventually(lambda: other.outcome)
    assert other.outcome == "voicemail:1001:dnd"


async def test_what_if_1002_calls_me_now(platform: Platform) -> None:
    await quiet(platform, dnd(extensions=["1002"]))
    answer = await request(platform.nc, "routing", WhatIf(caller="1002", callee="1001", **ADMIN))
    assert [s["event"] for s in answer["steps"]][:3] == [
        "CallReceived",
        "HopEntered",
        "CallBrokeThrough",
    ]
    held = await request(platform.nc, "routing", WhatIf(caller="1003", callee="1001", **ADMIN))
    assert held["outcome"] == "voicemail 1001 (dnd greeting)"
    assert any(s["event"] == "CallHeldBack" for s in held["steps"])


async def test_what_if_of_a_proposed_quiet_profile_routes_by_the_active_one(
    platform: Platform,
) -> None:
    await quiet(platform, dnd(extensions=["1002"]))
    meeting = Profile(id="meeting", name="Meeting")
    await platform.publish("1001", ProfileSaved(extension="1001", profile=meeting))
    await platform.publish(
        "1001",
        ProfileActivated(extension="1001", profile_id="meeting", channel="client", actor="1001"),
    )
    await eventually(lambda: platform.directory.extension("1001").profile == meeting)
    proposed = dnd(extensions=["1002"]).model_copy(update={"id": "focus", "name": "Focus"})
    answer = await request(
        platform.nc, "routing", WhatIf(caller="1002", callee="1001", profile=proposed, **ADMIN)
    )
    why = " | ".join(step["why"] for step in answer["steps"])
    assert "1002 is on 1001's breakthrough list of profile 'Focus'" in why
    assert "routed by profile 'Meeting' (meeting): the profile active before it" in why


async def test_anonymous_callers_never_break_through(platform: Platform) -> None:
    await quiet(platform, dnd(extensions=["1002"], urgent_repeat={"minutes": 3}))
    for _ in range(2):
        call = await settled(platform, "anonymous")
        await eventually(lambda c=call: c.outcome)  # type: ignore[misc]
        assert call.outcome == "voicemail:1001:dnd"
        assert "anonymous callers never break through" in await whys(platform, call)
        await platform.clock.advance(30)


async def test_urgent_repeat_at_2_min_59_s_rings_and_at_3_min_01_s_does_not(
    platform: Platform,
) -> None:
    await quiet(platform, dnd(urgent_repeat={"minutes": 3}))
    first = await settled(platform, "1003")
    assert first.outcome == "voicemail:1001:dnd"
    await platform.clock.advance(179)
    second = await settled(platform, "1003")
    assert rang(second)
    assert "second call from 1003 within 3 minutes" in await whys(platform, second)

    late_first = await settled(platform, "1004")
    assert late_first.outcome == "voicemail:1001:dnd"
    await platform.clock.advance(181)
    late = await settled(platform, "1004")
    assert late.outcome == "voicemail:1001:dnd"
    assert "outside the 3-minute urgent-repeat window" in await whys(platform, late)


async def test_a_routing_restart_between_two_calls_keeps_the_memory_of_the_first(
    platform: Platform,
) -> None:
    await quiet(platform, dnd(urgent_repeat={"minutes": 3}))
    first = await settled(platform, "1003")
    assert first.outcome == "voicemail:1001:dnd"
    await platform.stop_routing()
    await platform.start_routing()
    await eventually(lambda: (v := platform.directory.extension("1001")) and v.breakthrough_to)
    await platform.clock.advance(120)
    second = await settled(platform, "1003")
    assert rang(second)
    assert "urgent repeat" in await whys(platform, second)


@pytest.fixture
async def visibility(platform: Platform) -> AsyncIterator[ServiceRuntime]:
    service = await build_visibility(platform.connections_for("visibility"), platform.clock)
    await service.start()
    yield service
    await service.stop()


async def test_a_favourite_contact_rings_through_until_unmarked(
    platform: Platform, visibility: ServiceRuntime
) -> None:
    await platform.provision("1004")
    await quiet(platform, dnd(favourites=True))
    nc = platform.nc
    add = AddContact(watcher="1001", contact="1004", **as_user("1001"))
    for _ in range(100):  # until visibility has read the users from presence's stream
        try:
            await request(nc, "visibility", add)
            break
        except CommandError as error:
            if error.code is not ErrorCode.NOT_FOUND:
                raise
            await asyncio.sleep(0.05)
    await request(
        nc, "visibility", MarkFavourite(watcher="1001", contact="1004", **as_user("1001"))
    )
    await eventually(lambda: platform.directory.is_favourite("1001", "1004"))
    contacts = await request(nc, "visibility", GetContacts(watcher="1001", **as_user("1001")))
    assert contacts["favourites"] == ["1004"]
    favourite = await settled(platform, "1004")
    assert rang(favourite)
    assert "1004 is one of 1001's favourite contacts" in await whys(platform, favourite)

    await request(
        nc, "visibility", UnmarkFavourite(watcher="1001", contact="1004", **as_user("1001"))
    )
    await eventually(lambda: not platform.directory.is_favourite("1001", "1004"))
    again = await settled(platform, "1004")
    await eventually(lambda: again.outcome)
    assert again.outcome == "voicemail:1001:dnd"


async def test_through_the_presence_service_the_profile_before_dnd_routes_the_vip(
    platform: Platform,
) -> None:
    presence = await build_presence(platform.connections_for("presence"), platform.clock)
    await presence.start()
    try:
        nc = platform.nc
        for extension in ("1001", "1002"):
            await request(
                nc, "presence", ProvisionUser(extension=extension, display_name="U", **ADMIN)
            )
        await request(
            nc, "presence", ReportDevice(extension="1001", device_id="desk", state=IDLE, **SERVICE)
        )
        listed = await request(nc, "presence", ListProfiles(extension="1001", **ADMIN))
        body = next(p for p in listed["profiles"] if p["id"] == "dnd")
        listed_dnd = Profile.model_validate({**body, "breakthrough": {"extensions": ["1002"]}})
        await request(nc, "presence", SaveProfile(extension="1001", profile=listed_dnd, **ADMIN))
        await request(nc, "presence", ActivateProfile(extension="1001", profile_id="dnd", **ADMIN))

        def ready() -> bool:
            view = platform.directory.extension("1001")
            return bool(view and view.profile.id == "dnd" and view.breakthrough_to and view.devices)

        await eventually(ready)
        await platform.start_sim(Scenario())
        vip = await settled(platform, "1002")
        assert rang(vip)
        why = await whys(platform, vip)
        assert "routed by profile 'Available' (available): the profile active before it" in why
        other = await settled(platform, "1003")
        await eventually(lambda: other.outcome)
        assert other.outcome == "voicemail:1001:default"
    finally:
        await presence.stop()
