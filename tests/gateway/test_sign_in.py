"""Signing in and out: wrong passwords, unknown users, locks, expiry, revocation, CSRF, and
bodies that try to choose who acts."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator

import pytest

from tests.gateway.platform import FAST, PASSWORDS, Gateway


@pytest.fixture
def gateway(presence_gateway: Gateway) -> Gateway:
    return presence_gateway


pytestmark = pytest.mark.integration


async def test_sign_in_sets_an_http_only_strict_cookie_and_counts_as_a_presence_client(
    gateway: Gateway,
) -> None:
    async with gateway.client() as client:
        answer = await client.post(
            "/api/session", json={"login": "1001", "password": PASSWORDS["1001"]}
        )
        assert answer.status_code == 200, answer.text
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/api" in cookie
        assert "Secure" not in cookie  # plain http here; https or the proxy header sets it
        body = answer.json()
        assert body["token"] is None
        assert body["account"]["role"] == "user"
        assert (await gateway.raw_presence("1001"))["signed_in_sessions"] == 1

        me = await client.get("/api/session")
        assert me.json()["session"]["id"] == body["session"]["id"]
        out = await client.delete("/api/session", headers={"X-CSRF-Token": body["csrf_token"]})
        assert out.status_code == 204
        assert (await gateway.raw_presence("1001"))["signed_in_sessions"] == 0
        assert (await client.get("/api/session")).status_code == 401


async def test_wrong_password_and_unknown_user_get_the_same_answer_in_the_same_time(
    gateway: Gateway,
) -> None:
    async with gateway.client() as client:

        async def attempt(login: str) -> tuple[int, str, float]:
            started = time.perf_counter()
            answer = await client.post(
                "/api/session", json={"login": login, "password": "not-the-password"}
            )
            return answer.status_code, answer.text, time.perf_counter() - started

        wrong, unknown = [], []
        for _ in range(4):  # alternated, so load on the machine falls on both alike
            wrong.append(await attempt("1002"))
            unknown.append(await attempt("4999"))
        assert {(s, t) for s, t, _ in wrong} == {(s, t) for s, t, _ in unknown}
        assert wrong[0][0] == 401
        assert "wrong login or password" in wrong[0][1]
        # Both hash a password (a dummy for the unknown login) and are slowed alike: an
        # unknown login answered without hashing would take a small fraction of the time.
        ratio = statistics.median(t for *_, t in unknown) / statistics.median(t for *_, t in wrong)
        assert 0.5 < ratio < 2, (wrong, unknown)


async def test_repeated_failures_lock_the_login_whether_or_not_it_exists(
    gateway: Gateway,
) -> None:
    async with gateway.client() as client:
        answers = {}
        for login in ("1003", "4998"):
            for _ in range(FAST.signin_account_limit):
                await client.post("/api/session", json={"login": login, "password": "guess-1234"})
            answers[login] = await client.post(
                "/api/session", json={"login": login, "password": PASSWORDS.get(login, "x")}
            )
        assert answers["1003"].status_code == answers["4998"].status_code == 429
        assert answers["1003"].json() == answers["4998"].json()
        assert "Retry-After" in answers["1003"].headers
        # The right password does not get through a lock; an administrator's reset lifts it.
        admin = await gateway.sign_in("admin")
        reset = await admin.put(
            "/api/admin/accounts/1003/password",
            json={"password": "a-new-password-1", "must_change_password": True},
        )
        assert reset.status_code == 200, reset.text
        again = await client.post(
            "/api/session", json={"login": "1003", "password": "a-new-password-1"}
        )
        assert again.status_code == 200
        assert again.json()["account"]["must_change_password"] is True
        csrf = {"X-CSRF-Token": again.json()["csrf_token"]}
        blocked = await client.put("/api/users/1003/status", json={"status": "busy"}, headers=csrf)
        assert blocked.status_code == 403
        assert "change your password" in blocked.text
        changed = await client.put(
            "/api/session/password",
            json={"current_password": "a-new-password-1", "new_password": "mine-and-only-mine"},
            headers=csrf,
        )
        assert changed.status_code == 204, changed.text
        ok = await client.put("/api/users/1003/status", json={"status": "busy"}, headers=csrf)
        assert ok.status_code == 200, ok.text
        await admin.aclose()


async def test_an_idle_session_expires_and_presence_stops_counting_it(gateway: Gateway) -> None:
    client = await gateway.sign_in("1001")
    assert (await client.get("/api/users/1001/presence")).status_code == 200
    gateway.clock.advance(FAST.session_idle_seconds + 1)
    answer = await client.get("/api/users/1001/presence")
    assert answer.status_code == 401
    assert "session ended" in answer.text
    assert (await gateway.raw_presence("1001"))["signed_in_sessions"] == 0
    await client.aclose()


async def test_an_absolute_expiry_ends_even_a_busy_session(gateway: Gateway) -> None:
    client = await gateway.sign_in("1001", bearer=True)
    for _ in range(int(FAST.session_max_seconds // FAST.session_idle_seconds) + 1):
        gateway.clock.advance(FAST.session_idle_seconds - 60)
        await client.get("/api/session")
    assert (await client.get("/api/session")).status_code == 401
    await client.aclose()


async def test_the_sweeper_signs_out_an_expired_session_nobody_uses(gateway: Gateway) -> None:
    client = await gateway.sign_in("1002")
    assert (await gateway.raw_presence("1002"))["signed_in_sessions"] == 1
    gateway.clock.advance(FAST.session_idle_seconds + 1)
    for _ in range(100):
        if (await gateway.raw_presence("1002"))["signed_in_sessions"] == 0:
            break
        await asyncio.sleep(0.05)
    assert (await gateway.raw_presence("1002"))["signed_in_sessions"] == 0
    await client.aclose()


async def test_a_revoked_session_is_refused_and_listed_no_more(gateway: Gateway) -> None:
    phone, laptop = await gateway.sign_in("1001", bearer=True), await gateway.sign_in("1001")
    listed = (await laptop.get("/api/accounts/1001/sessions")).json()
    assert {s["id"] for s in listed} == {phone.session_id, laptop.session_id}  # type: ignore[attr-defined]
    assert [s["current"] for s in listed if s["id"] == laptop.session_id] == [True]  # type: ignore[attr-defined]
    revoked = await laptop.delete(f"/api/accounts/1001/sessions/{phone.session_id}")  # type: ignore[attr-defined]
    assert revoked.status_code == 204
    assert (await phone.get("/api/session")).status_code == 401
    assert [s["id"] for s in (await laptop.get("/api/accounts/1001/sessions")).json()] == [
        laptop.session_id  # type: ignore[attr-defined]
    ]
    other = await gateway.sign_in("1002")
    refused = await other.delete(f"/api/accounts/1001/sessions/{laptop.session_id}")  # type: ignore[attr-defined]
    assert refused.status_code == 403
    for client in (phone, laptop, other):
        await client.aclose()


async def test_a_change_with_the_cookie_but_without_the_csrf_token_is_refused(
    gateway: Gateway,
) -> None:
    client = await gateway.sign_in("1001")
    token = client.headers.pop("X-CSRF-Token")
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        answer = await client.put(
            "/api/users/1001/status", json={"status": "busy"}, headers=headers
        )
        assert answer.status_code == 403
        assert answer.json()["error"]["field"] == "X-CSRF-Token"
    assert (await gateway.raw_presence("1001"))["status"] == "available"
    ok = await client.put(
        "/api/users/1001/status", json={"status": "busy"}, headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 200
    assert (await client.get("/api/users/1001/presence")).status_code == 200  # reads need none
    await client.aclose()


@pytest.mark.parametrize(
    "extra",
    [{"actor": "1002"}, {"role": "admin"}, {"channel": "admin"}, {"at": "2030-01-01T00:00:00Z"}],
)
async def test_a_body_that_tries_to_choose_who_acts_is_refused_naming_the_field(
    gateway: Gateway, extra: dict[str, str]
) -> None:
    client = await gateway.sign_in("1001")
    answer = await client.put("/api/users/1001/status", json={"status": "busy", **extra})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == next(iter(extra))
    assert error["code"] == "invalid"
    assert (await gateway.raw_presence("1001"))["status"] == "available"
    await client.aclose()


async def test_the_history_records_the_session_user_as_the_actor(gateway: Gateway) -> None:
    client = await gateway.sign_in("1001")
    await client.put("/api/users/1001/status", json={"status": "away", "note": "lunch"})
    history = (await client.get("/api/users/1001/history")).json()["entries"]
    assert history[0]["actor"] == "1001"
    assert history[0]["channel"] == "client"
    await client.aclose()


async def test_answers_carry_security_headers_and_a_huge_body_is_refused(gateway: Gateway) -> None:
    client = await gateway.sign_in("1001")
    answer = await client.get("/api/session")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    huge = await client.put("/api/users/1001/status", content=b"{" + b" " * 100_000 + b"}")
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "invalid"

    async def chunks() -> AsyncIterator[bytes]:  # no content-length
        for _ in range(100):
            yield b" " * 1000

    chunked = await client.put(
        "/api/users/1001/status", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 411
    await client.aclose()


async def test_a_cross_site_form_cannot_sign_a_browser_in(gateway: Gateway) -> None:
    """Login CSRF: a page elsewhere can POST a form (text/plain, urlencoded) but not JSON
    without a preflight this API never grants; only JSON signs in."""
    async with gateway.client() as client:
        body = f'{{"login": "1001", "password": "{PASSWORDS["1001"]}"}}'
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            answer = await client.post(
                "/api/session", content=body, headers={"content-type": content_type}
            )
            assert answer.status_code == 422
            assert "set-cookie" not in answer.headers
        preflight = await client.options(
            "/api/session",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers
