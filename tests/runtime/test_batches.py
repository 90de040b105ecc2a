"""Batches in one write (decide_batch, batch consumers) and the relay's in-memory path."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import nats
import pytest
from nats.aio.msg import Msg
from nats.js.api import PubAck, StreamConfig

from contracts.envelope import Envelope
from contracts.errors import CommandError
from runtime.consumer import CheckpointedConsumer, Delivery
from runtime.decider import CommandRunner, Job, StateCache
from runtime.eventstore import (
    Checkpoint,
    Conn,
    EventStore,
    Queued,
    VersionConflict,
    create_pool,
)
from runtime.outbox import MIN_BATCH, OutboxRelay, subject_matches
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


async def test_a_refused_job_decides_nothing_and_says_why_while_the_others_are_written(
    store: EventStore,
) -> None:
    runner = CommandRunner(store, counter, outgoing=outgoing, cache=StateCache())
    jobs = [
        Job("c1", Increment(by=1), at=NOW),
        Job("c1", Increment(by=5, limit=3), at=NOW),  # past its limit: refused
        Job("c1", Increment(by=1), at=NOW),  # decided on the state the first job left
    ]
    async with store.pool.acquire() as conn:
        with pytest.raises(CommandError):
            await runner.decide_batch(conn, jobs)  # by default one refusal fails the batch
        assert await totals(store, "c1") == []
        batch = await runner.decide_batch(conn, jobs, collect_refusals=True)
    await batch.committed()
    assert [d.refused is None for d in batch.decided] == [True, False, True]
    assert await totals(store, "c1") == [1, 2]


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
    relay = OutboxRelay(store, nc, js, idle_poll_seconds=60)  # no poll during the test
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
    relay = OutboxRelay(store, nc, js, idle_poll_seconds=0.05, delete_interval_seconds=0.6)
    task = asyncio.create_task(relay.run())
    try:
        await until_caught_up(relay)
        for _ in range(3):
            await runner.handle("scanned", Increment(by=1), at=NOW)
        await asyncio.sleep(1.0)  # many scans while the rows are still in the table
        assert len(seen) == 3
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await subscription.unsubscribe()
        await nc.close()


class CountingRelay(OutboxRelay):
    """Counts the atomic batches it sends."""

    batches: list[int]

    async def _publish_batch(self, part: Sequence[Queued]) -> asyncio.Future[PubAck]:
        self.batches = [*getattr(self, "batches", []), len(part)]
        return await super()._publish_batch(part)


async def commit_together(runner: CommandRunner[Increment, int], jobs: list[Job[Increment]]):  # type: ignore[no-untyped-def]
    """Jobs written in one transaction; the result is not yet reported as committed."""
    async with runner.store.pool.acquire() as conn, conn.transaction():
        return await runner.decide_batch(conn, jobs)


async def until_caught_up(relay: OutboxRelay) -> None:
    """Until rows handed over leave from memory (a fixed sleep was too short under load)."""
    for _ in range(500):
        if relay.caught_up:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the relay never caught up")


async def outbox_drained(store: EventStore) -> None:
    for _ in range(200):
        async with store.pool.acquire() as conn:
            if await conn.fetchval(f"SELECT count(*) FROM {store.s}.outbox") == 0:
                return
        await asyncio.sleep(0.05)
    pytest.fail("acked rows were not deleted from the outbox")


@pytest.mark.parametrize("allow_atomic", [True, False])
async def test_rows_committed_together_leave_in_atomic_batches_in_order(
    store: EventStore, nats_url: str, allow_atomic: bool
) -> None:
    """2,500 rows of one commit: batches of 1,000, 1,000 and 500, stored in commit order.
    A stream that refuses atomic batches gets them one by one, none lost."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=SUBJECTS, allow_atomic=allow_atomic))
    runner = CommandRunner(store, counter, outgoing=outgoing)
    relay = CountingRelay(store, nc, js, idle_poll_seconds=0.2, batched_subjects=SUBJECTS)
    task = asyncio.create_task(relay.run())
    try:
        await until_caught_up(relay)
        batch = await commit_together(
            runner, [Job("c1", Increment(by=1), at=NOW) for _ in range(2500)]
        )
        await batch.committed()
        assert await published_totals(js, 2500) == list(range(1, 2501))
        await outbox_drained(store)
        if allow_atomic:
            assert relay.batches == [1000, 1000, 500]
        else:  # refused: batches sent before the refusal was seen are sent one by one too
            assert relay.batches[0] == 1000
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await nc.close()


class SlowlyAnswered(OutboxRelay):
    """A scan starts while each batch's answer is still on its way (as on a busy machine,
    where the relay's poll came round while JetStream had not answered yet)."""

    async def _publish_batch(self, part: Sequence[Queued]) -> asyncio.Future[PubAck]:
        ack = await super()._publish_batch(part)
        self.wake()
        return ack

    async def _committed_batch(self, msg: Msg) -> None:
        await asyncio.sleep(0.3)
        await super()._committed_batch(msg)


async def test_a_scan_during_a_refused_batch_does_not_store_later_rows_first(
    store: EventStore, nats_url: str
) -> None:
    """The scan reads past rows sent from memory; when their batch is refused they go
    again from the table, and what the scan read must not be stored ahead of them."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=SUBJECTS, allow_atomic=False))
    runner = CommandRunner(store, counter, outgoing=outgoing)
    relay = SlowlyAnswered(store, nc, js, idle_poll_seconds=60, batched_subjects=SUBJECTS)
    task = asyncio.create_task(relay.run())
    try:
        await until_caught_up(relay)
        batch = await commit_together(
            runner, [Job("c1", Increment(by=1), at=NOW) for _ in range(2500)]
        )
        await batch.committed()
        assert await published_totals(js, 2500) == list(range(1, 2501))
        await outbox_drained(store)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await nc.close()


async def test_a_batch_repeating_a_stored_message_is_sent_again_one_by_one(
    store: EventStore, nats_url: str
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, STREAM, SUBJECTS, atomic_batches=True)
    runner = CommandRunner(store, counter, outgoing=outgoing)
    relay = OutboxRelay(store, nc, js, idle_poll_seconds=60, batched_subjects=SUBJECTS)
    task = asyncio.create_task(relay.run())
    try:
        await until_caught_up(relay)
        batch = await commit_together(
            runner, [Job("c1", Increment(by=1), at=NOW) for _ in range(MIN_BATCH)]
        )
        first = batch.queued[0].message  # as if a relay had sent it before it crashed
        await js.publish(first.subject, first.payload, headers={"Nats-Msg-Id": first.msg_id})
        await batch.committed()  # JetStream refuses the batch: the scan sends them one by one
        assert await published_totals(js, MIN_BATCH) == list(range(1, MIN_BATCH + 1))
        await outbox_drained(store)
        await asyncio.sleep(0.2)
        assert (await js.stream_info(STREAM)).state.messages == MIN_BATCH
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)
        await nc.close()


def test_subjects_match_stream_filters_as_nats_does() -> None:
    assert subject_matches("voco.evt.presence.>", "voco.evt.presence.1001.PresenceChanged")
    assert not subject_matches("voco.evt.presence.>", "voco.evt.presence")
    assert subject_matches("voco.*.x", "voco.a.x")
    assert not subject_matches("voco.*.x", "voco.a.b.x")
    assert not subject_matches("voco.evt.routing.>", "voco.evt.presence.1001.X")
