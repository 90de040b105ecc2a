"""The PBX contract: what a PBX (or the simulator) publishes and the commands it carries out.

Every PBX message is a flat JSON object with `type` and `v` beside its fields
(`encode`/`decode`). The full description for a PBX vendor, with subjects,
examples and sequence diagrams, is `contracts/PBX.md`.

- Events a PBX publishes on `voco.pbx.evt.<kind>.<key>` (JetStream stream VOCO_PBX):
  devices on `voco.pbx.evt.device.<extension>`, feature codes on
  `voco.pbx.evt.feature.<extension>`, calls on `voco.pbx.evt.call.<call_id>`.
- A call's CallOffered goes preferably as a request on `voco.pbx.offer` (answered once
  routing has stored the call), else on its call subject like the call's other events.
- Commands routing sends on `voco.pbx.cmd.<node>.<call_id>` (stream VOCO_PBX_CMD): the
  node is the one named in CallOffered, the PBX node that holds the suspended call.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.base import Command, Event, Message, event, registry
from contracts.presence import DeviceState, Extension, FeatureCode

PBX_STREAM = "VOCO_PBX"
PBX_SUBJECTS = ["voco.pbx.evt.>"]
PBX_COMMAND_STREAM = "VOCO_PBX_CMD"
PBX_COMMAND_SUBJECTS = ["voco.pbx.cmd.>"]
CALL_EVENTS = "voco.pbx.evt.call.>"
PARTITIONED_SUBJECTS = "voco.pbx.evt.*.*"
PARTITION_KEY = 2
"""VOCO_PBX stores `voco.pbx.evt.<kind>.<key>` as `voco.pbx.evt.<kind>.<key>.<partition>`,
the partition a hash of the key (the call id, the extension: runtime/partitions.py), so
routing's and presence's replicas share the calls and the users, each in order."""
STORED_CALL_EVENTS = "voco.pbx.evt.call.*"
STORED_DEVICE_EVENTS = "voco.pbx.evt.device.*"
STORED_FEATURE_CODES = "voco.pbx.evt.feature.*"
"""The stored subjects of each kind, less the partition token (its consumers add theirs)."""
OFFER_SUBJECT = "voco.pbx.offer"
"""CallOffered as a request: answered with a Reply once routing has stored the call, or
"no responders" at once when routing is not running (contracts/PBX.md, "Offering a call")."""

Token = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="letters, digits, _ and - (it is a NATS subject token: no dots); "
        "a PBX maps its SIP Call-ID to such a token, e.g. a hash",
    ),
]
CallId = Token
NodeId = Token
Party = Annotated[
    str,
    Field(
        pattern=r"^(\+?[0-9*#]{1,32}|anonymous)$",
        description="the caller: an extension, a phone number, or 'anonymous'",
    ),
]


def device_subject(extension: str) -> str:
    return f"voco.pbx.evt.device.{extension}"


def feature_code_subject(extension: str) -> str:
    return f"voco.pbx.evt.feature.{extension}"


def call_subject(call_id: str) -> str:
    """All events of one call share a subject, so JetStream keeps them in order."""
    return f"voco.pbx.evt.call.{call_id}"


def command_subject(node: str, call_id: str) -> str:
    return f"voco.pbx.cmd.{node}.{call_id}"


def node_commands(node: str) -> str:
    """What one PBX node subscribes to: the commands for the calls it holds."""
    return f"voco.pbx.cmd.{node}.>"


def command_consumer(node: str) -> str:
    """The durable JetStream consumer of one node's commands on VOCO_PBX_CMD: commands
    sent while the node's adapter is away wait there for it (contracts/PBX.md)."""
    return f"pbx-{node}"


# ---- device and feature-code events --------------------------------------------------


@event
class DeviceReported(Event):
    """A device of an extension registered, unregistered, went busy or idle."""

    type_name = "pbx.DeviceReported"
    extension: Extension
    device_id: str = Field(min_length=1, max_length=64)
    state: DeviceState
    at: AwareDatetime


@event
class FeatureCodeDialled(Event):
    """A user dialled a feature code (e.g. *72) on one of their devices."""

    type_name = "pbx.FeatureCodeDialled"
    extension: Extension
    code: FeatureCode
    device_id: str | None = None
    at: AwareDatetime


# ---- call events (PBX -> routing) -----------------------------------------------------


class CallEvent(Event):
    call_id: CallId
    at: AwareDatetime


@event
class CallOffered(CallEvent):
    """A call reached the PBX for an extension; the PBX holds it until routing commands."""

    type_name = "pbx.CallOffered"
    node: NodeId = Field(description="the PBX node holding the call: commands go to it")
    caller: Party
    callee: str = Field(
        min_length=1, max_length=32, description="the dialled extension (unknown: rejected)"
    )


@event
class LegRinging(CallEvent):
    """A leg of a RingTargets command is ringing (SIP 180/183)."""

    type_name = "pbx.LegRinging"
    leg_id: Token


@event
class LegAnswered(CallEvent):
    """A leg answered (SIP 200): the call is bridged to it."""

    type_name = "pbx.LegAnswered"
    leg_id: Token


class LegFailure(StrEnum):
    BUSY = "busy"  # 486/600
    DECLINED = "declined"  # 603, or the user pressed reject
    UNREACHABLE = "unreachable"  # 404/408/480/5xx before ringing, no contact
    NO_ANSWER = "no_answer"  # the PBX's own ring timer fired


@event
class LegFailed(CallEvent):
    """A leg ended without being answered."""

    type_name = "pbx.LegFailed"
    leg_id: Token
    reason: LegFailure


@event
class CallerHungUp(CallEvent):
    """The caller hung up before the call was answered (SIP CANCEL)."""

    type_name = "pbx.CallerHungUp"


@event
class CallEnded(CallEvent):
    """The call is over on the PBX (after an answer, a forward, voicemail or a reject)."""

    type_name = "pbx.CallEnded"


# ---- commands (routing -> PBX node) ---------------------------------------------------


class PbxCommand(Command):
    command_id: str = Field(
        min_length=1, max_length=64, description="unique; a PBX ignores an id it has carried out"
    )
    call_id: CallId


class Leg(BaseModel):
    """One target to ring: a registered device of an extension, or a phone number."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    leg_id: Token
    extension: str | None = Field(default=None, description="whose device or mobile this is")
    device_id: str | None = Field(default=None, description="the device id the PBX reported")
    number: str | None = Field(default=None, description="an external number (mobile leg)")


@event
class RingTargets(PbxCommand):
    """Ring these legs in parallel, all under one timer (one fork, one fr_inv_timer)."""

    type_name = "pbx.RingTargets"
    step: int = Field(ge=1, description="the ring step of the call; a later step supersedes")
    legs: list[Leg] = Field(min_length=1)
    timeout_seconds: int = Field(ge=1, le=120, description="the one ring timer for every leg")
    caller: str


class CancelReason(StrEnum):
    ANSWERED_ELSEWHERE = "answered_elsewhere"
    STEP_TIMEOUT = "step_timeout"
    CALLER_HUNG_UP = "caller_hung_up"


@event
class CancelLegs(PbxCommand):
    """Stop ringing these legs (a leg already ended is ignored)."""

    type_name = "pbx.CancelLegs"
    leg_ids: list[Token] = Field(min_length=1)
    reason: CancelReason


class ForwardKind(StrEnum):
    EXTENSION = "extension"
    EXTERNAL = "external"
    IVR = "ivr"
    RING_GROUP = "ring_group"


@event
class Forward(PbxCommand):
    """Hand the call to a destination the PBX reaches itself (a trunk number, an IVR)."""

    type_name = "pbx.Forward"
    kind: ForwardKind
    target: str = Field(min_length=1, max_length=64)


@event
class SendToVoicemail(PbxCommand):
    """Connect the caller to a mailbox, playing the named greeting."""

    type_name = "pbx.SendToVoicemail"
    mailbox: str = Field(min_length=1, max_length=32)
    greeting: str = Field(min_length=1, max_length=64)


class RejectReason(StrEnum):
    BUSY = "busy"  # 486 Busy Here
    NOT_FOUND = "not_found"  # 404 Not Found
    UNAVAILABLE = "unavailable"  # 480 Temporarily Unavailable
    NO_ANSWER = "no_answer"  # 480 after ringing: the call ends unanswered
    FORWARD_FAILED = "forward_failed"  # 482 Loop Detected / 483 Too Many Hops


@event
class Reject(PbxCommand):
    """Refuse the call with a reason (the SIP code is in the docs)."""

    type_name = "pbx.Reject"
    reason: RejectReason


COMMANDS: tuple[type[PbxCommand], ...] = (RingTargets, CancelLegs, Forward, SendToVoicemail, Reject)


def channel_for(model: type[Message]) -> tuple[str, str]:
    """Subjects for the generated AsyncAPI document (see contracts/asyncapi.py)."""
    if issubclass(model, PbxCommand):
        return "voco.pbx.cmd.{node}.{call_id}", "send"
    if issubclass(model, CallEvent):
        return "voco.pbx.evt.call.{call_id}", "receive"
    if model is FeatureCodeDialled:
        return "voco.pbx.evt.feature.{extension}", "receive"
    return "voco.pbx.evt.device.{extension}", "receive"


def request_channel_for(model: type[Message]) -> str | None:
    """The subject a model is also sent on as a request answered with a Reply, if any."""
    return OFFER_SUBJECT if model is CallOffered else None


_json = msgspec.json.Encoder()
_parse = msgspec.json.Decoder()
"""JSON text only (about ten times stdlib json's speed on the call path): the models
validate, so msgspec holds no second copy of the contract."""


def encode(message: Message) -> bytes:
    """PBX messages are flat JSON objects: `type` and `v` beside the model's fields."""
    body = {"type": message.type_name, "v": message.schema_version}
    body.update(message.model_dump(mode="json"))
    return _json.encode(body)


def decode(raw: bytes) -> Message:
    """Parse a PBX message; raises ValueError (or pydantic's ValidationError) on bad input."""
    body = _parse.decode(raw)
    if not isinstance(body, dict) or "type" not in body:
        raise ValueError("a PBX message must be a JSON object with a 'type'")
    type_name = body.pop("type")
    version = int(body.pop("v", 1))
    return registry.load(type_name, version, body)
