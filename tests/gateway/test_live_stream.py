"""The live stream over HTTP: a watcher sees a contact's change, a user their own; a blocked
watcher's stream and reads are those of an offline user's watcher and of a stranger's;
Last-Event-ID gets what was missed, or `reload`."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from tests.gateway.platform import Gateway, streaming

pytestmark = pytest.mark.integration


async def test_a_watcher_sees_a_contacts_change_and_the_user_their_own(gateway: Gateway) -> None:
    ann, ben = await gateway.sign_in("1001"), await gateway.sign_in("1002")
    assert (await ben.put("/api/users/1002/contacts/1001")).status_code == 200
    async with streaming(ben) as bens, streaming(ann) as anns:
        await bens.until("ready")
        await anns.until("ready")
        await ann.put("/api/users/1001/status", json={"status": "busy", "note": "call"})
        _kind, seen, event_id = await bens.presence("1001", "busy")
        assert seen == {
            "extension": "1001",
            "status": "busy",
            "note": "call",
            "note_expires_at": None,
        }
        assert event_id is not None
        assert (await anns.presence("1001", "busy"))[1]["note"] == "call"  # their own view
    await ann.aclose()
    await ben.aclose()


async def test_a_blocked_watcher_sees_what_an_offline_users_and_a_strangers_watchers_see(
    gateway: Gateway,
) -> None:
    owner, blocked = await gateway.sign_in("1001"), await gateway.sign_in("1002")
    watcher, offline = await gateway.sign_in("1003"), await gateway.sign_in("1004")
    await blocked.put("/api/users/1002/contacts/1001")
    await owner.put("/api/users/1001/visibility/blocked/1002")
    await offline.put("/api/users/1004/status", json={"status": "offline"})
    await watcher.put("/api/users/1003/contacts/1004")
    await asyncio.sleep(0.5)  # the views these decisions cause go out first (ms after commit)
    async with streaming(blocked) as blocked_stream, streaming(watcher) as watcher_stream:
        first = [await blocked_stream.next(), await watcher_stream.next()]
        assert [kind for kind, *_ in first] == ["ready", "ready"]
        for status in ("busy", "in_meeting"):
            await owner.put("/api/users/1001/status", json={"status": status, "note": "x"})
        await asyncio.gather(blocked_stream.nothing_within(0.5), watcher_stream.nothing_within(0.5))

    def without_extension(answer: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in answer.items() if k != "extension"}

    reads = [
        (await blocked.get("/api/users/1002/views/1001")),
        (await watcher.get("/api/users/1003/views/1004")),
        (await blocked.get("/api/users/1002/views/4999")),
    ]
    assert [r.status_code for r in reads] == [200, 200, 200]
    assert len({str(without_extension(r.json())) for r in reads}) == 1
    assert reads[0].json()["status"] == "offline"
    assert reads[0].json()["note"] is None
    blocked_contacts = (await blocked.get("/api/users/1002/contacts")).json()
    watcher_contacts = (await watcher.get("/api/users/1003/contacts")).json()
    assert str(blocked_contacts).replace("1001", "X") == str(watcher_contacts).replace("1004", "X")
    # And no timing that tells them apart at 10 ms: the medians of alternating reads.
    timings: dict[str, list[float]] = {"blocked": [], "offline": [], "stranger": []}
    for _ in range(15):
        for name, client, path in (
            ("blocked", blocked, "/api/users/1002/views/1001"),
            ("offline", watcher, "/api/users/1003/views/1004"),
            ("stranger", blocked, "/api/users/1002/views/4999"),
        ):
            started = time.perf_counter()
            await client.get(path)
            timings[name].append(time.perf_counter() - started)
    medians = [statistics.median(values) for values in timings.values()]
    assert max(medians) - min(medians) < 0.010, timings
    # Nothing but one's own data: the blocked watcher cannot ask for the raw presence.
    assert (await blocked.get("/api/users/1001/presence")).status_code == 403
    for client in (owner, blocked, watcher, offline):
        await client.aclose()


async def test_reconnecting_with_the_last_event_id_gets_what_was_missed(gateway: Gateway) -> None:
    ann, ben = await gateway.sign_in("1001"), await gateway.sign_in("1002")
    await ben.put("/api/users/1002/contacts/1001")
    async with streaming(ben) as stream:
        await stream.until("ready")
        await ann.put("/api/users/1001/status", json={"status": "away"})
        _, _, last_id = await stream.presence("1001", "away")
    for status in ("busy", "available"):
        await ann.put("/api/users/1001/status", json={"status": status})
    await asyncio.sleep(0.2)  # the views arrive while nobody listens
    async with streaming(ben, last_event_id=last_id) as stream:
        missed = [await stream.next(), await stream.next(), await stream.next()]
    assert [(kind, data.get("status")) for kind, data, _ in missed] == [
        ("presence", "busy"),
        ("presence", "available"),
        ("ready", None),
    ]
    async with streaming(ben, last_event_id="0000.7") as stream:
        assert (await stream.next())[0] == "reload"
        assert (await stream.next())[0] == "ready"
    await ann.aclose()
    await ben.aclose()


async def test_a_revoked_session_ends_its_stream(gateway: Gateway) -> None:
    phone, laptop = await gateway.sign_in("1001", bearer=True), await gateway.sign_in("1001")
    async with streaming(phone) as stream:
        await stream.until("ready")
        await laptop.delete(f"/api/accounts/1001/sessions/{phone.session_id}")  # type: ignore[attr-defined]
        assert (await stream.until("signed_out"))[1]["reason"]
    await phone.aclose()
    await laptop.aclose()
