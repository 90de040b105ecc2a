"""The administrator's pages and the schedule editor in a real browser."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from tests.web.conftest import PageFor
from tests.web.platform import Platform


def open_admin_page(page: Page, name: str) -> None:
    """Follow an administration link and wait until that page is the one shown: the
    page before it is still there for a moment, with controls of the same labels."""
    link = page.get_by_role("navigation", name="Administration").get_by_role("link", name=name)
    link.click()
    expect(link).to_have_attribute("aria-current", "page")


def test_an_administrator_creates_a_user_resets_the_password_and_adds_a_device(
    platform: Platform, page_for: PageFor
) -> None:
    extension = platform.unused_extension()
    page = page_for()
    page.goto("/")
    page.get_by_label("Extension or login").fill(platform.admin[0])
    page.get_by_label("Password", exact=True).fill(platform.admin[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()

    page.get_by_label("Extension (or an administrator's login)").fill(extension)
    page.get_by_label("Name").fill("Pat Admin-Made")
    page.get_by_label("First password").fill("first-password-1")
    page.get_by_role("button", name="Create user").click()
    row = page.locator(f'#users li[data-user="{extension}"]')
    expect(row).to_contain_text("Pat Admin-Made")
    expect(row).to_contain_text("must change password")

    row.get_by_label(f"New password for {extension}").fill("second-password-2")
    row.get_by_role("button", name="Reset password").click()
    expect(row).to_contain_text(f"Password of {extension} reset")

    open_admin_page(page, "Devices")
    page.get_by_label("User", exact=True).select_option(extension)
    page.get_by_label("Device id").fill(f"{extension}-desk")
    page.get_by_role("button", name="Save device").click()
    expect(page.locator("#devices")).to_contain_text(f"{extension}-desk")

    open_admin_page(page, "Profiles")
    page.get_by_label("User", exact=True).select_option(extension)
    expect(page.locator("#profile-list")).to_contain_text("Do Not Disturb")

    open_admin_page(page, "Ring groups")
    page.get_by_label("Id", exact=True).fill("support")
    page.get_by_label("Name", exact=True).fill("Support")
    page.get_by_label("Members (extensions, comma-separated)").fill(f"1004, {extension}")
    page.get_by_label("Ring timeout (seconds)").fill("4")
    page.get_by_role("button", name="Save ring group").click()
    expect(page.locator(".error:visible").first).to_contain_text("between 5 and 120")
    page.get_by_label("Ring timeout (seconds)").fill("25")
    page.get_by_role("button", name="Save ring group").click()
    expect(page.locator("#ring-groups")).to_contain_text(f"Support (support): 1004, {extension}")

    open_admin_page(page, "Company holidays")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_label("Public holidays of (country code)").fill("DE")
    page.get_by_label("Profile on holidays").select_option("away")
    page.get_by_role("button", name="Add a holiday").click()
    page.locator("#holidays li").first.get_by_label("Date").fill("2027-08-15")
    page.locator("#holidays li").first.get_by_label("Name").fill("Company day")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_text("Schedule saved.")).to_be_visible()

    user = page_for()
    user.goto("/")
    user.get_by_label("Extension or login").fill(extension)
    user.get_by_label("Password", exact=True).fill("second-password-2")
    user.get_by_role("button", name="Sign in").click()
    expect(user.get_by_role("heading", name="Choose a new password")).to_be_visible()


def test_weekly_hours_are_saved_and_their_next_boundaries_shown(
    platform: Platform, page_for: PageFor
) -> None:
    user = platform.new_user("Quinn Hours")
    page = page_for(user)
    page.get_by_role("link", name="Schedule").click()
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_label("Outside these hours").select_option("away")
    page.get_by_role("button", name="Add hours").click()
    hours = page.locator("#weekly-rules li").first
    hours.get_by_label("From").fill("09:00")
    hours.get_by_label("To").fill("17:00")
    hours.get_by_label("Profile").select_option("available")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_text("Schedule saved.")).to_be_visible()
    boundaries = page.locator("#next-boundaries li")
    expect(boundaries.first).not_to_have_class("muted")
    expect(page.locator("#next-boundaries")).to_contain_text("available")
    expect(page.locator("#next-boundaries")).to_contain_text("away")

    monday = date.today() + timedelta(days=7 - date.today().weekday())
    page.get_by_role("link", name="What if").click()
    page.get_by_label("At (empty: now)").fill("18:00")
    page.get_by_label("On (empty: today)").fill(monday.isoformat())
    page.get_by_role("button", name="What would happen?").click()
    expect(page.locator("#what-if-scheduled")).to_contain_text("Away active then")
    expect(page.locator("#what-if-result")).to_contain_text("active profile is 'Away' (away)")
    page.get_by_label("At (empty: now)").fill("10:00")
    page.get_by_role("button", name="What would happen?").click()
    expect(page.locator("#what-if-scheduled")).to_contain_text("Available active then")

    page.get_by_role("link", name="Schedule").click()
    timed = page.locator("section", has=page.get_by_role("heading", name="Timed statuses"))
    later = (datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M"
    )
    timed.get_by_label("Until").fill(later)
    timed.get_by_label("Status").select_option("be_right_back")
    timed.get_by_label("Note").fill("coffee")
    timed.get_by_role("button", name="Add timed status").click()
    expect(page.locator("#timed-statuses")).to_contain_text("coffee")
    expect(page.locator("#my-status-summary")).to_contain_text("Be Right Back")  # applied now

    page.get_by_label("To").first.fill("08:00")  # ends before it starts
    page.get_by_role("button", name="Save schedule").click()
    error = page.locator("#weekly-rules li").first.locator(".error").nth(1)
    expect(error).not_to_be_empty()
