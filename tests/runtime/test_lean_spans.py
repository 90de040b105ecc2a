"""Spans while nothing records them (no exporter): they record nothing but carry the
trace, so what leaves in NATS headers and what the logs show is as with recording spans."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from runtime.logs import JsonFormatter
from runtime.telemetry import LeanTracer, inject_headers, span_from_headers


def traceparent(headers: dict[str, str]) -> tuple[str, str, str]:
    _, trace_id, span_id, flags = headers["traceparent"].split("-")
    return trace_id, span_id, flags


def test_a_lean_span_continues_the_trace_it_arrived_with_under_its_own_span_id() -> None:
    tracer = LeanTracer("t", TracerProvider())
    with tracer.start_as_current_span("offer call") as root:
        arrived = inject_headers()
    origin = root.get_span_context()
    assert origin.is_valid
    assert not root.is_recording()
    assert traceparent(arrived) == (f"{origin.trace_id:032x}", f"{origin.span_id:016x}", "01")
    with (
        span_from_headers(tracer, "handle pbx.CallOffered", arrived) as handled,
        tracer.start_as_current_span("decide routing.OfferCall") as decided,
    ):
        sent = inject_headers()
    assert handled.get_span_context().trace_id == origin.trace_id
    assert (
        len(
            {origin.span_id, handled.get_span_context().span_id, decided.get_span_context().span_id}
        )
        == 3
    )
    assert traceparent(sent) == (
        f"{origin.trace_id:032x}",
        f"{decided.get_span_context().span_id:016x}",
        "01",
    )
    assert inject_headers() == {}  # nothing left attached


def test_a_lean_span_puts_its_ids_in_the_log() -> None:
    tracer = LeanTracer("t", TracerProvider())
    record = logging.LogRecord("x", logging.INFO, "", 0, "decided", None, None)
    with tracer.start_as_current_span("decide") as span:
        entry = json.loads(JsonFormatter("routing").format(record))
    assert entry["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert entry["span_id"] == f"{span.get_span_context().span_id:016x}"


def test_a_new_trace_is_sampled_as_the_configured_sampler_says() -> None:
    tracer = LeanTracer("t", TracerProvider(sampler=ALWAYS_OFF))
    with tracer.start_as_current_span("offer call"):
        assert traceparent(inject_headers())[2] == "00"


def test_spans_record_as_soon_as_a_processor_is_added() -> None:
    provider = TracerProvider()
    tracer = LeanTracer("t", provider)
    with tracer.start_as_current_span("before"):
        pass
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracer.start_as_current_span("after", attributes={"voco.stream": "call:c1"}) as span:
        assert span.is_recording()
    assert [s.name for s in exporter.get_finished_spans()] == ["after"]
