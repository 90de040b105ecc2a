"""What the admin and settings pages save reads back through the edge; a proposed
profile's forward loop is found before it is saved, with every device idle; favourites."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.gateway.platform import Gateway

pytestmark = pytest.mark.integration

BUSY_TO_1002 = {
    "name": "Busy to 1002",
    "forwarding": {"busy": {"kind": "extension", "target": "1002"}},
}


async def ok(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_the_directory_and_the_company_schedule_read_back_as_saved(
    gateway: Gateway,
) -> None:
    admin = await gateway.sign_in("admin")
    group = {
        "name": "Support",
        "members": ["1002", "1003"],
        "strategy": "sequential",
        "timeout": 25,
    }
    await ok(await admin.put("/api/admin/ring-groups/support", json=group))
    await ok(await admin.put("/api/admin/ivrs/main", json={"name": "Main menu"}))
    await ok(await admin.put("/api/admin/feature-codes", json={"codes": {"*80": "dnd"}}))
    assert (await ok(await admin.get("/api/admin/company-schedule"))) == {"schedule": None}
    holidays = {
        "time_zone": "Europe/Berlin",
        "holidays": [{"date": "2027-08-15", "name": "Company day"}],
        "holiday_profile": "away",
    }
    await ok(await admin.put("/api/admin/company-schedule", json=holidays))

    groups = await ok(await admin.get("/api/admin/ring-groups"))
    ivrs = await ok(await admin.get("/api/admin/ivrs"))
    codes = await ok(await admin.get("/api/admin/feature-codes"))
    company = await ok(await admin.get("/api/admin/company-schedule"))

    assert groups == {"ring_groups": [{"group_id": "support", **group}]}
    assert ivrs == {"ivrs": [{"ivr_id": "main", "name": "Main menu"}]}
    assert codes == {"codes": {"*80": "dnd"}}
    assert company["schedule"]["time_zone"] == "Europe/Berlin"
    assert company["schedule"]["holidays"] == [
        {"date": "2027-08-15", "name": "Company day", "profile_id": None}
    ]
    await admin.aclose()


async def test_automation_and_presence_routing_read_back_to_their_owner(
    gateway: Gateway,
) -> None:
    ann = await gateway.sign_in("1001")
    body = {"enabled": True, "idle_after_seconds": 600, "idle_status": "offline"}
    await ok(await ann.put("/api/users/1001/automation", json=body))
    routing = {"enabled": True, "profiles_by_status": {"do_not_disturb": "dnd"}}
    await ok(await ann.put("/api/users/1001/presence-routing", json=routing))

    assert await ok(await ann.get("/api/users/1001/automation")) == {"extension": "1001", **body}
    assert await ok(await ann.get("/api/users/1001/presence-routing")) == {
        "extension": "1001",
        **routing,
    }
    await ann.aclose()


async def test_a_busy_forward_loop_is_found_before_saving_while_every_device_is_idle(
    gateway: Gateway,
) -> None:
    admin, ann = await gateway.sign_in("admin"), await gateway.sign_in("1001")
    for ext in ("1001", "1002"):
        await ok(
            await admin.put(f"/api/admin/users/{ext}/devices/{ext}-desk", json={"state": "idle"})
        )
    # 1002 sends unanswered calls to 1001, and is the active profile of 1002
    back = {"name": "Back", "forwarding": {"no_answer": {"kind": "extension", "target": "1001"}}}
    await ok(await admin.put("/api/users/1002/profiles/back", json=back))
    await ok(await admin.post("/api/users/1002/profiles/back/activate"))

    # routing's read model learns of 1002's profile from presence's events
    found: dict[str, Any] = {}
    for _ in range(200):
        found = await ok(await ann.post("/api/users/1001/profiles/desk/check", json=BUSY_TO_1002))
        if found["loops"]:
            break
        await asyncio.sleep(0.02)
    assert found["profile_id"] == "desk"
    assert [(f["field"], f["kind"], f["chain"]) for f in found["loops"]] == [
        ("forwarding.busy", "loop", ["1001", "1002", "1001"])
    ]
    assert "1002's No Answer rule forwards to 1001" in found["loops"][0]["message"]
    # a what-if with idle devices plays no Busy rule: it sees no loop
    what_if = await ok(
        await ann.post(
            "/api/users/1001/what-if",
            json={"caller": "2000", "profile": {"id": "desk", **BUSY_TO_1002}},
        )
    )
    assert not any("a loop" in step["why"] for step in what_if["steps"])
    # and nothing was saved
    profiles = await ok(await ann.get("/api/users/1001/profiles"))
    assert "desk" not in [p["id"] for p in profiles["profiles"]]
    # another user may not check 1001's profiles
    cleo = await gateway.sign_in("1003")
    refused = await cleo.post("/api/users/1001/profiles/desk/check", json=BUSY_TO_1002)
    assert refused.status_code == 403
    for client in (admin, ann, cleo):
        await client.aclose()


async def test_a_contact_is_marked_and_unmarked_as_a_favourite(gateway: Gateway) -> None:
    ann = await gateway.sign_in("1001")
    await ok(await ann.put("/api/users/1001/contacts/1002"))
    await ok(await ann.put("/api/users/1001/favourites/1002"))
    assert (await ok(await ann.get("/api/users/1001/contacts")))["favourites"] == ["1002"]
    await ok(await ann.delete("/api/users/1001/favourites/1002"))
    assert (await ok(await ann.get("/api/users/1001/contacts")))["favourites"] == []
    await ann.aclose()
