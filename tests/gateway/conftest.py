from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.config import Connections
from tests.gateway.platform import Gateway, running_gateway


@pytest.fixture
async def gateway(connections: Connections) -> AsyncIterator[Gateway]:
    async with running_gateway(connections) as gateway:
        yield gateway
