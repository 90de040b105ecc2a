"""The store, locked: passwords for every connection, a role per service confined to its
own schema, and an event log no running role can rewrite; tried on the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from launcher.migrate import MIGRATIONS
from launcher.postgres import PostgresServer
from runtime.eventstore import EventStore
from runtime.permissions import OWNER_ROLE, SCHEMAS
from runtime.schema import open_pool, prepare
from tests.conftest import ConnectionsFor

pytestmark = pytest.mark.integration
SERVICES = sorted(MIGRATIONS)
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def without_password(dsn: str) -> str:
    scheme, rest = dsn.split("://", 1)
    credentials, place = rest.split("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}@{place}"


async def append_one(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(
        f'INSERT INTO "{schema}".events (stream, version, id, type, schema_version, at, data, '
        "meta) VALUES ('s-1', 1, $1, 'test.Happened', 1, $2, '{}', '{}')",
        uuid4(),
        AT,
    )


@pytest.mark.parametrize("role", ["voco", OWNER_ROLE, "presence"])
async def test_connecting_without_a_password_is_refused(
    role: str, postgres_server: PostgresServer, database_url: str
) -> None:
    dsn = without_password(postgres_server.dsn("voco", role))
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(dsn, password="")


async def test_a_wrong_password_is_refused_with_what_to_fix(
    connections_for: ConnectionsFor,
) -> None:
    dsn = connections_for("presence").database_url
    wrong = dsn.replace(dsn.split(":")[2].split("@")[0], "not-the-password")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(wrong)
    with pytest.raises(SystemExit) as refused:
        await open_pool(wrong)
    assert "VOCO_DATABASE_URL" in str(refused.value)
    assert "not-the-password" not in str(refused.value)


async def test_no_connection_is_trusted_and_only_loopback_listens(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        methods = {r["auth_method"] for r in await conn.fetch("SELECT * FROM pg_hba_file_rules")}
        listen = await conn.fetchval("SHOW listen_addresses")
    finally:
        await conn.close()
    assert methods == {"scram-sha-256"}
    assert listen == "127.0.0.1"


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_role_cannot_read_or_write_another_services_schema(
    service: str, connections_for: ConnectionsFor
) -> None:
    conn = await asyncpg.connect(connections_for(service).database_url)
    try:
        for other in SCHEMAS.values():
            if other == service:
                continue
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f'SELECT * FROM "{other}".events')
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await append_one(conn, other)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(f'CREATE TABLE "{other}".mine (x int)')
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.mine (x int)")
    finally:
        await conn.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_the_event_log_is_append_only_for_the_running_role(
    service: str, connections_for: ConnectionsFor
) -> None:
    conn = await asyncpg.connect(connections_for(service).database_url)
    s = f'"{service}"'
    try:
        await append_one(conn, service)  # what it must do
        assert await conn.fetchval(f"SELECT count(*) FROM {s}.events") == 1
        for change in (
            f"UPDATE {s}.events SET data = '{{\"rewritten\": true}}'",
            f"DELETE FROM {s}.events",
            f"TRUNCATE {s}.events",
            f"ALTER TABLE {s}.events DISABLE TRIGGER ALL",
            f"DROP TABLE {s}.events",
            f"SELECT * FROM {s}.events FOR UPDATE",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(change)
        # The outbox and checkpoints keep what the runtime needs.
        await conn.execute(f"INSERT INTO {s}.checkpoints VALUES ('c', 1)")
        await conn.execute(f"UPDATE {s}.checkpoints SET sequence = 2")
        await conn.execute(f"DELETE FROM {s}.outbox")
        assert await conn.fetchval(f"SELECT count(*) FROM {s}.events") == 1
    finally:
        await conn.close()


async def test_service_roles_hold_no_power_beyond_their_grants(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
            "rolbypassrls FROM pg_roles WHERE rolname = ANY($1::text[])",
            [*SCHEMAS, OWNER_ROLE],
        )
        owners = await conn.fetch(
            "SELECT nspname, nspowner::regrole::text AS owner FROM pg_namespace "
            "WHERE nspname = ANY($1::text[])",
            list(SCHEMAS.values()),
        )
        members = await conn.fetchval(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
            "WHERE r.rolname = ANY($1::text[])",
            list(SCHEMAS),
        )
    finally:
        await conn.close()
    assert len(rows) == len(SCHEMAS) + 1
    assert not any(any(r[k] for k in list(r.keys())[1:]) for r in rows)
    assert {r["owner"] for r in owners} == {OWNER_ROLE}
    assert members == 0  # no service role can take on the owner's rights


async def test_a_role_without_its_schema_is_told_what_to_fix(
    connections_for: ConnectionsFor,
) -> None:
    """A role pointed at another service's schema is not allowed to use it (as when
    VOCO_DATABASE_URL names the wrong role)."""
    for role, schema in (("gateway", "presence"), ("presence", "routing")):
        pool = await open_pool(connections_for(role).database_url)
        try:
            with pytest.raises(SystemExit) as refused:
                await prepare(EventStore(pool, schema))
        finally:
            await pool.close()
        message = str(refused.value)
        assert f"role {role!r} cannot use schema {schema!r}" in message
        assert "python -m launcher.migrate" in message
