"""OpenTelemetry set-up and W3C trace context carried in NATS headers.

Exporters follow the standard variables: OTEL_TRACES_EXPORTER (otlp, console
or none, the default), OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER and
friends. With no exporter the SDK is not installed: spans are the API's
non-recording ones, which still carry an incoming trace context on to what a
service sends, and cost about a tenth of a recorded span (routing spent 8 % of its
CPU on spans nobody exported).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import SpanKind

_provider: TracerProvider | None = None


def _exporters() -> list[SpanExporter]:
    exporters: list[SpanExporter] = []
    for name in os.environ.get("OTEL_TRACES_EXPORTER", "none").split(","):
        name = name.strip()
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
    return exporters


def setup_tracing(service: str, *extra_processors: SpanProcessor) -> TracerProvider | None:
    """Install the process's tracer provider once, if anything is to receive spans;
    later calls add processors only."""
    global _provider
    processors: list[SpanProcessor] = (
        [BatchSpanProcessor(e) for e in _exporters()] if _provider is None else []
    )
    processors += extra_processors
    if not processors:
        return _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service}))
        trace.set_tracer_provider(_provider)
    for processor in processors:
        _provider.add_span_processor(processor)
    return _provider


def shutdown_tracing() -> None:
    if _provider is not None:
        _provider.force_flush()


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """The current trace context as NATS headers (W3C traceparent/tracestate)."""
    carrier: dict[str, str] = dict(headers or {})
    propagate.inject(carrier)
    return carrier


@contextmanager
def span_from_headers(
    tracer_: trace.Tracer,
    name: str,
    headers: Mapping[str, str] | None,
    kind: SpanKind = SpanKind.CONSUMER,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[trace.Span]:
    """A span that continues the trace whose context arrived in `headers`."""
    parent = propagate.extract(dict(headers or {}))
    token = otel_context.attach(parent)
    try:
        with tracer_.start_as_current_span(name, kind=kind, attributes=attributes) as span:
            yield span
    finally:
        otel_context.detach(token)
