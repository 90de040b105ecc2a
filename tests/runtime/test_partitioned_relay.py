"""The outbox relayed per partition (runtime/relays.py) on real NATS and PostgreSQL: no row
is skipped, however late it commits, each stream's rows leave in order, replicas share
the partitions, and an outbox from before partitions is upgraded in place."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import nats
import pytest
from nats.js import JetStreamContext

from contracts.envelope import Metadata
from runtime.decider import CommandRunner
from runtime.eventstore import EventStore, create_pool, wrap
from runtime.partitions import partition_of
from runtime.relays import PartitionedRelay
from runtime.service import ensure_stream
from tests.runtime.counter import STREAM, SUBJECTS, Increment, Incremented, counter, outgoing
from tests.runtime.test_runtime import stream_messages

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PARTITIONS = 2


def streams_in(partition: int, count: int) -> list[str]:
    found = [f"c:{n}" for n in range(100) if partition_of(str(n), PARTITIONS) == partition]
    return found[:count]


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not reached in time")


async def open_store(database_url: str) -> EventStore:
    store = EventStore(await create_pool(database_url), "test")
    await store.setup()
    store.partitions = PARTITIONS
    return store


async def test_a_row_committed_late_is_relayed_while_its_partition_and_others_go_on(
    nats_url: str, database_url: str
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, STREAM, SUBJECTS)
    store = await open_store(database_url)
    relay = PartitionedRelay(store, nc, js)
    await relay.take(0)
    await relay.take(1)
    late_stream = streams_in(0, 1)[0]
    runner = CommandRunner(store, counter, outgoing=outgoing)
    try:
        # A transaction takes its outbox position first and commits last.
        async with store.pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            late = wrap(
                late_stream, 0, [Incremented(by=1, total=1)], ids=[uuid4()], at=NOW, meta=Metadata()
            )
            queued = await store.write(
                conn, late, outgoing(late), partitions=[store.partition_of(late_stream)]
            )
            for stream in streams_in(0, 2)[1:] + streams_in(1, 2):
                await runner.handle(stream, Increment(by=1), at=NOW)
            await until(lambda: _stored(js, 3))
            await transaction.commit()
        await store.committed(queued)
        await until(lambda: _stored(js, 4))
        published = await stream_messages(js)
        assert late_stream in [e.stream for e in published]

        async def drained() -> bool:  # rows are deleted after their acks, in batches
            return bool(await store.pool.fetchval('SELECT count(*) FROM "test".outbox') == 0)

        await until(drained)
    finally:
        relay.stop()
        await relay.run()
        await store.pool.close()
        await nc.close()


async def _stored(js: JetStreamContext, count: int) -> bool:
    info = await js.stream_info(STREAM)
    return bool(info.state.messages >= count)


async def test_two_replicas_each_relay_their_partitions_and_each_stream_leaves_in_order(
    nats_url: str, database_url: str
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, STREAM, SUBJECTS)
    a, b = await open_store(database_url), await open_store(database_url)
    relay_a, relay_b = PartitionedRelay(a, nc, js), PartitionedRelay(b, nc, js)
    await relay_a.take(0)
    await relay_b.take(1)
    runners = [CommandRunner(s, counter, outgoing=outgoing) for s in (a, b)]
    streams = streams_in(0, 3) + streams_in(1, 3)
    try:
        # Both replicas write every stream, so each commits rows of the other's partition.
        for n in range(10):
            for stream in streams:
                await runners[n % 2].handle(stream, Increment(by=1), at=NOW)
        await until(lambda: _stored(js, 10 * len(streams)))
        published = await stream_messages(js)
        assert len(published) == 10 * len(streams)
        for stream in streams:
            assert [e.version for e in published if e.stream == stream] == list(range(1, 11))
    finally:
        for relay in (relay_a, relay_b):
            relay.stop()
            await relay.run()
        await a.pool.close()
        await b.pool.close()
        await nc.close()


async def test_an_outbox_from_before_partitions_is_upgraded_in_place_keeping_its_rows(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "CREATE SCHEMA test; CREATE TABLE test.outbox (position bigserial PRIMARY KEY, "
            "msg_id text NOT NULL, subject text NOT NULL, headers jsonb NOT NULL, "
            "payload bytea NOT NULL)"
        )
        await conn.execute(
            "INSERT INTO test.outbox (msg_id, subject, headers, payload) "
            "VALUES ('m1', 'test.counter.c', '{}', 'x')"
        )
    finally:
        await conn.close()
    store = EventStore(await create_pool(database_url), "test")
    try:
        await store.setup()  # the schema SQL launcher.migrate runs
        rows = await store.pool.fetch('SELECT msg_id, partition FROM "test".outbox')
        assert [(r["msg_id"], r["partition"]) for r in rows] == [("m1", 0)]
    finally:
        await store.pool.close()
