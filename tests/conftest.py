"""Fixtures: a real nats-server and a real PostgreSQL per test session, on free ports in
temp dirs, and a database of its own for every test."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from launcher.processes import NatsServer, PostgresServer
from runtime.config import Connections
from runtime.telemetry import setup_metrics
from tests.databases import fresh_database


@pytest.fixture(scope="session")
def servers_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="voco-test-") as name:
        os.chmod(name, 0o755)  # postgres runs as nobody when the tests run as root
        yield Path(name)


@pytest.fixture(scope="session")
def nats_server(servers_dir: Path) -> Iterator[NatsServer]:
    server = NatsServer(servers_dir / "nats", sync_always=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(servers_dir: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(servers_dir / "postgres", durable=False).start()
    yield server
    server.stop()


@pytest.fixture
async def database_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    async with fresh_database(postgres_server) as dsn:
        yield dsn


@pytest.fixture
async def nats_url(nats_server: NatsServer) -> AsyncIterator[str]:
    """The session's server, with every JetStream stream removed after the test."""
    yield nats_server.url
    import nats

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    for info in await js.streams_info():
        assert info.config.name is not None
        await js.delete_stream(info.config.name)
    await nc.close()


@pytest.fixture
def connections(nats_url: str, database_url: str) -> Connections:
    return Connections(nats_url=nats_url, database_url=database_url)


@pytest.fixture(scope="session")
def metric_reader() -> InMemoryMetricReader:
    """The test process's one meter provider (OpenTelemetry allows one per process), read
    in memory; counters are cumulative, so a test compares before and after."""
    reader = InMemoryMetricReader()
    provider = setup_metrics("tests", reader)
    assert provider is not None, "a meter provider was installed before this fixture"
    return reader
