"""Batches in one write (decide_batch, batch consumers) and the relay's in-memory path."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import nats
import pytest
from nats.aio.msg import Msg

from contracts.envelope import Envelope
from runtime.consumer import CheckpointedConsumer, Delivery
from runtime.decider import CommandRunner, Job, StateCache
from runtime.eventstore import Checkpoint, Conn, EventStore, VersionConflict, create_pool
from runtime.outbox import OutboxRelay
from runtime.service import ensure_stream
from tests.runtime.counter import STREAM, SUBJECTS, Increment, counter, outgoing

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str):  # type: ignore[no-untyped-def]
    pool = await create_pool(database_url)
    store = EventStore(pool, "batches")
    await store.setup()
    yield store
    await pool.close()


async def totals(store: EventStore, stream: str) -> list[int]:
    return [e.payload().total for e in await store.load(stream)]  # type: ignore[attr-defined]


async def checkpoint_of(store: EventStore, consumer: str) -> int | None:
    async with store.pool.acquire() as conn:
        value = await conn.fetchval(
            f"SELECT sequence FROM {store.s}.checkpoints WHERE consumer = $1", consumer
        )
    return None if value is None else int(value)


async def test_a_batch_decides_each_stream_in_order_and_writes_once_with_its_checkpoint(
    store: EventStore,
) -> None:
    runner = CommandRunner(store, counter, outgoing=outgoing, cache=StateCache())
    jobs = [
        Job("c1", Increment(by=1), at=NOW),
        Job("c2", Increment(by=2), at=NOW),
        Job("c1", Increment(by=3), at=NOW),  # decided on the state the first c1 job left
    ]
    async with store.pool.acquire() as conn:
        batch = await runner.decide_batch(conn, jobs, checkpoint=Checkpoint("counting", 7))
    await batch.committed()
    assert [d.state for d in batch.decided] == [1, 2, 4]
    assert await totals(store, "c1") == [1, 4]
    assert await totals(store, "c2") == [2]
    assert await checkpoint_of(store, "counting") == 7
    positions = [q.position for q in batch.queued]
    assert positions == sorted(positions)
    assert len(positions) == 3
    assert runner.cache is not None
    assert runner.cache.get("c1") == (4, 2)


async def test_a_stream_taken_for_new_that_is_not_conflicts_and_is_read_next_time(
    store: EventStore,
) -> None:
    guessing = CommandRunner(store, counter, outgoing=outgoing, starts_stream=lambda _: True)
    await CommandRunner(store, counter, outgoing=outgoing).handle("c1", Increment(by=5), at=NOW)
    async with store.pool.acquire() as conn:
        with pytest.raises(VersionConflict):
            await guessing.decide_batch(conn, [Job("c1", Increment(by=1), at=NOW)])
        assert await totals(store, "c1") == [5]  # nothing of the failed write was stored
        batch = await guessing.decide_batch(conn, [Job("c1", Increment(by=1), at=NOW)])
    assert await totals(store, "c1") == [5, 6]
    assert batch.decided[0].state == 6


def counting_batches(
    runner: CommandRunner[Increment, int],
) -> Callable[[Conn, Sequence[Delivery], Checkpoint], Awaitable[Callable[[], Awaitable[None]]]]:
    """A batch consumer's apply: each delivery's data names the counter it increments."""

    async def apply(
        conn: Conn, deliveries: Sequence[Delivery], checkpoint: Checkpoint
    ) -> Callable[[], Awaitable[None]]:
        jobs = [Job(d.data.decode(), Increment(by=1), at=NOW) for d in deliveries]
        return (await runner.decide_batch(conn, jobs, checkpoint=checkpoint)).committed

    return apply


async def test_a_batch_consumer_applies_a_conflicting_message_again_instead_of_dead_lettering(
    store: EventStore,
) -> None:
    await CommandRunner(store, counter, outgoing=outgoing).handle("c1", Increment(by=5), at=NOW)
    runner = CommandRunner(store, counter, outgoing=outgoing, starts_stream=lambda _: True)
    consumer = CheckpointedConsumer(
        store,
        None,  # type: ignore[arg-type]  # apply_batch needs no JetStream
        name="counting",
        stream=STREAM,
        subjects=SUBJECTS,
        apply_batch=counting_batches(runner),
    )
    batch = [Delivery("test.counter.x", name, {}, n) for n, name in enumerate([b"c1", b"c2"], 1)]
    await consumer.apply_batch(batch)  # c1 is not new: the batch conflicts, then one by one
    await consumer.apply_batch(batch)  # redelivered: at or below the checkpoint, skipped
    assert await totals(store, "c1") == [5, 6]
    assert await totals(store, "c2") == [1]
    assert await checkpoint_of(store, "counting") == 2
    async with store.pool.acquire() as conn:
        assert await conn.fetchval(f"SELECT count(*) FROM {store.s}.dead_letters") == 0


async def published_totals(js, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    for _ in range(100):
        info = await js.stream_info(STREAM)
        if info.state.messages >= count:
            break
        await asyncio.sleep(0.05)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(STREAM, seq)
        found.append(Envelope.from_bytes(msg.data).payload().total)  # type: ignore[attr-defined]
    return found


async def test_the_relay_publishes_what_was_waiting_first_then_commits_from_memory_in_order(
    store: EventStore, nats_url: str
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, STREAM, SUBJECTS)
    runner = CommandRunner(store, counter, outgoing=outgoing)
    await runner.handle("c1", Increment(by=1), at=NOW)  # before any relay: only the scan sees it
    relay = OutboxRelay(store, js, idle_poll_seconds=60)  # no poll during the test
    task = asyncio.create_task(relay.run())
    try:
        assert await published_totals(js, 1) == [1]
        for _ in range(3):
            await runner.handle("c1", Increment(by=1), at=NOW)  # reported, never scanned
        assert await published_totals(js, 4) == [1, 2, 3, 4]
        for _ in range(100):
            async with store.pool.acquire() as conn:
                if await conn.fetchval(f"SELECT count(*) FROM {store.s}.outbox") == 0:
                    break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("acked rows were not deleted from the outbox")
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await nc.close()


async def test_a_lost_database_connection_dead_letters_nothing_and_the_batch_can_be_retried(
    store: EventStore,
) -> None:
    applied: list[int] = []
    failures = [ConnectionResetError("connection to Postgres lost") for _ in range(2)]

    async def apply(conn: Conn, delivery: Delivery) -> None:
        if failures:
            raise failures.pop()
        applied.append(delivery.sequence)

    consumer = CheckpointedConsumer(
        store,
        None,  # type: ignore[arg-type]  # apply_batch needs no JetStream
        name="flaky",
        stream=STREAM,
        subjects=SUBJECTS,
        apply=apply,
    )
    batch = [Delivery("test.counter.x", b"", {}, n) for n in (1, 2)]
    with pytest.raises(ConnectionResetError):
        await consumer.apply_batch(batch)  # as a batch, then alone: not bad input, raised
    assert await checkpoint_of(store, "flaky") is None
    await consumer.apply_batch(batch)  # the consumer's loop tries the same batch again
    assert applied == [1, 2]
    assert await checkpoint_of(store, "flaky") == 2
    async with store.pool.acquire() as conn:
        assert await conn.fetchval(f"SELECT count(*) FROM {store.s}.dead_letters") == 0


async def test_rows_published_from_memory_are_not_published_again_by_the_scan(
    store: EventStore, nats_url: str
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, STREAM, SUBJECTS)
    seen: list[bytes] = []

    async def received(msg: Msg) -> None:
        seen.append(msg.data)

    subscription = await nc.subscribe("test.counter.scanned", cb=received)
    runner = CommandRunner(store, counter, outgoing=outgoing)
    # Scans every 50 ms while acked rows wait 600 ms to be deleted.
    relay = OutboxRelay(store, js, idle_poll_seconds=0.05, delete_interval_seconds=0.6)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.1)  # caught up
        for _ in range(3):
            await runner.handle("scanned", Increment(by=1), at=NOW)
        await asyncio.sleep(1.0)  # many scans while the rows are still in the table
        assert len(seen) == 3
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await subscription.unsubscribe()
        await nc.close()
