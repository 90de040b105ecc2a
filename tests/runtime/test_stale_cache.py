"""Two replicas, each with its state cache: a command the current state allows is not
refused because this replica's cached state is older than another replica's append."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from contracts.base import Command, Event, event
from contracts.errors import CommandError
from runtime.decider import CommandRunner, Decider, StateCache
from runtime.eventstore import EventStore, create_pool
from tests.runtime.counter import Incremented, outgoing

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@event
class Change(Command):
    type_name = "test.Change"
    by: int


def decide(command: Change, total: int) -> Sequence[Event]:
    if total + command.by < 0:
        raise CommandError(f"only {total} to take from", field="by")
    return [Incremented(by=command.by, total=total + command.by)]


def evolve(total: int, event_: Event) -> int:
    assert isinstance(event_, Incremented)
    return event_.total


balance = Decider[Change, int](initial_state=0, decide=decide, evolve=evolve)


async def test_a_refusal_on_a_cached_state_is_decided_again_on_the_stored_one(
    database_url: str,
) -> None:
    pool = await create_pool(database_url)
    try:
        store = EventStore(pool, "test")
        await store.setup()
        one = CommandRunner(store, balance, outgoing=outgoing, cache=StateCache())
        other = CommandRunner(store, balance, outgoing=outgoing, cache=StateCache())
        await one.handle("b1", Change(by=1), at=NOW)
        await other.handle("b1", Change(by=1), at=NOW)  # `one` has cached total 1
        await other.handle("b1", Change(by=5), at=NOW)  # stored total now 7
        decided = await one.handle("b1", Change(by=-6), at=NOW)
        assert decided.state == 1
        with pytest.raises(CommandError, match="only 1 to take from"):
            await one.handle("b1", Change(by=-6), at=NOW)
    finally:
        await pool.close()
