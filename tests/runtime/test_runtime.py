"""The event-sourcing runtime on a real nats-server and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import nats
import pytest

from contracts.envelope import Envelope, Metadata
from runtime.consumer import Delivery, to_delivery
from runtime.decider import CommandRunner
from runtime.eventstore import Conn, EventStore, create_pool
from runtime.outbox import OutboxRelay
from runtime.service import ensure_stream
from tests.runtime.counter import STREAM, SUBJECTS, Increment, counter, outgoing

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str):  # type: ignore[no-untyped-def]
    pool = await create_pool(database_url)
    store = EventStore(pool, "test")
    await store.setup()
    yield store
    await pool.close()


@pytest.fixture
async def nc(nats_url: str):  # type: ignore[no-untyped-def]
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


@pytest.fixture
async def js(nc):  # type: ignore[no-untyped-def]
    js = nc.jetstream()
    await ensure_stream(js, STREAM, SUBJECTS)
    return js


async def stream_messages(js, subject: str = "test.counter.>") -> list[Envelope]:  # type: ignore[no-untyped-def]
    info = await js.stream_info(STREAM)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(STREAM, seq)
        found.append(Envelope.from_bytes(msg.data))
    return found


async def test_append_then_relay_publishes_each_event_once(store, nc, js) -> None:  # type: ignore[no-untyped-def]
    runner = CommandRunner(store, counter, outgoing=outgoing)
    await runner.handle("c1", Increment(by=2), at=NOW)
    await runner.handle("c1", Increment(by=3), at=NOW)
    relay = OutboxRelay(store, nc, js)
    assert await relay.publish_pending() == 2
    assert await relay.publish_pending() == 0
    published = await stream_messages(js)
    assert [e.payload().total for e in published] == [2, 5]  # type: ignore[attr-defined]


async def test_a_replica_that_does_not_lead_has_its_commits_published_at_once(
    store, nc, js, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    """The leader hears of the other replica's commit (NOTIFY), not from its minute poll."""
    leader = OutboxRelay(store, nc, js, idle_poll_seconds=60)
    leading = asyncio.create_task(leader.run())
    pool = await create_pool(database_url)
    replica_store = EventStore(pool, "test")
    replica = OutboxRelay(replica_store, nc, js, idle_poll_seconds=60)  # never runs: stands by
    try:
        await asyncio.sleep(0.2)  # the leader has its lock and listens
        await CommandRunner(replica_store, counter, outgoing=outgoing).handle(
            "c1", Increment(by=2), at=NOW
        )
        for _ in range(100):
            if (await js.stream_info(STREAM)).state.messages == 1:
                break
            await asyncio.sleep(0.02)
        assert [e.payload().total for e in await stream_messages(js)] == [2]  # type: ignore[attr-defined]
        assert replica.channel == leader.channel
    finally:
        leader.stop()
        await leading
        await pool.close()


async def test_crash_between_commit_and_publish_loses_nothing_and_duplicates_nothing(
    store,
    nc,
    js,  # type: ignore[no-untyped-def]
) -> None:
    runner = CommandRunner(store, counter, outgoing=outgoing)
    await runner.handle("c1", Increment(by=1), at=NOW)
    # First relay publishes but "crashes" before deleting its rows.
    rows = await store.pool.fetch("SELECT msg_id, subject, payload FROM test.outbox")
    for row in rows:
        await js.publish(
            row["subject"], bytes(row["payload"]), headers={"Nats-Msg-Id": row["msg_id"]}
        )
    # After restart a new relay publishes the same rows again.
    assert await OutboxRelay(store, nc, js).publish_pending() == 1
    assert len(await stream_messages(js)) == 1
    assert await store.pool.fetchval("SELECT count(*) FROM test.outbox") == 0


async def test_concurrent_writers_one_wins_the_other_retries_to_a_correct_total(store) -> None:  # type: ignore[no-untyped-def]
    runner = CommandRunner(store, counter, outgoing=outgoing)
    await asyncio.gather(*(runner.handle("c1", Increment(by=1), at=NOW) for _ in range(10)))
    state, version = await runner.state_of("c1")
    assert (state, version) == (10, 10)
    totals = await store.pool.fetch(
        "SELECT (data->>'total')::int AS t FROM test.events ORDER BY version"
    )
    assert [r["t"] for r in totals] == list(range(1, 11))


async def test_a_rejected_command_stores_nothing(store) -> None:  # type: ignore[no-untyped-def]
    runner = CommandRunner(store, counter, outgoing=outgoing)
    await runner.handle("c1", Increment(by=1, limit=1), at=NOW)
    with pytest.raises(Exception, match="would pass 1"):
        await runner.handle("c1", Increment(by=1, limit=1), at=NOW)
    assert await store.pool.fetchval("SELECT count(*) FROM test.events") == 1
    assert await store.pool.fetchval("SELECT count(*) FROM test.outbox") == 1


async def test_relay_publishes_a_row_whose_transaction_committed_late(store, nc, js) -> None:  # type: ignore[no-untyped-def]
    runner = CommandRunner(store, counter, outgoing=outgoing)
    late: Conn = await asyncpg.connect(store.pool._connect_args[0])  # type: ignore[attr-defined]
    tx = late.transaction()
    await tx.start()
    # The late transaction takes the lower position first ...
    await late.execute(
        "INSERT INTO test.outbox (msg_id, subject, headers, payload) "
        "VALUES ('late', 'test.counter.late', '{}', 'late')"
    )
    # ... a later one commits and is relayed while the first is still open.
    await runner.handle("c1", Increment(by=1), at=NOW)
    relay = OutboxRelay(store, nc, js)
    assert await relay.publish_pending() == 1
    await tx.commit()
    await late.close()
    assert await relay.publish_pending() == 1
    info = await js.stream_info(STREAM)
    assert info.state.messages == 2


async def test_consumer_applies_redelivered_messages_once(store, nc, js) -> None:  # type: ignore[no-untyped-def]
    from runtime.consumer import CheckpointedConsumer

    await store.pool.execute("CREATE TABLE test.seen (id uuid PRIMARY KEY, total int)")

    async def apply(conn: Conn, delivery: Delivery) -> None:
        envelope = Envelope.from_bytes(delivery.data)
        # No ON CONFLICT: applying twice would raise and fail the test.
        await conn.execute(
            "INSERT INTO test.seen VALUES ($1, $2)", envelope.id, envelope.data["total"]
        )

    runner = CommandRunner(store, counter, outgoing=outgoing)
    for _ in range(3):
        await runner.handle("c1", Increment(by=1), at=NOW)
    await OutboxRelay(store, nc, js).publish_pending()
    consumer = CheckpointedConsumer(
        store, js, name="seen", stream=STREAM, subjects=SUBJECTS, apply=apply
    )
    await js.add_consumer(STREAM, durable_name="seen", ack_policy="explicit")
    psub = await js.pull_subscribe_bind("seen", stream=STREAM)
    msgs = await psub.fetch(3, timeout=2)
    await consumer.apply_batch([to_delivery(m) for m in msgs])
    # The process dies before it acks: JetStream delivers all three again.
    for m in msgs:
        await m.nak()
    redelivered = await psub.fetch(3, timeout=2)
    assert [m.metadata.num_delivered for m in redelivered] == [2, 2, 2]
    await consumer.handle_batch(redelivered)
    assert await store.pool.fetchval("SELECT count(*) FROM test.seen") == 3
    assert await store.pool.fetchval("SELECT count(*) FROM test.dead_letters") == 0


async def test_consumer_dead_letters_a_bad_message_and_goes_on(store, nc, js) -> None:  # type: ignore[no-untyped-def]
    from runtime.consumer import CheckpointedConsumer

    applied: list[int] = []

    async def apply(conn: Conn, delivery: Delivery) -> None:
        envelope = Envelope.from_bytes(delivery.data)  # raises on garbage
        applied.append(envelope.data["total"])

    runner = CommandRunner(store, counter, outgoing=outgoing)
    await runner.handle("c1", Increment(by=1), at=NOW)
    await OutboxRelay(store, nc, js).publish_pending()
    await js.publish("test.counter.bad", b"not json")
    await runner.handle("c1", Increment(by=1), at=NOW)
    await OutboxRelay(store, nc, js).publish_pending()
    consumer = CheckpointedConsumer(
        store, js, name="bad", stream=STREAM, subjects=SUBJECTS, apply=apply
    )
    task = asyncio.create_task(consumer.run())
    for _ in range(100):
        if await store.pool.fetchval("SELECT sequence FROM test.checkpoints") == 3:
            break
        await asyncio.sleep(0.05)
    consumer.stop()
    await task
    assert applied[-2:] == [1, 2]
    reasons = await store.pool.fetch("SELECT subject FROM test.dead_letters")
    assert [r["subject"] for r in reasons] == ["test.counter.bad"]


def test_metadata_round_trips() -> None:
    meta = Metadata(actor="1001", channel="client")
    assert Metadata.model_validate(meta.model_dump()) == meta
