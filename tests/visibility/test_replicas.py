"""Two replicas: any answers commands, one leads the fan-out, the other takes over."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client as NatsClient

from contracts.presence import Status
from contracts.visibility import AddContact, BlockWatcher
from runtime.clock import FakeClock
from runtime.config import Connections
from services.visibility.app import build
from tests.conftest import ConnectionsFor
from tests.visibility.harness import NOW, Presence, Watcher, call, settled, wait_known

pytestmark = pytest.mark.integration

OWNER, WATCHER, BLOCKED = "1001", "1002", "1003"


async def test_one_leader_publishes_each_view_once_and_another_takes_over(
    connections: Connections, connections_for: ConnectionsFor, nc: NatsClient
) -> None:
    first = await build(connections_for("visibility"), FakeClock(NOW))
    await first.start()
    second = await build(connections_for("visibility"), FakeClock(NOW))
    await second.start()
    presence = Presence(nc)
    try:
        assert first.fanout is not None
        assert second.fanout is not None
        await asyncio.wait_for(first.fanout.leading.wait(), 5)
        assert not second.fanout.leading.is_set()
        await presence.provision(OWNER, WATCHER, BLOCKED)
        await wait_known(connections.database_url, OWNER, WATCHER, BLOCKED)
        allowed, blocked = await Watcher(WATCHER).listen(nc), await Watcher(BLOCKED).listen(nc)
        for watcher in (WATCHER, BLOCKED):  # requests spread over both replicas
            await call(nc, AddContact(watcher=watcher, contact=OWNER, actor=watcher))
        await call(nc, BlockWatcher(owner=OWNER, watcher=BLOCKED, actor=OWNER))
        await settled(first)
        assert (await allowed.next())["status"] == "offline"
        assert (await blocked.next())["status"] == "offline"
        while not blocked.views.empty():  # allowed a moment, then blocked: offline both times
            assert b'"status":"offline"' in blocked.views.get_nowait().data

        await presence.set(OWNER, Status.BUSY)
        assert (await allowed.next())["status"] == "busy"
        await allowed.nothing_within(0.2)  # once, not once per replica
        await blocked.nothing_within(0)

        await first.stop()  # the leader goes away; the other replica takes over
        await asyncio.wait_for(second.fanout.leading.wait(), 5)
        await presence.set(OWNER, Status.AWAY)
        assert (await allowed.next())["status"] == "away"
        await blocked.nothing_within(0.2)
    finally:
        await second.stop()
        if not first.nc.is_closed:
            await first.stop()
