"""The liveness heartbeat: a file touched every few seconds while the event loop runs and
NATS is connected (VOCO_HEARTBEAT_FILE; read by `python -m runtime.probe` in Kubernetes
and by `./voco ps`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nats.aio.client import Client as NatsClient

INTERVAL = 5.0


async def beat(path: Path, nc: NatsClient, interval: float = INTERVAL) -> None:
    while True:
        if nc.is_connected:
            path.touch()  # noqa: ASYNC240 - a microsecond, every few seconds
        await asyncio.sleep(interval)
