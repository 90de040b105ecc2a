"""Per-stream order across replicas: the outbox leader's own commit does not leave before
an older commit of another replica whose notification has not arrived yet."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import nats
import pytest

from runtime.decider import CommandRunner
from runtime.eventstore import EventStore, create_pool
from runtime.outbox import OutboxRelay
from runtime.service import ensure_stream
from tests.runtime.counter import STREAM, SUBJECTS, Increment, counter, outgoing
from tests.runtime.test_runtime import stream_messages

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def test_the_leaders_commit_waits_for_an_older_one_of_another_replica(
    nats_url: str, database_url: str
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, STREAM, SUBJECTS)
    leader_pool, replica_pool = await create_pool(database_url), await create_pool(database_url)
    leader_store = EventStore(leader_pool, "test")
    await leader_store.setup()
    # The other replica's commit reaches the table but its NOTIFY has not reached the
    # leader (here: it never does; the leader's own poll is a minute away).
    replica_store = EventStore(replica_pool, "test")
    leader = OutboxRelay(leader_store, nc, js, idle_poll_seconds=60)
    leading = asyncio.create_task(leader.run())
    try:
        for _ in range(100):
            if leader._leading and leader._caught_up:
                break
            await asyncio.sleep(0.02)
        await CommandRunner(replica_store, counter, outgoing=outgoing).handle(
            "c1", Increment(by=1), at=NOW
        )
        await CommandRunner(leader_store, counter, outgoing=outgoing).handle(
            "c1", Increment(by=2), at=NOW
        )
        for _ in range(150):
            if (await js.stream_info(STREAM)).state.messages >= 2:
                break
            await asyncio.sleep(0.02)
        published = await stream_messages(js)
        assert [e.version for e in published] == [1, 2]
        assert [e.payload().total for e in published] == [1, 3]  # type: ignore[attr-defined]
    finally:
        leader.stop()
        await leading
        await leader_pool.close()
        await replica_pool.close()
        await nc.close()
