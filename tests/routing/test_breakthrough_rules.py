"""Given/when/then for breakthrough: VIP callers and urgent repeats through a quiet profile."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from contracts.presence import (
    Breakthrough,
    Destination,
    DestinationKind,
    Forwarding,
    Profile,
    UrgentRepeat,
)
from contracts.routing import (
    BreakthroughRule,
    CallBrokeThrough,
    CallForwarded,
    CallHeldBack,
    CallSentToVoicemail,
    HoldRule,
    RingStepStarted,
)
from services.routing.domain.breakthrough import routed_by
from services.routing.domain.directory import DEFAULT_PROFILE, Directory, ExtensionView
from services.routing.domain.state import Ringing, Voicemail
from tests.routing.given import IDLE, T0, Call, directory, ext, of, types

AVAILABLE = Profile(id="available", name="Available")
VM = Destination(kind=DestinationKind.VOICEMAIL)


def dnd(**section: object) -> Profile:
    return Profile(
        id="dnd",
        name="Do Not Disturb",
        direct_to_voicemail=True,
        breakthrough=Breakthrough.model_validate(section),
    )


def callee(profile: Profile, to: Profile = AVAILABLE) -> ExtensionView:
    view = ext("1001", profile, desk=IDLE)
    return replace(view, breakthrough_to=to, breakthrough_via="the profile active before it")


def test_a_listed_extension_rings_through_and_is_routed_by_the_breakthrough_profile() -> None:
    call = Call(directory(callee(dnd(extensions=["1002"]))), caller="1002")
    assert types(call.all) == ["CallReceived", "HopEntered", "CallBrokeThrough", "RingStepStarted"]
    through = of(call.all, CallBrokeThrough)
    assert (through.rule, through.matched, through.profile.id) == (
        BreakthroughRule.EXTENSION,
        "1002",
        "available",
    )
    assert "1002 is on 1001's breakthrough list of profile 'Do Not Disturb'" in through.why
    assert "routed by profile 'Available'" in through.why
    assert isinstance(call.state, Ringing)


def test_a_caller_not_listed_is_held_back_and_the_quiet_profile_applies() -> None:
    call = Call(directory(callee(dnd(extensions=["1002"]))), caller="1003")
    held = of(call.all, CallHeldBack)
    assert held.rule is HoldRule.NOT_LISTED
    assert not held.remembered  # the profile has no urgent-repeat rule: nothing to count
    assert "1003 is not on 1001's breakthrough list of profile 'Do Not Disturb'" in held.why
    assert isinstance(call.state, Voicemail)
    assert "directly to voicemail" in of(call.all, CallSentToVoicemail).why


def test_an_external_number_breaks_through_exactly_or_by_prefix() -> None:
    section = dnd(numbers=["+4917012345"], prefixes=["+4930123"])
    exact = Call(directory(callee(section)), caller="+4917012345")
    assert of(exact.all, CallBrokeThrough).rule is BreakthroughRule.NUMBER
    prefixed = Call(directory(callee(section)), caller="+4930123999")
    through = of(prefixed.all, CallBrokeThrough)
    assert (through.rule, through.matched) == (BreakthroughRule.PREFIX, "+4930123")
    assert "+4930123999 starts with +4930123" in through.why
    other = Call(directory(callee(section)), caller="+4930124000")
    assert isinstance(other.state, Voicemail)


def test_a_favourite_contact_breaks_through_only_when_the_profile_lets_favourites_through() -> None:
    favourites = {"1001": frozenset({"1004"})}
    with_favourites = Directory({"1001": callee(dnd(favourites=True))}, favourites=favourites)
    through = of(Call(with_favourites, caller="1004").all, CallBrokeThrough)
    assert through.rule is BreakthroughRule.FAVOURITE
    assert "1004 is one of 1001's favourite contacts" in through.why
    without = Directory({"1001": callee(dnd(extensions=["1002"]))}, favourites=favourites)
    assert isinstance(Call(without, caller="1004").state, Voicemail)


def test_anonymous_callers_never_break_through() -> None:
    everyone = dnd(extensions=["1002"], urgent_repeat={"minutes": 3})
    for caller in ("anonymous", "withheld", "Private", ""):
        call = Call(directory(callee(everyone)), caller=caller, last_held_back=T0)
        held = of(call.all, CallHeldBack)
        assert (held.rule, held.remembered) == (HoldRule.ANONYMOUS, False)
        assert "anonymous callers never break through" in held.why
        assert isinstance(call.state, Voicemail)


def test_a_second_call_within_the_window_is_an_urgent_repeat() -> None:
    repeat = dnd(urgent_repeat={"minutes": 3})
    first = Call(directory(callee(repeat)), caller="1003")
    held = of(first.all, CallHeldBack)
    assert held.remembered
    assert "calling again within 3 minutes rings through" in held.why
    second = Call(
        directory(callee(repeat)),
        caller="1003",
        at=T0 + timedelta(minutes=2, seconds=59),
        last_held_back=T0,
    )
    through = of(second.all, CallBrokeThrough)
    assert through.rule is BreakthroughRule.URGENT_REPEAT
    assert "second call from 1003 within 3 minutes" in through.why
    assert "urgent repeat" in through.why
    assert isinstance(second.state, Ringing)


def test_a_call_after_the_window_is_held_back_again() -> None:
    late = Call(
        directory(callee(dnd(urgent_repeat=UrgentRepeat(minutes=3)))),
        caller="1003",
        at=T0 + timedelta(minutes=3, seconds=1),
        last_held_back=T0,
    )
    held = of(late.all, CallHeldBack)
    assert held.remembered
    assert "3 min 1 s ago, is outside the 3-minute urgent-repeat window" in held.why
    assert isinstance(late.state, Voicemail)


def test_no_urgent_repeat_without_the_option() -> None:
    call = Call(
        directory(callee(dnd(extensions=["1002"]))),
        caller="1003",
        at=T0 + timedelta(minutes=1),
        last_held_back=T0,
    )
    assert isinstance(call.state, Voicemail)


def test_a_profile_that_rings_is_not_screened() -> None:
    rings = Profile(id="p", name="Open", breakthrough=Breakthrough(extensions=["1002"]))
    call = Call(directory(ext("1001", rings, desk=IDLE)), caller="1003")
    assert types(call.all) == ["CallReceived", "HopEntered", "RingStepStarted"]


def test_a_quiet_profile_without_a_breakthrough_list_holds_back_without_an_event() -> None:
    quiet = Profile(id="dnd", name="DND", direct_to_voicemail=True)
    call = Call(directory(ext("1001", quiet, desk=IDLE)), caller="1002")
    assert types(call.all) == ["CallReceived", "HopEntered", "CallSentToVoicemail"]


def test_forward_always_and_not_accepting_are_quiet_too() -> None:
    forwards = Profile(
        id="trip",
        name="Trip",
        forwarding=Forwarding(always=Destination(kind="external", target="+491701234")),
        breakthrough=Breakthrough(extensions=["1002"]),
    )
    assert isinstance(Call(directory(callee(forwards)), caller="1002").state, Ringing)
    assert of(Call(directory(callee(forwards)), caller="1003").all, CallForwarded)
    closed = Profile(
        id="closed",
        name="Closed",
        accept_calls=False,
        breakthrough=Breakthrough(extensions=["1002"]),
    )
    assert isinstance(Call(directory(callee(closed)), caller="1002").state, Ringing)


def test_a_breakthrough_caller_unanswered_follows_the_breakthrough_profiles_no_answer_rule() -> (
    None
):
    to_mobile = Profile(
        id="available",
        name="Available",
        forwarding=Forwarding(no_answer=Destination(kind="external", target="+491709999")),
    )
    call = Call(directory(callee(dnd(extensions=["1002"]), to=to_mobile)), caller="1002")
    started = of(call.all, RingStepStarted)
    call.timeout(started.timer_id, started.seconds)
    assert of(call.last, CallForwarded).target == "+491709999"


def test_a_forwarded_call_is_screened_at_the_next_extension_but_not_remembered() -> None:
    forwarder = Profile(
        id="fwd",
        name="Forward",
        forwarding=Forwarding(always=Destination(kind="extension", target="1001")),
    )
    dir_ = directory(ext("1005", forwarder), callee(dnd(urgent_repeat={"minutes": 3})))
    call = Call(dir_, callee="1005", caller="1003", last_held_back=T0)
    held = of(call.all, CallHeldBack)
    assert (held.extension, held.remembered) == ("1001", False)


def test_the_breakthrough_profile_is_the_named_one_else_the_one_before_else_available() -> None:
    named = Profile(id="vip", name="VIP")
    quiet = dnd(profile="vip")
    profiles = {p.id: p for p in (quiet, named, AVAILABLE)}
    assert routed_by(quiet, profiles, "available")[0] is named
    plain = dnd()
    meeting = Profile(id="meeting", name="Meeting")
    profiles = {p.id: p for p in (plain, meeting, AVAILABLE)}
    assert routed_by(plain, profiles, "meeting")[0] is meeting
    voicemail_before = Profile(id="trip", name="Trip", direct_to_voicemail=True)
    profiles = {p.id: p for p in (plain, voicemail_before, AVAILABLE)}
    assert routed_by(plain, profiles, "trip")[0] is AVAILABLE
    target, why = routed_by(dnd(profile="gone"), {"dnd": plain}, None)
    assert target is DEFAULT_PROFILE
    assert "'gone' does not exist" in why


def test_the_voicemail_rule_of_a_held_back_call_keeps_the_quiet_profile() -> None:
    quiet = Profile(
        id="dnd",
        name="DND",
        accept_calls=False,
        forwarding=Forwarding(busy=VM),
        breakthrough=Breakthrough(extensions=["1002"]),
    )
    call = Call(directory(callee(quiet)), caller="1003")
    assert "Busy rule" in of(call.all, CallSentToVoicemail).why
