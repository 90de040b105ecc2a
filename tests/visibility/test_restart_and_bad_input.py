"""The fan-out index comes back from the compact tables; bad input changes nothing."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from contracts.errors import ErrorCode
from contracts.presence import Status
from contracts.visibility import AddContact, BlockWatcher, GetView
from runtime.config import Connections
from tests.conftest import ConnectionsFor
from tests.visibility.harness import (
    Presence,
    Watcher,
    call,
    running,
    settled,
    wait_known,
    wait_presence,
)

pytestmark = pytest.mark.integration

OWNER, WATCHER, BLOCKED = "1001", "1002", "1003"


async def test_after_a_restart_watchers_see_exactly_what_they_saw_before(
    connections: Connections, connections_for: ConnectionsFor, nc: NatsClient
) -> None:
    presence = Presence(nc)
    async with running(connections_for) as service:
        await presence.provision(OWNER, WATCHER, BLOCKED)
        await wait_known(connections.database_url, OWNER, WATCHER, BLOCKED)
        await presence.set(OWNER, Status.BUSY)
        await wait_presence(connections.database_url, OWNER, Status.BUSY)
        for watcher in (WATCHER, BLOCKED):
            await call(nc, AddContact(watcher=watcher, contact=OWNER, actor=watcher))
        await call(nc, BlockWatcher(owner=OWNER, watcher=BLOCKED, actor=OWNER))
        await settled(service)  # else the next leader replays the tail (same views again)

    allowed, blocked = await Watcher(WATCHER).listen(nc), await Watcher(BLOCKED).listen(nc)
    async with running(connections_for):
        view = await call(nc, GetView(watcher=WATCHER, extension=OWNER, actor=WATCHER))
        assert view["status"] == "busy"
        hidden = await call(nc, GetView(watcher=BLOCKED, extension=OWNER, actor=BLOCKED))
        assert hidden["status"] == "offline"
        await presence.set(OWNER, Status.AWAY)
        assert (await allowed.next())["status"] == "away"
        await blocked.nothing_within(0.2)

    # A change while no replica leads the fan-out reaches the watcher from the
    # durable consumer when one starts again.
    await presence.set(OWNER, Status.IN_MEETING)
    async with running(connections_for):
        assert (await allowed.next())["status"] == "in_meeting"
        await presence.set(OWNER, Status.AVAILABLE)
        assert (await allowed.next())["status"] == "available"
        await allowed.nothing_within(0.1)
        await blocked.nothing_within(0)


async def test_a_bad_presence_message_is_dead_lettered_and_the_stream_goes_on(
    connections: Connections, connections_for: ConnectionsFor, nc: NatsClient
) -> None:
    presence = Presence(nc)
    async with running(connections_for):
        await presence.provision(OWNER, WATCHER)
        await wait_known(connections.database_url, OWNER, WATCHER)
        watcher = await Watcher(WATCHER).listen(nc)
        await call(nc, AddContact(watcher=WATCHER, contact=OWNER, actor=WATCHER))
        assert (await watcher.next())["status"] == "offline"
        await presence.js.publish("voco.evt.presence.1001.PresenceChanged", b"{not json")
        await presence.set(OWNER, Status.AVAILABLE)
        assert (await watcher.next())["status"] == "available"
        conn = await asyncpg.connect(connections.database_url)
        for _ in range(250):  # the views' fast path can be ahead of the consumer
            reasons = await conn.fetch("SELECT reason FROM visibility.dead_letters")
            if reasons:
                break
            await asyncio.sleep(0.02)
        await conn.close()
        assert len(reasons) == 1
        assert reasons[0]["reason"].startswith("not an event envelope Voco knows")


async def test_a_malformed_command_is_refused_with_a_reason_and_stores_nothing(
    connections: Connections, connections_for: ConnectionsFor, nc: NatsClient
) -> None:
    async with running(connections_for) as service:
        msg = await nc.request(
            "voco.cmd.visibility.SetPolicy",
            b'{"owner": "1001", "policy": "sometimes", "actor": "1001"}',
            timeout=5,
        )
        assert b'"code":"invalid"' in msg.data
        assert b"policy" in msg.data
        unknown = await nc.request(
            "voco.cmd.visibility.AddContact",
            b'{"watcher": "1002", "contact": "1001", "actor": "1002"}',
            timeout=5,
        )
        assert ErrorCode.NOT_FOUND.value.encode() in unknown.data
        assert b"no user has extension" in unknown.data
        count = await service.pool.fetchval("SELECT count(*) FROM visibility.events")
        assert count == 0
