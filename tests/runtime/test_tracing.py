"""One trace spans two services: a command to one, the event it causes consumed by another."""

from __future__ import annotations

import asyncio

import nats
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.envelope import Envelope
from runtime.bus import request
from runtime.config import Connections
from runtime.consumer import Delivery
from runtime.decider import CommandRunner
from runtime.eventstore import Conn
from runtime.service import open_runtime
from runtime.telemetry import setup_tracing
from tests.runtime.counter import STREAM, SUBJECTS, Increment, counter, outgoing

pytestmark = pytest.mark.integration


async def test_one_trace_spans_the_command_the_outbox_and_another_service(
    connections: Connections,
) -> None:
    exporter = InMemorySpanExporter()
    setup_tracing("tests", SimpleSpanProcessor(exporter))
    producer = await open_runtime("alpha", "alpha", connections, streams={STREAM: SUBJECTS})
    consumer = await open_runtime("beta", "beta", connections)
    runner = CommandRunner(producer.store, counter, outgoing=outgoing)

    async def increment(command: Increment) -> dict[str, int]:
        decided = await runner.handle("c1", command, at=producer.clock.now())
        return {"total": decided.state}

    producer.commands.route(Increment, increment)
    received: asyncio.Queue[Envelope] = asyncio.Queue()

    async def apply(conn: Conn, delivery: Delivery) -> None:
        received.put_nowait(Envelope.from_bytes(delivery.data))

    consumer.consume("beta-counter", STREAM, SUBJECTS, apply)
    await producer.start()
    await consumer.start()
    client = await nats.connect(connections.nats_url)
    try:
        assert await request(client, "alpha", Increment(by=4)) == {"total": 4}
        await asyncio.wait_for(received.get(), 5)
    finally:
        await client.close()
        await consumer.stop()
        await producer.stop()

    spans = {span.name: span for span in exporter.get_finished_spans()}
    sent, handled, applied = (
        spans["send test.Increment"],
        spans["handle test.Increment"],
        spans["apply beta-counter"],
    )
    assert sent.context is not None
    assert handled.context is not None
    assert applied.context is not None
    assert handled.context.trace_id == sent.context.trace_id
    assert applied.context.trace_id == sent.context.trace_id
    assert applied.resource is not None
