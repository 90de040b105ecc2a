"""The routing tests' platform: routing on real NATS and Postgres, a fake clock, a simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.config import Connections
from tests.conftest import ConnectionsFor
from tests.routing.platform import Platform, close_platform, open_platform


@pytest.fixture
async def platform(
    connections: Connections, connections_for: ConnectionsFor
) -> AsyncIterator[Platform]:
    platform = await open_platform(connections, connections_for)
    yield platform
    await close_platform(platform)
