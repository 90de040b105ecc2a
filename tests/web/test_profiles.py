"""The profile editor in a real browser: the service's error next to its field, and an
edited ring strategy taking effect in a what-if; a simulated call and its explanation."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.conftest import PageFor
from tests.web.platform import Platform


def test_a_ring_timeout_of_4_is_shown_next_to_its_field_and_nothing_is_saved(
    platform: Platform, page_for: PageFor
) -> None:
    user = platform.new_user("Ivy Timeout")
    page = page_for(user)
    page.goto("/#/profiles/available")
    timeout = page.get_by_label("Ring timeout (seconds)")
    timeout.fill("4")
    page.get_by_role("button", name="Save", exact=True).click()

    error = page.locator(f"#{timeout.get_attribute('id')}-error")
    expect(error).to_contain_text("between 5 and 120 seconds")
    expect(timeout).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#profile-saved")).to_be_empty()
    with platform.client(user.extension, user.password) as client:
        profiles = client.get(f"/api/users/{user.extension}/profiles").json()["profiles"]
    available = next(p for p in profiles if p["id"] == "available")
    assert available["ringing"]["timeout"] == 30


def test_sequential_desk_10_s_then_mobile_takes_effect_in_a_what_if(
    platform: Platform, page_for: PageFor
) -> None:
    user = platform.new_user("Jon Sequence", mobile="+4915112340000")
    desk = f"{user.extension}-desk"
    with platform.client(*platform.admin) as admin:
        admin.put(
            f"/api/admin/users/{user.extension}/devices/{desk}", json={"state": "registered"}
        ).raise_for_status()
    page = page_for(user)
    page.goto("/#/profiles/available")
    page.get_by_label("Strategy", exact=True).select_option("sequential")
    page.get_by_role("button", name="Add device").click()
    page.get_by_role("button", name="Add device").click()
    steps = page.locator("#ring-steps li")
    steps.nth(0).get_by_label("Device", exact=True).select_option(desk)
    steps.nth(0).get_by_label("Seconds", exact=True).fill("10")
    steps.nth(1).get_by_label("Device", exact=True).select_option("mobile")
    steps.nth(1).get_by_label("Seconds", exact=True).fill("20")
    page.get_by_label("Mobile phone number").fill("+4915112340000")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#profile-saved")).to_have_text("Saved Available.")

    page.get_by_role("link", name="What if").click()
    page.get_by_label("Caller", exact=True).fill("2000")  # the what-if, once shown
    page.get_by_role("button", name="What would happen?").click()
    result = page.locator("#what-if-result")
    expect(result).to_contain_text(
        f"ring sequentially {user.extension}/{desk} 10 s, then mobile +4915112340000 20 s"
    )
    expect(result.locator(".outcome")).not_to_be_empty()


def test_a_simulated_call_is_listed_with_its_explanation(
    platform: Platform, page_for: PageFor
) -> None:
    user = platform.new_user("Kim Caller")
    call_id = platform.place_call("2000", user.extension)
    page = page_for(user)
    page.get_by_role("link", name="My calls").click()
    row = page.locator(f'#my-calls li[data-call="{call_id}"]')
    expect(row).to_contain_text("From 2000")
    why = row.get_by_role("button", name="Why did the call from 2000 go where it went?")
    why.click()
    detail = row.locator(".explanation")
    expect(detail).to_contain_text("2000 called")
    expect(detail.locator(".outcome")).to_contain_text("voicemail")
    expect(
        row.get_by_role("button", name="Why did the call from 2000 go where it went?")
    ).to_have_attribute("aria-expanded", "true")


def test_a_save_that_would_make_a_forward_loop_says_so_before_it_is_saved(
    platform: Platform, page_for: PageFor
) -> None:
    lea, max_ = platform.new_user("Lea Loop"), platform.new_user("Max Loop")
    with platform.client(max_.extension, max_.password) as client:
        profiles = client.get(f"/api/users/{max_.extension}/profiles").json()["profiles"]
        available = next(p for p in profiles if p["id"] == "available")
        available["forwarding"]["always"] = {"kind": "extension", "target": lea.extension}
        del available["id"]
        client.put(
            f"/api/users/{max_.extension}/profiles/available", json=available
        ).raise_for_status()

    page = page_for(lea)
    page.goto("/#/profiles/available")
    always = page.locator('fieldset[data-rule="always"]')
    always.get_by_label("Always: forward to").select_option("extension")
    always.get_by_label("Number, extension or id").fill(max_.extension)
    page.get_by_role("button", name="Save", exact=True).click()

    warning = page.locator("#loop-warning")
    expect(warning).to_contain_text("would make a forward loop")
    expect(warning).to_contain_text(f"{lea.extension} → {max_.extension} → {lea.extension}")
    expect(page.locator("#profile-saved")).to_be_empty()
    with platform.client(lea.extension, lea.password) as client:
        stored = client.get(f"/api/users/{lea.extension}/profiles").json()["profiles"]
    assert next(p for p in stored if p["id"] == "available")["forwarding"].get("always") is None

    page.get_by_role("button", name="Save anyway").click()
    expect(page.locator("#profile-saved")).to_have_text("Saved Available.")


def test_a_new_profile_is_created_then_activated_with_the_keyboard_from_the_switcher(
    platform: Platform, page_for: PageFor
) -> None:
    user = platform.new_user("Sam Focus")
    page = page_for(user)
    page.goto("/#/profiles")
    page.get_by_role("link", name="Create a profile").click()
    page.get_by_label("Profile id").fill("focus")
    page.get_by_label("Profile name").fill("Focus time")
    page.get_by_label("Shows as").select_option("busy")
    page.get_by_label("Send calls directly to voicemail").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#profile-list")).to_contain_text("Focus time")

    page.get_by_role("link", name="Contacts").click()
    switcher = page.get_by_label("Switch profile")
    switcher.focus()
    switcher.select_option("focus")
    page.keyboard.press("Tab")  # to Activate
    page.keyboard.press("Enter")
    expect(page.locator("#active-profile")).to_contain_text("Focus time")
    expect(page.locator("#my-status-now")).to_contain_text("Busy")  # the profile shows Busy

    page.get_by_role("button", name="Set my status to Available").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#my-status-now")).to_contain_text("Available")
    expect(page.get_by_role("button", name="Set my status to Available")).to_have_attribute(
        "aria-pressed", "true"
    )


def test_with_presence_deciding_the_profile_do_not_disturb_activates_its_profile(
    platform: Platform, page_for: PageFor
) -> None:
    user = platform.new_user("Tia Decides")
    page = page_for(user)
    page.get_by_role("link", name="Settings").click()
    routing = page.locator("form", has=page.get_by_role("heading", name="My presence decides"))
    routing.get_by_label("Setting a status activates the profile chosen for it").check()
    routing.get_by_label("Do Not Disturb").select_option("dnd")
    routing.get_by_role("button", name="Save").click()
    expect(routing.locator(".notice")).to_contain_text("Saved")

    page.get_by_role("link", name="Contacts").click()
    page.get_by_role("button", name="Set my status to Do Not Disturb").click()
    expect(page.locator("#active-profile")).to_contain_text("Do Not Disturb")

    page.get_by_role("link", name="Settings").click()
    expect(page.locator("#history li").first).to_contain_text("client")
