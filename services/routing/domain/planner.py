"""The routing semantics of DESIGN.md, applied to one extension or ring group at a time.

Each function appends events to a `Decision`, which folds them as it goes, so a
later rule sees the state the earlier events made. Everything here is pure: the
directory, the time and the seed come in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from contracts.base import Event
from contracts.pbx import ForwardKind, Leg, LegFailure, RejectReason
from contracts.presence import MOBILE, Destination, DestinationKind, RingStep, RingStrategy
from contracts.routing import (
    CallBrokeThrough,
    CallForwarded,
    CallRejected,
    CallSentToVoicemail,
    GroupView,
    HopEntered,
    HopKind,
    PlannedStep,
    RingStepStarted,
)
from services.routing.domain.breakthrough import screen
from services.routing.domain.directory import Directory, ExtensionView
from services.routing.domain.state import CallFacts, CallState, evolve, facts_of

MAX_HOPS = 5
"""Forwards followed before a chain is cut (the dialled extension is hop 0)."""

Rule = str  # "busy" | "unavailable" | "no_answer"
RULE_NAMES = {"busy": "Busy", "unavailable": "Unavailable", "no_answer": "No Answer"}
REJECTS = {
    "busy": RejectReason.BUSY,
    "unavailable": RejectReason.UNAVAILABLE,
    "no_answer": RejectReason.NO_ANSWER,
}
Candidate = tuple[Leg, int | None]  # a leg and its own seconds (sequential), if set


@dataclass
class Decision:
    state: CallState
    directory: Directory
    at: datetime
    events: list[Event] = field(default_factory=list)
    last_held_back: datetime | None = None
    """When the caller's last call to the dialled extension was held back (routing's memory)."""

    def add(self, event: Event) -> None:
        self.events.append(event)
        self.state = evolve(self.state, event)

    @property
    def facts(self) -> CallFacts:
        return facts_of(self.state)


# ---- an extension ----------------------------------------------------------------------


def route_extension(d: Decision, view: ExtensionView, because: str) -> None:
    p = view.profile
    hop = len(d.facts.hops)
    d.add(
        HopEntered(
            hop=hop,
            kind=HopKind.EXTENSION,
            target=view.extension,
            profile=p,
            devices=dict(view.devices),
            why=f"{because}; {view.extension}'s active profile is '{p.name}' ({p.id})",
        )
    )
    if not p.rings() and p.breakthrough.in_use():
        screened = screen(
            view,
            caller=d.facts.caller,
            at=d.at,
            directory=d.directory,
            last_held_back=d.last_held_back,
            dialled=hop == 0,
        )
        d.add(screened)
        if isinstance(screened, CallBrokeThrough):
            view = replace(view, profile=screened.profile)
            p = view.profile
    who = f"{view.extension}'s profile '{p.name}'"
    if not p.accept_calls:
        return apply_rule(d, "busy", f"{who} does not accept incoming calls")
    if p.direct_to_voicemail:
        if p.voicemail.enabled:
            why = f"{who} sends calls directly to voicemail"
            return voicemail(d, view.extension, p.voicemail.greeting, why)
        why = f"{who} sends calls directly to voicemail, but its voicemail is off"
        return reject(d, RejectReason.BUSY, why)
    if p.forwarding.always is not None:
        return go_to(d, p.forwarding.always, f"{who} forwards always")
    legs = candidate_legs(view)
    if not legs:
        why = f"{view.extension} has no registered device and no mobile leg"
        return apply_rule(d, "unavailable", why)
    devices = [str(leg.device_id) for leg, _ in legs if leg.number is None]
    if len(devices) == len(legs) and all(view.is_busy(device) for device in devices):
        return apply_rule(
            d, "busy", f"every device of {view.extension} is busy ({', '.join(devices)})"
        )
    steps, how = plan_extension(view, legs, d.facts.seed + len(d.facts.hops))
    start_step(d, steps, f"{who}: {how}")


def candidate_legs(view: ExtensionView) -> list[Candidate]:
    """Legs in priority order with their own seconds; unregistered devices left out."""
    ringing = view.profile.ringing
    mobile = view.profile.mobile_number
    registered = view.registered()
    wanted = ringing.devices or [RingStep(device=device) for device in registered]
    legs: list[Candidate] = []
    for n, step in enumerate(wanted):
        if step.device == MOBILE:
            if mobile is not None:
                legs.append(
                    (Leg(leg_id=f"p{n}", extension=view.extension, number=mobile), step.seconds)
                )
        elif step.device in registered:
            leg = Leg(leg_id=f"p{n}", extension=view.extension, device_id=step.device)
            legs.append((leg, step.seconds))
    if ringing.include_mobile and mobile is not None and all(leg.number is None for leg, _ in legs):
        legs.append((Leg(leg_id="pm", extension=view.extension, number=mobile), None))
    return legs


def plan_extension(
    view: ExtensionView, legs: list[Candidate], seed: int
) -> tuple[list[PlannedStep], str]:
    ringing = view.profile.ringing
    timeout = max(5, min(120, ringing.timeout))
    names = ", ".join(_leg_name(leg) for leg, _ in legs)
    match ringing.strategy:
        case RingStrategy.SIMULTANEOUS:
            step = PlannedStep(legs=[leg for leg, _ in legs], seconds=timeout)
            return [step], f"ring simultaneously {names} for {timeout} s"
        case RingStrategy.SEQUENTIAL:
            steps = sequential_steps(legs, timeout)
            plan = ", then ".join(f"{_leg_name(s.legs[0])} {s.seconds} s" for s in steps)
            return steps, f"ring sequentially {plan} (ring timeout {timeout} s)"
        case RingStrategy.RANDOM:
            leg, _ = random.Random(seed).choice(legs)
            return [PlannedStep(legs=[leg], seconds=timeout)], (
                f"ring one device at random (seed {seed}) out of {names}: "
                f"{_leg_name(leg)} for {timeout} s"
            )
        case RingStrategy.FIRST_AVAILABLE:
            free = [
                leg
                for leg, _ in legs
                if leg.number is not None or not view.is_busy(str(leg.device_id))
            ]
            skipped = [_leg_name(leg) for leg, _ in legs if leg not in free]
            chosen = free[0]
            skip_note = f", skipping busy {', '.join(skipped)}" if skipped else ""
            return [PlannedStep(legs=[chosen], seconds=timeout)], (
                f"ring the first available device {_leg_name(chosen)} for {timeout} s{skip_note}"
            )


def sequential_steps(legs: list[Candidate], timeout: int) -> list[PlannedStep]:
    """Each leg its own seconds; legs without share what is left; the whole within timeout."""
    explicit = sum(seconds for _, seconds in legs if seconds is not None)
    unset = sum(1 for _, seconds in legs if seconds is None)
    share = max(1, (timeout - explicit) // unset) if unset else 0
    steps: list[PlannedStep] = []
    left = timeout
    for leg, seconds in legs:
        ring = min(seconds if seconds is not None else share, left)
        if ring <= 0:
            break
        steps.append(PlannedStep(legs=[leg], seconds=ring))
        left -= ring
    return steps


# ---- a ring group ----------------------------------------------------------------------


def route_group(d: Decision, group: GroupView, because: str) -> None:
    devices = {}
    member_legs: list[tuple[str, list[Leg]]] = []
    skipped: list[str] = []
    for member in group.members:
        view = d.directory.extension(member)
        if view is None or not view.profile.accept_calls or view.profile.direct_to_voicemail:
            skipped.append(member)
            continue
        legs = [Leg(leg_id="p", extension=member, device_id=dev) for dev in view.registered()]
        for dev in view.registered():
            devices[f"{member}/{dev}"] = view.devices[dev]
        if legs:
            member_legs.append((member, legs))
    d.add(
        HopEntered(
            hop=len(d.facts.hops),
            kind=HopKind.RING_GROUP,
            target=group.group_id,
            group=group,
            devices=devices,
            why=f"{because}; ring group {group.group_id} has members {', '.join(group.members)}"
            + (f" (skipped, not taking calls: {', '.join(skipped)})" if skipped else ""),
        )
    )
    if not member_legs:
        return group_fallback(
            d, f"no member of ring group {group.group_id} has a registered device"
        )

    def busy(member: str, leg: Leg) -> bool:
        view = d.directory.extension(member)
        return view is not None and view.is_busy(str(leg.device_id))

    if all(busy(m, leg) for m, legs in member_legs for leg in legs):
        return group_fallback(d, f"every member of ring group {group.group_id} is busy")
    timeout = max(5, min(120, group.timeout))
    seed = d.facts.seed + len(d.facts.hops)
    match group.strategy:
        case RingStrategy.SIMULTANEOUS:
            steps = [
                PlannedStep(legs=[leg for _, legs in member_legs for leg in legs], seconds=timeout)
            ]
            how = f"ring every member at once for {timeout} s"
        case RingStrategy.SEQUENTIAL:
            each = max(1, timeout // len(member_legs))
            steps = [PlannedStep(legs=legs, seconds=each) for _, legs in member_legs]
            how = f"ring members in turn, {each} s each: {', '.join(m for m, _ in member_legs)}"
        case RingStrategy.RANDOM:
            member, legs = random.Random(seed).choice(member_legs)
            steps = [PlannedStep(legs=legs, seconds=timeout)]
            how = f"ring one member at random (seed {seed}): {member} for {timeout} s"
        case RingStrategy.FIRST_AVAILABLE:
            member, legs = next(
                (m, [leg for leg in ls if not busy(m, leg)])
                for m, ls in member_legs
                if any(not busy(m, leg) for leg in ls)
            )
            steps = [PlannedStep(legs=legs, seconds=timeout)]
            how = f"ring the first available member {member} for {timeout} s"
    start_step(d, steps, f"ring group {group.group_id}: {how}")


def group_fallback(d: Decision, because: str) -> None:
    """A ring group has no rules of its own: the voicemail of the extension that sent the call."""
    hop = d.facts.last_extension_hop()
    assert hop.profile is not None
    if hop.profile.voicemail.enabled:
        return voicemail(
            d, hop.target, hop.profile.voicemail.greeting, f"{because}: {hop.target}'s voicemail"
        )
    return reject(d, RejectReason.NO_ANSWER, f"{because}, and {hop.target} has no voicemail")


# ---- steps, rules, destinations ----------------------------------------------------------


def start_step(d: Decision, steps: list[PlannedStep], why: str) -> None:
    first, rest = steps[0], steps[1:]
    facts = d.facts
    number = facts.steps + 1
    legs = [
        leg.model_copy(update={"leg_id": f"s{number}l{n}"}) for n, leg in enumerate(first.legs, 1)
    ]
    d.add(
        RingStepStarted(
            node=facts.node,
            caller=facts.caller,
            step=number,
            legs=legs,
            seconds=first.seconds,
            deadline=d.at + timedelta(seconds=first.seconds),
            timer_id=f"step-{number}",
            remaining=rest,
            why=f"{why}; step {number}: {', '.join(_leg_name(leg) for leg in legs)} "
            f"for {first.seconds} s",
        )
    )


def after_last_step(d: Decision, because: str) -> None:
    """Nobody answered: the hop's No Answer rule, or its Busy rule when every leg was busy."""
    facts = d.facts
    if facts.hop.kind is HopKind.RING_GROUP:
        return group_fallback(d, f"{because}; nobody in ring group {facts.hop.target} answered")
    failures = facts.hop_failures
    if failures and all(f is LegFailure.BUSY for f in failures):
        return apply_rule(d, "busy", f"{because}; every leg was busy")
    return apply_rule(d, "no_answer", f"{because}; nobody answered")


def apply_rule(d: Decision, rule: Rule, because: str) -> None:
    hop = d.facts.last_extension_hop()
    profile = hop.profile
    assert profile is not None
    destination: Destination | None = getattr(profile.forwarding, rule)
    name = RULE_NAMES[rule]
    if destination is not None:
        return go_to(d, destination, f"{because}: the {name} rule forwards")
    if profile.voicemail.enabled:
        why = f"{because}: no {name} rule, so voicemail"
        return voicemail(d, hop.target, profile.voicemail.greeting, why)
    return reject(d, REJECTS[rule], f"{because}: no {name} rule and voicemail is off")


def go_to(d: Decision, dest: Destination, because: str) -> None:
    facts = d.facts
    here = facts.last_extension_hop()
    assert here.profile is not None
    target = dest.target
    match dest.kind:
        case DestinationKind.VOICEMAIL:
            mailbox = target or here.target
            greeting = dest.greeting or here.profile.voicemail.greeting
            return voicemail(d, mailbox, greeting, f"{because} to voicemail")
        case DestinationKind.EXTERNAL if target:
            return forward(
                d, ForwardKind.EXTERNAL, target, f"{because} to external number {target}"
            )
        case DestinationKind.IVR if target and d.directory.has_ivr(target):
            return forward(d, ForwardKind.IVR, target, f"{because} to IVR {target}")
        case DestinationKind.EXTENSION | DestinationKind.RING_GROUP if target:
            return follow(d, dest.kind, target, because)
    return end_chain(
        d, f"{because} to {dest.kind.value} {target or '(none)'}, which does not exist"
    )


def follow(d: Decision, kind: DestinationKind, target: str, because: str) -> None:
    facts = d.facts
    hop_kind = HopKind.EXTENSION if kind is DestinationKind.EXTENSION else HopKind.RING_GROUP
    path = " → ".join([*(h.target for h in facts.hops), target])
    if any(h.kind is hop_kind and h.target == target for h in facts.hops):
        return end_chain(d, f"{because} to {target}, a loop ({path})")
    if len(facts.hops) > MAX_HOPS:
        return end_chain(d, f"{because} to {target}, more than {MAX_HOPS} forwards ({path})")
    if hop_kind is HopKind.EXTENSION:
        view = d.directory.extension(target)
        if view is None:
            return end_chain(d, f"{because} to extension {target}, which does not exist")
        return route_extension(d, view, f"{because} to extension {target}")
    group = d.directory.group(target)
    if group is None:
        return end_chain(d, f"{because} to ring group {target}, which does not exist")
    return route_group(d, group, f"{because} to ring group {target}")


def end_chain(d: Decision, because: str) -> None:
    """A forward that cannot be followed ends at the first callee's voicemail, or a reject."""
    first = d.facts.hops[0]
    assert first.profile is not None
    if first.profile.voicemail.enabled:
        why = f"{because}; the chain ends at the first callee {first.target}'s voicemail"
        return voicemail(d, first.target, first.profile.voicemail.greeting, why)
    why = f"{because}; the first callee {first.target} has no voicemail, so the call is rejected"
    return reject(d, RejectReason.FORWARD_FAILED, why)


def voicemail(d: Decision, mailbox: str, greeting: str, why: str) -> None:
    d.add(
        CallSentToVoicemail(
            node=d.facts.node,
            mailbox=mailbox,
            greeting=greeting,
            why=f"{why} (mailbox {mailbox}, greeting '{greeting}')",
        )
    )


def forward(d: Decision, kind: ForwardKind, target: str, why: str) -> None:
    d.add(CallForwarded(node=d.facts.node, kind=kind, target=target, why=why))


def reject(d: Decision, reason: RejectReason, why: str) -> None:
    d.add(CallRejected(node=d.facts.node, reason=reason, why=why))


def _leg_name(leg: Leg) -> str:
    if leg.number is not None:
        return f"mobile {leg.number}"
    return f"{leg.extension}/{leg.device_id}" if leg.extension else str(leg.device_id)
