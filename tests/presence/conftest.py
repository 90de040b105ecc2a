"""Fixtures for the presence service's integration tests: the service in-process on the
test fixtures' NATS and PostgreSQL, and a client connection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NatsClient

from runtime.service import ServiceRuntime
from services.presence.app import build
from tests.conftest import ConnectionsFor


@pytest.fixture
async def service(connections_for: ConnectionsFor) -> AsyncIterator[ServiceRuntime]:
    runtime = await build(connections_for("presence"))
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()
