"""The main screens at phone width (no horizontal scrolling), their screenshots, and how
soon the first screen is interactive after sign-in (reported, not asserted).

Refresh the screenshots in docs/screenshots/ with
`VOCO_WEB_SCREENSHOTS=1 ./voco test tests/web/test_screens.py`; without it they go to
the test's temp dir."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import TIMINGS, PageFor, sign_in
from tests.web.platform import Platform, User

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SCREENS = {
    "contacts": "/",
    "requests": "/requests",
    "visibility": "/visibility",
    "calls": "/calls",
    "what-if": "/what-if",
    "profile-editor": "/profiles/available",
    "schedule": "/schedule",
}


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    if os.environ.get("VOCO_WEB_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        return DOCS
    return tmp_path


@pytest.fixture
def someone_with_contacts(platform: Platform) -> User:
    user = platform.new_user("Olga Office", mobile="+4915199990000")
    with platform.client(user.extension, user.password) as client:
        for contact in ("1001", "1002", "1003"):
            client.put(f"/api/users/{user.extension}/contacts/{contact}").raise_for_status()
        client.put(
            f"/api/users/{user.extension}/status",
            json={"status": "in_meeting", "note": "Budget review until 3"},
        ).raise_for_status()
    return user


def no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"{page.url}: content {widths[0]} px wide in {widths[1]} px"


def test_every_main_screen_fits_a_phone_without_horizontal_scrolling(
    page_for: PageFor, someone_with_contacts: User, shots: Path
) -> None:
    page = page_for(someone_with_contacts, width=360, height=780)
    expect(page.locator("#contacts li[data-contact]")).to_have_count(3)
    for name, route in SCREENS.items():
        page.goto(f"/#{route}")
        page.wait_for_load_state("networkidle")
        expect(page.locator("main h1")).to_be_visible()
        no_horizontal_scroll(page)
        if name == "contacts":
            page.screenshot(path=shots / "phone-contacts.png", full_page=True)


def test_screenshots_of_the_main_screens(
    platform: Platform, page_for: PageFor, someone_with_contacts: User, shots: Path
) -> None:
    platform.place_call("2000", someone_with_contacts.extension)
    page = page_for(someone_with_contacts, width=1100, height=800)
    expect(page.locator("#contacts li[data-contact]")).to_have_count(3)
    page.screenshot(path=shots / "contacts.png", full_page=True)
    page.goto("/#/profiles/available")
    expect(page.get_by_role("heading", name="Edit Available")).to_be_visible()
    page.screenshot(path=shots / "profile-editor.png", full_page=True)
    page.goto("/#/what-if")
    page.get_by_role("button", name="What would happen?").click()
    expect(page.locator("#what-if-result .outcome")).not_to_be_empty()
    page.screenshot(path=shots / "what-if.png", full_page=True)
    page.goto("/#/calls")
    page.locator("#my-calls li[data-call] button").first.click()
    expect(page.locator("#my-calls .explanation")).to_be_visible()
    page.screenshot(path=shots / "calls.png", full_page=True)
    me = someone_with_contacts.extension
    for name, blocked in (("Walt Watcher", False), ("Xena Blocked", True)):
        watcher = platform.new_user(name)
        with platform.client(watcher.extension, watcher.password) as client:
            client.put(f"/api/users/{watcher.extension}/contacts/{me}").raise_for_status()
        if blocked:
            with platform.client(me, someone_with_contacts.password) as client:
                client.put(
                    f"/api/users/{me}/visibility/blocked/{watcher.extension}"
                ).raise_for_status()
    page.goto("/#/visibility")
    expect(page.locator("#blocked-title")).to_contain_text("(1)")
    expect(page.locator("#allowed-title")).to_be_visible()
    page.screenshot(path=shots / "visibility.png", full_page=True)

    admin = page_for(width=1100, height=800)
    admin.goto("/")
    admin.get_by_label("Extension or login").fill(platform.admin[0])
    admin.get_by_label("Password", exact=True).fill(platform.admin[1])
    admin.get_by_role("button", name="Sign in").click()
    expect(admin.get_by_role("heading", name="Administration")).to_be_visible()
    expect(admin.locator("#users li").first).to_be_visible()
    admin.screenshot(path=shots / "admin-users.png", full_page=True)


def test_first_screen_interactive_after_sign_in_is_measured(
    page_for: PageFor, someone_with_contacts: User
) -> None:
    """From pressing Sign in to the contacts screen rendered with its data (the
    `voco-interactive` mark, set once the screen's data is drawn), five times."""
    page = page_for()
    after_submit, after_load, sign_in_request = [], [], []
    for _ in range(5):
        page.context.clear_cookies()
        sign_in(page, someone_with_contacts.extension, someone_with_contacts.password)
        page.wait_for_function("() => performance.getEntriesByName('voco-interactive').length")
        after_submit.append(
            page.evaluate(
                "() => performance.measure('first', 'voco-sign-in-submitted',"
                " 'voco-interactive').duration"
            )
        )
        sign_in_request.append(
            page.evaluate(
                "() => performance.getEntriesByType('resource')"
                ".filter(e => e.name.endsWith('/api/session') && e.initiatorType === 'fetch')"
                ".at(-1).duration"
            )
        )
        page.reload()  # signed in already: navigation start to the same mark
        expect(page.locator("#contacts")).to_be_visible()
        page.wait_for_function("() => performance.getEntriesByName('voco-interactive').length")
        after_load.append(
            page.evaluate("() => performance.getEntriesByName('voco-interactive')[0].startTime")
        )
    TIMINGS["first screen interactive after sign-in (ms, median of 5)"] = statistics.median(
        after_submit
    )
    TIMINGS["page load to interactive, signed in (ms, median of 5)"] = statistics.median(after_load)
    TIMINGS["of which the sign-in request (ms, median of 5)"] = statistics.median(sign_in_request)
    assert all(t > 0 for t in after_submit + after_load)
