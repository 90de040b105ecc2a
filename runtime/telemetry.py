"""OpenTelemetry set-up, W3C trace context carried in NATS headers, and the metrics.

Exporters follow the standard variables: OTEL_TRACES_EXPORTER and
OTEL_METRICS_EXPORTER (otlp, console or none, the default),
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, OTEL_METRIC_EXPORT_INTERVAL and
friends. With no trace exporter (no span processor at all), a span is a lean one that
records nothing but carries the trace: the parent's trace id and flags (or a new trace,
sampled as the configured sampler says) and a span id of its own, so the context that
leaves in NATS headers and the ids in the logs are the same as with recording spans, for
about a fifth of the SDK span's cost (four spans per call in routing). With no metrics
exporter no MeterProvider is installed and every instrument is the API's no-op.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
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
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.util._decorator import _agnosticcontextmanager
from opentelemetry.util.types import Attributes

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


class LeanTracer(trace.Tracer):
    """The SDK's tracer while the provider has a span processor (an exporter, a test's
    in-memory one), decided at each span since processors may be added after start-up;
    otherwise spans that carry the trace but record nothing (see the module's doc)."""

    def __init__(self, name: str, provider: TracerProvider | None = None) -> None:
        """`provider`: the process's (`setup_tracing`) when None, looked up at each span:
        services make their tracers at import, before they set tracing up."""
        self.name = name
        self._provider = provider
        self._tracers: dict[int, trace.Tracer] = {}

    @property
    def provider(self) -> TracerProvider | None:
        return self._provider or _provider

    def _delegate(self) -> trace.Tracer | None:
        """The tracer to hand spans to, or None for a lean span."""
        provider = self.provider
        if provider is not None and not provider._active_span_processor._span_processors:
            return None
        key = id(provider)
        if key not in self._tracers:
            # Before setup_tracing: the API's tracer (no-op spans; a process tracing nothing).
            self._tracers[key] = (provider or trace).get_tracer(self.name)
        return self._tracers[key]

    def start_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        delegate = self._delegate()
        if delegate is not None:
            return delegate.start_span(
                name,
                context,
                kind,
                attributes,
                links,
                start_time,
                record_exception,
                set_status_on_exception,
            )
        provider = self.provider
        assert provider is not None  # _delegate() answers for a missing provider
        parent = get_current_span(context).get_span_context()
        ids = provider.id_generator
        if parent.is_valid:
            trace_id, flags, state = parent.trace_id, parent.trace_flags, parent.trace_state
        else:  # a new trace: sampled or not as a recording root would be
            trace_id, state = ids.generate_trace_id(), None
            sampled = provider.sampler.should_sample(
                context, trace_id, name, kind, attributes, links
            )
            keep = sampled.decision is Decision.RECORD_AND_SAMPLE
            flags = TraceFlags(TraceFlags.SAMPLED if keep else TraceFlags.DEFAULT)
        return NonRecordingSpan(SpanContext(trace_id, ids.generate_span_id(), False, flags, state))

    @_agnosticcontextmanager
    def start_as_current_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        delegate = self._delegate()
        if delegate is not None:
            with delegate.start_as_current_span(
                name,
                context,
                kind,
                attributes,
                links,
                start_time,
                record_exception,
                set_status_on_exception,
                end_on_exit,
            ) as span:
                yield span
            return
        span = self.start_span(name, context, kind, attributes, links)
        token = otel_context.attach(set_span_in_context(span, context))
        try:
            yield span
        finally:
            otel_context.detach(token)


def tracer(name: str) -> trace.Tracer:
    """A tracer of this process's provider, lean while nothing records spans."""
    return LeanTracer(name)


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
