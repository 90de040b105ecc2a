"""Routing's metrics for the dashboard: calls offered and their outcomes, and how long
routing takes to decide (the PBX waits for it). In Prometheus (after the collector):
`voco_routing_calls_total{outcome}` (offered, answered, forwarded, voicemail, rejected,
abandoned) and `voco_routing_decision_duration_seconds{path}` (offer: a call offered by
request; events: a batch of PBX events from JetStream)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from contracts.envelope import Envelope
from runtime.metrics import meter

OUTCOMES = {
    "CallReceived": "offered",
    "CallAnswered": "answered",
    "CallForwarded": "forwarded",
    "CallSentToVoicemail": "voicemail",
    "CallRejected": "rejected",
    "CallAbandoned": "abandoned",
}

calls = meter.create_counter(
    "voco.routing.calls",
    unit="{call}",
    description="Calls routing received (offered) and how each hop ended",
)
decision_duration = meter.create_histogram(
    "voco.routing.decision.duration",
    unit="s",
    description="From a PBX event reaching routing to its decision stored",
    explicit_bucket_boundaries_advisory=[
        0.0005,
        0.001,
        0.002,
        0.005,
        0.01,
        0.02,
        0.05,
        0.1,
        0.25,
        0.5,
        1.0,
    ],
)


def count_outcomes(events: Sequence[Envelope]) -> None:
    for event in events:
        outcome = OUTCOMES.get(event.type)
        if outcome is not None:
            calls.add(1, {"outcome": outcome})


@contextmanager
def timed_decision(path: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    decision_duration.record(time.perf_counter() - started, {"path": path})
