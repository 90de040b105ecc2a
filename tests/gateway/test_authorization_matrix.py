"""Every endpoint x {owner, another user, a blocked watcher, an administrator, anonymous}.

The rows are checked against the app's own routes: an endpoint without a row fails the
test, so a new endpoint cannot ship without saying who may call it. Any allow the matrix
does not expect fails; so does a refusal of someone it lets in.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.gateway.platform import PASSWORDS, Gateway

pytestmark = pytest.mark.integration

OWNER, OTHER, BLOCKED, ADMIN, ANONYMOUS = "owner", "other", "blocked", "admin", "anonymous"
EVERYONE = {OWNER, OTHER, BLOCKED, ADMIN, ANONYMOUS}
SIGNED_IN = {OWNER, OTHER, BLOCKED, ADMIN}
OWNER_OR_ADMIN = {OWNER, ADMIN}
ADMIN_ONLY = {ADMIN}
LOGINS = {OWNER: "1001", OTHER: "1003", BLOCKED: "1002", ADMIN: "admin"}

LATER = {"starts_at": "2030-01-07T09:00:00Z", "ends_at": "2030-01-07T17:00:00Z"}
VALUES = {
    "ext": "1001",
    "other": "1004",
    "profile_id": "matrix",
    "override_id": "trip",
    "timed_id": "lunch",
    "call_id": "no-such-call",
    "device_id": "1001-desk",
    "group_id": "sales",
    "ivr_id": "main",
    "login": "1001",
}

# (method, path) -> (who may, body)
MATRIX: dict[tuple[str, str], tuple[set[str], Any]] = {
    ("GET", "/api/health"): (EVERYONE, None),
    ("POST", "/api/session"): (EVERYONE, {"login": "1004", "password": PASSWORDS["1004"]}),
    ("GET", "/api/session"): (SIGNED_IN, None),
    ("DELETE", "/api/session"): (SIGNED_IN, None),
    ("PUT", "/api/session/password"): (
        SIGNED_IN,
        {"current_password": "not-it", "new_password": "a-long-new-password"},
    ),
    ("GET", "/api/accounts/{login}/sessions"): (OWNER_OR_ADMIN, None),
    ("DELETE", "/api/accounts/{login}/sessions/{session_id}"): (OWNER_OR_ADMIN, None),
    ("GET", "/api/users/{ext}/presence"): (OWNER_OR_ADMIN, None),
    ("PUT", "/api/users/{ext}/status"): (OWNER_OR_ADMIN, {"status": "busy", "note": "matrix"}),
    ("GET", "/api/users/{ext}/history"): (OWNER_OR_ADMIN, None),
    ("GET", "/api/users/{ext}/profiles"): (OWNER_OR_ADMIN, None),
    ("PUT", "/api/users/{ext}/profiles/{profile_id}"): (OWNER_OR_ADMIN, {"name": "Matrix"}),
    ("DELETE", "/api/users/{ext}/profiles/{profile_id}"): (OWNER_OR_ADMIN, None),
    ("POST", "/api/users/{ext}/profiles/{profile_id}/activate"): (OWNER_OR_ADMIN, None),
    ("POST", "/api/users/{ext}/profiles/{profile_id}/check"): (
        OWNER_OR_ADMIN,
        {"name": "Matrix", "forwarding": {"busy": {"kind": "extension", "target": "1001"}}},
    ),
    ("GET", "/api/users/{ext}/automation"): (OWNER_OR_ADMIN, None),
    ("GET", "/api/users/{ext}/presence-routing"): (OWNER_OR_ADMIN, None),
    ("PUT", "/api/users/{ext}/automation"): (OWNER_OR_ADMIN, {"idle_after_seconds": 600}),
    ("PUT", "/api/users/{ext}/presence-routing"): (OWNER_OR_ADMIN, {"enabled": False}),
    ("GET", "/api/users/{ext}/schedule"): (OWNER_OR_ADMIN, None),
    ("PUT", "/api/users/{ext}/schedule"): (OWNER_OR_ADMIN, {"time_zone": "Europe/Berlin"}),
    ("DELETE", "/api/users/{ext}/schedule"): (OWNER_OR_ADMIN, None),
    ("PUT", "/api/users/{ext}/schedule/overrides/{override_id}"): (
        OWNER_OR_ADMIN,
        {**LATER, "profile_id": "matrix"},
    ),
    ("DELETE", "/api/users/{ext}/schedule/overrides/{override_id}"): (OWNER_OR_ADMIN, None),
    ("PUT", "/api/users/{ext}/timed-statuses/{timed_id}"): (
        OWNER_OR_ADMIN,
        {**LATER, "status": "in_meeting"},
    ),
    ("DELETE", "/api/users/{ext}/timed-statuses/{timed_id}"): (OWNER_OR_ADMIN, None),
    ("GET", "/api/users/{ext}/contacts"): (OWNER_OR_ADMIN, None),
    ("PUT", "/api/users/{ext}/contacts/{other}"): (OWNER_OR_ADMIN, None),
    ("DELETE", "/api/users/{ext}/contacts/{other}"): (OWNER_OR_ADMIN, None),
    ("PUT", "/api/users/{ext}/favourites/{other}"): (OWNER_OR_ADMIN, None),
    ("DELETE", "/api/users/{ext}/favourites/{other}"): (OWNER_OR_ADMIN, None),
    ("GET", "/api/users/{ext}/views/{other}"): (OWNER_OR_ADMIN, None),
    ("GET", "/api/users/{ext}/requests"): (OWNER_OR_ADMIN, None),
    ("POST", "/api/users/{ext}/requests/{other}/accept"): (OWNER_OR_ADMIN, None),
    ("POST", "/api/users/{ext}/requests/{other}/block"): (OWNER_OR_ADMIN, None),
    ("GET", "/api/users/{ext}/visibility"): (OWNER_OR_ADMIN, None),
    ("PUT", "/api/users/{ext}/visibility/policy"): (OWNER_OR_ADMIN, {"policy": "everyone"}),
    ("GET", "/api/users/{ext}/visibility/allowed"): (OWNER_OR_ADMIN, None),
    ("PUT", "/api/users/{ext}/visibility/allowed/{other}"): (OWNER_OR_ADMIN, None),
    ("GET", "/api/users/{ext}/visibility/blocked"): (OWNER_OR_ADMIN, None),
    ("PUT", "/api/users/{ext}/visibility/blocked/{other}"): (OWNER_OR_ADMIN, None),
    ("GET", "/api/users/{ext}/watchers"): (OWNER_OR_ADMIN, None),
    ("GET", "/api/users/{ext}/calls"): (OWNER_OR_ADMIN, None),
    ("GET", "/api/users/{ext}/calls/{call_id}"): (OWNER_OR_ADMIN, None),
    ("POST", "/api/users/{ext}/what-if"): (OWNER_OR_ADMIN, {"caller": "2000"}),
    ("GET", "/api/admin/accounts"): (ADMIN_ONLY, None),
    ("POST", "/api/admin/accounts"): (ADMIN_ONLY, {"login": "1005", "display_name": "Eve"}),
    ("PUT", "/api/admin/accounts/{login}/password"): (ADMIN_ONLY, {}),
    ("PUT", "/api/admin/users/{ext}/devices/{device_id}"): (ADMIN_ONLY, {"state": "registered"}),
    ("GET", "/api/admin/ring-groups"): (ADMIN_ONLY, None),
    ("GET", "/api/admin/ivrs"): (ADMIN_ONLY, None),
    ("GET", "/api/admin/feature-codes"): (ADMIN_ONLY, None),
    ("GET", "/api/admin/company-schedule"): (ADMIN_ONLY, None),
    ("PUT", "/api/admin/ring-groups/{group_id}"): (
        ADMIN_ONLY,
        {"name": "Sales", "members": ["1001", "1003"]},
    ),
    ("PUT", "/api/admin/ivrs/{ivr_id}"): (ADMIN_ONLY, {"name": "Main menu"}),
    ("PUT", "/api/admin/feature-codes"): (ADMIN_ONLY, {"codes": {"*71": "available"}}),
    ("PUT", "/api/admin/company-schedule"): (ADMIN_ONLY, {"time_zone": "Europe/Berlin"}),
    ("GET", "/api/stream"): (SIGNED_IN, None),
}
# Rows whose own effect would end the caller's session: a fresh session is used for them.
FRESH_SESSION = {("DELETE", "/api/session")}


def app_routes(gateway: Gateway) -> set[tuple[str, str]]:
    """Every operation the app serves, from its OpenAPI document (no route of the edge is
    left out of it: the Schemathesis test covers the same set)."""
    paths = gateway.app.openapi()["paths"]
    return {(method.upper(), path) for path, item in paths.items() for method in item}


def test_the_matrix_has_no_row_for_an_endpoint_that_does_not_exist() -> None:
    assert all(path.startswith("/api/") for _, path in MATRIX)


async def call(client: httpx.AsyncClient, method: str, path: str, body: Any) -> int:
    if path == "/api/stream":
        async with client.stream("GET", path) as response:
            return response.status_code
    answer = await client.request(method, path, json=body)
    assert answer.status_code < 500, f"{method} {path}: {answer.status_code} {answer.text}"
    if answer.status_code >= 400:
        assert set(answer.json()) == {"error"}, answer.text
    return answer.status_code


async def test_every_endpoint_allows_exactly_whom_the_matrix_says(gateway: Gateway) -> None:
    assert app_routes(gateway) == set(MATRIX), "every endpoint needs a row in MATRIX"
    clients: dict[str, httpx.AsyncClient] = {
        who: await gateway.sign_in(login) for who, login in LOGINS.items()
    }
    clients[ANONYMOUS] = gateway.client()
    # 1002 watches 1001, and 1001 blocked it.
    await clients[BLOCKED].put("/api/users/1002/contacts/1001")
    blocked = await clients[OWNER].put("/api/users/1001/visibility/blocked/1002")
    assert blocked.status_code == 200, blocked.text
    unexpected = []
    spare: list[httpx.AsyncClient] = []
    try:
        for (method, template), (allowed, body) in MATRIX.items():
            # Those refused first, so nothing they try can ride on state another made.
            for who in sorted(EVERYONE, key=lambda w: (w in allowed, w)):
                values = dict(VALUES)
                if template.startswith("/api/admin/accounts/"):
                    values["login"] = "1004"  # a reset ends the account's sessions
                if "{session_id}" in template:
                    extra = await gateway.sign_in("1001")
                    spare.append(extra)
                    values["session_id"] = extra.session_id  # type: ignore[attr-defined]
                path = template.format(**values)
                client = clients[who]
                if (method, template) in FRESH_SESSION and who != ANONYMOUS:
                    client = await gateway.sign_in(LOGINS[who])
                    spare.append(client)
                if (method, template) == ("POST", "/api/session"):
                    client = gateway.client()  # signing in must not replace the caller's cookie
                    spare.append(client)
                status = await call(client, method, path, body)
                if who in allowed and status in (401, 403):
                    unexpected.append(f"{who} refused {status}: {method} {path}")
                if who not in allowed:
                    expected = 401 if who == ANONYMOUS else 403
                    if status != expected:
                        unexpected.append(f"{who} got {status}, not {expected}: {method} {path}")
    finally:
        for client in [*clients.values(), *spare]:
            await client.aclose()
    assert not unexpected, "\n".join(unexpected)
