"""What leaves with each call event, through the outbox: the event and the PBX command.

A pure function of the appended envelopes, so an event and the command it implies
commit together. The command id is the event id: a PBX that sees a command id twice
(a redelivery) ignores the second.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from contracts import pbx
from contracts.envelope import Envelope
from contracts.pbx import CancelReason
from contracts.routing import (
    CallAbandoned,
    CallAnswered,
    CallForwarded,
    CallRejected,
    CallSentToVoicemail,
    RingStepEnded,
    RingStepStarted,
    event_subject,
)
from runtime.eventstore import Outgoing

Ids = dict[str, str]


def _ring(event: RingStepStarted, ids: Ids) -> pbx.PbxCommand:
    return pbx.RingTargets(
        **ids, step=event.step, legs=event.legs, timeout_seconds=event.seconds, caller=event.caller
    )


def _cancel(reason: CancelReason) -> Callable[[Any, Ids], pbx.PbxCommand | None]:
    def cancel(
        event: RingStepEnded | CallAnswered | CallAbandoned, ids: Ids
    ) -> pbx.PbxCommand | None:
        if not event.cancel_legs:
            return None
        why = event.cancel_reason if isinstance(event, CallAbandoned) else reason
        return pbx.CancelLegs(**ids, leg_ids=event.cancel_legs, reason=why)

    return cancel


def _forward(event: CallForwarded, ids: Ids) -> pbx.PbxCommand:
    return pbx.Forward(**ids, kind=event.kind, target=event.target)


def _voicemail(event: CallSentToVoicemail, ids: Ids) -> pbx.PbxCommand:
    return pbx.SendToVoicemail(**ids, mailbox=event.mailbox, greeting=event.greeting)


def _reject(event: CallRejected, ids: Ids) -> pbx.PbxCommand:
    return pbx.Reject(**ids, reason=event.reason)


COMMANDS: dict[str, Callable[[Any, Ids], pbx.PbxCommand | None]] = {
    RingStepStarted.type_name: _ring,
    RingStepEnded.type_name: _cancel(CancelReason.STEP_TIMEOUT),
    CallAnswered.type_name: _cancel(CancelReason.ANSWERED_ELSEWHERE),
    CallAbandoned.type_name: _cancel(CancelReason.CALLER_HUNG_UP),  # its own reason wins
    CallForwarded.type_name: _forward,
    CallSentToVoicemail.type_name: _voicemail,
    CallRejected.type_name: _reject,
}
"""The events that may imply a PBX command, and how. The others (CallReceived,
HopEntered, CallFinished, ...) are not read back into models to find out: most of a
call's events are those."""


def pbx_command(envelope: Envelope, call_id: str) -> tuple[str, pbx.PbxCommand] | None:
    """The PBX node and the command an event implies, if any."""
    build = COMMANDS.get(envelope.type)
    if build is None:
        return None
    event = envelope.payload()
    command = build(event, {"command_id": str(envelope.id), "call_id": call_id})
    if command is None:
        return None
    return str(getattr(event, "node")), command  # noqa: B009 - every command event has a node


def outgoing(envelopes: Sequence[Envelope]) -> list[Outgoing]:
    commands: list[Outgoing] = []
    events: list[Outgoing] = []
    for e in envelopes:
        call_id = e.stream.removeprefix("call:")
        found = pbx_command(e, call_id)
        if found is not None:
            node, command = found
            commands.append(
                Outgoing(pbx.command_subject(node, call_id), pbx.encode(command), f"cmd-{e.id}")
            )
        events.append(Outgoing(event_subject(call_id, e.type), e.to_bytes(), str(e.id)))
    # Commands first: the PBX is waiting; observers of call events are not.
    return commands + events
