"""CheckpointedConsumer with partition_by: partitions concurrently, each in order, once."""

from __future__ import annotations

import asyncio

import pytest

from runtime.consumer import CheckpointedConsumer, Delivery
from runtime.eventstore import Conn, EventStore, create_pool

pytestmark = pytest.mark.integration


async def test_partitions_run_concurrently_each_in_order_and_a_redelivery_is_skipped(
    database_url: str,
) -> None:
    pool = await create_pool(database_url)
    store = EventStore(pool, "parts")
    await store.setup()
    applied: list[str] = []
    running = 0
    overlapped = False

    async def apply(conn: Conn, delivery: Delivery) -> None:
        nonlocal running, overlapped
        running += 1
        overlapped = overlapped or running > 1
        await asyncio.sleep(0.01 if delivery.subject == "a" else 0.001)
        applied.append(f"{delivery.subject}{delivery.sequence}")
        running -= 1

    consumer = CheckpointedConsumer(
        store,
        None,  # type: ignore[arg-type]  # apply_batch needs no JetStream
        name="parts",
        stream="S",
        subjects=["x"],
        apply=apply,
        partition_by=lambda d: d.subject,
    )
    batch = [Delivery("a" if n % 2 else "b", b"", {}, n) for n in range(1, 7)]
    await consumer.apply_batch(batch)
    await consumer.apply_batch(batch[:3])  # redelivered: at or below the checkpoint
    await pool.close()
    assert overlapped
    assert [x for x in applied if x[0] == "a"] == ["a1", "a3", "a5"]
    assert [x for x in applied if x[0] == "b"] == ["b2", "b4", "b6"]
    assert len(applied) == 6
