"""The named states of one call and `evolve`, which only sets fields."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from contracts.base import Event
from contracts.pbx import Leg, LegFailure, RejectReason
from contracts.presence import Profile
from contracts.routing import (
    CallAbandoned,
    CallAnswered,
    CallBrokeThrough,
    CallFinished,
    CallForwarded,
    CallReceived,
    CallRejected,
    CallSentToVoicemail,
    GroupView,
    HopEntered,
    HopKind,
    LegEnded,
    PlannedStep,
    RingStepEnded,
    RingStepStarted,
)


@dataclass(frozen=True)
class Hop:
    """One extension or ring group the call reached, with what routing knew of it then."""

    index: int
    kind: HopKind
    target: str
    profile: Profile | None = None
    group: GroupView | None = None


@dataclass(frozen=True)
class CallFacts:
    call_id: str
    node: str
    caller: str
    callee: str
    seed: int
    hops: tuple[Hop, ...] = ()
    steps: int = 0
    hop_failures: tuple[LegFailure, ...] = ()

    @property
    def hop(self) -> Hop:
        return self.hops[-1]

    def last_extension_hop(self) -> Hop:
        return next(h for h in reversed(self.hops) if h.kind is HopKind.EXTENSION)


@dataclass(frozen=True)
class NoCall:
    """Nothing known: the initial state."""


@dataclass(frozen=True)
class Offered:
    facts: CallFacts


@dataclass(frozen=True)
class Ringing:
    facts: CallFacts
    step: int
    legs: tuple[Leg, ...]
    seconds: int
    deadline: datetime
    timer_id: str
    remaining: tuple[PlannedStep, ...]
    ended: dict[str, LegFailure] = field(default_factory=dict)

    def alive(self) -> list[str]:
        return [leg.leg_id for leg in self.legs if leg.leg_id not in self.ended]

    def has_leg(self, leg_id: str) -> bool:
        return any(leg.leg_id == leg_id for leg in self.legs)


@dataclass(frozen=True)
class Answered:
    facts: CallFacts
    leg_id: str


@dataclass(frozen=True)
class Forwarded:
    facts: CallFacts
    target: str


@dataclass(frozen=True)
class Voicemail:
    facts: CallFacts
    mailbox: str
    greeting: str


@dataclass(frozen=True)
class Rejected:
    facts: CallFacts
    reason: RejectReason


@dataclass(frozen=True)
class Abandoned:
    facts: CallFacts


@dataclass(frozen=True)
class Ended:
    facts: CallFacts
    outcome: str


Live = Offered | Ringing
Settled = Answered | Forwarded | Voicemail | Rejected | Abandoned
CallState = (
    NoCall | Offered | Ringing | Answered | Forwarded | Voicemail | Rejected | Abandoned | Ended
)


def facts_of(state: CallState) -> CallFacts:
    assert not isinstance(state, NoCall), "a call event before CallReceived"
    return state.facts


def evolve(state: CallState, event: Event) -> CallState:
    match event:
        case CallReceived():
            facts = CallFacts(event.call_id, event.node, event.caller, event.callee, event.seed)
            return Offered(facts)
        case HopEntered():
            facts = facts_of(state)
            hop = Hop(event.hop, event.kind, event.target, event.profile, event.group)
            return Offered(replace(facts, hops=(*facts.hops, hop), hop_failures=()))
        case CallBrokeThrough():
            # From here the hop follows the breakthrough profile (its rules and fallbacks).
            facts = facts_of(state)
            routed = replace(facts.hop, profile=event.profile)
            return Offered(replace(facts, hops=(*facts.hops[:-1], routed)))
        case RingStepStarted():
            facts = replace(facts_of(state), steps=event.step)
            return Ringing(
                facts,
                event.step,
                tuple(event.legs),
                event.seconds,
                event.deadline,
                event.timer_id,
                tuple(event.remaining),
            )
        case LegEnded() if isinstance(state, Ringing):
            facts = replace(state.facts, hop_failures=(*state.facts.hop_failures, event.reason))
            return replace(state, facts=facts, ended={**state.ended, event.leg_id: event.reason})
        case RingStepEnded() if isinstance(state, Ringing):
            timed_out = tuple(LegFailure.NO_ANSWER for _ in event.cancel_legs)
            facts = replace(state.facts, hop_failures=(*state.facts.hop_failures, *timed_out))
            return Offered(facts)
        case CallAnswered():
            return Answered(facts_of(state), event.leg_id)
        case CallForwarded():
            return Forwarded(facts_of(state), f"{event.kind.value}:{event.target}")
        case CallSentToVoicemail():
            return Voicemail(facts_of(state), event.mailbox, event.greeting)
        case CallRejected():
            return Rejected(facts_of(state), event.reason)
        case CallAbandoned():
            return Abandoned(facts_of(state))
        case CallFinished():
            return Ended(facts_of(state), outcome_of(state))
    return state


def outcome_of(state: CallState) -> str:
    match state:
        case Answered():
            return f"answered on {state.leg_id}"
        case Forwarded():
            return f"forwarded to {state.target}"
        case Voicemail():
            return f"voicemail {state.mailbox} ({state.greeting} greeting)"
        case Rejected():
            return f"rejected: {state.reason.value}"
        case Abandoned():
            return "abandoned by the caller"
        case Ended():
            return state.outcome
        case Ringing():
            return f"ringing step {state.step}"
        case Offered():
            return "offered"
    return "unknown call"
