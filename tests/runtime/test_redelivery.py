"""A redelivery below the highest sequence applied (F9): applied once, never skipped.

A message pulled by a process that stopped (or died) before applying it comes back after
later messages have been applied by the next leader; the checkpoint must know it is not
applied yet. Real nats-server and PostgreSQL; the pure checkpoint arithmetic is in
test_checkpoint.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from runtime import consumer as consumer_module
from runtime.consumer import ApplyBatch, CheckpointedConsumer, Delivery
from runtime.decider import CommandRunner, Job
from runtime.eventstore import Checkpoint, Conn, EventStore, create_pool
from runtime.service import ensure_stream
from tests.runtime.counter import STREAM, SUBJECTS, Increment, counter, outgoing

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DURABLE = "gap"


@pytest.fixture
async def store(database_url: str):  # type: ignore[no-untyped-def]
    pool = await create_pool(database_url)
    store = EventStore(pool, "test")
    await store.setup()
    await pool.execute("CREATE TABLE test.seen (payload text PRIMARY KEY)")
    yield store
    await pool.close()


@pytest.fixture
async def js(nats_url: str):  # type: ignore[no-untyped-def]
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, STREAM, SUBJECTS)
    yield js
    await nc.close()


def insert_once(store: EventStore) -> Callable[[Conn, Delivery], Awaitable[None]]:
    async def apply(conn: Conn, delivery: Delivery) -> None:
        # No ON CONFLICT: applying a message twice raises (and dead-letters it).
        await conn.execute("INSERT INTO test.seen VALUES ($1)", delivery.data.decode())

    return apply


def increment_in_one_statement(store: EventStore) -> ApplyBatch:
    """Routing's way: the batch's events and the checkpoint in one statement."""
    runner = CommandRunner(store, counter, outgoing=outgoing)

    async def apply(
        conn: Conn, deliveries: Sequence[Delivery], checkpoint: Checkpoint
    ) -> Callable[[], Awaitable[None]]:
        await conn.executemany(
            "INSERT INTO test.seen VALUES ($1)", [(d.data.decode(),) for d in deliveries]
        )
        jobs = [Job("c", Increment(by=1), at=NOW) for _ in deliveries]
        return (await runner.decide_batch(conn, jobs, checkpoint=checkpoint)).committed

    return apply


async def seen(store: EventStore) -> list[str]:
    rows = await store.pool.fetch("SELECT payload FROM test.seen ORDER BY payload")
    return [row["payload"] for row in rows]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> bool:
    for _ in range(int(within / 0.05)):
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


def consumer_config() -> ConsumerConfig:
    """The durable as CheckpointedConsumer makes it (so its own add_consumer changes nothing)."""
    return ConsumerConfig(
        durable_name=DURABLE,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        filter_subject=SUBJECTS[0],
        ack_wait=30,
        max_ack_pending=10_000,
    )


@pytest.mark.parametrize("mode", ["message by message", "batch in one statement"])
async def test_a_message_redelivered_after_later_ones_were_applied_is_applied_once(
    store: EventStore, js: JetStreamContext, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer_module, "_ACK_FLOOR_EVERY", 0.0)
    for n in (1, 2, 3):
        await js.publish("test.counter.x", f"m{n}".encode())
    await js.add_consumer(STREAM, consumer_config())
    # Given a process that pulled m1 (stream sequence 1) and stopped before applying it,
    stopping = await js.pull_subscribe_bind(DURABLE, stream=STREAM)
    (held,) = await stopping.fetch(1, timeout=2)
    assert held.metadata.sequence.stream == 1
    # and the next leader, which gets m2 and m3 (m1 is still out with the first process)
    if mode == "message by message":
        leader = CheckpointedConsumer(
            store, js, name=DURABLE, stream=STREAM, subjects=SUBJECTS, apply=insert_once(store)
        )
    else:
        leader = CheckpointedConsumer(
            store,
            js,
            name=DURABLE,
            stream=STREAM,
            subjects=SUBJECTS,
            apply_batch=increment_in_one_statement(store),
        )
    running = asyncio.create_task(leader.run())
    try:
        assert await eventually(lambda: _equals(seen(store), ["m2", "m3"]))
        # When m1 comes back (its ack wait ran out; here the stopped process gives it back)
        await held.nak()
        # Then it is applied, once: it is below the highest sequence applied, not applied.
        assert await eventually(lambda: _equals(seen(store), ["m1", "m2", "m3"])), await seen(store)
        # And a later message moves the floor up to JetStream's ack floor: only what was
        # applied since is kept above it.
        await asyncio.sleep(0.3)  # the acks of m1-m3 reach the server
        await js.publish("test.counter.x", b"m4")
        assert await eventually(lambda: _equals(seen(store), ["m1", "m2", "m3", "m4"]))
    finally:
        leader.stop()
        await running
    row = await store.pool.fetchrow(
        "SELECT sequence, floor_sequence, applied_above FROM test.checkpoints WHERE consumer = $1",
        DURABLE,
    )
    assert row is not None
    assert row["sequence"] == 4
    assert row["floor_sequence"] >= 3
    assert set(row["applied_above"]) <= {4}
    assert await store.pool.fetchval("SELECT count(*) FROM test.dead_letters") == 0
    if mode == "batch in one statement":
        total = await store.pool.fetchval("SELECT max(version) FROM test.events WHERE stream = 'c'")
        assert total == 4  # one increment per message


async def test_a_delivery_the_checkpoint_has_changes_nothing(store: EventStore) -> None:
    consumer = CheckpointedConsumer(
        store,
        None,  # type: ignore[arg-type]  # apply_batch needs no JetStream
        name="again",
        stream=STREAM,
        subjects=SUBJECTS,
        apply=insert_once(store),
    )
    first = [Delivery("test.counter.x", f"m{n}".encode(), {}, n) for n in (2, 5)]
    await consumer.apply_batch(first)
    # Given sequences 2 and 5 applied (1, 3 and 4 not), when 5, 2 and 3 come again,
    await consumer.apply_batch(
        [Delivery("test.counter.x", f"m{n}".encode(), {}, n) for n in (2, 3, 5)]
    )
    # then only 3 is applied: the others change nothing (a second insert would fail).
    assert await seen(store) == ["m2", "m3", "m5"]
    assert await store.pool.fetchval("SELECT count(*) FROM test.dead_letters") == 0


async def test_a_checkpoint_from_before_the_floor_counts_everything_up_to_its_sequence(
    store: EventStore,
) -> None:
    await store.pool.execute("INSERT INTO test.checkpoints (consumer, sequence) VALUES ('old', 7)")
    consumer = CheckpointedConsumer(
        store,
        None,  # type: ignore[arg-type]  # apply_batch needs no JetStream
        name="old",
        stream=STREAM,
        subjects=SUBJECTS,
        apply=insert_once(store),
    )
    await consumer.apply_batch(
        [Delivery("test.counter.x", f"m{n}".encode(), {}, n) for n in (6, 7, 8)]
    )
    assert await seen(store) == ["m8"]


async def _equals(found: Awaitable[list[str]], expected: list[str]) -> bool:
    return await found == expected
