"""The views batched for the edge (`voco.viewbatch.<watched>`) name exactly the watchers
the per-watcher subjects reach: a blocked watcher is never named in a batch carrying a
real presence, only in the Offline view its blocking causes; the bytes are the same."""

from __future__ import annotations

import asyncio
import json

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from contracts.presence import Status
from contracts.visibility import AddContact, BlockWatcher, decode_view_batch, view_batch_subject
from runtime.config import Connections
from tests.conftest import ConnectionsFor
from tests.visibility.harness import Presence, call, running, wait_known, wait_presence

pytestmark = pytest.mark.integration

OWNER, ALLOWED, BLOCKED = "1001", "1002", "1003"


async def test_a_blocked_watcher_is_named_only_in_its_offline_view(
    connections: Connections, connections_for: ConnectionsFor, nc: NatsClient
) -> None:
    batches: list[tuple[set[str], dict[str, object]]] = []
    singles: list[tuple[str, bytes]] = []

    async def batch(msg: Msg) -> None:
        watchers, view = decode_view_batch(msg.data)
        batches.append(({w.decode() for w in watchers}, json.loads(view)))

    async def single(msg: Msg) -> None:
        singles.append((msg.subject, msg.data))

    await nc.subscribe(view_batch_subject(OWNER), cb=batch)
    await nc.subscribe(f"voco.view.*.{OWNER}", cb=single)
    presence = Presence(nc)
    async with running(connections_for):
        await presence.provision(OWNER, ALLOWED, BLOCKED)
        await wait_known(connections.database_url, OWNER, ALLOWED, BLOCKED)
        await call(nc, BlockWatcher(owner=OWNER, watcher=BLOCKED, actor=OWNER))
        for watcher in (ALLOWED, BLOCKED):
            await call(nc, AddContact(watcher=watcher, contact=OWNER, actor=watcher))
        # The fan-out's index learns of the contacts from visibility's own events, a
        # moment after the commands' replies: the view each contact is sent says when.
        for _ in range(250):
            if {w for named, _ in batches for w in named} >= {ALLOWED, BLOCKED}:
                break
            await asyncio.sleep(0.02)
        await presence.set(OWNER, Status.BUSY, "private note")
        await wait_presence(connections.database_url, OWNER, Status.BUSY)
        for _ in range(100):
            if any(view.get("note") == "private note" for _, view in batches):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)

    real = [(named, view) for named, view in batches if view["status"] != "offline"]
    assert real, batches
    assert all(BLOCKED not in named for named, _ in real)
    assert any(named == {OWNER, ALLOWED} for named, view in real if view["note"])
    offline = [named for named, view in batches if view["status"] == "offline"]
    assert {BLOCKED} in offline  # the one view its contact request got
    # The batches name exactly whom the per-watcher subjects reached, with the same view.
    per_watcher = {
        (subject.split(".")[2], json.dumps(json.loads(data))) for subject, data in singles
    }
    batched = {(w, json.dumps(view)) for named, view in batches for w in named}
    assert batched == per_watcher
