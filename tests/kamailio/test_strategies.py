"""End to end, per strategy and forwarding rule: what routing decides, Kamailio carries out."""

from __future__ import annotations

import asyncio

import pytest

from contracts import pbx as contract
from contracts.presence import Profile, SaveIvr
from runtime.bus import request
from tests.kamailio.conftest import Pbx, eventually, port_of
from tests.kamailio.test_calls import activate, registered, seen
from tests.principals import ADMIN

pytestmark = pytest.mark.integration


async def two_devices(pbx: Pbx) -> tuple[int, int]:
    await pbx.provision("1001", "1002")
    desk = await pbx.register("1001-desk")
    softphone = await pbx.register("1001-softphone")
    await pbx.register("1002-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-softphone"))
    return desk, softphone


async def test_sequential_rings_the_desk_for_its_seconds_then_the_softphone(pbx: Pbx) -> None:
    desk, softphone = await two_devices(pbx)
    steps = [{"device": "1001-desk", "seconds": 5}, {"device": "1001-softphone", "seconds": 10}]
    sequential = Profile(
        id="seq", name="Desk then softphone",
        ringing={"strategy": "sequential", "devices": steps, "timeout": 20},
    )  # fmt: skip
    await activate(pbx, "1001", sequential)
    await asyncio.sleep(0.3)
    ringing = await pbx.phones.phone("ring", port=desk)
    answering = await pbx.phones.phone("answer", port=softphone)
    called = await (await pbx.phones.call("1002-desk", "1001")).wait()
    assert called.ok, called.output[-3000:]
    assert (await ringing.wait()).ok  # cancelled when its 5 s were over
    assert "invite for 1001-softphone " in (await answering.wait()).log
    rings = [c for c in pbx.commands if isinstance(c, contract.RingTargets)]
    assert [[leg.device_id for leg in r.legs] for r in rings] == [["1001-desk"], ["1001-softphone"]]


async def test_random_rings_one_registered_device(pbx: Pbx) -> None:
    desk, softphone = await two_devices(pbx)
    await activate(pbx, "1001", Profile(id="rnd", name="Random", ringing={"strategy": "random"}))
    await asyncio.sleep(0.3)
    phones = {
        "1001-desk": await pbx.phones.phone("answer", port=desk),
        "1001-softphone": await pbx.phones.phone("answer", port=softphone),
    }
    called = await (await pbx.phones.call("1002-desk", "1001")).wait()
    assert called.ok, called.output[-3000:]
    (ring,) = [c for c in pbx.commands if isinstance(c, contract.RingTargets)]
    (leg,) = ring.legs
    assert leg.device_id is not None
    assert (await phones[leg.device_id].wait()).ok


async def test_forward_always_to_an_external_number_goes_through_the_gateway(pbx: Pbx) -> None:
    await pbx.provision("1001", "1002")
    await pbx.register("1002-desk")
    forward = {"always": {"kind": "external", "target": "+4930123456"}}
    await activate(pbx, "1001", Profile(id="fwd", name="Forward", forwarding=forward))
    await asyncio.sleep(0.3)
    gateway = await pbx.phones.phone("answer", port=port_of(pbx.config.gateway_uri))
    called = await (await pbx.phones.call("1002-desk", "1001")).wait()
    assert called.ok, called.output[-3000:]
    assert "invite for +4930123456 " in (await gateway.wait()).log
    await eventually(lambda: seen(pbx, contract.CallEnded))


async def test_an_unknown_extension_is_rejected_not_found(pbx: Pbx) -> None:
    await pbx.provision("1002")
    await pbx.register("1002-desk")
    refused = await (await pbx.phones.call("1002-desk", "4711", scenario="uac_fail.xml")).wait()
    assert refused.ok, refused.output[-3000:]
    assert "final 404" in refused.log


async def test_an_invite_with_a_wrong_password_is_never_offered(pbx: Pbx) -> None:
    await pbx.provision("1001", "1002")
    caller = await pbx.phones.call(
        "1002-desk", "1001", scenario="uac_fail.xml", password="wrong-password"
    )
    refused = await caller.wait()
    assert refused.ok, refused.output[-3000:]
    assert "final 407" in refused.log  # challenged again
    assert not any(isinstance(c, contract.PbxCommand) for c in pbx.commands)


async def test_after_kamailio_restarts_the_devices_are_resynced(pbx: Pbx) -> None:
    await pbx.provision("1001")
    await pbx.register("1001-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-desk"))
    pbx.stop_kamailio()
    await pbx.start_kamailio()  # its contacts lived in memory: the phone is not registered
    await eventually(lambda: registered(pbx, "1001", "1001-desk", "unregistered"))


async def test_an_extension_with_no_registered_phone_goes_to_voicemail(pbx: Pbx) -> None:
    await pbx.provision("1001", "1002")
    await pbx.register("1002-desk")
    voicemail = await pbx.phones.phone("answer", port=port_of(pbx.config.voicemail_uri))
    called = await (await pbx.phones.call("1002-desk", "1001")).wait()
    assert called.ok, called.output[-3000:]
    assert "invite for 1001 " in (await voicemail.wait()).log


async def test_first_available_skips_the_desk_busy_in_a_call(pbx: Pbx) -> None:
    """Busy from dialog state: the desk is in a call, so the next call rings the softphone."""
    desk, softphone = await two_devices(pbx)
    await pbx.provision("1003")
    await pbx.register("1003-desk")
    steps = [{"device": "1001-desk"}, {"device": "1001-softphone"}]
    await activate(pbx, "1001", Profile(id="first", name="First available",
                   ringing={"strategy": "first_available", "devices": steps}))  # fmt: skip
    await asyncio.sleep(0.3)
    in_call = await pbx.phones.phone("answer", port=desk)
    first_call = await pbx.phones.call("1002-desk", "1001", talk_ms=4000)
    await eventually(lambda: registered(pbx, "1001", "1001-desk", "busy"))
    await asyncio.sleep(0.3)  # routing's read model follows presence
    second = await pbx.phones.phone("answer", port=softphone)
    called = await (await pbx.phones.call("1003-desk", "1001")).wait()
    assert called.ok, called.output[-3000:]
    assert "invite for 1001-softphone " in (await second.wait()).log
    assert (await first_call.wait()).ok
    assert (await in_call.wait()).ok


async def test_forward_always_to_an_ivr_goes_to_the_ivr_uri(pbx: Pbx) -> None:
    await pbx.provision("1001", "1002")
    await pbx.register("1002-desk")
    await request(pbx.nc, "presence", SaveIvr(ivr_id="main", name="Main menu", **ADMIN))
    forward = {"always": {"kind": "ivr", "target": "main"}}
    await activate(pbx, "1001", Profile(id="ivr", name="IVR", forwarding=forward))
    await asyncio.sleep(0.3)
    ivr = await pbx.phones.phone("answer", port=port_of(pbx.config.ivr_uri))
    called = await (await pbx.phones.call("1002-desk", "1001")).wait()
    assert called.ok, called.output[-3000:]
    assert "invite for main " in (await ivr.wait()).log
