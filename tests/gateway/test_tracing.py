"""A request starts its own trace, whatever trace context the browser sends, and that
trace continues into the service the edge asks over NATS."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime.telemetry import setup_tracing
from tests.gateway.platform import Gateway

pytestmark = pytest.mark.integration

FORGED_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_browser_trace_context_is_ignored_and_the_edge_trace_reaches_presence(
    gateway: Gateway,
) -> None:
    exporter = InMemorySpanExporter()
    setup_tracing("tests", SimpleSpanProcessor(exporter))
    client = await gateway.sign_in("1001")
    forged = {"traceparent": f"00-{FORGED_TRACE}-00f067aa0ba902b7-01"}
    exporter.clear()
    answer = await client.put("/api/users/1001/status", json={"status": "away"}, headers=forged)
    assert answer.status_code == 200
    spans = exporter.get_finished_spans()
    by_name = {span.name: span for span in spans}
    incoming, handled = by_name["HTTP PUT"], by_name["handle SetStatus"]
    assert incoming.context is not None
    assert handled.context is not None
    assert incoming.parent is None  # a new trace: the browser's context was not used
    assert format(incoming.context.trace_id, "032x") != FORGED_TRACE
    assert handled.context.trace_id == incoming.context.trace_id
    # No span of the request, the framework's included, joined the browser's trace.
    forged_trace = int(FORGED_TRACE, 16)
    assert all(s.context is None or s.context.trace_id != forged_trace for s in spans)
    await client.aclose()
