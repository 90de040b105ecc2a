"""Helpers for running the real presence service in-process on the test fixtures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NatsClient

from contracts.base import Command
from contracts.presence import GetPresence, ProvisionUser
from runtime.bus import request
from tests.principals import ADMIN


async def send(nc: NatsClient, command: Command) -> dict[str, Any]:
    return await request(nc, "presence", command)


async def provision(nc: NatsClient, extension: str = "1001", name: str = "Ann") -> None:
    await send(nc, ProvisionUser(extension=extension, display_name=name, **ADMIN))


async def presence(nc: NatsClient, extension: str = "1001") -> dict[str, Any]:
    return await send(nc, GetPresence(extension=extension, **ADMIN))


async def eventually(
    check: Callable[[], Awaitable[bool]],
    *,
    step: Callable[[], Awaitable[None]] | None = None,
    seconds: float = 5.0,
) -> None:
    """Wait until `check` holds, running `step` (e.g. advancing a FakeClock) between tries."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        if step is not None:
            await step()
        await asyncio.sleep(0.02)
