"""One given/when/then per rule of DESIGN.md "Call routing semantics" (no I/O, no wall time)."""

from __future__ import annotations

from datetime import timedelta

from contracts.pbx import ForwardKind, LegFailure, RejectReason
from contracts.presence import Destination, DestinationKind, Forwarding, Profile, VoicemailSettings
from contracts.routing import (
    CallAbandoned,
    CallAnswered,
    CallForwarded,
    CallRejected,
    CallSentToVoicemail,
    HopEntered,
    RingStepStarted,
)
from services.routing.domain.state import Answered, Forwarded, Rejected, Voicemail
from tests.routing.given import BUSY, IDLE, T0, Call, directory, ext, of, types

VM = Destination(kind=DestinationKind.VOICEMAIL)


def profile(**fields: object) -> Profile:
    return Profile.model_validate({"id": "p", "name": "Test", **fields})


def test_accept_calls_off_follows_the_busy_rule() -> None:
    p = profile(
        accept_calls=False,
        forwarding=Forwarding(busy=Destination(kind="external", target="+4930123")),
    )
    call = Call(directory(ext("1001", p, desk=IDLE)))
    forwarded = of(call.last, CallForwarded)
    assert (forwarded.kind, forwarded.target) == (ForwardKind.EXTERNAL, "+4930123")
    assert "does not accept incoming calls" in forwarded.why
    assert "Busy rule" in forwarded.why


def test_accept_calls_off_without_busy_rule_goes_to_voicemail_else_rejects_busy() -> None:
    call = Call(directory(ext("1001", profile(accept_calls=False), desk=IDLE)))
    assert isinstance(call.state, Voicemail)
    no_vm = profile(accept_calls=False, voicemail=VoicemailSettings(enabled=False))
    call = Call(directory(ext("1001", no_vm, desk=IDLE)))
    assert of(call.last, CallRejected).reason is RejectReason.BUSY


def test_direct_to_voicemail_sends_to_the_callees_mailbox_with_the_profile_greeting() -> None:
    p = profile(direct_to_voicemail=True, voicemail=VoicemailSettings(greeting="dnd"))
    call = Call(directory(ext("1001", p, desk=IDLE)))
    assert types(call.last) == ["CallReceived", "HopEntered", "CallSentToVoicemail"]
    assert (call.state.mailbox, call.state.greeting) == ("1001", "dnd")  # type: ignore[union-attr]


def test_forward_always_forwards_before_anything_rings() -> None:
    p = profile(forwarding=Forwarding(always=Destination(kind="external", target="+491701234")))
    call = Call(directory(ext("1001", p, desk=IDLE)))
    assert isinstance(call.state, Forwarded)
    assert not [e for e in call.all if isinstance(e, RingStepStarted)]


def test_no_registered_device_follows_the_unavailable_rule() -> None:
    p = profile(forwarding=Forwarding(unavailable=Destination(kind="voicemail", greeting="away")))
    call = Call(directory(ext("1001", p)))
    assert (call.state.mailbox, call.state.greeting) == ("1001", "away")  # type: ignore[union-attr]
    assert "no registered device" in of(call.last, CallSentToVoicemail).why


def test_unavailable_without_rule_or_voicemail_rejects_unavailable() -> None:
    call = Call(directory(ext("1001", profile(voicemail=VoicemailSettings(enabled=False)))))
    assert of(call.last, CallRejected).reason is RejectReason.UNAVAILABLE


def test_a_mobile_leg_counts_as_a_device_when_nothing_is_registered() -> None:
    p = profile(mobile_number="+491701234", ringing={"include_mobile": True})
    call = Call(directory(ext("1001", p)))
    step = of(call.last, RingStepStarted)
    assert [leg.number for leg in step.legs] == ["+491701234"]


def test_every_device_busy_follows_the_busy_rule_with_a_custom_busy_greeting() -> None:
    p = profile(forwarding=Forwarding(busy=Destination(kind="voicemail", greeting="busy-custom")))
    call = Call(directory(ext("1001", p, desk=BUSY, softphone=BUSY)))
    vm = of(call.last, CallSentToVoicemail)
    assert vm.greeting == "busy-custom"
    assert "every device of 1001 is busy" in vm.why


def test_simultaneous_first_answer_wins_and_the_rest_are_cancelled() -> None:
    call = Call(directory(ext("1001", profile(), desk=IDLE, softphone=IDLE)))
    step = of(call.last, RingStepStarted)
    assert [leg.device_id for leg in step.legs] == ["1001-desk", "1001-softphone"]
    assert step.seconds == 30
    assert step.deadline == T0 + timedelta(seconds=30)
    answered = of(call.answer("s1l2"), CallAnswered)
    assert answered.cancel_legs == ["s1l1"]
    assert isinstance(call.state, Answered)
    assert call.answer("s1l1") == []  # the loser's late answer changes nothing


def test_sequential_rings_desk_for_its_seconds_then_the_mobile() -> None:
    p = profile(
        mobile_number="+491701234",
        ringing={
            "strategy": "sequential",
            "devices": [{"device": "1001-desk", "seconds": 10}, {"device": "mobile"}],
        },
    )
    call = Call(directory(ext("1001", p, desk=IDLE)))
    first = of(call.last, RingStepStarted)
    assert ([leg.device_id for leg in first.legs], first.seconds) == (["1001-desk"], 10)
    events = call.timeout("step-1", 10)
    assert types(events) == ["RingStepEnded", "RingStepStarted"]
    second = of(events, RingStepStarted)
    assert ([leg.number for leg in second.legs], second.seconds) == (["+491701234"], 20)
    call.answer("s2l1")
    assert isinstance(call.state, Answered)


def test_sequential_is_bounded_by_the_ring_timeout() -> None:
    p = profile(
        ringing={
            "strategy": "sequential",
            "timeout": 15,
            "devices": [
                {"device": "1001-desk", "seconds": 10},
                {"device": "1001-softphone", "seconds": 10},
            ],
        }
    )
    call = Call(directory(ext("1001", p, desk=IDLE, softphone=IDLE)))
    assert of(call.last, RingStepStarted).remaining[0].seconds == 5


def test_random_picks_one_device_and_the_seed_fixes_the_pick() -> None:
    view = ext("1001", profile(ringing={"strategy": "random"}), a=IDLE, b=IDLE, c=IDLE, d=IDLE)
    picks = {
        seed: of(Call(directory(view), seed=seed).last, RingStepStarted).legs for seed in range(12)
    }
    assert all(len(legs) == 1 for legs in picks.values())
    assert picks[3] == of(Call(directory(view), seed=3).last, RingStepStarted).legs
    assert len({legs[0].device_id for legs in picks.values()}) > 1


def test_first_available_skips_the_busy_phone() -> None:
    p = profile(
        ringing={
            "strategy": "first_available",
            "devices": [{"device": "1001-desk"}, {"device": "1001-soft"}],
        }
    )
    call = Call(directory(ext("1001", p, desk=BUSY, soft=IDLE)))
    step = of(call.last, RingStepStarted)
    assert [leg.device_id for leg in step.legs] == ["1001-soft"]
    assert "skipping busy 1001/1001-desk" in step.why


def test_no_answer_within_the_timeout_follows_the_no_answer_rule() -> None:
    p = profile(forwarding=Forwarding(no_answer=Destination(kind="external", target="+4930999")))
    call = Call(directory(ext("1001", p, desk=IDLE)))
    events = call.timeout("step-1", 30)
    assert types(events) == ["RingStepEnded", "CallForwarded"]
    assert "No Answer rule" in of(events, CallForwarded).why


def test_no_answer_without_rule_and_voicemail_ends_unanswered() -> None:
    call = Call(
        directory(ext("1001", profile(voicemail=VoicemailSettings(enabled=False)), desk=IDLE))
    )
    call.timeout("step-1", 30)
    assert isinstance(call.state, Rejected)
    assert call.state.reason is RejectReason.NO_ANSWER


def test_every_leg_busy_while_ringing_follows_the_busy_rule() -> None:
    p = profile(forwarding=Forwarding(busy=Destination(kind="voicemail", greeting="busy")))
    call = Call(directory(ext("1001", p, desk=IDLE, soft=IDLE)))
    call.fail("s1l1", LegFailure.BUSY)
    events = call.fail("s1l2", LegFailure.BUSY)
    assert types(events) == ["LegEnded", "RingStepEnded", "CallSentToVoicemail"]
    assert of(events, CallSentToVoicemail).greeting == "busy"


def test_a_forward_to_an_extension_is_routed_by_that_extensions_profile() -> None:
    a = profile(forwarding=Forwarding(always=Destination(kind="extension", target="1002")))
    b = profile(ringing={"strategy": "first_available"})
    call = Call(directory(ext("1001", a, desk=IDLE), ext("1002", b, desk=BUSY, soft=IDLE)))
    hops = [e.target for e in call.all if isinstance(e, HopEntered)]
    assert hops == ["1001", "1002"]
    assert [leg.device_id for leg in of(call.last, RingStepStarted).legs] == ["1002-soft"]


def test_forward_to_an_ivr_and_to_an_unknown_ivr() -> None:
    p = profile(forwarding=Forwarding(always=Destination(kind="ivr", target="main-menu")))
    call = Call(directory(ext("1001", p, desk=IDLE), ivrs=["main-menu"]))
    assert of(call.last, CallForwarded).kind is ForwardKind.IVR
    call = Call(directory(ext("1001", p, desk=IDLE)))
    assert "does not exist" in of(call.last, CallSentToVoicemail).why


def test_busy_to_a_ring_group_rings_its_members_with_its_own_strategy_and_timeout() -> None:
    from contracts.routing import GroupView

    group = GroupView(group_id="sales", members=["1002", "1003"], strategy="sequential", timeout=20)
    p = profile(forwarding=Forwarding(busy=Destination(kind="ring_group", target="sales")))
    d = directory(
        ext("1001", p, desk=BUSY),
        ext("1002", None, desk=IDLE),
        ext("1003", None, desk=IDLE),
        groups=[group],
    )
    call = Call(d)
    step = of(call.last, RingStepStarted)
    assert ([leg.extension for leg in step.legs], step.seconds) == (["1002"], 10)
    call.timeout("step-1", 10)
    assert [leg.extension for leg in of(call.last, RingStepStarted).legs] == ["1003"]
    call.timeout("step-2", 10)
    vm = of(call.last, CallSentToVoicemail)
    assert vm.mailbox == "1001"
    assert "nobody in ring group sales answered" in vm.why


def test_a_forward_loop_ends_at_the_first_callees_voicemail_and_says_why() -> None:
    a = profile(forwarding=Forwarding(always=Destination(kind="extension", target="1002")))
    b = profile(forwarding=Forwarding(always=Destination(kind="extension", target="1001")))
    call = Call(directory(ext("1001", a, desk=IDLE), ext("1002", b, desk=IDLE)))
    vm = of(call.last, CallSentToVoicemail)
    assert vm.mailbox == "1001"
    assert "a loop (1001 → 1002 → 1001)" in vm.why
    assert "first callee 1001's voicemail" in vm.why


def test_a_chain_longer_than_the_limit_is_cut_and_without_voicemail_rejected() -> None:
    views = [
        ext(
            str(1001 + n),
            profile(
                voicemail=VoicemailSettings(enabled=False),
                forwarding=Forwarding(always=Destination(kind="extension", target=str(1002 + n))),
            ),
        )
        for n in range(10)
    ]
    call = Call(directory(*views))
    rejected = of(call.last, CallRejected)
    assert rejected.reason is RejectReason.FORWARD_FAILED
    assert "more than 5 forwards" in rejected.why


def test_a_profile_without_voicemail_falls_back_to_a_reject() -> None:
    call = Call(directory(ext("1001", profile(accept_calls=False, voicemail={"enabled": False}))))
    assert isinstance(call.state, Rejected)


def test_an_unknown_extension_is_rejected_as_not_found() -> None:
    call = Call(directory(), callee="4711")
    assert of(call.last, CallRejected).reason is RejectReason.NOT_FOUND


def test_redelivered_offer_and_twice_fired_timer_decide_nothing() -> None:
    d = directory(ext("1001", profile(), desk=IDLE))
    call = Call(d)
    from services.routing.domain.call import OfferCall

    again = OfferCall(
        at=T0, directory=d, call_id="c1", node="n1", caller="2000", callee="1001", seed=7
    )
    assert call.run(again) == []
    assert call.timeout("step-1", 30) != []
    assert call.timeout("step-1", 0) == []
    assert call.timeout("step-9", 0) == []


def test_the_caller_hanging_up_while_ringing_cancels_the_legs() -> None:
    call = Call(directory(ext("1001", profile(), desk=IDLE, soft=IDLE)))
    events = call.hang_up()
    assert types(events) == ["CallAbandoned"]
    assert of(events, CallAbandoned).cancel_legs == ["s1l1", "s1l2"]
    assert call.timeout("step-1", 30) == []
    assert types(call.end()) == ["CallFinished"]
    assert call.end() == []
