from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NatsClient

from runtime.config import Connections


@pytest.fixture
async def nc(connections: Connections) -> AsyncIterator[NatsClient]:
    client = await nats.connect(connections.nats_url)
    yield client
    await client.close()
