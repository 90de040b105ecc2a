"""What the pages save, shown again after a reload (read back from the edge): the
administrator's ring groups, IVRs, feature codes and company holidays; a user's
automation and presence routing; a breakthrough list. A busy-forward loop is shown next
to its rule before saving while every device is idle; a bad entry's error next to it."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page, expect

from tests.web.conftest import PageFor
from tests.web.platform import Platform, User


def sign_in_as_admin(page: Page, platform: Platform) -> None:
    page.goto("/")
    page.get_by_label("Extension or login").fill(platform.admin[0])
    page.get_by_label("Password", exact=True).fill(platform.admin[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()


def values_of(page: Page, rows: str, *inputs: str) -> list[list[str]]:
    """Each row's input values (the page sets values as properties, not attributes)."""
    found: list[list[str]] = page.locator(rows).evaluate_all(
        "(rows, inputs) => rows.map((row) => inputs.map((i) => row.querySelector(i)?.value))",
        list(inputs),
    )
    return found


def test_the_admin_pages_show_what_is_stored_after_a_reload(
    platform: Platform, page_for: PageFor
) -> None:
    members = [platform.new_user(f"Member {n}").extension for n in (1, 2)]
    page = page_for()
    sign_in_as_admin(page, platform)

    page.goto("/#/admin/ring-groups")
    page.get_by_label("Id", exact=True).fill("web-support")
    page.get_by_label("Name", exact=True).fill("Web support")
    page.get_by_label("Members (extensions, comma-separated)").fill(", ".join(members))
    page.get_by_label("Strategy").select_option("sequential")
    page.get_by_label("Ring timeout (seconds)").fill("25")
    page.get_by_role("button", name="Save ring group").click()
    expect(page.locator("form .notice")).to_have_text("Ring group web-support saved.")

    page.goto("/#/admin/ivrs")
    page.get_by_label("Id", exact=True).fill("web-menu")
    page.get_by_label("Name", exact=True).fill("Web menu")
    page.get_by_role("button", name="Save IVR").click()
    expect(page.locator("form .notice")).to_have_text("IVR web-menu saved.")

    page.goto("/#/admin/feature-codes")
    page.get_by_role("button", name="Add a code").click()
    codes = page.locator("#feature-codes li")
    codes.last.get_by_label("Code").fill("*79")
    codes.last.get_by_label("Profile id").fill("meeting")
    page.get_by_role("button", name="Save feature codes").click()
    expect(page.locator("form .notice")).to_have_text("Feature codes saved.")

    page.goto("/#/admin/holidays")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_label("Profile on holidays").select_option("away")
    page.get_by_role("button", name="Add a holiday").click()
    page.locator("#holidays li").last.get_by_label("Date").fill("2027-12-24")
    page.locator("#holidays li").last.get_by_label("Name").fill("Web Eve")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.locator("form .notice")).to_have_text("Schedule saved.")

    page.goto("/#/admin/ring-groups")
    page.reload()
    expect(page.locator("#ring-groups")).to_contain_text(
        f"Web support (web-support): {', '.join(members)} · sequential · 25 s"
    )
    page.goto("/#/admin/ivrs")
    page.reload()
    expect(page.locator("#ivrs")).to_contain_text("Web menu (web-menu)")
    page.goto("/#/admin/feature-codes")
    page.reload()
    expect(page.locator("#feature-codes li").first).to_be_visible()
    assert ["*79", "meeting"] in values_of(
        page, "#feature-codes li", "[data-code]", "[data-profile]"
    )
    page.goto("/#/admin/holidays")
    page.reload()
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Berlin")
    assert ["2027-12-24", "Web Eve"] in values_of(
        page, "#holidays li", "[data-holiday-date]", "[data-holiday-name]"
    )


def test_automation_and_presence_routing_are_shown_as_saved_after_a_reload(
    platform: Platform, page_for: PageFor
) -> None:
    user = platform.new_user("Lea Settings")
    page = page_for(user)
    page.get_by_role("link", name="Settings").click()
    automation = page.locator(
        "form", has=page.get_by_role("heading", name="When I am not signed in")
    )
    automation.get_by_label("Show me as away when no client of mine is signed in").check()
    automation.get_by_label("After (minutes)").fill("15")
    automation.get_by_label("Show as").select_option("offline")
    automation.get_by_role("button", name="Save").click()
    expect(automation.locator(".notice")).to_have_text("Automation saved.")
    routing = page.locator(
        "form", has=page.get_by_role("heading", name="My presence decides how I receive calls")
    )
    routing.get_by_label("Setting a status activates the profile chosen for it").check()
    routing.get_by_label("Do Not Disturb").select_option("dnd")
    routing.get_by_label("In Meeting").select_option("meeting")
    routing.get_by_role("button", name="Save").click()
    expect(routing.locator(".notice")).to_have_text("Saved: your presence decides your profile.")

    page.reload()
    expect(
        automation.get_by_label("Show me as away when no client of mine is signed in")
    ).to_be_checked()
    expect(automation.get_by_label("After (minutes)")).to_have_value("15")
    expect(automation.get_by_label("Show as")).to_have_value("offline")
    expect(
        routing.get_by_label("Setting a status activates the profile chosen for it")
    ).to_be_checked()
    expect(routing.get_by_label("Do Not Disturb")).to_have_value("dnd")
    expect(routing.get_by_label("In Meeting")).to_have_value("meeting")
    expect(routing.get_by_label("Away", exact=True)).to_have_value("")


def loops_found(platform: Platform, user: User, profile: dict[str, Any]) -> list[Any]:
    with platform.client(user.extension, user.password) as client:
        answer = client.post(
            f"/api/users/{user.extension}/profiles/{profile['id']}/check",
            json={k: v for k, v in profile.items() if k != "id"},
        )
        answer.raise_for_status()
        loops: list[Any] = answer.json()["loops"]
        return loops


def test_a_busy_forward_loop_is_shown_next_to_its_rule_before_saving_with_idle_devices(
    platform: Platform, page_for: PageFor
) -> None:
    me, colleague = platform.new_user("Max Loop"), platform.new_user("Nia Back")
    back = {
        "name": "Back to Max",
        "forwarding": {"no_answer": {"kind": "extension", "target": me.extension}},
    }
    with platform.client(*platform.admin) as admin:
        for user in (me, colleague):
            admin.put(
                f"/api/admin/users/{user.extension}/devices/{user.extension}-desk",
                json={"state": "idle"},
            ).raise_for_status()
        admin.put(f"/api/users/{colleague.extension}/profiles/back", json=back).raise_for_status()
        admin.post(f"/api/users/{colleague.extension}/profiles/back/activate").raise_for_status()
    proposal = {
        "id": "available",
        "name": "Available",
        "forwarding": {"busy": {"kind": "extension", "target": colleague.extension}},
    }
    deadline = time.monotonic() + 10  # routing learns of the colleague's profile from presence
    while not loops_found(platform, me, proposal) and time.monotonic() < deadline:
        time.sleep(0.1)

    page = page_for(me)
    page.goto("/#/profiles/available")
    busy = page.locator('fieldset[data-rule="busy"]')
    busy.get_by_label("Busy: forward to").select_option("extension")
    busy.get_by_label("Number, extension or id").fill(colleague.extension)
    busy.get_by_label("Number, extension or id").press("Tab")  # a change: checked at once

    chain = f"{me.extension} → {colleague.extension} → {me.extension}"
    slot = busy.locator('[data-loop-for="forwarding.busy"]')
    expect(slot).to_contain_text(f"a loop ({chain})")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(slot).to_contain_text(f"a loop ({chain})")
    expect(slot).to_contain_text(
        f"{colleague.extension}'s No Answer rule forwards to {me.extension}"
    )
    describedby = busy.get_by_label("Busy: forward to").get_attribute("aria-describedby") or ""
    assert slot.get_attribute("id") in describedby.split()
    expect(page.locator("#loop-warning")).to_contain_text(chain)
    expect(page.locator('[data-loop-for="forwarding.no_answer"]')).to_be_empty()
    expect(page.locator("#profile-saved")).to_be_empty()
    with platform.client(me.extension, me.password) as client:
        stored = client.get(f"/api/users/{me.extension}/profiles").json()["profiles"]
    busy_rule = next(p for p in stored if p["id"] == "available")["forwarding"]["busy"]
    assert busy_rule == {"kind": "voicemail", "target": None, "greeting": None}  # as it was

    page.get_by_role("button", name="Save anyway").click()
    expect(page.locator("#profile-saved")).to_have_text("Saved Available.")


def test_a_breakthrough_list_is_edited_and_shown_after_a_reload(
    platform: Platform, page_for: PageFor
) -> None:
    user, vip = platform.new_user("Ola Quiet"), platform.new_user("Vic Important")
    page = page_for(user)
    page.goto("/#/profiles/dnd")
    section = page.locator("#breakthrough")
    section.get_by_role("button", name="Add an extension").click()
    section.locator("#breakthrough-extensions li").last.get_by_label("Extension", exact=True).fill(
        vip.extension
    )
    section.get_by_role("button", name="Add a number").click()
    prefix = section.locator("#breakthrough-numbers li").last
    prefix.get_by_label("Number", exact=True).fill("+4930123")
    prefix.get_by_label("Matches").select_option("prefix")
    section.get_by_role("button", name="Add a number").click()
    exact = section.locator("#breakthrough-numbers li").last
    exact.get_by_label("Number", exact=True).fill("+4917012345678")
    section.get_by_label("My favourite contacts").check()
    section.get_by_label("Urgent repeat", exact=False).check()
    section.get_by_label("Within (minutes)").fill("5")
    section.get_by_label("Callers who ring through are routed by").select_option("available")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#profile-saved")).to_have_text("Saved Do Not Disturb.")

    page.reload()
    section = page.locator("#breakthrough")
    expect(
        section.locator("#breakthrough-extensions li").get_by_label("Extension", exact=True)
    ).to_have_value(vip.extension)
    numbers = section.locator("#breakthrough-numbers li")
    expect(numbers).to_have_count(2)
    expect(numbers.nth(0).get_by_label("Number", exact=True)).to_have_value("+4917012345678")
    expect(numbers.nth(0).get_by_label("Matches")).to_have_value("exact")
    expect(numbers.nth(1).get_by_label("Number", exact=True)).to_have_value("+4930123")
    expect(numbers.nth(1).get_by_label("Matches")).to_have_value("prefix")
    expect(section.get_by_label("My favourite contacts")).to_be_checked()
    expect(section.get_by_label("Urgent repeat", exact=False)).to_be_checked()
    expect(section.get_by_label("Within (minutes)")).to_have_value("5")
    expect(section.get_by_label("Callers who ring through are routed by")).to_have_value(
        "available"
    )
    with platform.client(user.extension, user.password) as client:
        stored = client.get(f"/api/users/{user.extension}/profiles").json()["profiles"]
    assert next(p for p in stored if p["id"] == "dnd")["breakthrough"] == {
        "extensions": [vip.extension],
        "numbers": ["+4917012345678"],
        "prefixes": ["+4930123"],
        "favourites": True,
        "profile": "available",
        "urgent_repeat": {"minutes": 5},
    }


def test_a_bad_breakthrough_entry_is_refused_next_to_its_field(
    platform: Platform, page_for: PageFor
) -> None:
    user, known = platform.new_user("Pia Wrong"), platform.new_user("Quin Known")
    page = page_for(user)
    page.goto("/#/profiles/dnd")
    section = page.locator("#breakthrough")
    section.get_by_role("button", name="Add an extension").click()
    section.get_by_role("button", name="Add an extension").click()
    entries = section.locator("#breakthrough-extensions li")
    entries.nth(0).get_by_label("Extension", exact=True).fill(known.extension)
    unknown = entries.nth(1).get_by_label("Extension", exact=True)
    unknown.fill("4999")
    page.get_by_role("button", name="Save", exact=True).click()

    error = page.locator(f"#{unknown.get_attribute('id')}-error")
    expect(error).to_contain_text("no user has extension 4999")
    expect(unknown).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#profile-saved")).to_be_empty()

    entries.nth(1).get_by_role("button", name="Remove extension", exact=False).click()
    section.get_by_label("Urgent repeat", exact=False).check()
    minutes = section.get_by_label("Within (minutes)")
    minutes.fill("31")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(f"#{minutes.get_attribute('id')}-error")).to_contain_text("30")
    expect(minutes).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#profile-saved")).to_be_empty()
    with platform.client(user.extension, user.password) as client:
        stored = client.get(f"/api/users/{user.extension}/profiles").json()["profiles"]
    assert next(p for p in stored if p["id"] == "dnd")["breakthrough"]["urgent_repeat"] is None


def test_a_contact_is_marked_as_a_favourite_and_stays_one_after_a_reload(
    platform: Platform, page_for: PageFor
) -> None:
    user, friend = platform.new_user("Rui Favourite"), platform.new_user("Sam Friend")
    page = page_for(user)
    page.get_by_label("Add a contact (extension)").fill(friend.extension)
    page.get_by_role("button", name="Add contact").click()
    row = page.locator(f'#contacts li[data-contact="{friend.extension}"]')
    toggle = row.get_by_role("button", name="Favourite:", exact=False)
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(row.get_by_role("button", name="Favourite:", exact=False)).to_have_attribute(
        "aria-pressed", "true"
    )
    page.reload()
    row = page.locator(f'#contacts li[data-contact="{friend.extension}"]')
    expect(row.get_by_role("button", name="Favourite:", exact=False)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(row.locator(".contact-summary")).to_contain_text("a favourite")
