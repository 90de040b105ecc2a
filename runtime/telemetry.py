"""OpenTelemetry set-up, W3C trace context carried in NATS headers, and the metrics.

Exporters follow the standard variables: OTEL_TRACES_EXPORTER and
OTEL_METRICS_EXPORTER (otlp, console or none, the default),
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, OTEL_METRIC_EXPORT_INTERVAL and
friends. With no trace exporter, spans are still made so context propagates, but no
processor runs: the hot path pays only for creating the span. With no metrics
exporter no MeterProvider is installed and every instrument is the API's no-op.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import SpanKind

_provider: TracerProvider | None = None
_meter_provider: MeterProvider | None = None


def setup_tracing(service: str, *extra_processors: SpanProcessor) -> TracerProvider:
    """Install the process's tracer provider once; later calls add processors only."""
    global _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service}))
        for name in os.environ.get("OTEL_TRACES_EXPORTER", "none").split(","):
            name = name.strip()
            if name == "otlp":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )

                _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            elif name == "console":
                _provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        trace.set_tracer_provider(_provider)
    for processor in extra_processors:
        _provider.add_span_processor(processor)
    return _provider


def setup_metrics(service: str, *readers: MetricReader) -> MeterProvider | None:
    """Install the process's meter provider once, from OTEL_METRICS_EXPORTER plus `readers`
    (tests pass an in-memory one); None when there is nothing to export to."""
    global _meter_provider
    if _meter_provider is not None:
        return _meter_provider
    all_readers = list(readers)
    for name in os.environ.get("OTEL_METRICS_EXPORTER", "none").split(","):
        name = name.strip()
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )

            all_readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        elif name == "console":
            all_readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    if not all_readers:
        return None
    _meter_provider = MeterProvider(
        metric_readers=all_readers, resource=Resource.create({"service.name": service})
    )
    metrics.set_meter_provider(_meter_provider)
    return _meter_provider


def shutdown_tracing() -> None:
    if _provider is not None:
        _provider.force_flush()
    if _meter_provider is not None:
        _meter_provider.force_flush()


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
