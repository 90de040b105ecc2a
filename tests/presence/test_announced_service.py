"""Announced switches on the real service (NATS + Postgres) with a FakeClock: stored, applied
at their moment by the service's own timer, also after a restart in between."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from nats.aio.client import Client as NatsClient

from contracts.base import Role
from contracts.errors import CommandError, ErrorCode
from contracts.presence import (
    ActivateProfile,
    AnnounceSwitch,
    ApplyAnnouncedSwitch,
    Channel,
    GetHistory,
    RetractSwitch,
    Status,
    SwitchResults,
    SwitchUsers,
)
from runtime.clock import FakeClock
from runtime.service import ServiceRuntime
from services.presence.app import build
from tests.conftest import ConnectionsFor
from tests.presence.service import eventually, presence, provision, send
from tests.principals import ADMIN, SERVICE, as_user

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 23, 16, 59, tzinfo=UTC)
MOMENT = START + timedelta(minutes=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def service(
    connections_for: ConnectionsFor, clock: FakeClock
) -> AsyncIterator[ServiceRuntime]:
    runtime = await build(connections_for("presence"), clock, sweep_seconds=0.2)
    await runtime.start()
    yield runtime
    await runtime.stop()


def scheduled(extension: str) -> dict[str, object]:
    return {
        "extension": extension,
        "channel": Channel.SCHEDULER,
        "actor": f"schedule:{extension}",
        "role": Role.SERVICE,
    }


async def announce(nc: NatsClient, *extensions: str, profile: str = "dnd") -> None:
    answer = await send(
        nc,
        SwitchUsers(
            switches=[
                AnnounceSwitch(takes_effect_at=MOMENT, profile_id=profile, **scheduled(x))
                for x in extensions
            ],
            **SERVICE,
        ),
    )
    assert SwitchResults.model_validate(answer).refused == [None] * len(extensions)


async def active(nc: NatsClient, extension: str = "1001") -> str:
    return str((await presence(nc, extension))["active_profile"])


async def test_an_announced_switch_takes_effect_at_its_moment_and_not_before(
    service: ServiceRuntime, nc: NatsClient, clock: FakeClock
) -> None:
    await provision(nc)
    await announce(nc, "1001")
    await clock.advance(59.9)
    await asyncio.sleep(0.4)
    assert await active(nc) == "available"

    async def switched() -> bool:
        return await active(nc) == "dnd"

    await clock.advance(0.1)
    await eventually(switched)
    view = await presence(nc)
    assert view["status"] == Status.DO_NOT_DISTURB.value
    history = (await send(nc, GetHistory(extension="1001", **ADMIN)))["entries"]
    kinds = [(e["type"], e["actor"]) for e in history[:3]]
    assert ("SwitchAnnounced", "schedule:1001") in kinds
    assert ("ProfileActivated", "schedule:1001") in kinds


async def test_a_pending_switch_survives_a_restart_before_its_moment(
    connections_for: ConnectionsFor, nc: NatsClient, clock: FakeClock
) -> None:
    first = await build(connections_for("presence"), clock, sweep_seconds=0.2)
    await first.start()
    await provision(nc)
    await provision(nc, "1002", "Bob")
    await announce(nc, "1001", "1002")
    await first.stop()

    await clock.advance(60)
    second = await build(connections_for("presence"), clock, sweep_seconds=0.2)
    await second.start()
    try:

        async def both_switched() -> bool:
            return [await active(nc, x) for x in ("1001", "1002")] == ["dnd", "dnd"]

        await eventually(both_switched)
    finally:
        await second.stop()


async def test_a_manual_switch_before_the_moment_wins(
    service: ServiceRuntime, nc: NatsClient, clock: FakeClock
) -> None:
    await provision(nc)
    await announce(nc, "1001")
    await clock.advance(30)
    await send(nc, ActivateProfile(extension="1001", profile_id="away", **as_user("1001")))
    await clock.advance(31)
    await asyncio.sleep(0.5)
    assert await active(nc) == "away"
    history = (await send(nc, GetHistory(extension="1001", **ADMIN)))["entries"]
    assert history[0]["type"] == "AnnouncementEnded"
    assert "superseded" in history[0]["summary"]


async def test_a_retracted_switch_does_not_take_effect(
    service: ServiceRuntime, nc: NatsClient, clock: FakeClock
) -> None:
    await provision(nc)
    await announce(nc, "1001")
    retraction = RetractSwitch(takes_effect_at=MOMENT, **scheduled("1001"))
    answer = await send(nc, SwitchUsers(switches=[retraction], **SERVICE))
    assert SwitchResults.model_validate(answer).refused == [None]
    await clock.advance(61)
    await asyncio.sleep(0.5)
    assert await active(nc) == "available"


async def test_only_a_service_may_announce(service: ServiceRuntime, nc: NatsClient) -> None:
    await provision(nc)
    switch = AnnounceSwitch(takes_effect_at=MOMENT, profile_id="dnd", **scheduled("1001"))
    by_user = switch.model_copy(update={"actor": "1001", "role": Role.USER})
    answer = await send(nc, SwitchUsers(switches=[by_user], **SERVICE))
    refused = SwitchResults.model_validate(answer).refused
    assert refused[0] is not None
    assert refused[0].code.value == "forbidden"
    assert await active(nc) == "available"


async def test_a_timer_restarted_before_the_moment_is_re_armed_and_fires_at_it(
    connections_for: ConnectionsFor, nc: NatsClient, clock: FakeClock
) -> None:
    first = await build(connections_for("presence"), clock, sweep_seconds=0.2)
    await first.start()
    await provision(nc)
    await announce(nc, "1001")
    await first.stop()
    await clock.advance(20)
    second = await build(connections_for("presence"), clock, sweep_seconds=30)
    await second.start()
    try:
        await asyncio.sleep(0.3)
        assert await active(nc) == "available"
        await clock.advance(40)  # the moment: no poll due (30 s), the re-armed timer fires

        async def switched() -> bool:
            return await active(nc) == "dnd"

        await eventually(switched)
    finally:
        await second.stop()


async def test_a_user_cannot_announce_or_apply_a_switch_directly(
    service: ServiceRuntime, nc: NatsClient
) -> None:
    await provision(nc)
    own = {"extension": "1001", **as_user("1001")}
    for command in (
        AnnounceSwitch(takes_effect_at=MOMENT, profile_id="dnd", **own),
        RetractSwitch(**own),
        ApplyAnnouncedSwitch(extension="1001", at=MOMENT, **as_user("1001")),
    ):
        with pytest.raises(CommandError) as refused:
            await send(nc, command)
        assert refused.value.code is ErrorCode.FORBIDDEN
    assert await active(nc) == "available"
