"""End to end: SIPp phones, Kamailio, the adapter, routing and presence (all real)."""

from __future__ import annotations

import asyncio
import json
from typing import TypeVar

import pytest

from contracts import pbx as contract
from contracts.presence import ActivateProfile, Profile, SaveProfile
from contracts.routing import WhatIf
from runtime.bus import request
from tests.kamailio.conftest import Pbx, eventually, port_of
from tests.principals import ADMIN

pytestmark = pytest.mark.integration
E = TypeVar("E")


async def registered(pbx: Pbx, extension: str, device: str, state: str = "registered") -> bool:
    """Presence has the device in `state`; a registered one routing knows of too (its
    read model follows presence's events a moment later, and a call placed before it
    does would not ring the device)."""
    devices = (await pbx.presence_of(extension)).get("devices", {})
    if devices.get(device) != state:
        return False
    if state != "registered":
        return True
    plan = await request(pbx.nc, "routing", WhatIf(callee=extension, **ADMIN), timeout=2)
    return device in json.dumps(plan)


async def activate(pbx: Pbx, extension: str, profile: Profile | str) -> None:
    if isinstance(profile, Profile):
        await request(
            pbx.nc, "presence", SaveProfile(extension=extension, profile=profile, **ADMIN)
        )
        profile = profile.id
    await request(
        pbx.nc, "presence", ActivateProfile(extension=extension, profile_id=profile, **ADMIN)
    )


async def test_two_extensions_register_and_a_call_rings_and_is_answered(pbx: Pbx) -> None:
    await pbx.provision("1001", "1002")
    desk = await pbx.register("1001-desk")
    await pbx.register("1002-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-desk"))
    await eventually(lambda: registered(pbx, "1002", "1002-desk"))
    phone = await pbx.phones.phone("answer", port=desk)
    caller = await pbx.phones.call("1002-desk", "1001", talk_ms=1500)
    await eventually(lambda: registered(pbx, "1001", "1001-desk", "busy"))  # in the call
    called = await caller.wait()
    assert called.ok, called.output[-3000:]
    answered = await phone.wait()
    assert answered.ok
    assert "invite for 1001-desk " in answered.log
    await eventually(lambda: registered(pbx, "1001", "1001-desk", "idle"))
    kinds = [type(e) for e in pbx.events]
    assert contract.LegRinging in kinds
    assert kinds.index(contract.LegAnswered) < kinds.index(contract.CallEnded)
    assert pbx.adapter is not None
    assert 0 < pbx.adapter.fork_latencies_ms[0] < 1000  # Kamailio's offer to routing's fork


async def test_do_not_disturb_sends_the_call_to_the_voicemail_uri(pbx: Pbx) -> None:
    await pbx.provision("1001", "1002")
    await pbx.register("1001-desk")
    await pbx.register("1002-desk")
    await activate(pbx, "1001", "dnd")
    await asyncio.sleep(0.3)  # routing's read model follows presence's events
    voicemail = await pbx.phones.phone("answer", port=port_of(pbx.config.voicemail_uri))
    called = await (await pbx.phones.call("1002-desk", "1001")).wait()
    assert called.ok, called.output[-3000:]
    mailbox = await voicemail.wait()
    vm = next(c for c in pbx.commands if isinstance(c, contract.SendToVoicemail))
    assert f"invite for 1001 greeting {vm.greeting} " in mailbox.log, mailbox.log


async def test_a_busy_leg_is_reported_busy_while_the_other_leg_times_out(pbx: Pbx) -> None:
    await pbx.provision("1001", "1002")
    desk = await pbx.register("1001-desk")
    softphone = await pbx.register("1001-softphone")
    await pbx.register("1002-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-softphone"))
    ring_all = Profile(
        id="office", name="Office", ringing={"strategy": "simultaneous", "timeout": 5}
    )
    await activate(pbx, "1001", ring_all)
    await asyncio.sleep(0.3)
    busy = await pbx.phones.phone("busy", port=desk)
    ringing = await pbx.phones.phone("ring", port=softphone)
    voicemail = await pbx.phones.phone("answer", port=port_of(pbx.config.voicemail_uri))
    called = await (await pbx.phones.call("1002-desk", "1001")).wait()
    assert called.ok, called.output[-3000:]
    assert (await busy.wait()).ok
    assert (await ringing.wait()).ok
    assert "invite for 1001 " in (await voicemail.wait()).log
    ring = next(c for c in pbx.commands if isinstance(c, contract.RingTargets))
    leg_of = {leg.device_id: leg.leg_id for leg in ring.legs}
    failures = {e.leg_id: e.reason for e in pbx.events if isinstance(e, contract.LegFailed)}
    assert failures[leg_of["1001-desk"]] is contract.LegFailure.BUSY
    assert (
        failures.get(leg_of["1001-softphone"], "cancelled by routing") != contract.LegFailure.BUSY
    )


@pytest.mark.parametrize("pbx_changes", [{"max_call_seconds": 3}])
async def test_a_call_whose_bye_is_lost_ends_with_its_dialog_and_frees_the_phones(
    pbx: Pbx,
) -> None:
    """The answering phone vanishes without a BYE. Kamailio ends the dialog (here at the
    test's 3 s longest call; in service also when a keepalive goes unanswered, 30 s at
    the least), says BYE to the caller, and the adapter reports both phones idle."""
    await pbx.provision("1001", "1002")
    desk = await pbx.register("1001-desk")
    await pbx.register("1002-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-desk"))
    phone = await pbx.phones.phone("vanish", port=desk)
    caller = await pbx.phones.call("1002-desk", "1001", scenario="uac_held.xml")
    await eventually(lambda: registered(pbx, "1001", "1001-desk", "busy"))
    assert (await phone.wait()).ok  # answered, then gone
    called = await caller.wait()
    assert called.ok, called.output[-3000:]  # the PBX hung up on the caller
    await eventually(lambda: registered(pbx, "1001", "1001-desk", "idle"))
    await eventually(lambda: registered(pbx, "1002", "1002-desk", "idle"))
    assert any(isinstance(e, contract.CallEnded) for e in pbx.events)


async def test_a_feature_code_is_confirmed_and_switches_the_profile(pbx: Pbx) -> None:
    await pbx.provision("1001")
    await pbx.register("1001-desk")
    dialled = await (await pbx.phones.call("1001-desk", "*72", scenario="uac_feature.xml")).wait()
    assert dialled.ok, dialled.output[-3000:]  # 200, then the PBX hung up

    async def away() -> bool:
        return bool((await pbx.presence_of("1001")).get("status") == "away")

    await eventually(away)
    assert any(isinstance(e, contract.FeatureCodeDialled) and e.code == "*72" for e in pbx.events)


async def test_nothing_unauthenticated_registers(pbx: Pbx) -> None:
    await pbx.provision("1001")
    wrong = await pbx.phones.register("1001-desk", 5999, password="not-the-password", refused=True)
    assert wrong.ok, wrong.output[-2000:]  # challenged again: refused
    stranger = await pbx.phones.register("1009-desk", 5999, password="whatever1", refused=True)
    assert stranger.ok, stranger.output[-2000:]
    await asyncio.sleep(0.3)
    assert not any(isinstance(e, contract.DeviceReported) and e.state == "registered"
                   for e in pbx.events)  # fmt: skip


async def test_a_call_offered_while_routing_is_down_is_routed_when_it_is_back(pbx: Pbx) -> None:
    await pbx.provision("1001", "1002")
    desk = await pbx.register("1001-desk")
    await pbx.register("1002-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-desk"))
    await pbx.stop_routing()
    phone = await pbx.phones.phone("answer", port=desk)
    caller = await pbx.phones.call("1002-desk", "1001")
    await eventually(
        lambda: asyncio.sleep(0, any(isinstance(e, contract.CallOffered) for e in pbx.events))
    )
    await asyncio.sleep(0.5)  # the INVITE waits, suspended, under the guard timer
    await pbx.start_routing()
    called = await caller.wait()
    assert called.ok, called.output[-3000:]
    assert (await phone.wait()).ok


async def test_the_guard_timer_ends_a_call_routing_never_took(pbx: Pbx) -> None:
    await pbx.provision("1001", "1002")
    await pbx.register("1002-desk")
    await pbx.stop_routing()
    started = asyncio.get_running_loop().time()
    refused = await (await pbx.phones.call("1002-desk", "1001", scenario="uac_fail.xml")).wait()
    assert refused.ok, refused.output[-3000:]
    assert "final 480" in refused.log
    assert asyncio.get_running_loop().time() - started < pbx.config.guard_seconds + 3


async def test_the_caller_hangs_up_while_the_phones_ring(pbx: Pbx) -> None:
    await pbx.provision("1001", "1002")
    desk = await pbx.register("1001-desk")
    await pbx.register("1002-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-desk"))
    ringing = await pbx.phones.phone("ring", port=desk)
    caller = await pbx.phones.call("1002-desk", "1001", scenario="uac_cancel.xml", talk_ms=800)
    hung_up = await caller.wait()
    assert hung_up.ok, hung_up.output[-3000:]  # 200 for the CANCEL, 487 for the INVITE
    assert (await ringing.wait()).ok  # the phone was cancelled too
    await eventually(lambda: seen(pbx, contract.CallerHungUp))


async def test_the_adapter_restarts_while_a_phone_rings_and_the_answer_still_counts(
    pbx: Pbx,
) -> None:
    await pbx.provision("1001", "1002")
    desk = await pbx.register("1001-desk")
    await pbx.register("1002-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-desk"))
    phone = await pbx.phones.phone("answer", port=desk, ring_ms=2500)
    caller = await pbx.phones.call("1002-desk", "1001", talk_ms=300)
    await eventually(lambda: seen(pbx, contract.LegRinging))
    await pbx.stop_adapter()
    await pbx.start_adapter()  # a new process: Kamailio re-sends each call's last state
    called = await caller.wait()
    assert called.ok, called.output[-3000:]
    assert (await phone.wait()).ok
    await eventually(lambda: seen(pbx, contract.LegAnswered))
    await eventually(lambda: seen(pbx, contract.CallEnded))


async def test_commands_sent_while_the_adapter_is_down_are_carried_out_when_it_is_back(
    pbx: Pbx,
) -> None:
    """The adapter is killed while the call waits; routing sends RingTargets meanwhile (it
    waits on the node's durable consumer); the adapter comes back and the phone rings."""
    await pbx.provision("1001", "1002")
    desk = await pbx.register("1001-desk")
    await pbx.register("1002-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-desk"))
    await pbx.stop_routing()
    phone = await pbx.phones.phone("answer", port=desk)
    caller = await pbx.phones.call("1002-desk", "1001")
    await eventually(lambda: first(pbx, contract.CallOffered))  # on JetStream: no responders
    await pbx.kill_adapter()
    await pbx.start_routing()  # takes the waiting offer and sends RingTargets to kam1
    await eventually(lambda: sent(pbx, contract.RingTargets))
    await asyncio.sleep(0.3)
    assert not await first(pbx, contract.LegRinging)  # nobody carried it out yet
    await pbx.start_adapter()
    called = await caller.wait()
    assert called.ok, called.output[-3000:]
    assert (await phone.wait()).ok
    await eventually(lambda: seen(pbx, contract.CallEnded))
    # A command for the call that is over is stale: taken, acked and dropped.
    ring = next(c for c in pbx.commands if isinstance(c, contract.RingTargets))
    stale = contract.SendToVoicemail(command_id="late", call_id=ring.call_id, mailbox="1001",
                                     greeting="default")  # fmt: skip
    events = len(pbx.events)
    js = pbx.nc.jetstream()
    subject = contract.command_subject("kam1", ring.call_id)
    stored = await js.publish(subject, contract.encode(stale))
    consumer = contract.command_consumer("kam1")

    async def taken() -> bool:
        info = await js.consumer_info(contract.PBX_COMMAND_STREAM, consumer)
        return bool(info.ack_floor.stream_seq >= stored.seq)  # acked, and all before it

    await eventually(taken)
    await asyncio.sleep(0.3)
    assert len(pbx.events) == events  # nothing happened for it


async def test_a_registered_phone_stays_registered_when_the_adapter_restarts(pbx: Pbx) -> None:
    """The resync after a restart reads Kamailio's registrations: a phone registered there
    is reported registered (with `ul.dump brief`, read as no contacts, every phone was
    reported unregistered and its calls went to voicemail)."""
    await pbx.provision("1001")
    await pbx.register("1001-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-desk"))
    await pbx.stop_adapter()
    before = len(pbx.events)
    await pbx.start_adapter()

    async def resynced() -> list[contract.DeviceReported]:
        reports = [e for e in pbx.events[before:] if isinstance(e, contract.DeviceReported)]
        return reports if len(reports) == len(pbx.config.devices) else []

    states = {r.device_id: r.state for r in await eventually(resynced)}
    assert states == {"1001-desk": "registered", "1001-softphone": "unregistered",
                      "1002-desk": "unregistered", "1003-desk": "unregistered"}  # fmt: skip
    assert await registered(pbx, "1001", "1001-desk")


async def test_a_new_adapter_gets_kamailios_events_while_its_old_connection_lingers(
    pbx: Pbx,
) -> None:
    """A restart where Kamailio has not yet seen the old adapter's connection close: evapi's
    unicast sends to the first connection with the tag, so with one tag for every adapter
    the old socket took the new adapter's hello and the call's events (the restart test
    failed 1 run in 3 so: hello never came, or the answer was lost and routing's timer sent
    the answered call to voicemail). Each connection has its own tag now."""
    await pbx.provision("1001", "1002")
    desk = await pbx.register("1001-desk")
    await pbx.register("1002-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-desk"))
    old = pbx.adapter
    assert old is not None
    old.commands.stop()  # one adapter takes the node's commands, as in a restart
    new = await pbx.start_adapter()  # its hello reaches it while the old socket is open
    phone = await pbx.phones.phone("answer", port=desk)
    called = await (await pbx.phones.call("1002-desk", "1001")).wait()
    assert called.ok, called.output[-3000:]
    assert (await phone.wait()).ok
    await eventually(lambda: seen(pbx, contract.CallEnded))
    assert [c.call_id for c in new.calls.values()] == [c.call_id for c in pbx.commands[:1]]
    assert not old.calls  # Kamailio told the old connection nothing
    await old.stop()
    await old.nc.close()


async def seen(pbx: Pbx, kind: type) -> bool:
    return any(isinstance(e, kind) for e in pbx.events)


async def sent(pbx: Pbx, kind: type) -> bool:
    return any(isinstance(c, kind) for c in pbx.commands)


async def test_a_registration_that_expires_unregisters_the_device(pbx: Pbx) -> None:
    await pbx.provision("1001")
    await pbx.register("1001-desk", expires=2)
    await eventually(lambda: registered(pbx, "1001", "1001-desk"))
    await eventually(lambda: registered(pbx, "1001", "1001-desk", "unregistered"), timeout=8)


async def test_cancel_legs_at_a_steps_end_stops_the_fork_and_the_next_command_runs(
    pbx: Pbx,
) -> None:
    """Routing's step timer before Kamailio's: CancelLegs(step_timeout) cancels the ringing
    fork, and the command after it (voicemail) runs from the fork's failure route. Routing
    is stopped; the test sends the commands itself, as routing would."""
    await pbx.provision("1001", "1002")
    desk = await pbx.register("1001-desk")
    await pbx.register("1002-desk")
    await pbx.stop_routing()
    ringing = await pbx.phones.phone("ring", port=desk)
    voicemail = await pbx.phones.phone("answer", port=port_of(pbx.config.voicemail_uri))
    caller = await pbx.phones.call("1002-desk", "1001")
    offered = await eventually(lambda: first(pbx, contract.CallOffered))
    subject = contract.command_subject("kam1", offered.call_id)
    leg = contract.Leg(leg_id="s1l1", extension="1001", device_id="1001-desk")
    ring = contract.RingTargets(command_id="r1", call_id=offered.call_id, step=1, legs=[leg],
                                timeout_seconds=30, caller="1002")  # fmt: skip
    await pbx.nc.publish(subject, contract.encode(ring))
    await pbx.nc.publish(subject, contract.encode(ring))  # a repeat is ignored
    await eventually(lambda: first(pbx, contract.LegRinging))
    cancel = contract.CancelLegs(command_id="c1", call_id=offered.call_id, leg_ids=["s1l1"],
                                 reason=contract.CancelReason.STEP_TIMEOUT)  # fmt: skip
    await pbx.nc.publish(subject, contract.encode(cancel))
    mailbox = contract.SendToVoicemail(command_id="v1", call_id=offered.call_id,
                                       mailbox="1001", greeting="no-answer")  # fmt: skip
    await pbx.nc.publish(subject, contract.encode(mailbox))
    assert (await ringing.wait()).ok  # CANCEL reached the phone
    assert "invite for 1001 greeting no-answer " in (await voicemail.wait()).log
    called = await caller.wait()
    assert called.ok, called.output[-3000:]
    assert not any(isinstance(e, contract.LegFailed) for e in pbx.events)  # 487: not a failure


async def first(pbx: Pbx, kind: type[E]) -> E | None:
    return next((e for e in pbx.events if isinstance(e, kind)), None)


async def test_a_call_made_while_the_adapter_is_away_is_offered_when_it_is_back(
    pbx: Pbx,
) -> None:
    await pbx.provision("1001", "1002")
    desk = await pbx.register("1001-desk")
    await pbx.register("1002-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-desk"))
    await pbx.stop_adapter()
    phone = await pbx.phones.phone("answer", port=desk)
    caller = await pbx.phones.call("1002-desk", "1001")
    await asyncio.sleep(1)  # the INVITE waits in Kamailio, its offer told to nobody
    await pbx.start_adapter()  # Kamailio's resync hands it the waiting offer
    called = await caller.wait()
    assert called.ok, called.output[-3000:]
    assert (await phone.wait()).ok


async def test_a_phone_that_unregisters_is_reported_unregistered(pbx: Pbx) -> None:
    await pbx.provision("1001")
    port = await pbx.register("1001-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-desk"))
    gone = await pbx.phones.register("1001-desk", port, expires=0)  # REGISTER, Expires: 0
    assert gone.ok, gone.output[-2000:]
    await eventually(lambda: registered(pbx, "1001", "1001-desk", "unregistered"))
