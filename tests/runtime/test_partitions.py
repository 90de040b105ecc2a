"""Partitioned consumers on real NATS and PostgreSQL: replicas share the partitions, a
replica that dies mid-burst hands its partitions over, and every message takes effect
once, each key's messages in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NatsClient

from runtime.consumer import Delivery
from runtime.eventstore import Conn, EventStore, create_pool
from runtime.leases import PartitionedConsumer
from runtime.partitions import PartitionScheme, ensure_partitioned, partition_of
from runtime.service import stream_config

pytestmark = pytest.mark.integration
STREAM = "TEST_PARTS"
SCHEME = PartitionScheme("test.parts.*", 1)
PARTITIONS = 4
KEYS = [f"k{n}" for n in range(12)]
APPLIED_SQL = """
CREATE TABLE IF NOT EXISTS {s}.applied (
    key text NOT NULL, n integer NOT NULL, replica text NOT NULL, id bigserial PRIMARY KEY
)
"""


@dataclass
class Replica:
    name: str
    pool: asyncpg.Pool
    nc: NatsClient
    consumer: PartitionedConsumer
    task: asyncio.Task[None]


def applier(replica: str) -> Callable[[Conn, Delivery], object]:
    async def apply(conn: Conn, delivery: Delivery) -> None:
        key = delivery.subject.split(".")[2]
        await conn.execute(
            'INSERT INTO "test".applied (key, n, replica) VALUES ($1, $2, $3)',
            key,
            int(delivery.data),
            replica,
        )

    return apply


@asynccontextmanager
async def replicas(nats_url: str, database_url: str) -> AsyncIterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        replica.consumer.stop()
    await asyncio.wait([r.task for r in started], timeout=10)
    for replica in started:
        await replica.pool.close()
        await replica.nc.close()


async def start_replica(
    name: str, nats_url: str, database_url: str, into: list[Replica]
) -> Replica:
    pool = await create_pool(database_url, max_size=PARTITIONS + 3)
    store = EventStore(pool, "test")
    await store.setup(APPLIED_SQL)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    count = await ensure_partitioned(js, stream_config(STREAM, ["test.parts.>"]), SCHEME)
    consumer = PartitionedConsumer(
        store,
        js,
        name="parts",
        stream=STREAM,
        scheme=SCHEME,
        subjects=["test.parts.*"],
        partitions=count,
        apply=applier(name),  # type: ignore[arg-type]
        batch=20,
        rebalance_seconds=0.1,
    )
    replica = Replica(name, pool, nc, consumer, asyncio.create_task(consumer.run()))
    into.append(replica)
    return replica


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not reached in time")


async def publish(nats_url: str, rounds: range, pause: float = 0.0) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for n in rounds:
        for key in KEYS:
            await js.publish(f"test.parts.{key}", str(n).encode())
        if pause:
            await asyncio.sleep(pause)
    await nc.close()


async def applied(database_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch('SELECT key, n, replica FROM "test".applied ORDER BY id')
    finally:
        await conn.close()


def assert_each_once_in_order(rows: list[asyncpg.Record], rounds: int) -> None:
    for key in KEYS:
        assert [r["n"] for r in rows if r["key"] == key] == list(range(rounds)), key


async def wait_for_all(database_url: str, count: int) -> list[asyncpg.Record]:
    for _ in range(500):
        rows = await applied(database_url)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.02)
    return await applied(database_url)


async def test_the_stream_stores_each_key_in_the_partition_its_hash_names(
    nats_url: str,
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    assert await ensure_partitioned(js, stream_config(STREAM, ["test.parts.>"]), SCHEME) == 4
    for key in KEYS:
        await js.publish(f"test.parts.{key}", b"0")
    await js.publish("test.parts.not.partitioned", b"0")  # not of the scheme: kept as sent
    stored = [(await js.get_msg(STREAM, seq)).subject for seq in range(1, len(KEYS) + 2)]
    assert stored[:-1] == [f"test.parts.{k}.{partition_of(k, 4)}" for k in KEYS]
    assert stored[-1] == "test.parts.not.partitioned"
    assert len({partition_of(k, 4) for k in KEYS}) == 4  # the test's keys use every one
    await nc.close()


async def test_two_replicas_each_take_a_fair_share_and_apply_each_message_once(
    nats_url: str, database_url: str
) -> None:
    async with replicas(nats_url, database_url) as started:
        a = await start_replica("a", nats_url, database_url, started)
        b = await start_replica("b", nats_url, database_url, started)
        await until(lambda: len(a.consumer.held) == 2 and len(b.consumer.held) == 2)
        assert sorted(a.consumer.held + b.consumer.held) == [0, 1, 2, 3]
        await publish(nats_url, range(20))
        rows = await wait_for_all(database_url, 20 * len(KEYS))
        assert_each_once_in_order(rows, 20)
        assert {r["replica"] for r in rows} == {"a", "b"}  # both applied, not one idle
        for row in rows:  # each key by the replica holding its partition
            holder = a if partition_of(row["key"], 4) in a.consumer.held else b
            assert row["replica"] == holder.name


async def test_a_replica_killed_mid_burst_hands_its_partitions_over_without_loss_or_repeat(
    nats_url: str, database_url: str
) -> None:
    async with replicas(nats_url, database_url) as started:
        a = await start_replica("a", nats_url, database_url, started)
        b = await start_replica("b", nats_url, database_url, started)
        await until(lambda: len(a.consumer.held) == 2 and len(b.consumer.held) == 2)
        burst = asyncio.create_task(publish(nats_url, range(60), pause=0.01))
        await asyncio.sleep(0.3)
        # As a kill -9 looks to PostgreSQL: every session of `b` ends at once, locks and
        # transactions with it; its loops are then stopped without a word to anyone.
        b.pool.terminate()
        b.task.cancel()
        await b.nc.close()
        started.remove(b)
        await until(lambda: len(a.consumer.held) == 4)
        await burst
        rows = await wait_for_all(database_url, 60 * len(KEYS))
        assert_each_once_in_order(rows, 60)
        assert {r["replica"] for r in rows} == {"a", "b"}


async def test_a_replica_joining_mid_burst_takes_half_and_order_holds_across_the_handover(
    nats_url: str, database_url: str
) -> None:
    async with replicas(nats_url, database_url) as started:
        a = await start_replica("a", nats_url, database_url, started)
        await until(lambda: len(a.consumer.held) == 4)
        burst = asyncio.create_task(publish(nats_url, range(60), pause=0.01))
        await asyncio.sleep(0.3)
        b = await start_replica("b", nats_url, database_url, started)
        await until(lambda: len(a.consumer.held) == 2 and len(b.consumer.held) == 2)
        await burst
        rows = await wait_for_all(database_url, 60 * len(KEYS))
        assert_each_once_in_order(rows, 60)
        handed = set(b.consumer.held)
        for key in KEYS:  # a key of a partition handed over: `a` first, then only `b`
            if partition_of(key, 4) in handed:
                by = [r["replica"] for r in rows if r["key"] == key]
                assert by == sorted(by), by
                assert by[-1] == "b"


async def test_a_stream_made_before_partitions_is_partitioned_in_place_keeping_its_messages(
    nats_url: str,
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(stream_config(STREAM, ["test.parts.>"]))  # as an older version made it
    await js.publish("test.parts.k0", b"old")
    assert await ensure_partitioned(js, stream_config(STREAM, ["test.parts.>"]), SCHEME) == 4
    await js.publish("test.parts.k0", b"new")
    assert (await js.get_msg(STREAM, 1)).subject == "test.parts.k0"
    assert (await js.get_msg(STREAM, 2)).subject == f"test.parts.k0.{partition_of('k0', 4)}"
    # A later start with another VOCO_PARTITIONS keeps the stream's count.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VOCO_PARTITIONS", "8")
        assert await ensure_partitioned(js, stream_config(STREAM, ["test.parts.>"]), SCHEME) == 4
    await nc.close()
