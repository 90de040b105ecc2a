"""Browser-test fixtures: the platform (`./voco up` in a temp dir), Debian's Chromium
through Playwright, and a signed-in page per user."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.web.browser import FLAGS, NoBrowser, ensure_chromium
from tests.web.platform import Platform, User, running_platform

expect.set_options(timeout=10_000)

TIMINGS: dict[str, float] = {}
"""What the browser tests measured, printed at the end of the run (reported, not asserted)."""


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for what, value in TIMINGS.items():
        terminalreporter.write_line(f"web client: {what}: {value:.0f}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    try:
        return str(ensure_chromium())
    except NoBrowser as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    with running_platform() as running:
        yield running


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=FLAGS)
    yield launched
    launched.close()


PageFor = Callable[..., Page]


@pytest.fixture
def page_for(browser: Browser, platform: Platform) -> Iterator[PageFor]:
    """`page_for(user)`: a page of its own (own cookies) signed in as `user`."""
    contexts = []
    errors: list[str] = []

    def make(user: User | None = None, *, width: int = 1280, height: int = 900) -> Page:
        context = browser.new_context(  # one zone, so times typed into pages mean the same
            base_url=platform.url,
            viewport={"width": width, "height": height},
            timezone_id="Europe/Berlin",
            locale="en-GB",
        )
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        # A Content-Security-Policy refusal shows only on the console.
        page.on(
            "console",
            lambda message: errors.append(message.text) if "Refused to" in message.text else None,
        )
        if user is not None:
            sign_in(page, user.extension, user.password)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"the page raised: {errors}"


def sign_in(page: Page, login: str, password: str) -> None:
    page.goto("/")
    page.get_by_label("Extension or login").fill(login)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Contacts and my status")).to_be_visible()
