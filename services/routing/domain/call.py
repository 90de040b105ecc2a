"""The call decider: commands from the PBX and the call's timer, decided against the state.

Every command is idempotent: a redelivered PBX event, a timer that fires twice, or
a leg event for a step already left decides no events.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, ConfigDict

from contracts.base import Command, Event
from contracts.pbx import LegFailure, RejectReason
from contracts.routing import (
    CallAbandoned,
    CallAnswered,
    CallFinished,
    CallReceived,
    CallRejected,
    LegEnded,
    RingStepEnded,
    StepOutcome,
)
from runtime.decider import Decider
from services.routing.domain.directory import Directory
from services.routing.domain.planner import Decision, after_last_step, route_extension, start_step
from services.routing.domain.state import CallState, Ended, NoCall, Ringing, evolve


class CallCommand(Command):
    """Internal commands of the call decider; `directory` is routing's read model."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    at: AwareDatetime
    directory: Directory


class OfferCall(CallCommand):
    type_name: ClassVar[str] = "routing.OfferCall"
    call_id: str
    node: str
    caller: str
    callee: str
    seed: int
    last_held_back: AwareDatetime | None = None
    """When routing last held back a call from this caller to this callee (its memory for
    the urgent-repeat rule, looked up by the shell); None when it remembers none."""


class LegReport(StrEnum):
    """What routing acts on; LegRinging is not acted on (a leg's ring time is the step's)."""

    ANSWERED = "answered"
    FAILED = "failed"


class ReportLeg(CallCommand):
    type_name: ClassVar[str] = "routing.ReportLeg"
    leg_id: str
    report: LegReport
    reason: LegFailure | None = None


class FireTimer(CallCommand):
    type_name: ClassVar[str] = "routing.FireTimer"
    timer_id: str


class HangUp(CallCommand):
    type_name: ClassVar[str] = "routing.HangUp"


class EndCall(CallCommand):
    type_name: ClassVar[str] = "routing.EndCall"


def decide(command: CallCommand, state: CallState) -> Sequence[Event]:
    # Every extension as in effect at this step's time: an announced switch counts from its
    # moment, however late presence's ProfileActivated reaches routing.
    d = Decision(state, command.directory.as_of(command.at), command.at)
    if isinstance(command, OfferCall):
        d.last_held_back = command.last_held_back
    match command:
        case OfferCall() if isinstance(state, NoCall):
            offer(d, command)
        case ReportLeg() if isinstance(state, Ringing) and state.has_leg(command.leg_id):
            report_leg(d, state, command)
        case FireTimer() if isinstance(state, Ringing) and command.timer_id == state.timer_id:
            why = f"step {state.step} rang {state.seconds} s without an answer"
            d.add(_step_ended(state, StepOutcome.TIMED_OUT, state.alive(), why))
            next_step(d, state, why)
        case HangUp() if isinstance(state, Ringing):
            d.add(
                CallAbandoned(
                    node=state.facts.node,
                    cancel_legs=state.alive(),
                    why=f"the caller hung up while step {state.step} was ringing",
                )
            )
        case EndCall() if not isinstance(state, NoCall | Ended):
            d.add(CallFinished(why="the PBX reported the call over"))
    return d.events


def offer(d: Decision, command: OfferCall) -> None:
    d.add(
        CallReceived(
            call_id=command.call_id,
            node=command.node,
            caller=command.caller,
            callee=command.callee,
            seed=command.seed,
            why=f"{command.caller} called {command.callee} (PBX node {command.node})",
        )
    )
    view = d.directory.extension(command.callee)
    if view is None:
        d.add(
            CallRejected(
                node=command.node,
                reason=RejectReason.NOT_FOUND,
                why=f"extension {command.callee} is not known to Voco (never provisioned)",
            )
        )
        return
    route_extension(d, view, f"{command.callee} was dialled")


def report_leg(d: Decision, state: Ringing, command: ReportLeg) -> None:
    leg = command.leg_id
    if leg in state.ended:
        return
    match command.report:
        case LegReport.ANSWERED:
            losers = [other for other in state.alive() if other != leg]
            d.add(
                CallAnswered(
                    node=state.facts.node,
                    leg_id=leg,
                    cancel_legs=losers,
                    why=f"leg {leg} ({_target(state, leg)}) answered"
                    + (f"; cancelling {', '.join(losers)}" if losers else ""),
                )
            )
        case LegReport.FAILED:
            reason = command.reason or LegFailure.UNREACHABLE
            d.add(
                LegEnded(
                    leg_id=leg,
                    reason=reason,
                    why=f"leg {leg} ({_target(state, leg)}) failed: {reason.value}",
                )
            )
            if not isinstance(d.state, Ringing) or d.state.alive():
                return
            why = f"every leg of step {state.step} failed"
            d.add(_step_ended(state, StepOutcome.EVERY_LEG_FAILED, [], why))
            next_step(d, state, why)


def next_step(d: Decision, left: Ringing, because: str) -> None:
    if left.remaining:
        start_step(d, list(left.remaining), f"{because}; next in the sequence")
    else:
        after_last_step(d, because)


def _step_ended(state: Ringing, outcome: StepOutcome, cancel: list[str], why: str) -> RingStepEnded:
    return RingStepEnded(
        node=state.facts.node, step=state.step, outcome=outcome, cancel_legs=cancel, why=why
    )


def _target(state: Ringing, leg_id: str) -> str:
    leg = next(leg for leg in state.legs if leg.leg_id == leg_id)
    return f"mobile {leg.number}" if leg.number else f"{leg.extension}/{leg.device_id}"


call_decider = Decider[CallCommand, CallState](initial_state=NoCall(), decide=decide, evolve=evolve)
