"""SwitchUsers: many users' switches in one command, each answered on its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from nats.aio.client import Client as NatsClient

from contracts.base import Role
from contracts.errors import CommandError
from contracts.presence import (
    MAX_SWITCHES,
    ActivateProfile,
    Channel,
    GetHistory,
    SetStatus,
    Status,
    SwitchResults,
    SwitchUsers,
)
from runtime.service import ServiceRuntime
from tests.presence.service import presence, provision, send
from tests.principals import ADMIN, SERVICE

pytestmark = pytest.mark.integration
BOUNDARY = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)


def by_schedule(extension: str) -> dict[str, object]:
    return {
        "extension": extension,
        "channel": Channel.SCHEDULER,
        "actor": f"schedule:{extension}",
        "role": Role.SERVICE,
        "at": BOUNDARY,
    }


async def test_each_switch_is_applied_or_refused_on_its_own_in_the_order_given(
    service: ServiceRuntime, nc: NatsClient
) -> None:
    for extension in ("1001", "1002"):
        await provision(nc, extension, f"user {extension}")
    answer = await send(
        nc,
        SwitchUsers(
            switches=[
                ActivateProfile(profile_id="away", **by_schedule("1001")),
                SetStatus(status=Status.BUSY, note="in a workshop", **by_schedule("1001")),
                ActivateProfile(profile_id="no-such-profile", **by_schedule("1002")),
                ActivateProfile(profile_id="away", **by_schedule("4040")),
                SetStatus(status=Status.BE_RIGHT_BACK, **by_schedule("1002")),
            ],
            **SERVICE,
        ),
    )
    refused = SwitchResults.model_validate(answer).refused
    why = [r.message if r else None for r in refused]
    assert why[:2] == [None, None]
    assert why[4] is None
    assert "no-such-profile" in (why[2] or "")
    assert "4040" in (why[3] or "")
    # The read model answers the queries: the same state as the events.
    ann = await presence(nc, "1001")
    assert (ann["active_profile"], ann["status"], ann["note"]) == ("away", "busy", "in a workshop")
    bob = await presence(nc, "1002")
    assert (bob["active_profile"], bob["status"]) == ("available", "be_right_back")
    history = (await send(nc, GetHistory(extension="1001", **ADMIN)))["entries"]
    latest = [(e["type"], e["channel"], e["actor"]) for e in history[:3]]
    assert ("ProfileActivated", "scheduler", "schedule:1001") in latest


async def test_a_batch_larger_than_the_limit_is_refused_whole_with_the_limit_named(
    service: ServiceRuntime, nc: NatsClient
) -> None:
    await provision(nc)
    switch = {"extension": "1001", "status": "away", "channel": "scheduler"}
    body = json.dumps({"switches": [switch] * (MAX_SWITCHES + 1)}).encode()
    msg = await nc.request("voco.cmd.presence.SwitchUsers", body, timeout=5)
    assert b"at most 1000" in msg.data
    assert (await presence(nc))["status"] == "available"  # nothing stored


async def test_an_empty_batch_is_refused(service: ServiceRuntime, nc: NatsClient) -> None:
    with pytest.raises(CommandError, match="at least 1"):
        await send(nc, SwitchUsers.model_construct(switches=[]))
