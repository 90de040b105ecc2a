"""The envelope every event travels in, on the wire and in the store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import Message, registry


class Metadata(BaseModel):
    """Who caused an event, through which channel, and the command behind it."""

    model_config = ConfigDict(frozen=True, extra="allow")

    actor: str | None = None
    channel: str | None = None
    causation_id: str | None = None
    correlation_id: str | None = None


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    id: UUID
    type: str
    schema_version: int = Field(alias="v")
    stream: str
    version: int
    at: datetime
    data: dict[str, Any]
    meta: Metadata = Metadata()

    def payload(self) -> Message:
        """The typed event, upcast to the version this code knows."""
        return registry.load(self.type, self.schema_version, self.data)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate(json.loads(raw))

    @classmethod
    def wrap(
        cls,
        event: Message,
        *,
        id: UUID,
        stream: str,
        version: int,
        at: datetime,
        meta: Metadata | None = None,
    ) -> Envelope:
        return cls(
            id=id,
            type=event.type_name,
            v=event.schema_version,
            stream=stream,
            version=version,
            at=at,
            data=event.model_dump(mode="json"),
            meta=meta or Metadata(),
        )
