"""A tiny decider for testing the runtime: a counter that refuses to pass a limit."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.base import Command, Event, event
from contracts.envelope import Envelope
from contracts.errors import CommandError
from runtime.decider import Decider
from runtime.eventstore import Outgoing

STREAM = "TEST_COUNTER"
SUBJECTS = ["test.counter.>"]


@event
class Incremented(Event):
    type_name = "test.Incremented"
    by: int
    total: int


@event
class Increment(Command):
    type_name = "test.Increment"
    by: int = 1
    limit: int = 1_000_000


def decide(command: Increment, total: int) -> Sequence[Event]:
    if total + command.by > command.limit:
        raise CommandError(f"total would pass {command.limit}", field="by")
    return [Incremented(by=command.by, total=total + command.by)]


def evolve(total: int, event_: Event) -> int:
    assert isinstance(event_, Incremented)
    return event_.total


counter = Decider[Increment, int](initial_state=0, decide=decide, evolve=evolve)


def outgoing(envelopes: Sequence[Envelope]) -> list[Outgoing]:
    return [
        Outgoing(subject=f"test.counter.{e.stream}", payload=e.to_bytes(), msg_id=str(e.id))
        for e in envelopes
    ]
