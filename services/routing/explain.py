"""Why a call went where it went, and where a call would go (what-if), from the decider."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from contracts.base import Event
from contracts.envelope import Envelope
from contracts.pbx import ForwardKind
from contracts.presence import Profile
from contracts.routing import (
    CallForwarded,
    CallReceived,
    ExplainedStep,
    Explanation,
    HopEntered,
    HopKind,
    RoutingEvent,
)
from services.routing.domain.call import FireTimer, OfferCall, call_decider
from services.routing.domain.directory import Directory
from services.routing.domain.state import CallState, Ringing, outcome_of

WHAT_IF_STEPS = 50
"""More decisions than any bounded chain can take; a guard, not a rule."""


def explain(call_id: str, envelopes: Sequence[Envelope]) -> Explanation:
    events = [e.payload() for e in envelopes]
    state = call_decider.fold(events)
    steps = [
        ExplainedStep(at=e.at.isoformat(), event=e.type, why=_why(event))
        for e, event in zip(envelopes, events, strict=True)
    ]
    return Explanation(call_id=call_id, outcome=outcome_of(state), steps=steps)


def call_parties(events: Sequence[object]) -> frozenset[str]:
    """Who takes part in a call: its caller, its callee and each extension it was
    forwarded to (those whose profile it entered). They, besides administrators and
    services, may have it explained; nobody takes part in a call that does not exist."""
    parties: set[str] = set()
    for event in events:
        match event:
            case CallReceived():
                parties.update((event.caller, event.callee))
            case HopEntered(kind=HopKind.EXTENSION):
                parties.add(event.target)
            case CallForwarded(kind=ForwardKind.EXTENSION):
                parties.add(event.target)
    return frozenset(parties)


def what_if(
    directory: Directory,
    *,
    caller: str,
    callee: str,
    at: datetime,
    seed: int,
    profile: Profile | None = None,
    last_held_back: datetime | None = None,
) -> Explanation:
    """Play the call with nobody answering, timers firing at their deadlines; nothing stored.

    `last_held_back`: routing's memory of the caller's last held-back call to the callee,
    so "what if 1002 calls me now" answers an urgent repeat as the real call would."""
    if profile is not None:
        directory = directory.with_profile(callee, profile)
    state: CallState = call_decider.initial_state
    steps: list[ExplainedStep] = []

    def take(events: Sequence[Event], when: datetime) -> None:
        nonlocal state
        state = call_decider.fold(events, state)
        steps.extend(
            ExplainedStep(at=when.isoformat(), event=e.type_name, why=_why(e)) for e in events
        )

    offer = OfferCall(
        at=at,
        directory=directory,
        call_id="what-if",
        node="what-if",
        caller=caller,
        callee=callee,
        seed=seed,
        last_held_back=last_held_back,
    )
    take(call_decider.decide(offer, state), at)
    for _ in range(WHAT_IF_STEPS):
        if not isinstance(state, Ringing):
            break
        when = state.deadline
        fire = FireTimer(at=when, directory=directory, timer_id=state.timer_id)
        take(call_decider.decide(fire, state), when)
    return Explanation(call_id="what-if", outcome=outcome_of(state), steps=steps)


def _why(event: object) -> str:
    return event.why if isinstance(event, RoutingEvent) else ""
