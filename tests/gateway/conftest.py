from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.config import Connections
from services.presence.app import build as build_presence
from tests.gateway.platform import Gateway, running_gateway


@pytest.fixture
async def gateway(connections: Connections) -> AsyncIterator[Gateway]:
    async with running_gateway(connections) as gateway:
        yield gateway


@pytest.fixture
async def presence_gateway(connections: Connections) -> AsyncIterator[Gateway]:
    """The edge with presence alone: enough for signing in and out and one's own status."""
    async with running_gateway(connections, builds=(build_presence,)) as gateway:
        yield gateway
