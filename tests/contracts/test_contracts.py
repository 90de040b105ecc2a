"""Contracts: stable wire names, upcasting, and generated documents that match the code."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from contracts.asyncapi import SCHEMAS_DIR, rendered
from contracts.base import Event, Registry
from contracts.envelope import Envelope
from contracts.presence import PresenceChanged, Status


@pytest.mark.parametrize("file_name", ["asyncapi.json", "json-schema.json"])
def test_generated_documents_match_the_committed_snapshot(file_name: str) -> None:
    committed = (SCHEMAS_DIR / file_name).read_text()
    assert rendered()[file_name] == committed, (
        f"contracts changed: run `./voco` then `python -m contracts.asyncapi --write` "
        f"and review the diff of contracts/schemas/{file_name}"
    )


def test_envelope_round_trips_to_the_typed_event() -> None:
    changed = PresenceChanged(extension="1001", status=Status.AWAY, channel="client", actor="me")
    envelope = Envelope.wrap(
        changed, id=uuid4(), stream="user:1001", version=3, at=datetime(2026, 11, 23, tzinfo=UTC)
    )
    assert Envelope.from_bytes(envelope.to_bytes()).payload() == changed
    assert b'"type":"PresenceChanged"' in envelope.to_bytes()


def test_an_old_event_is_upcast_through_the_chain_to_the_current_version() -> None:
    registry = Registry()

    class Renamed(Event):
        type_name = "test.Renamed"
        schema_version = 3
        full_name: str
        title: str

    registry.register(Renamed)
    registry.upcaster("test.Renamed", 1)(lambda d: {"full_name": d["name"]})
    registry.upcaster("test.Renamed", 2)(lambda d: {**d, "title": "none"})
    assert registry.load("test.Renamed", 1, {"name": "Ada"}) == Renamed(
        full_name="Ada", title="none"
    )


def test_an_event_newer_than_the_code_is_refused_with_advice() -> None:
    registry = Registry()

    class Plain(Event):
        type_name = "test.Plain"

    registry.register(Plain)
    with pytest.raises(ValueError, match="upgrade the service"):
        registry.load("test.Plain", 2, {})


def test_two_models_cannot_share_a_wire_name() -> None:
    registry = Registry()

    class One(Event):
        type_name = "test.Same"

    class Two(Event):
        type_name = "test.Same"

    registry.register(One)
    with pytest.raises(ValueError, match="already taken"):
        registry.register(Two)
