"""Issue 12's attacks on the scheduler over real NATS and Postgres: another user's
schedule, the company's hours, and no actor are refused; the owner, an administrator and
a service are answered."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from contracts.base import Command
from contracts.errors import CommandError, ErrorCode
from contracts.presence import Status
from contracts.scheduler import (
    AddOverride,
    GetSchedule,
    Override,
    SaveCompanySchedule,
    SaveSchedule,
    SetTimedStatus,
    TimedStatus,
)
from runtime.config import Connections
from tests.conftest import ConnectionsFor
from tests.principals import ADMIN, SERVICE, as_user
from tests.scheduler.fixtures import office_hours, utc
from tests.scheduler.platform import Platform

pytestmark = pytest.mark.integration
MONDAY = utc(2026, 11, 23, 15)


@pytest.fixture
async def platform(
    connections: Connections, connections_for: ConnectionsFor
) -> AsyncIterator[Platform]:
    started = await Platform.start(connections, connections_for, MONDAY)
    for extension in ("1001", "1002"):
        await started.provision(extension)
    yield started
    await started.stop()


async def forbidden(platform: Platform, command: Command) -> CommandError:
    with pytest.raises(CommandError) as refused:
        await platform.send("scheduler", command)
    assert refused.value.code is ErrorCode.FORBIDDEN, refused.value.message
    return refused.value


async def test_a_user_may_not_change_or_read_another_users_schedule(platform: Platform) -> None:
    other = as_user("1002")
    refused = await forbidden(
        platform, SaveSchedule(extension="1001", schedule=office_hours(), **other)
    )
    assert refused.message.startswith("1002 may not act for 1001")
    busy = Override(
        override_id="trip", starts_at=MONDAY, ends_at=utc(2026, 11, 24, 15), profile_id="away"
    )
    await forbidden(platform, AddOverride(extension="1001", override=busy, **other))
    lunch = TimedStatus(
        timed_id="lunch", starts_at=MONDAY, ends_at=utc(2026, 11, 23, 16), status=Status.AWAY
    )
    await forbidden(platform, SetTimedStatus(extension="1001", timed_status=lunch, **other))
    for target in ("1001", "4999"):  # an existing user's plan and nobody's: alike
        refused = await forbidden(platform, GetSchedule(extension=target, **other))
        assert refused.message.startswith(f"1002 may not act for {target}")
    plan = await platform.send("scheduler", GetSchedule(extension="1001", **ADMIN))
    assert plan["schedule"] is None


async def test_a_command_claiming_nobody_is_refused(platform: Platform) -> None:
    refused = await forbidden(platform, SaveSchedule(extension="1001", schedule=office_hours()))
    assert refused.message.startswith("anonymous commands are refused")
    await forbidden(platform, GetSchedule(extension="1001"))


async def test_only_administrators_set_the_company_hours(platform: Platform) -> None:
    refused = await forbidden(
        platform, SaveCompanySchedule(schedule=office_hours(), **as_user("1001"))
    )
    assert "it is for administrators" in refused.message
    saved = await platform.send("scheduler", SaveCompanySchedule(schedule=office_hours(), **ADMIN))
    assert saved["events"] == ["ScheduleSaved"]


@pytest.mark.parametrize(
    "principal", [as_user("1001"), ADMIN, SERVICE], ids=["owner", "admin", "service"]
)
async def test_the_owner_an_administrator_and_a_service_keep_a_users_schedule(
    platform: Platform, principal: dict[str, object]
) -> None:
    await platform.send(
        "scheduler", SaveSchedule(extension="1001", schedule=office_hours(), **principal)
    )
    plan = await platform.send("scheduler", GetSchedule(extension="1001", **principal))
    assert plan["schedule"] is not None
