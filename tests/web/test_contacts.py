"""Contacts in a real browser: live presence, requests under "ask", and blocking, which
must look exactly like an offline user."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import PageFor
from tests.web.platform import Platform, User


def contact_row(page: Page, user: User):  # type: ignore[no-untyped-def]
    return page.locator(f'#contacts li[data-contact="{user.extension}"]')


def add_contact_by_api(platform: Platform, watcher: User, contact: User) -> None:
    with platform.client(watcher.extension, watcher.password) as client:
        client.put(
            f"/api/users/{watcher.extension}/contacts/{contact.extension}"
        ).raise_for_status()


def test_a_status_change_shows_live_in_another_users_contact_list(
    platform: Platform, page_for: PageFor
) -> None:
    ann, ben = platform.new_user("Ann Live"), platform.new_user("Ben Live")
    add_contact_by_api(platform, ben, ann)
    bens = page_for(ben)
    expect(contact_row(bens, ann)).to_contain_text("Available")

    anns = page_for(ann)
    anns.get_by_label("Note (optional)").fill("lunch")
    anns.get_by_role("button", name="Set my status to Away").click()
    expect(anns.locator("#my-status-now")).to_contain_text("Away")

    row = contact_row(bens, ann)  # no reload: the live stream brings it
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "away")
    expect(row).to_contain_text("Away")
    expect(row).to_contain_text("lunch")
    expect(row.locator(".contact-summary")).to_have_text(f"{ann.extension}: Away, lunch")


def test_a_request_under_ask_is_counted_accepted_and_then_shows_the_status(
    platform: Platform, page_for: PageFor
) -> None:
    cleo, dev = platform.new_user("Cleo Ask"), platform.new_user("Dev Ask")
    cleos = page_for(cleo)
    cleos.get_by_role("link", name="Visibility").click()
    cleos.get_by_label("Ask me about each request").check()
    cleos.get_by_role("button", name="Save policy").click()
    expect(cleos.get_by_label("Ask me about each request")).to_be_checked()

    devs = page_for(dev)
    devs.get_by_label("Add a contact (extension)").fill(cleo.extension)
    devs.get_by_role("button", name="Add contact").click()
    expect(contact_row(devs, cleo)).to_contain_text("Offline")  # not allowed yet

    badge = cleos.locator("#request-badge")
    expect(badge).to_have_text("1")
    expect(badge).to_be_visible()
    cleos.get_by_role("link", name="Requests").click()
    expect(cleos.locator("#pending-count")).to_have_text("(1)")
    cleos.get_by_role("button", name=f"Accept {dev.extension}").click()
    expect(cleos.locator("#pending-requests")).to_contain_text("No pending requests.")
    expect(badge).to_be_hidden()

    expect(contact_row(devs, cleo)).to_contain_text("Available")


def test_a_blocked_contact_shows_offline_exactly_as_an_offline_user(
    platform: Platform, page_for: PageFor
) -> None:
    eve, fay, gus = (platform.new_user(n) for n in ("Eve Block", "Fay Block", "Gus Offline"))
    with platform.client(eve.extension, eve.password) as client:
        client.put(
            f"/api/users/{eve.extension}/status", json={"status": "busy", "note": "secret"}
        ).raise_for_status()
    with platform.client(gus.extension, gus.password) as client:
        client.put(
            f"/api/users/{gus.extension}/status", json={"status": "offline"}
        ).raise_for_status()
    add_contact_by_api(platform, fay, eve)
    add_contact_by_api(platform, fay, gus)
    fays = page_for(fay)
    expect(contact_row(fays, eve)).to_contain_text("secret")

    eves = page_for(eve)
    eves.get_by_role("link", name="Visibility").click()
    eves.get_by_role("button", name=f"Block {fay.extension}").click()
    expect(eves.locator("#blocked-list")).to_contain_text(fay.extension)
    expect(eves.locator("#blocked-title")).to_contain_text("(1)")

    blocked, offline = contact_row(fays, eve), contact_row(fays, gus)
    expect(blocked).to_contain_text("Offline")
    expect(blocked).not_to_contain_text("secret")

    def shape(row) -> str:  # type: ignore[no-untyped-def]
        html: str = row.evaluate(
            "el => el.querySelector('.contact-status').outerHTML"
            " + el.querySelector('.contact-summary').textContent"
            " + (el.querySelector('.note') ? 'note' : 'no note')"
        )
        return html.replace(eve.extension, "X").replace(gus.extension, "X")

    assert shape(blocked) == shape(offline)
    fays.reload()  # a fresh load shows the same, not only the live update
    expect(contact_row(fays, eve)).to_contain_text("Offline")
    assert shape(contact_row(fays, eve)) == shape(contact_row(fays, gus))
