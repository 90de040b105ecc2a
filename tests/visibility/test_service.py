"""The visibility service on real NATS and PostgreSQL: requests, policies, live views."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NatsClient

from contracts.errors import ErrorCode
from contracts.presence import Status
from contracts.visibility import (
    AcceptRequest,
    AddContact,
    AllowWatcher,
    BlockWatcher,
    GetAllowed,
    GetBlocked,
    GetContacts,
    GetPendingRequests,
    Policy,
    RemoveContact,
    Role,
    SetPolicy,
    WhoCanSeeMe,
    WhoWatchesMe,
)
from runtime.config import Connections
from tests.visibility.harness import (
    Presence,
    Watcher,
    call,
    error_of,
    running,
    settled,
    wait_known,
    wait_presence,
)

pytestmark = pytest.mark.integration

OWNER, WATCHER, SECOND = "1001", "1002", "1003"


def offline(extension: str) -> dict[str, object]:
    return {"extension": extension, "status": "offline", "note": None, "note_expires_at": None}


def shown(extension: str, status: Status, note: str | None = None) -> dict[str, object]:
    return {"extension": extension, "status": status.value, "note": note, "note_expires_at": None}


async def test_ask_flow_waits_counts_and_accepting_lets_the_watcher_see(
    connections: Connections, nc: NatsClient
) -> None:
    presence = Presence(nc)
    async with running(connections):
        await presence.provision(OWNER, WATCHER, SECOND)
        await wait_known(connections.database_url, OWNER, WATCHER, SECOND)
        watcher = await Watcher(WATCHER).listen(nc)
        await call(nc, SetPolicy(owner=OWNER, policy=Policy.ASK, actor=OWNER))
        await presence.set(OWNER, Status.BUSY, "on a call")
        await wait_presence(connections.database_url, OWNER, Status.BUSY)

        assert await call(nc, AddContact(watcher=WATCHER, contact=OWNER, actor=WATCHER)) == {}
        await call(nc, AddContact(watcher=SECOND, contact=OWNER, actor=SECOND))
        assert await watcher.next() == offline(OWNER)  # waiting: shown as offline
        pending = await call(nc, GetPendingRequests(owner=OWNER, actor=OWNER))
        assert pending == {"count": 2, "requests": [WATCHER, SECOND]}

        await presence.set(OWNER, Status.AWAY)
        await watcher.nothing_within()

        counts = await call(nc, AcceptRequest(owner=OWNER, watcher=WATCHER, actor=OWNER))
        assert counts == {"policy": "ask", "pending": 1, "allowed": 1, "blocked": 0}
        assert await watcher.next() == shown(OWNER, Status.AWAY)
        await presence.set(OWNER, Status.IN_MEETING, "weekly")
        assert await watcher.next() == shown(OWNER, Status.IN_MEETING, "weekly")

        again = await error_of(nc, AcceptRequest(owner=OWNER, watcher=WATCHER, actor=OWNER))
        assert again.code is ErrorCode.NOT_FOUND
        assert "no pending request from 1002" in again.message
        allowed = await call(nc, GetAllowed(owner=OWNER, actor=OWNER))
        assert allowed == {"count": 1, "users": [WATCHER]}
        contacts = await call(nc, GetContacts(watcher=WATCHER, actor=WATCHER))
        assert contacts == {"contacts": [shown(OWNER, Status.IN_MEETING, "weekly")]}


@pytest.mark.parametrize(
    ("policy", "lands_on", "sees"),
    [(Policy.EVERYONE, "allowed", True), (Policy.NOBODY, "blocked", False)],
)
async def test_each_policy_places_a_new_contact_automatically(
    connections: Connections, nc: NatsClient, policy: Policy, lands_on: str, sees: bool
) -> None:
    presence = Presence(nc)
    async with running(connections):
        await presence.provision(OWNER, WATCHER)
        await wait_known(connections.database_url, OWNER, WATCHER)
        if policy is not Policy.EVERYONE:
            await call(nc, SetPolicy(owner=OWNER, policy=policy, actor=OWNER))
        await presence.set(OWNER, Status.AVAILABLE)
        await wait_presence(connections.database_url, OWNER, Status.AVAILABLE)
        watcher = await Watcher(WATCHER).listen(nc)
        await call(nc, AddContact(watcher=WATCHER, contact=OWNER, actor=WATCHER))

        expected = shown(OWNER, Status.AVAILABLE) if sees else offline(OWNER)
        assert await watcher.next() == expected
        query = GetAllowed if lands_on == "allowed" else GetBlocked
        assert await call(nc, query(owner=OWNER, actor=OWNER)) == {"count": 1, "users": [WATCHER]}
        assert await call(nc, GetPendingRequests(owner=OWNER, actor=OWNER)) == {
            "count": 0,
            "requests": [],
        }
        seeing = await call(nc, WhoCanSeeMe(owner=OWNER, actor=OWNER))
        assert seeing["users"] == ([WATCHER] if sees else [])
        watching = await call(nc, WhoWatchesMe(owner=OWNER, actor=OWNER))
        assert watching == {
            "count": 1,
            "watchers": [{"extension": WATCHER, "can_see": sees, "standing": lands_on}],
        }


async def test_block_and_unblock_are_seen_live_by_the_watcher(
    connections: Connections, nc: NatsClient
) -> None:
    presence = Presence(nc)
    async with running(connections) as service:
        await presence.provision(OWNER, WATCHER)
        await wait_known(connections.database_url, OWNER, WATCHER)
        watcher = await Watcher(WATCHER).listen(nc)
        await call(nc, AddContact(watcher=WATCHER, contact=OWNER, actor=WATCHER))
        assert await watcher.next() == offline(OWNER)  # allowed, and really offline so far
        await presence.set(OWNER, Status.AVAILABLE)
        assert await watcher.next() == shown(OWNER, Status.AVAILABLE)

        await call(nc, BlockWatcher(owner=OWNER, watcher=WATCHER, actor=OWNER))
        assert await watcher.next() == offline(OWNER)
        await presence.set(OWNER, Status.BUSY)
        await wait_presence(connections.database_url, OWNER, Status.BUSY)
        await watcher.nothing_within()

        await call(nc, AllowWatcher(owner=OWNER, watcher=WATCHER, actor=OWNER))
        assert await watcher.next() == shown(OWNER, Status.BUSY)
        for status in (Status.AWAY, Status.BE_RIGHT_BACK, Status.AVAILABLE):
            await presence.set(OWNER, status)
        assert [(await watcher.next())["status"] for _ in range(3)] == [
            "away",
            "be_right_back",
            "available",
        ]

        # Removing the contact ends the watch.
        await call(nc, RemoveContact(watcher=WATCHER, contact=OWNER, actor=WATCHER))
        await settled(service)  # takes effect once the fan-out leader applied it (ms)
        await presence.set(OWNER, Status.DO_NOT_DISTURB)
        await wait_presence(connections.database_url, OWNER, Status.DO_NOT_DISTURB)
        await watcher.nothing_within()


async def test_a_policy_change_re_evaluates_every_watcher(
    connections: Connections, nc: NatsClient
) -> None:
    presence = Presence(nc)
    async with running(connections):
        await presence.provision(OWNER, WATCHER, SECOND)
        await wait_known(connections.database_url, OWNER, WATCHER, SECOND)
        placed, chosen = await Watcher(WATCHER).listen(nc), await Watcher(SECOND).listen(nc)
        await presence.set(OWNER, Status.AVAILABLE)
        await wait_presence(connections.database_url, OWNER, Status.AVAILABLE)
        await call(nc, AddContact(watcher=WATCHER, contact=OWNER, actor=WATCHER))
        await call(nc, AddContact(watcher=SECOND, contact=OWNER, actor=SECOND))
        await call(nc, AllowWatcher(owner=OWNER, watcher=SECOND, actor=OWNER))  # pinned
        assert await placed.next() == shown(OWNER, Status.AVAILABLE)
        assert await chosen.next() == shown(OWNER, Status.AVAILABLE)

        await call(nc, SetPolicy(owner=OWNER, policy=Policy.NOBODY, actor=OWNER))
        assert await placed.next() == offline(OWNER)  # placed by the old policy: re-placed
        await chosen.nothing_within(0.1)  # the owner's own choice stands
        await presence.set(OWNER, Status.BUSY)
        assert await chosen.next() == shown(OWNER, Status.BUSY)
        await placed.nothing_within()

        await call(nc, SetPolicy(owner=OWNER, policy=Policy.EVERYONE, actor=OWNER))
        assert await placed.next() == shown(OWNER, Status.BUSY)


async def test_an_administrator_acts_for_a_user_and_it_is_recorded(
    connections: Connections, nc: NatsClient
) -> None:
    presence = Presence(nc)
    async with running(connections) as service:
        await presence.provision(OWNER, WATCHER)
        await wait_known(connections.database_url, OWNER, WATCHER)
        command = SetPolicy(owner=OWNER, policy=Policy.ASK, actor="admin-1", role=Role.ADMIN)
        await call(nc, command)
        [event] = await service.store.load(f"visibility:{OWNER}")
        assert (event.data["actor"], event.data["role"]) == ("admin-1", "admin")
        assert event.meta.model_dump()["acting_for"] == OWNER

        refused = await error_of(nc, SetPolicy(owner=OWNER, policy=Policy.NOBODY, actor=WATCHER))
        assert refused.code is ErrorCode.FORBIDDEN
        anonymous = await error_of(nc, SetPolicy(owner=OWNER, policy=Policy.NOBODY))
        assert anonymous.code is ErrorCode.FORBIDDEN
        assert len(await service.store.load(f"visibility:{OWNER}")) == 1  # nothing changed


async def test_a_user_receives_their_own_presence_on_their_own_view_subject(
    connections: Connections, nc: NatsClient
) -> None:
    presence = Presence(nc)
    async with running(connections):
        await presence.provision(OWNER, WATCHER)
        await wait_known(connections.database_url, OWNER, WATCHER)
        owner, watcher = await Watcher(OWNER).listen(nc), await Watcher(WATCHER).listen(nc)
        await presence.set(OWNER, Status.IN_MEETING, note="standup")
        assert await owner.next() == shown(OWNER, Status.IN_MEETING, note="standup")
        await watcher.nothing_within()  # 1002 is not a contact: nothing of 1001 reaches it
