"""The cookie is Secure behind a trusted TLS proxy, forwarded headers count only from it,
and failures from one address lock that address whatever logins it tries."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from runtime.config import Connections
from services.presence.app import build as build_presence
from tests.gateway.platform import FAST, PASSWORDS, Gateway, running_gateway

pytestmark = pytest.mark.integration

HTTPS = {"X-Forwarded-Proto": "https"}


@pytest.fixture
async def proxied(connections: Connections) -> AsyncIterator[Gateway]:
    config = dataclasses.replace(FAST, trust_proxy_headers=True)
    async with running_gateway(connections, config, builds=(build_presence,)) as gateway:
        yield gateway


async def test_behind_a_trusted_tls_proxy_the_cookie_is_secure(proxied: Gateway) -> None:
    async with proxied.client() as client:
        answer = await client.post(
            "/api/session", json={"login": "1001", "password": PASSWORDS["1001"]}, headers=HTTPS
        )
        assert answer.status_code == 200
        assert "Secure" in answer.headers["set-cookie"]


async def test_forwarded_headers_from_a_client_count_for_nothing(
    presence_gateway: Gateway,
) -> None:
    async with presence_gateway.client() as client:
        answer = await client.post(
            "/api/session", json={"login": "1001", "password": PASSWORDS["1001"]}, headers=HTTPS
        )
        assert "Secure" not in answer.headers["set-cookie"]
        # Nor can a client escape the address lock by naming other addresses.
        for n in range(FAST.signin_address_limit):
            await client.post(
                "/api/session",
                json={"login": f"5{n:03d}", "password": "guess-guess"},
                headers={"X-Forwarded-For": f"10.0.0.{n}"},
            )
        locked = await client.post(
            "/api/session",
            json={"login": "1002", "password": PASSWORDS["1002"]},
            headers={"X-Forwarded-For": "10.9.9.9"},
        )
        assert locked.status_code == 429
