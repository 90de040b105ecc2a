"""Signing in and out in a real browser, with the forced password change."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.conftest import PageFor, sign_in
from tests.web.platform import Platform


def test_a_new_user_changes_the_first_password_then_signs_out(
    platform: Platform, page_for: PageFor
) -> None:
    user = platform.new_user("Nina New", ready=False)
    page = page_for()
    page.goto("/")
    page.get_by_label("Extension or login").fill(user.extension)
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".form-error")).to_contain_text("wrong login or password")

    page.get_by_label("Password", exact=True).fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("Current password").fill(user.password)
    page.get_by_label("New password", exact=True).fill("my-own-secret-1")
    page.get_by_label("New password again").fill("my-own-secret-1")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="Contacts and my status")).to_be_visible()
    expect(page.locator("#top")).to_contain_text(f"Nina New ({user.extension})")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Voco")).to_be_visible()
    page.reload()  # the session is gone on the server too, not only on the page
    expect(page.get_by_role("heading", name="Sign in to Voco")).to_be_visible()

    sign_in(page, user.extension, "my-own-secret-1")
