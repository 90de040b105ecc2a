"""Routing: the events of one call's state machine, and the routing service's queries.

Stream `call:<call_id>`; events are published on `voco.evt.routing.<call_id>.<Type>`
(JetStream stream VOCO_ROUTING). Every event carries `why`: the rule, the profile and
the devices behind the step, so "why did my call go to voicemail?" has an answer.
Queries (request/reply): `voco.cmd.routing.ExplainCall`, `voco.cmd.routing.WhatIf`,
`voco.cmd.routing.CheckProfile`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.base import Acting, Event, event
from contracts.pbx import CallId, CancelReason, ForwardKind, Leg, LegFailure, RejectReason
from contracts.presence import DeviceState, Extension, Profile, RingStrategy

ROUTING_STREAM = "VOCO_ROUTING"
ROUTING_SUBJECTS = ["voco.evt.routing.>"]


def event_subject(call_id: str, type_name: str) -> str:
    return f"voco.evt.routing.{call_id}.{type_name}"


class Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HopKind(StrEnum):
    EXTENSION = "extension"
    RING_GROUP = "ring_group"


class GroupView(Part):
    """A ring group as routing knew it when the call reached it."""

    group_id: str
    members: list[str]
    strategy: RingStrategy
    timeout: int


class PlannedStep(Part):
    legs: list[Leg]
    seconds: int


class RoutingEvent(Event):
    why: str = Field(description="the rule and the facts behind this step, for a person")


@event
class CallReceived(RoutingEvent):
    type_name = "CallReceived"
    call_id: CallId
    node: str
    caller: str
    callee: str
    seed: int = Field(description="seeds the random strategy, so a replay decides the same")


@event
class HopEntered(RoutingEvent):
    """Routing now applies an extension's profile (or a ring group's members)."""

    type_name = "HopEntered"
    hop: int = Field(ge=0, description="0 for the dialled extension, +1 per forward")
    kind: HopKind
    target: str
    profile: Profile | None = None
    group: GroupView | None = None
    devices: dict[str, DeviceState] = Field(default_factory=dict)


class BreakthroughRule(StrEnum):
    """Why a caller rang through a quiet profile."""

    EXTENSION = "extension"  # on the profile's list of extensions
    NUMBER = "number"  # on its list of external numbers
    PREFIX = "prefix"  # the number starts with one of its prefixes
    FAVOURITE = "favourite"  # a contact the callee marked as favourite
    URGENT_REPEAT = "urgent_repeat"  # called again within the window after a held-back call


class HoldRule(StrEnum):
    """Why a quiet profile held a call back although it has a breakthrough list."""

    ANONYMOUS = "anonymous"  # no caller id: never breaks through
    NOT_LISTED = "not_listed"  # no entry matches and no urgent repeat applies


@event
class CallBrokeThrough(RoutingEvent):
    """The callee's active profile would not ring, but this caller breaks through: the hop
    is routed by `profile` (copied, as HopEntered copies the active one)."""

    type_name = "CallBrokeThrough"
    extension: str
    caller: str
    quiet_profile: str = Field(description="the active profile that would not ring")
    rule: BreakthroughRule
    matched: str = Field(description="the entry that matched: extension, number, prefix")
    profile: Profile


@event
class CallHeldBack(RoutingEvent):
    """The callee's active profile would not ring and this caller does not break through;
    the profile's own rules follow. `remembered`: the call counts for an urgent repeat."""

    type_name = "CallHeldBack"
    extension: str
    caller: str
    quiet_profile: str
    rule: HoldRule
    remembered: bool = False


@event
class RingStepStarted(RoutingEvent):
    type_name = "RingStepStarted"
    node: str
    caller: str
    step: int
    legs: list[Leg]
    seconds: int
    deadline: AwareDatetime
    timer_id: str
    remaining: list[PlannedStep] = Field(default_factory=list)


@event
class LegEnded(RoutingEvent):
    """A leg failed: busy, declined, unreachable or not answered."""

    type_name = "LegEnded"
    leg_id: str
    reason: LegFailure


class StepOutcome(StrEnum):
    TIMED_OUT = "timed_out"
    EVERY_LEG_FAILED = "every_leg_failed"


@event
class RingStepEnded(RoutingEvent):
    type_name = "RingStepEnded"
    node: str
    step: int
    outcome: StepOutcome
    cancel_legs: list[str] = Field(default_factory=list)


@event
class CallAnswered(RoutingEvent):
    type_name = "CallAnswered"
    node: str
    leg_id: str
    cancel_legs: list[str] = Field(default_factory=list)


@event
class CallForwarded(RoutingEvent):
    type_name = "CallForwarded"
    node: str
    kind: ForwardKind
    target: str


@event
class CallSentToVoicemail(RoutingEvent):
    type_name = "CallSentToVoicemail"
    node: str
    mailbox: str
    greeting: str


@event
class CallRejected(RoutingEvent):
    type_name = "CallRejected"
    node: str
    reason: RejectReason


@event
class CallAbandoned(RoutingEvent):
    type_name = "CallAbandoned"
    node: str
    cancel_legs: list[str] = Field(default_factory=list)
    cancel_reason: CancelReason = CancelReason.CALLER_HUNG_UP


@event
class CallFinished(RoutingEvent):
    """The PBX reported the call over; nothing more happens to it."""

    type_name = "CallFinished"


# ---- queries ---------------------------------------------------------------------------


@event
class ExplainCall(Acting):
    """The ordered steps of a call and why each was taken."""

    type_name = "ExplainCall"
    call_id: CallId


@event
class WhatIf(Acting):
    """The steps a call from `caller` to `callee` at `at` would take; no call is placed.

    Against the callee's current profile, or `profile` as proposed. No leg is assumed
    to answer, so every fallback down to the final outcome shows.
    """

    type_name = "WhatIf"
    caller: str = "anonymous"
    callee: Extension
    at: AwareDatetime | None = None
    profile: Profile | None = None
    seed: int = 0


@event
class CheckProfile(Acting):
    """Whether `profile`, were it `extension`'s, would send calls round a forward loop.

    Every forwarding rule it sets (always, busy, no answer, unavailable) and its
    breakthrough profile are followed through the other extensions' active profiles,
    taking every rule that could apply there whatever the devices' state (busy or not,
    registered or not); nothing is stored or activated.
    """

    type_name = "CheckProfile"
    extension: Extension
    profile: Profile


class LoopKind(StrEnum):
    LOOP = "loop"  # an extension or ring group reached twice
    TOO_LONG = "too_long"  # more forwards than routing follows


class ForwardLoop(BaseModel):
    field: str = Field(description="the profile's field it starts from, e.g. forwarding.busy")
    rule: str = Field(description="always, busy, no_answer, unavailable or breakthrough")
    kind: LoopKind
    chain: list[str] = Field(description="the extensions and ring groups, in call order")
    message: str


class ProfileCheck(BaseModel):
    extension: str
    profile_id: str
    loops: list[ForwardLoop]


class ExplainedStep(BaseModel):
    at: str
    event: str
    why: str


class Explanation(BaseModel):
    call_id: str
    outcome: str
    steps: list[ExplainedStep]


@event
class ListCalls(Acting):
    """The calls an extension placed or was dialled on, newest first (the edge's "my calls").

    With `call_id`, only that call if the extension took part in it: the edge asks this
    before it explains a call to a user, so nobody reads another's call.
    """

    type_name = "ListCalls"
    extension: Extension
    call_id: CallId | None = None
    limit: int = Field(default=50, ge=1, le=500)


class CallSummary(BaseModel):
    call_id: str
    at: str
    caller: str
    callee: str
    last_step: str


class CallList(BaseModel):
    extension: str
    calls: list[CallSummary]
