"""The PBX contract: what a PBX (or the simulator) publishes and the commands it carries out.

Subjects: events `voco.pbx.evt.<kind>.<extension>`; captured by the JetStream
stream VOCO_PBX. The routing service extends this module with call events and
routing commands.
"""

from __future__ import annotations

import json

from pydantic import AwareDatetime, Field

from contracts.base import Event, Message, event, registry
from contracts.presence import DeviceState, Extension, FeatureCode

PBX_STREAM = "VOCO_PBX"
PBX_SUBJECTS = ["voco.pbx.evt.>"]


def device_subject(extension: str) -> str:
    return f"voco.pbx.evt.device.{extension}"


def feature_code_subject(extension: str) -> str:
    return f"voco.pbx.evt.feature.{extension}"


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


def encode(message: Message) -> bytes:
    """PBX messages are flat JSON objects: `type` and `v` beside the model's fields."""
    body = {"type": message.type_name, "v": message.schema_version}
    body.update(message.model_dump(mode="json"))
    return json.dumps(body).encode()


def decode(raw: bytes) -> Message:
    """Parse a PBX message; raises ValueError (or pydantic's ValidationError) on bad input."""
    body = json.loads(raw)
    if not isinstance(body, dict) or "type" not in body:
        raise ValueError("a PBX message must be a JSON object with a 'type'")
    type_name = body.pop("type")
    version = int(body.pop("v", 1))
    return registry.load(type_name, version, body)
