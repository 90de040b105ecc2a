"""Per-stream order across replicas: the outbox leader's own commit does not leave before
an older commit of another replica whose notification has not arrived yet; the write
itself says which older rows were still unsent, so the check costs no round trip."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import uuid4

import nats
import pytest

from contracts.envelope import Metadata
from runtime.decider import CommandRunner
from runtime.eventstore import ORDER_CHECK_LIMIT, EventStore, Queued, create_pool, wrap
from runtime.outbox import OutboxRelay
from runtime.service import ensure_stream
from tests.runtime.counter import STREAM, SUBJECTS, Increment, Incremented, counter, outgoing
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
        await until_caught_up(leader)
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


async def until_caught_up(relay: OutboxRelay) -> None:
    for _ in range(500):
        if relay.caught_up:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the relay never caught up")


async def written(store: EventStore, stream: str, partition: int = 0) -> Queued:
    envelopes = wrap(
        stream, 0, [Incremented(by=1, total=1)], ids=[uuid4()], at=NOW, meta=Metadata()
    )
    async with store.pool.acquire() as conn:
        [queued] = await store.write(conn, envelopes, outgoing(envelopes), partitions=[partition])
    return queued


async def test_a_write_names_the_older_rows_of_its_partition_the_relay_has_not_sent(
    database_url: str,
) -> None:
    pool = await create_pool(database_url)
    store = EventStore(pool, "test")
    await store.setup()
    try:
        first = await written(store, "c1")
        assert first.waits_for == ()
        second = await written(store, "c2")
        assert second.waits_for == (first.position,)
        assert (await written(store, "c3", partition=1)).waits_for == ()
        store.sent_positions = lambda: {first.position}
        assert (await written(store, "c4")).waits_for == (second.position,)
        for n in range(ORDER_CHECK_LIMIT):
            await written(store, f"d{n}")
        assert (await written(store, "e")).waits_for is None  # too many: the relay asks
    finally:
        await pool.close()


class CheckingRelay(OutboxRelay):
    """Counts the order checks that read the table."""

    table_checks = 0

    async def _older_rows_in_table(self, queued: Sequence[Queued]) -> bool:
        self.table_checks += 1
        return await super()._older_rows_in_table(queued)


async def test_the_leaders_own_commits_leave_in_order_without_reading_the_table(
    nats_url: str, database_url: str
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, STREAM, SUBJECTS)
    pool = await create_pool(database_url)
    store = EventStore(pool, "test")
    await store.setup()
    relay = CheckingRelay(store, nc, js, idle_poll_seconds=60)
    leading = asyncio.create_task(relay.run())
    try:
        await until_caught_up(relay)
        runner = CommandRunner(store, counter, outgoing=outgoing)
        for by in (1, 2, 3):
            await runner.handle("c1", Increment(by=by), at=NOW)
        for _ in range(150):
            if (await js.stream_info(STREAM)).state.messages >= 3:
                break
            await asyncio.sleep(0.02)
        published = await stream_messages(js)
        assert [e.payload().total for e in published] == [1, 3, 6]  # type: ignore[attr-defined]
        assert relay.table_checks == 0
    finally:
        relay.stop()
        await leading
        await pool.close()
        await nc.close()
