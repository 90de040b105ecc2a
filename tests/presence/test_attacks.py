"""Issue 12's attacks on presence over real NATS and Postgres, at the service: each is
refused, and the owner, an administrator or a service is answered.

Raw presence and history are the owner's: another user is refused with the same reply
whether the target exists, is offline or has blocked them (visibility runs here, and
1001 has blocked 1002), because nothing is read before the refusal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from contracts.base import Acting, Command
from contracts.errors import CommandError, ErrorCode, Reply
from contracts.presence import (
    ActivateProfile,
    DetectIdle,
    DeviceState,
    GetHistory,
    GetPresence,
    ListProfiles,
    ProvisionUser,
    ReportDevice,
    SaveIvr,
    SaveRingGroup,
    SetStatus,
    Status,
    SwitchResults,
    SwitchUsers,
)
from contracts.visibility import AddContact, BlockWatcher
from runtime.bus import command_subject
from runtime.config import Connections
from runtime.service import ServiceRuntime
from tests.conftest import ConnectionsFor
from tests.presence.service import presence, provision, send
from tests.principals import ADMIN, SERVICE, as_user
from tests.visibility.harness import call, running, wait_known

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def forbidden(nc: NatsClient, command: Command) -> CommandError:
    with pytest.raises(CommandError) as refused:
        await send(nc, command)
    assert refused.value.code is ErrorCode.FORBIDDEN, refused.value.message
    return refused.value


async def raw_reply(nc: NatsClient, command: Acting) -> bytes:
    msg = await nc.request(
        command_subject("presence", command), command.model_dump_json().encode(), timeout=5
    )
    return bytes(msg.data)


@pytest.fixture
async def users(service: ServiceRuntime, nc: NatsClient) -> None:
    for extension in ("1001", "1002", "1003"):
        await provision(nc, extension, f"user {extension}")
    await send(nc, SetStatus(extension="1001", status=Status.BUSY, note="private", **ADMIN))


async def test_a_user_may_not_set_another_users_status(nc: NatsClient, users: None) -> None:
    refused = await forbidden(
        nc, SetStatus(extension="1001", status=Status.AVAILABLE, **as_user("1002"))
    )
    assert refused.message.startswith("1002 may not act for 1001")
    assert (await presence(nc, "1001"))["status"] == "busy"
    history = await send(nc, GetHistory(extension="1001", **ADMIN))
    assert "1002" not in {entry["actor"] for entry in history["entries"]}


async def test_a_command_claiming_nobody_is_refused_before_anything_is_read(
    nc: NatsClient, users: None
) -> None:
    for extension in ("1001", "4999"):
        refused = await forbidden(nc, SetStatus(extension=extension, status=Status.AWAY))
        assert refused.message.startswith("anonymous commands are refused")
        assert refused.field == "actor"
    assert (await presence(nc, "1001"))["status"] == "busy"
    blank = SetStatus(extension="1001", status=Status.AWAY, actor=" ", role=ADMIN["role"])
    await forbidden(nc, blank)


@pytest.mark.parametrize("query", [GetPresence, GetHistory, ListProfiles])
async def test_another_users_raw_presence_is_refused_alike_for_existing_missing_and_blocked(
    connections: Connections,
    connections_for: ConnectionsFor,
    nc: NatsClient,
    users: None,
    query: type[GetPresence | GetHistory | ListProfiles],
) -> None:
    async with running(connections_for):
        await wait_known(connections.database_url, "1001", "1002", "1003")
        await call(nc, AddContact(watcher="1002", contact="1001", **as_user("1002")))
        await call(nc, BlockWatcher(owner="1001", watcher="1002", **as_user("1001")))
        replies = {
            target: (await raw_reply(nc, query(extension=target, **as_user("1002")))).replace(
                target.encode(), b"X"
            )
            for target in ("1001", "1003", "4999")  # blocked me, exists, nobody
        }
    assert len(set(replies.values())) == 1, replies
    reply = Reply.model_validate_json(replies["1001"])
    assert reply.error is not None
    assert reply.error.code is ErrorCode.FORBIDDEN


@pytest.mark.parametrize(
    "principal", [as_user("1001"), ADMIN, SERVICE], ids=["owner", "admin", "service"]
)
async def test_the_owner_an_administrator_and_a_service_read_raw_presence_and_history(
    nc: NatsClient, users: None, principal: dict[str, Any]
) -> None:
    view = await send(nc, GetPresence(extension="1001", **principal))
    assert (view["status"], view["note"]) == ("busy", "private")
    assert (await send(nc, GetHistory(extension="1001", **principal)))["entries"]
    assert (await send(nc, ListProfiles(extension="1001", **principal)))["profiles"]


async def test_the_owner_sets_their_own_status(nc: NatsClient, users: None) -> None:
    view = await send(nc, SetStatus(extension="1001", status=Status.AWAY, **as_user("1001")))
    assert view["status"] == "away"


async def test_only_administrators_change_the_directory(nc: NatsClient, users: None) -> None:
    group = {"group_id": "sales", "name": "Sales", "members": ["1001", "1002"]}
    refused = await forbidden(nc, SaveRingGroup(**group, **as_user("1001")))
    assert "it is for administrators" in refused.message
    await forbidden(nc, SaveIvr(ivr_id="main", name="Main", **as_user("1001")))
    await forbidden(nc, ProvisionUser(extension="1009", display_name="Me", **as_user("1009")))
    assert await send(nc, SaveRingGroup(**group, **ADMIN)) == {"group_id": "sales"}


async def test_only_administrators_and_services_report_devices_and_only_services_automation(
    nc: NatsClient, users: None
) -> None:
    device = {"extension": "1001", "device_id": "1001-desk", "state": DeviceState.BUSY}
    await forbidden(nc, ReportDevice(**device, **as_user("1001")))
    for principal in (as_user("1001"), ADMIN):
        await forbidden(nc, DetectIdle(extension="1001", at=NOW, **principal))
    assert (await send(nc, ReportDevice(**device, **SERVICE)))["devices"]["1001-desk"] == "busy"
    idle = {**device, "state": DeviceState.IDLE}
    assert (await send(nc, ReportDevice(**idle, **ADMIN)))["devices"]["1001-desk"] == "idle"


async def test_switch_users_is_for_services_and_each_switch_is_authorized_alone(
    nc: NatsClient, users: None
) -> None:
    own = SetStatus(extension="1002", status=Status.AWAY, **as_user("1002"))
    anothers = ActivateProfile(extension="1001", profile_id="dnd", **as_user("1002"))
    scheduled = ActivateProfile(extension="1003", profile_id="away", **SERVICE)
    await forbidden(nc, SwitchUsers(switches=[own], **ADMIN))
    await forbidden(nc, SwitchUsers(switches=[own], **as_user("1002")))
    answer = await send(nc, SwitchUsers(switches=[own, anothers, scheduled], **SERVICE))
    refused = SwitchResults.model_validate(answer).refused
    assert refused[0] is None
    assert refused[1] is not None
    assert refused[1].code is ErrorCode.FORBIDDEN
    assert refused[2] is None
    assert (await presence(nc, "1001"))["active_profile"] == "available"
    assert (await presence(nc, "1003"))["active_profile"] == "away"
