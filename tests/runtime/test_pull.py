"""PullStream: outstanding pull requests, renewed as credit is used or requests expire."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from runtime.pull import PullStream
from runtime.service import ensure_stream

pytestmark = pytest.mark.integration


async def take(pull: PullStream, count: int) -> list[bytes]:
    got: list[bytes] = []
    for _ in range(50):
        for msg in await pull.next_batch(timeout=0.2):
            got.append(msg.data)
            await msg.ack()
        if len(got) >= count:
            break
    return got


async def test_messages_keep_coming_past_a_batch_and_after_requests_expire(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, "PULLS", ["pulls.>"])
    await js.add_consumer(
        "PULLS", ConsumerConfig(durable_name="puller", ack_policy=AckPolicy.EXPLICIT)
    )
    pull = PullStream(
        nc,
        api_prefix="$JS.API",
        stream="PULLS",
        durable="puller",
        batch=4,
        expires_seconds=0.3,
        heartbeat_seconds=0.1,
    )
    await pull.start()
    try:
        for n in range(10):  # more than two batches of credit
            await js.publish("pulls.a", str(n).encode())
        assert await take(pull, 10) == [str(n).encode() for n in range(10)]
        await asyncio.sleep(0.8)  # every outstanding request expires meanwhile
        for n in range(3):
            await js.publish("pulls.a", f"late {n}".encode())
        assert await take(pull, 3) == [f"late {n}".encode() for n in range(3)]
    finally:
        await pull.stop()
        await nc.close()
