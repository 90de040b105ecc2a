"""A service past its command queue refuses at once with a clear reason, instead of
leaving callers to time out; what it accepted it still answers."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest

from contracts.base import Acting
from contracts.errors import CommandError, ErrorCode
from runtime.bus import CommandServer, request

pytestmark = pytest.mark.integration


class Slow(Acting):
    type_name = "Slow"


async def test_commands_past_the_queue_are_refused_quickly_as_overloaded(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    server = CommandServer(nc, "busy", max_concurrency=1, max_waiting=1)
    release = asyncio.Event()

    async def handler(_: Slow) -> dict[str, bool]:
        await release.wait()
        return {"done": True}

    server.route(Slow, handler)
    await server.start()
    client = await nats.connect(nats_url)
    try:
        started = time.monotonic()
        calls = [
            asyncio.create_task(request(client, "busy", Slow(actor="a"), timeout=5))
            for _ in range(5)
        ]
        await asyncio.sleep(0.3)
        refused = [c for c in calls if c.done()]
        assert len(refused) == 3
        for call in refused:
            error = call.exception()
            assert isinstance(error, CommandError)
            assert error.code is ErrorCode.UNAVAILABLE
            assert "overloaded" in error.message
            assert "try again" in error.message
        assert time.monotonic() - started < 1.0
        release.set()
        served = await asyncio.gather(*(c for c in calls if c not in refused))
        assert served == [{"done": True}, {"done": True}]
    finally:
        release.set()
        await server.drain()
        await client.close()
        await nc.close()


async def test_a_command_that_waited_too_long_for_its_turn_is_refused_unread(
    nats_url: str,
) -> None:
    nc = await nats.connect(nats_url)
    server = CommandServer(nc, "queued", max_concurrency=1, max_wait_seconds=0.2)
    handled: list[str] = []

    async def handler(command: Slow) -> dict[str, bool]:
        handled.append(str(command.actor))
        await asyncio.sleep(0.5)
        return {"done": True}

    server.route(Slow, handler)
    await server.start()
    client = await nats.connect(nats_url)
    try:
        first = asyncio.create_task(request(client, "queued", Slow(actor="first"), timeout=5))
        await asyncio.sleep(0.05)
        with pytest.raises(CommandError, match="overloaded"):
            await request(client, "queued", Slow(actor="second"), timeout=5)
        assert await first == {"done": True}
        assert handled == ["first"]
    finally:
        await server.drain()
        await client.close()
        await nc.close()
