"""Bad input: rejected with a logged reason, never a crash, never a poisoned stream."""

from __future__ import annotations

import asyncio
import json
import logging

import asyncpg
import pytest

from contracts import pbx
from contracts.errors import CommandError, ErrorCode
from contracts.routing import ExplainCall
from runtime.bus import request
from services.pbxsim.scenario import Scenario
from tests.principals import ADMIN
from tests.routing.platform import Platform, eventually

pytestmark = pytest.mark.integration


async def dead_letters(database_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(
            "SELECT consumer, subject, reason FROM routing.dead_letters ORDER BY id"
        )
    finally:
        await conn.close()


async def test_bad_pbx_messages_are_dead_lettered_with_a_reason_and_calls_go_on(
    platform: Platform, database_url: str
) -> None:
    js = platform.nc.jetstream()
    await js.publish("voco.pbx.evt.call.x1", b"not json at all")
    await js.publish(
        "voco.pbx.evt.call.x2", json.dumps({"type": "pbx.CallOffered", "call_id": "x2"}).encode()
    )
    await js.publish("voco.pbx.evt.call.x3", json.dumps({"type": "pbx.NoSuchThing"}).encode())
    device = {
        "type": "pbx.DeviceReported",
        "extension": "1001",
        "device_id": "d",
        "state": "idle",
        "at": "2026-11-23T09:00:00Z",
    }
    await js.publish("voco.pbx.evt.call.x4", json.dumps(device).encode())
    await platform.provision("1001", None)
    await platform.start_sim(Scenario())
    call = await platform.call("1001")
    await eventually(lambda: call.outcome)  # the consumer lived through the bad messages
    # Calls are applied concurrently with the bad messages (partitions), so the dead
    # letters may land just after the call's outcome.
    for _ in range(100):
        letters = await dead_letters(database_url)
        if len(letters) >= 4:
            break
        await asyncio.sleep(0.02)
    # One partition's letters keep their order; across partitions (x1-x4) they need not.
    reasons = [row["reason"] for row in sorted(letters, key=lambda row: row["subject"])]
    assert len(reasons) == 4, reasons
    assert "invalid PBX message" in reasons[0]
    assert "callee" in reasons[1]
    assert "node" in reasons[1]
    assert "unknown message type 'pbx.NoSuchThing'" in reasons[2]
    assert "is not a call event" in reasons[3]
    assert {row["consumer"] for row in letters} == {"routing-calls"}


async def test_a_bad_presence_event_is_dead_lettered_and_the_read_model_goes_on(
    platform: Platform, database_url: str
) -> None:
    js = platform.nc.jetstream()
    await js.publish("voco.evt.presence.1001.ProfileSaved", b"{broken")
    bad_profile = {
        "id": "00000000-0000-0000-0000-000000000001",
        "type": "ProfileSaved",
        "v": 1,
        "stream": "user:1001",
        "version": 1,
        "at": "2026-11-23T09:00:00Z",
        "data": {"extension": "1001", "profile": {"id": "BAD ID"}},
    }
    await js.publish("voco.evt.presence.1001.ProfileSaved", json.dumps(bad_profile).encode())
    await platform.provision("1001", None)
    letters = await dead_letters(database_url)
    assert [row["consumer"] for row in letters] == ["routing-directory", "routing-directory"]
    assert "ProfileSaved v1 is invalid" in letters[1]["reason"]


async def test_an_unknown_extension_is_rejected_not_found(platform: Platform) -> None:
    await platform.start_sim(Scenario())
    call = await platform.call("4711")
    await eventually(lambda: call.outcome)
    assert call.outcome == "rejected:not_found"


async def test_queries_answer_bad_input_with_typed_errors(platform: Platform) -> None:
    with pytest.raises(CommandError) as unknown:
        await request(platform.nc, "routing", ExplainCall(call_id="nope", **ADMIN))
    assert unknown.value.code is ErrorCode.NOT_FOUND
    msg = await platform.nc.request("voco.cmd.routing.WhatIf", b'{"callee": "abc"}', timeout=5)
    reply = json.loads(msg.data)
    assert reply["ok"] is False
    assert reply["error"]["code"] == "invalid"
    assert reply["error"]["field"] == "callee"


async def test_a_bad_offer_by_request_is_answered_invalid_with_the_reason(
    platform: Platform, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="runtime.bus")

    async def offer(raw: bytes) -> dict[str, str]:
        msg = await platform.pbx_nc.request(pbx.OFFER_SUBJECT, raw, timeout=5)  # as a PBX
        reply = json.loads(msg.data)
        assert reply["ok"] is False
        assert reply["error"]["code"] == "invalid"
        return dict(reply["error"])

    assert "could not read pbx.CallOffered" in (await offer(b"not json"))["message"]
    missing = await offer(json.dumps({"type": "pbx.CallOffered", "call_id": "x2"}).encode())
    assert missing["field"] in {"node", "caller", "callee", "at"}
    dotted = {
        "type": "pbx.CallOffered",
        "call_id": "a.b",  # dots cannot be a subject token
        "node": "n1",
        "caller": "2000",
        "callee": "1001",
        "at": "2026-11-23T09:00:00Z",
    }
    assert (await offer(json.dumps(dotted).encode()))["field"] == "call_id"
    answered = {"type": "pbx.LegAnswered", "call_id": "x", "leg_id": "l", "at": dotted["at"]}
    wrong_type = await offer(json.dumps(answered).encode())
    assert "pbx.LegAnswered is not answered here; send pbx.CallOffered" in wrong_type["message"]
    assert await dead_letters(database_url) == []  # refused at the door: nothing stored
    refused = [r for r in caplog.records if r.getMessage() == "command refused"]
    assert len(refused) == 4
    assert all(r.subject == pbx.OFFER_SUBJECT for r in refused)  # type: ignore[attr-defined]
    assert "pbx.LegAnswered is not answered here" in refused[-1].reason  # type: ignore[attr-defined]
    await platform.provision("1001", None)
    await platform.start_sim(Scenario())
    call = await platform.call("1001")
    await eventually(lambda: call.outcome)  # and calls go on
