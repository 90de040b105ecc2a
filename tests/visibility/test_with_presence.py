"""End to end with the real presence service in-process: statuses set by commands on the
presence service reach each watcher filtered by the owner's visibility."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NatsClient

from contracts.presence import ProvisionUser, SetStatus, Status
from contracts.visibility import AddContact, AllowWatcher, BlockWatcher, Policy, SetPolicy
from runtime.bus import flush_all, request
from runtime.clock import FakeClock
from runtime.config import Connections
from services.presence.app import build as build_presence
from tests.conftest import ConnectionsFor
from tests.principals import ADMIN
from tests.visibility.harness import NOW, Watcher, call, running, wait_known, wait_presence

pytestmark = pytest.mark.integration

OWNER, ASKER, BLOCKED = "2001", "2002", "2003"


async def test_status_set_on_the_presence_service_reaches_only_allowed_watchers(
    connections: Connections, connections_for: ConnectionsFor, nc: NatsClient
) -> None:
    presence = await build_presence(connections_for("presence"), FakeClock(NOW))
    await presence.start()
    await flush_all(presence.nc)
    try:
        async with running(connections_for):
            for extension in (OWNER, ASKER, BLOCKED):
                await request(
                    nc,
                    "presence",
                    ProvisionUser(extension=extension, display_name=extension, **ADMIN),
                )
            await wait_known(connections.database_url, OWNER, ASKER, BLOCKED)
            await wait_presence(connections.database_url, OWNER, Status.AVAILABLE)
            await call(nc, SetPolicy(owner=OWNER, policy=Policy.ASK, actor=OWNER))
            asker, blocked = await Watcher(ASKER).listen(nc), await Watcher(BLOCKED).listen(nc)
            for watcher in (ASKER, BLOCKED):
                await call(nc, AddContact(watcher=watcher, contact=OWNER, actor=watcher))
                await call(nc, BlockWatcher(owner=OWNER, watcher=watcher, actor=OWNER))
            assert (await asker.next())["status"] == "offline"
            assert (await blocked.next())["status"] == "offline"

            await call(nc, AllowWatcher(owner=OWNER, watcher=ASKER, actor=OWNER))
            assert await asker.next() == {
                "extension": OWNER,
                "status": "available",  # what a new user shows
                "note": None,
                "note_expires_at": None,
            }
            for status in (Status.BUSY, Status.IN_MEETING, Status.AVAILABLE):
                await request(
                    nc, "presence", SetStatus(extension=OWNER, status=status, actor=OWNER)
                )
            seen = [(await asker.next())["status"] for _ in range(3)]
            assert seen == ["busy", "in_meeting", "available"]
            await blocked.nothing_within(0.2)
    finally:
        await presence.stop()
