"""The dashboard's figures are exported: one call through routing (PBX simulator, real
NATS and Postgres) moves the call counters, the decision latency, the events stored,
the consumer lag and the outbox backlog, read through an in-memory metric reader."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from contracts.presence import DeviceState, Profile
from services.pbxsim.scenario import Scenario
from tests.routing.platform import Platform, eventually

pytestmark = pytest.mark.integration


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def counted(reader: InMemoryMetricReader, name: str, **attributes: str) -> float:
    return float(
        sum(
            p.value
            for p in points(reader).get(name, [])
            if all(p.attributes.get(k) == v for k, v in attributes.items())
        )
    )


def recorded(reader: InMemoryMetricReader, name: str, **attributes: str) -> int:
    return sum(
        p.count
        for p in points(reader).get(name, [])
        if all(p.attributes.get(k) == v for k, v in attributes.items())
    )


async def test_a_call_moves_the_dashboards_metrics(
    platform: Platform, metric_reader: InMemoryMetricReader
) -> None:
    offered = counted(metric_reader, "voco.routing.calls", outcome="offered")
    voicemail = counted(metric_reader, "voco.routing.calls", outcome="voicemail")
    decisions = recorded(metric_reader, "voco.routing.decision.duration", path="offer")
    received = counted(metric_reader, "voco.events.stored", type="CallReceived")
    dnd = Profile.model_validate(
        {"id": "dnd", "name": "DND", "direct_to_voicemail": True, "voicemail": {}}
    )
    await platform.provision("1001", dnd, desk=DeviceState.IDLE)
    await platform.start_sim(Scenario())

    call = await platform.call("1001")
    await eventually(lambda: call.outcome)

    assert counted(metric_reader, "voco.routing.calls", outcome="offered") == offered + 1
    assert counted(metric_reader, "voco.routing.calls", outcome="voicemail") == voicemail + 1
    assert recorded(metric_reader, "voco.routing.decision.duration", path="offer") == (
        decisions + 1
    )
    assert counted(metric_reader, "voco.events.stored", type="CallReceived") == received + 1
    lags = points(metric_reader)["voco.consumer.lag"]
    assert any(str(p.attributes["consumer"]).startswith("routing") for p in lags)
    assert all(p.value >= 0 for p in lags)
    backlog = await eventually(lambda: points(metric_reader).get("voco.outbox.backlog"))
    assert {p.attributes["schema"] for p in backlog} >= {"routing"}
