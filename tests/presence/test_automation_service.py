"""Automation on the real service with a FakeClock: idle -> away, sign-in restores, notes expire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from nats.aio.client import Client as NatsClient

from cli.main import run as cli
from contracts.presence import (
    ConfigureAutomation,
    GetHistory,
    SetStatus,
    SignIn,
    SignOut,
    Status,
)
from runtime.clock import FakeClock
from runtime.service import ServiceRuntime
from services.presence.app import build
from tests.conftest import ConnectionsFor
from tests.presence.service import eventually, presence, provision, send
from tests.principals import as_user

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def service(
    connections_for: ConnectionsFor, clock: FakeClock
) -> AsyncIterator[ServiceRuntime]:
    runtime = await build(connections_for("presence"), clock, sweep_seconds=1.0)
    await runtime.start()
    yield runtime
    await runtime.stop()


async def test_no_client_for_the_idle_time_shows_away_and_signing_in_restores(
    service: ServiceRuntime, nc: NatsClient, clock: FakeClock
) -> None:
    await provision(nc)
    await send(nc, SetStatus(extension="1001", status=Status.BUSY, **as_user("1001")))
    await send(nc, SignIn(extension="1001", session_id="web", **as_user("1001")))
    await send(nc, ConfigureAutomation(extension="1001", idle_after_seconds=60, **as_user("1001")))
    await send(nc, SignOut(extension="1001", session_id="web", **as_user("1001")))

    await clock.advance(59)
    await asyncio.sleep(0.3)
    assert (await presence(nc))["status"] == "busy"

    async def away() -> bool:
        return bool((await presence(nc))["status"] == "away")

    await eventually(away, step=lambda: clock.advance(1))
    (idle,) = (await send(nc, GetHistory(extension="1001", limit=1, **as_user("1001"))))["entries"]
    assert (idle["actor"], idle["channel"]) == ("automation", "automation")
    assert datetime.fromisoformat(idle["at"]) >= START + timedelta(seconds=60)

    back = await send(nc, SignIn(extension="1001", session_id="web", **as_user("1001")))
    assert back["status"] == "busy"


async def test_a_note_expires_when_its_time_comes(
    service: ServiceRuntime, nc: NatsClient, clock: FakeClock
) -> None:
    await provision(nc)
    expiry = START + timedelta(minutes=30)
    await send(
        nc,
        SetStatus(
            extension="1001",
            status=Status.AWAY,
            note="lunch",
            note_expires_at=expiry,
            **as_user("1001"),
        ),
    )

    async def note_gone() -> bool:
        return (await presence(nc))["note"] is None

    await eventually(note_gone, step=lambda: clock.advance(60))
    view = await presence(nc)
    assert view["status"] == "away"
    assert clock.now() >= expiry


async def test_with_presence_routing_a_status_set_in_the_cli_activates_its_profile(
    service: ServiceRuntime,
    nc: NatsClient,
    connections_for: ConnectionsFor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOCO_NATS_URL", connections_for("operator").nats_url)  # the CLI's
    await provision(nc)
    assert await cli(["routing", "1001", "--map", "dnd=dnd", "--map", "away=business-trip"]) == 0
    assert await cli(["status", "set", "1001", "dnd"]) == 0
    assert (await presence(nc))["active_profile"] == "dnd"
    assert await cli(["status", "set", "1001", "busy"]) == 0
    assert (await presence(nc))["active_profile"] == "dnd"
