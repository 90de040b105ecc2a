"""Fixtures: a real nats-server and a real PostgreSQL per test session, on free ports in
temp dirs, locked as `./voco up` locks them, and a database of its own for every test.

The servers are started the same way as the launcher's (launcher/credentials.py,
launcher/postgres.py): NATS users with the permissions of runtime/permissions.py and no
anonymous access, PostgreSQL with scram-sha-256, a role per service, the schemas made
by the owner role (launcher/migrate.py). So a service built on `connections_for(name)`
runs with exactly the rights it has in production.

Two things exist only here, both named `voco_test` (TEST_PRINCIPAL): a NATS user that
may publish and subscribe anything, and a PostgreSQL superuser. They are the test
bench: what tests use to inspect (`nats_url`, `database_url`, `connections`) and to run
the runtime's own tests on schemas no service has. A test that plays a part (a PBX,
presence, the operator's CLI) uses that part's credentials from `connections_for`.

bcrypt's cost is 4 here (11 in `./voco up`): nats-server checks the hash on every
connect, and the suite connects thousands of times.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import bcrypt
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from launcher.credentials import Credentials, nats_authorization, new_password
from launcher.migrate import migrate_services
from launcher.postgres import PostgresServer, run_async
from launcher.processes import NatsServer
from runtime.config import Connections
from runtime.permissions import OWNER_ROLE, SCHEMAS
from runtime.telemetry import setup_metrics
from tests.databases import TEMPLATE, TEST_PRINCIPAL, create_test_role, fresh_database

ConnectionsFor = Callable[[str], Connections]


@pytest.fixture(scope="session")
def servers_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="voco-test-") as name:
        os.chmod(name, 0o755)  # postgres runs as nobody when the tests run as root
        yield Path(name)


@pytest.fixture(scope="session")
def credentials() -> Credentials:
    """Every principal's and role's password for this test session."""
    return Credentials.generate(cost=4)


@pytest.fixture(scope="session")
def test_password() -> str:
    return new_password()


@pytest.fixture(scope="session")
def nats_server(
    servers_dir: Path, credentials: Credentials, test_password: str
) -> Iterator[NatsServer]:
    test_user = (
        TEST_PRINCIPAL,
        bcrypt.hashpw(test_password.encode(), bcrypt.gensalt(4)).decode(),
        '{publish: ">", subscribe: ">"}',
    )
    server = NatsServer(
        servers_dir / "nats",
        sync_always=False,
        authorization=nats_authorization(credentials.nats_hashes, [test_user]),
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats_address(nats_server: NatsServer) -> str:
    return nats_server.url.removeprefix("nats://")


@pytest.fixture(scope="session")
def postgres_server(
    servers_dir: Path, credentials: Credentials, test_password: str
) -> Iterator[PostgresServer]:
    server = PostgresServer(
        servers_dir / "postgres",
        durable=False,
        passwords=dict(credentials.postgres),
        cluster_dir=servers_dir / "pgcluster",
    ).start()
    server.passwords[TEST_PRINCIPAL] = test_password
    run_async(create_test_role(server))
    # The database every test's own is copied from: every service's schema migrated.
    run_async(migrate_services(server.dsn(TEMPLATE, OWNER_ROLE)))
    yield server
    server.stop()


@pytest.fixture
async def database_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The test's own database, as the test bench's superuser (for inspecting)."""
    async with fresh_database(postgres_server) as dsn:
        yield dsn


def bench_nats_url(nats_server: NatsServer, test_password: str) -> str:
    """The session's NATS server as the test bench's user (`voco_test`, any subject)."""
    return f"nats://{TEST_PRINCIPAL}:{test_password}@{nats_server.url.removeprefix('nats://')}"


@pytest.fixture
async def nats_url(nats_server: NatsServer, test_password: str) -> AsyncIterator[str]:
    """The session's server as the test bench, every JetStream stream removed afterwards."""
    url = bench_nats_url(nats_server, test_password)
    yield url
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream()
    for info in await js.streams_info():
        assert info.config.name is not None
        await js.delete_stream(info.config.name)
    await nc.close()


@pytest.fixture
def connections(nats_url: str, database_url: str) -> Connections:
    """The test bench's connections: for tests of the runtime itself, and for inspecting."""
    return Connections(nats_url=nats_url, database_url=database_url)


@pytest.fixture(scope="session")
def metric_reader() -> InMemoryMetricReader:
    """The test process's one meter provider (OpenTelemetry allows one per process), read
    in memory; counters are cumulative, so a test compares before and after."""
    reader = InMemoryMetricReader()
    provider = setup_metrics("tests", reader)
    assert provider is not None, "a meter provider was installed before this fixture"
    return reader


@pytest.fixture
def connections_for(
    nats_url: str, database_url: str, nats_address: str, credentials: Credentials
) -> ConnectionsFor:
    """`connections_for("presence")`: what that principal's process gets, on this test's
    database (its own role) and the session's NATS (its own user). A principal without a
    schema (pbxsim, kamailio, operator) gets an empty database URL."""
    database = database_url.rsplit("/", 1)[1]
    postgres_address = database_url.split("@", 1)[1].rsplit("/", 1)[0]

    def connections(principal: str) -> Connections:
        return Connections(
            nats_url=credentials.nats_url(principal, nats_address),
            database_url=credentials.database_url(principal, postgres_address, database)
            if principal in SCHEMAS
            else "",
        )

    return connections
