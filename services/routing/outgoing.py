"""What leaves with each call event, through the outbox: the event and the PBX command.

A pure function of the appended envelopes, so an event and the command it implies
commit together. The command id is the event id: a PBX that sees a command id twice
(a redelivery) ignores the second.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def pbx_command(envelope: Envelope, call_id: str) -> tuple[str, pbx.PbxCommand] | None:
    """The PBX node and the command an event implies, if any."""
    ids = {"command_id": str(envelope.id), "call_id": call_id}
    event = envelope.payload()
    command: pbx.PbxCommand | None = None
    match event:
        case RingStepStarted():
            command = pbx.RingTargets(
                **ids,
                step=event.step,
                legs=event.legs,
                timeout_seconds=event.seconds,
                caller=event.caller,
            )
        case RingStepEnded() if event.cancel_legs:
            command = pbx.CancelLegs(
                **ids, leg_ids=event.cancel_legs, reason=CancelReason.STEP_TIMEOUT
            )
        case CallAnswered() if event.cancel_legs:
            command = pbx.CancelLegs(
                **ids, leg_ids=event.cancel_legs, reason=CancelReason.ANSWERED_ELSEWHERE
            )
        case CallAbandoned() if event.cancel_legs:
            command = pbx.CancelLegs(**ids, leg_ids=event.cancel_legs, reason=event.cancel_reason)
        case CallForwarded():
            command = pbx.Forward(**ids, kind=event.kind, target=event.target)
        case CallSentToVoicemail():
            command = pbx.SendToVoicemail(**ids, mailbox=event.mailbox, greeting=event.greeting)
        case CallRejected():
            command = pbx.Reject(**ids, reason=event.reason)
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
