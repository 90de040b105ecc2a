"""The whole platform in-process for the edge's tests: presence, visibility, scheduler and
routing on the test NATS and Postgres, and the gateway served by uvicorn on a free port."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
import uvicorn
from fastapi import FastAPI
from nats.aio.client import Client as NatsClient

from contracts.errors import CommandError, ErrorCode
from contracts.presence import GetPresence, ProvisionUser
from runtime.bus import request
from runtime.config import Connections
from runtime.service import ServiceRuntime
from services.gateway.accounts.domain import AccountRole
from services.gateway.app import create_app
from services.gateway.config import GatewayConfig
from services.gateway.demo import ensure_accounts
from services.gateway.edge import Edge
from services.gateway.server import server_config
from services.presence.app import build as build_presence
from services.routing.app import build as build_routing
from services.scheduler.app import build as build_scheduler
from services.visibility.app import build as build_visibility
from tests.principals import ADMIN as AS_ADMIN

USERS = ["1001", "1002", "1003", "1004"]
ADMIN = "admin"
PASSWORDS = {login: f"secret-{login}-pw" for login in [*USERS, ADMIN]}

FAST = GatewayConfig(
    port=0,
    signin_delay_step_seconds=0.01,
    signin_delay_max_seconds=0.05,
    stream_keepalive_seconds=0.5,
    sweep_seconds=0.2,
)


class ShiftedClock:
    """Wall time plus an offset a test moves forward (session expiry without waiting)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def sleep_until(self, moment: datetime) -> None:
        await asyncio.sleep(max(0.0, (moment - self.now()).total_seconds()))

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class Gateway:
    url: str
    app: FastAPI
    clock: ShiftedClock
    nc: NatsClient  # the operator's connection, for checks behind the edge
    services: list[ServiceRuntime] = field(default_factory=list)

    @property
    def edge(self) -> Edge:
        edge: Edge = self.app.state.edge
        return edge

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10, **kwargs)

    async def sign_in(self, login: str, *, bearer: bool = False) -> httpx.AsyncClient:
        """A client signed in as `login`: the cookie and CSRF header, or the bearer token."""
        client = self.client()
        answer = await client.post(
            "/api/session", json={"login": login, "password": PASSWORDS[login], "bearer": bearer}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if bearer:
            client.cookies.clear()
            client.headers["Authorization"] = f"Bearer {body['token']}"
        else:
            client.headers["X-CSRF-Token"] = body["csrf_token"]
        client.session_id = body["session"]["id"]  # type: ignore[attr-defined]
        return client

    async def raw_presence(self, extension: str) -> dict[str, Any]:
        return await request(self.nc, "presence", GetPresence(extension=extension, **AS_ADMIN))


async def _until_answering(nc: NatsClient) -> None:
    for _ in range(200):
        try:
            await request(nc, "presence", GetPresence(extension="1001", **AS_ADMIN), timeout=1)
            return
        except CommandError as error:
            if error.code is not ErrorCode.UNAVAILABLE:
                return
            await asyncio.sleep(0.02)


EVERY_SERVICE = (build_presence, build_visibility, build_scheduler, build_routing)


@asynccontextmanager
async def running_gateway(
    connections: Connections,
    config: GatewayConfig = FAST,
    builds: tuple[Callable[[Connections], Awaitable[ServiceRuntime]], ...] = EVERY_SERVICE,
) -> AsyncIterator[Gateway]:
    """The edge and `builds`' services (every one by default; presence always first)."""
    services: list[ServiceRuntime] = []
    for build in builds:
        service = await build(connections)
        await service.start()
        services.append(service)
    nc = await nats.connect(connections.nats_url)
    clock = ShiftedClock()
    app = create_app(connections, config, clock)
    server = uvicorn.Server(server_config(app, config))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        gateway = Gateway(f"http://127.0.0.1:{port}", app, clock, nc, services)
        await _until_answering(nc)
        for login in USERS:
            await request(
                nc, "presence", ProvisionUser(extension=login, display_name=login, **AS_ADMIN)
            )
        wanted = [(u, f"User {u}", AccountRole.USER) for u in USERS]
        wanted.append((ADMIN, "Admin", AccountRole.ADMIN))
        await ensure_accounts(
            gateway.edge.accounts, wanted, dict(PASSWORDS), gateway.edge.passwords
        )
        yield gateway
    finally:
        server.should_exit = True
        await task
        await nc.close()
        for service in reversed(services):
            await service.stop()


class Stream:
    """A live stream read over HTTP: events as (kind, data, id)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next(self, timeout: float = 5.0) -> tuple[str, Any, str | None]:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> tuple[str, Any, str | None]:
        kind, data, event_id = "", "", None
        async for line in self.lines:
            if line.startswith(":") or line.startswith("retry:"):
                continue
            if line == "":
                if kind:
                    return kind, json.loads(data) if data else None, event_id
                continue
            name, _, value = line.partition(": ")
            if name == "event":
                kind = value
            elif name == "data":
                data = value
            elif name == "id":
                event_id = value
        raise AssertionError("the stream ended")

    async def until(self, kind: str, timeout: float = 5.0) -> tuple[str, Any, str | None]:
        while True:
            event = await self.next(timeout)
            if event[0] == kind:
                return event

    async def presence(
        self, extension: str, status: str, timeout: float = 5.0
    ) -> tuple[str, Any, str | None]:
        """Until a view of `extension` showing `status` (a contact just added is announced
        with one view first, which may come after `ready`)."""
        while True:
            event = await self.until("presence", timeout)
            if event[1]["extension"] == extension and event[1]["status"] == status:
                return event

    async def nothing_within(self, seconds: float) -> None:
        try:
            event = await self.next(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event {event}")


@asynccontextmanager
async def streaming(
    client: httpx.AsyncClient, last_event_id: str | None = None
) -> AsyncIterator[Stream]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with client.stream("GET", "/api/stream", headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        yield Stream(response)
