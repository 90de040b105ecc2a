"""Given/when/then for the forward-loop check of a proposed profile: every path a call
could take, whatever the devices' state now (pure, no I/O)."""

from __future__ import annotations

from contracts.presence import (
    Breakthrough,
    Destination,
    DestinationKind,
    Forwarding,
    Profile,
    RingStrategy,
    VoicemailSettings,
)
from contracts.routing import GroupView, LoopKind
from services.routing.domain.directory import Directory, ExtensionView
from services.routing.domain.loops import check_profile, rules_that_may_apply
from tests.routing.given import IDLE, directory, ext


def to(target: str, kind: DestinationKind = DestinationKind.EXTENSION) -> Destination:
    return Destination(kind=kind, target=target)


def profile(id_: str = "p", **rules: Destination) -> Profile:
    return Profile(id=id_, name=id_.title(), forwarding=Forwarding.model_validate(rules))


def proposing(dir_: Directory, extension: str, proposed: Profile) -> Directory:
    """The directory as the check sees it: the proposal in place of the active profile."""
    return dir_.with_profile(extension, proposed)


def test_a_busy_forward_that_comes_back_is_a_loop_while_every_device_is_idle() -> None:
    # given 1002 forwards unanswered calls back to 1001, and both desks are idle
    given = directory(
        ext("1001", profile(), desk=IDLE), ext("1002", profile(no_answer=to("1001")), desk=IDLE)
    )
    proposed = profile(busy=to("1002"))
    # when 1001 proposes to forward busy calls to 1002
    loops = check_profile(proposing(given, "1001", proposed), "1001", proposed)
    # then the Busy rule is a loop 1001 -> 1002 -> 1001, named field by field
    assert [(f.field, f.rule, f.kind, f.chain) for f in loops] == [
        ("forwarding.busy", "busy", LoopKind.LOOP, ["1001", "1002", "1001"])
    ]
    assert loops[0].message == (
        "1001's Busy rule forwards to 1002, then 1002's No Answer rule forwards to 1001: "
        "a loop (1001 → 1002 → 1001); a call caught in it ends at 1001's voicemail"
    )


def test_every_rule_is_checked_on_its_own() -> None:
    given = directory(ext("1001"), ext("1002", profile(unavailable=to("1001"))))
    proposed = profile(no_answer=to("1002"), unavailable=to("1002"), busy=to("2000"))
    loops = check_profile(proposing(given, "1001", proposed), "1001", proposed)
    assert [f.field for f in loops] == ["forwarding.no_answer", "forwarding.unavailable"]


def test_a_forward_to_itself_is_a_loop() -> None:
    proposed = profile(always=to("1001"))
    loops = check_profile(proposing(directory(ext("1001")), "1001", proposed), "1001", proposed)
    assert [(f.field, f.chain) for f in loops] == [("forwarding.always", ["1001", "1001"])]


def test_a_chain_that_ends_at_voicemail_an_external_number_or_a_ring_group_is_no_loop() -> None:
    group = GroupView(
        group_id="sales", members=["1001"], strategy=RingStrategy.SIMULTANEOUS, timeout=20
    )
    given = directory(
        ext("1001"),
        ext("1002", profile(busy=to("+4930123", DestinationKind.EXTERNAL))),
        ext("1003", profile(always=to("sales", DestinationKind.RING_GROUP))),
        groups=[group],
    )
    proposed = profile(busy=to("1002"), no_answer=to("1003"))
    assert check_profile(proposing(given, "1001", proposed), "1001", proposed) == []


def test_a_rule_a_profile_never_takes_is_not_followed() -> None:
    # given 1002 sends everything to voicemail: its Busy forward back to 1001 never applies
    quiet = Profile(
        id="vm",
        name="Voicemail",
        direct_to_voicemail=True,
        forwarding=Forwarding(busy=to("1001")),
    )
    given = directory(ext("1001"), ext("1002", quiet))
    proposed = profile(busy=to("1002"))
    assert check_profile(proposing(given, "1001", proposed), "1001", proposed) == []


def test_which_rules_may_apply_follows_the_routing_order() -> None:
    rules = Forwarding(busy=to("1"), no_answer=to("2"), unavailable=to("3"))
    every = Profile(id="every", name="Every", forwarding=rules)
    assert rules_that_may_apply(every) == ["busy", "no_answer", "unavailable"]
    always = every.model_copy(update={"forwarding": rules.model_copy(update={"always": to("4")})})
    assert rules_that_may_apply(always) == ["always"]
    off = every.model_copy(update={"accept_calls": False})
    assert rules_that_may_apply(off) == ["busy"]


def test_more_forwards_than_routing_follows_is_too_long() -> None:
    # given 1002 -> 1003 -> ... -> 1007 -> 1008, each forwarding always to the next
    views = [ext(str(n), profile(always=to(str(n + 1)))) for n in range(1002, 1008)]
    given = directory(ext("1001"), *views, ext("1008"))
    proposed = profile(busy=to("1002"))
    loops = check_profile(proposing(given, "1001", proposed), "1001", proposed)
    assert [(f.kind, f.chain[-1]) for f in loops] == [(LoopKind.TOO_LONG, "1007")]
    assert "more than 5 forwards" in loops[0].message


def test_a_forwarded_call_may_break_through_so_the_breakthrough_profile_is_followed_too() -> None:
    # given 1002 is quiet, but lets 1001 through to a profile that forwards to 1001 on busy
    back = profile("back", busy=to("1001"))
    quiet = Profile(
        id="dnd",
        name="DND",
        direct_to_voicemail=True,
        breakthrough=Breakthrough(extensions=["2000"]),
    )
    given = directory(
        ext("1001"), ExtensionView("1002", quiet, {}, breakthrough_to=back, breakthrough_via="")
    )
    proposed = profile(no_answer=to("1002"))
    loops = check_profile(proposing(given, "1001", proposed), "1001", proposed)
    assert [f.chain for f in loops] == [["1001", "1002", "1001"]]


def test_a_breakthrough_profile_that_forwards_back_is_a_loop_of_the_breakthrough_field() -> None:
    # given the proposal is quiet and routes breakthrough callers by 'desk', which
    # forwards no answer to 1002, which forwards busy back to 1001
    desk = profile("desk", no_answer=to("1002"))
    proposed = Profile(
        id="dnd",
        name="DND",
        direct_to_voicemail=True,
        breakthrough=Breakthrough(extensions=["1003"], profile="desk"),
    )
    view = ExtensionView("1001", proposed, {}, breakthrough_to=desk, breakthrough_via="named")
    given = directory(ext("1002", profile(busy=to("1001")))).with_view(view)
    loops = check_profile(given, "1001", proposed)
    assert [(f.field, f.rule, f.chain) for f in loops] == [
        ("breakthrough.profile", "breakthrough", ["1001", "1002", "1001"])
    ]
    assert loops[0].message.startswith(
        "a caller who breaks through is routed by profile 'Desk' (desk): "
    )


def test_voicemail_off_says_the_call_is_rejected() -> None:
    proposed = profile(always=to("1001")).model_copy(
        update={"voicemail": VoicemailSettings(enabled=False)}
    )
    loops = check_profile(proposing(directory(ext("1001")), "1001", proposed), "1001", proposed)
    assert loops[0].message.endswith("ends at a rejected call (voicemail is off)")
