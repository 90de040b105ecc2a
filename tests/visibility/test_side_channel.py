"""A watcher who may not see a user cannot tell "blocked" from "offline" from "no such user".

Compared field by field and byte by byte (after putting the same extension in): live
views, GetView and GetContacts answers, the errors a watcher can provoke, and the
time GetView takes.
"""

from __future__ import annotations

import json
import statistics
import time

import pytest
from nats.aio.client import Client as NatsClient

from contracts.presence import Status
from contracts.visibility import AddContact, BlockWatcher, GetContacts, GetView, RemoveContact
from runtime.config import Connections
from tests.conftest import ConnectionsFor
from tests.visibility.harness import (
    Presence,
    Watcher,
    call,
    error_of,
    raw_reply,
    running,
    wait_known,
    wait_presence,
)

pytestmark = pytest.mark.integration

WATCHER, BLOCKING, OFFLINE, NOBODY = "1002", "1001", "1003", "4999"
TARGETS = (BLOCKING, OFFLINE, NOBODY)


def same_shape(raw: bytes, extension: str) -> bytes:
    return raw.replace(extension.encode(), b"<ext>")


async def test_blocked_offline_and_nonexistent_look_the_same(
    connections: Connections, connections_for: ConnectionsFor, nc: NatsClient
) -> None:
    presence = Presence(nc)
    async with running(connections_for):
        await presence.provision(WATCHER, BLOCKING, OFFLINE)
        await wait_known(connections.database_url, WATCHER, BLOCKING, OFFLINE)
        await presence.set(BLOCKING, Status.AVAILABLE, "at my desk")
        await presence.set(OFFLINE, Status.OFFLINE)
        await wait_presence(connections.database_url, BLOCKING, Status.AVAILABLE)
        await wait_presence(connections.database_url, OFFLINE, Status.OFFLINE)
        await call(nc, BlockWatcher(owner=BLOCKING, watcher=WATCHER, actor=BLOCKING))
        watcher = await Watcher(WATCHER).listen(nc)

        # Live views: one each, identical but for the extension, no headers either way.
        live = {}
        for target in (BLOCKING, OFFLINE):
            assert await call(nc, AddContact(watcher=WATCHER, contact=target, actor=WATCHER)) == {}
            msg = await watcher.views.get()
            assert msg.headers is None
            live[target] = same_shape(msg.data, target)
        assert live[BLOCKING] == live[OFFLINE]
        assert json.loads(live[BLOCKING]) == {
            "extension": "<ext>",
            "status": "offline",
            "note": None,
            "note_expires_at": None,
        }
        # The blocking user keeps changing; the watcher hears nothing, as from one offline.
        await presence.set(BLOCKING, Status.BUSY, "still here")
        await wait_presence(connections.database_url, BLOCKING, Status.BUSY)
        await watcher.nothing_within(0.2)

        # GetView: byte-identical replies.
        replies = {
            t: same_shape(
                await raw_reply(nc, GetView(watcher=WATCHER, extension=t, actor=WATCHER)), t
            )
            for t in TARGETS
        }
        assert replies[BLOCKING] == replies[OFFLINE] == replies[NOBODY]

        # GetContacts: the two entries match field by field.
        contacts = (await call(nc, GetContacts(watcher=WATCHER, actor=WATCHER)))["contacts"]
        by_extension = {c.pop("extension"): c for c in contacts}
        assert by_extension[BLOCKING] == by_extension[OFFLINE]

        # Errors a watcher can provoke about each of them.
        duplicates = {
            t: (await error_of(nc, AddContact(watcher=WATCHER, contact=t, actor=WATCHER)))
            for t in (BLOCKING, OFFLINE)
        }
        assert duplicates[BLOCKING].body().model_dump() == {
            **duplicates[OFFLINE].body().model_dump(),
            "message": f"{BLOCKING} is already in your contacts",
        }
        for target in (BLOCKING, OFFLINE):
            await call(nc, RemoveContact(watcher=WATCHER, contact=target, actor=WATCHER))
        not_contacts = {
            t: same_shape(
                await raw_reply(nc, RemoveContact(watcher=WATCHER, contact=t, actor=WATCHER)), t
            )
            for t in TARGETS
        }
        assert not_contacts[BLOCKING] == not_contacts[OFFLINE] == not_contacts[NOBODY]
        assert b"not_found" in not_contacts[NOBODY]
        forbidden = {
            t: await raw_reply(nc, GetView(watcher=BLOCKING, extension=t, actor=WATCHER))
            for t in TARGETS
        }
        assert forbidden[BLOCKING] == forbidden[OFFLINE] == forbidden[NOBODY]
        assert b"forbidden" in forbidden[NOBODY]

        # Timing: interleaved GetView round trips; the medians stay within noise.
        samples: dict[str, list[float]] = {t: [] for t in TARGETS}
        for _ in range(80):
            for target in TARGETS:
                started = time.perf_counter()
                await raw_reply(nc, GetView(watcher=WATCHER, extension=target, actor=WATCHER))
                samples[target].append(time.perf_counter() - started)
        medians = [statistics.median(s) for s in samples.values()]
        assert max(medians) < 1.5 * min(medians) + 0.0005, medians
