"""Fixtures for the presence service's integration tests: the service in-process on the
test fixtures' NATS and PostgreSQL, and a client connection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NatsClient

from runtime.config import Connections
from runtime.service import ServiceRuntime
from services.presence.app import build


@pytest.fixture
async def service(connections: Connections) -> AsyncIterator[ServiceRuntime]:
    runtime = await build(connections)
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()
