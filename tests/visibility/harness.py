"""Integration helpers: the service in-process, presence events on the real stream, watchers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from contracts.base import Command, Message
from contracts.envelope import Envelope
from contracts.errors import CommandError
from contracts.presence import Channel, PresenceChanged, Status, UserProvisioned, event_subject
from runtime.bus import command_subject, flush_all, request
from runtime.clock import FakeClock
from runtime.config import Connections
from runtime.service import ServiceRuntime
from services.visibility.app import build

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Presence:
    """Stands in for the presence service: real envelopes on the real VOCO_PRESENCE stream."""

    def __init__(self, nc: NatsClient) -> None:
        self.js = nc.jetstream()
        self.versions: dict[str, int] = {}

    async def emit(self, extension: str, event: Message) -> None:
        version = self.versions[extension] = self.versions.get(extension, 0) + 1
        envelope = Envelope.wrap(
            event, id=uuid4(), stream=f"user:{extension}", version=version, at=NOW
        )
        await self.js.publish(event_subject(extension, event.type_name), envelope.to_bytes())

    async def provision(self, *extensions: str) -> None:
        for extension in extensions:
            await self.emit(
                extension, UserProvisioned(extension=extension, display_name=f"User {extension}")
            )

    async def set(self, extension: str, status: Status, note: str | None = None) -> None:
        await self.emit(
            extension,
            PresenceChanged(
                extension=extension, status=status, note=note, channel=Channel.CLIENT, actor="t"
            ),
        )


class Watcher:
    """A watcher's live views, as the gateway would receive them."""

    def __init__(self, extension: str) -> None:
        self.extension = extension
        self.views: asyncio.Queue[Msg] = asyncio.Queue()

    async def listen(self, nc: NatsClient) -> Watcher:
        await nc.subscribe(f"voco.view.{self.extension}.>", cb=self.views.put)
        await flush_all(nc)
        return self

    async def next(self, timeout: float = 3.0) -> dict[str, Any]:
        msg = await asyncio.wait_for(self.views.get(), timeout)
        view: dict[str, Any] = json.loads(msg.data)
        assert msg.subject == f"voco.view.{self.extension}.{view['extension']}"
        return view

    async def nothing_within(self, seconds: float = 0.3) -> None:
        await asyncio.sleep(seconds)
        assert self.views.empty(), f"unexpected view: {self.views.get_nowait().data!r}"


@asynccontextmanager
async def running(
    connections_for: Callable[[str], Connections],
) -> AsyncIterator[ServiceRuntime]:
    """Visibility running as its own principal."""
    service = await build(connections_for("visibility"), FakeClock(NOW))
    await service.start()
    await flush_all(service.nc)  # the command subscriptions reach the server before requests
    try:
        yield service
    finally:
        await service.stop()


async def client(connections: Connections) -> NatsClient:
    return await nats.connect(connections.nats_url)


async def call(nc: NatsClient, command: Command) -> dict[str, Any]:
    return await request(nc, "visibility", command)


async def raw_reply(nc: NatsClient, command: Command) -> bytes:
    """The reply exactly as a client receives it, to compare byte for byte."""
    msg = await nc.request(
        command_subject("visibility", command),
        command.model_dump_json(exclude_none=True).encode(),
        timeout=5,
    )
    return bytes(msg.data)


async def error_of(nc: NatsClient, command: Command) -> CommandError:
    try:
        await call(nc, command)
    except CommandError as error:
        return error
    raise AssertionError(f"{command.type_name} was accepted")


async def wait_known(database_url: str, *extensions: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(200):
            found = await conn.fetchval(
                "SELECT count(*) FROM visibility.users WHERE extension = ANY($1::text[])",
                list(extensions),
            )
            if found == len(extensions):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"the service never learned of {extensions}")
    finally:
        await conn.close()


async def wait_presence(database_url: str, extension: str, status: Status) -> None:
    """Until the service has applied the latest PresenceChanged of `extension`."""
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(200):
            found = await conn.fetchval(
                "SELECT status FROM visibility.presence WHERE extension = $1", extension
            )
            if found == status.value:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"the service never saw {extension} as {status}")
    finally:
        await conn.close()


async def settled(service: ServiceRuntime) -> None:
    """Until the fan-out leader has applied every committed visibility event: the outbox is
    empty and the leader's checkpoint reached the end of VOCO_VISIBILITY."""
    from contracts.visibility import VISIBILITY_STREAM
    from services.visibility.fanout import CHANGES_CONSUMER

    for _ in range(250):
        outbox = await service.pool.fetchval("SELECT count(*) FROM visibility.outbox")
        applied = await service.pool.fetchval(
            "SELECT sequence FROM visibility.checkpoints WHERE consumer = $1", CHANGES_CONSUMER
        )
        last = (await service.js.stream_info(VISIBILITY_STREAM)).state.last_seq
        if outbox == 0 and (applied or 0) >= last:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the fan-out leader did not catch up")
