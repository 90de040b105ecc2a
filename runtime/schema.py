"""A service's schema: created by the owner role, used by the service's own role.

`migrate` runs as the owner role (launcher/migrate.py: `./voco up` before it starts the
services, the Kubernetes init step, the test fixtures): it creates or updates the
schema's tables and grants the running role what it needs and no more: USAGE on its
schema, SELECT/INSERT/UPDATE/DELETE on the outbox, checkpoints, dead letters and read
models, and on `events` only SELECT and INSERT, so the event log is append-only for
every role a service runs as (no UPDATE, DELETE or TRUNCATE).

`prepare` runs in the service at start: it checks that its role can use every table
it needs and says what to fix when not. A role that may create the schema itself (a
superuser or the owner, e.g. the benchmarks' throwaway servers or a tool's own schema)
gets the tables created instead.
"""

from __future__ import annotations

import re

import asyncpg

from runtime.config import redact_url
from runtime.eventstore import _SCHEMA_SQL, Conn, EventStore, create_pool, quote_ident

_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS \{s\}\.(\w+)", re.IGNORECASE)


def tables_of(extra_sql: str) -> list[str]:
    """The tables a service's schema has: the event store's and its own."""
    return _TABLE.findall(_SCHEMA_SQL) + _TABLE.findall(extra_sql)


def grant_sql(schema: str, role: str) -> str:
    s, r = quote_ident(schema), quote_ident(role)
    return f"""
REVOKE ALL ON SCHEMA {s} FROM PUBLIC;
GRANT USAGE ON SCHEMA {s} TO {r};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r};
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {s}.events FROM {r};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r};
"""


async def migrate(owner_dsn: str, schema: str, extra_sql: str, role: str) -> None:
    """Create or update `schema`'s tables as the owner role and grant `role` their use."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", schema)
            s = quote_ident(schema)
            await conn.execute(_SCHEMA_SQL.format(s=s))
            if extra_sql:
                await conn.execute(extra_sql.format(s=s))
            await conn.execute(grant_sql(schema, role))
    finally:
        await conn.close()


async def _missing(conn: Conn, schema: str, tables: list[str]) -> list[str]:
    """Tables of `schema` this role cannot read and write (absent, or not granted)."""
    usable = await conn.fetchval(
        "SELECT CASE WHEN to_regnamespace($1) IS NULL THEN false "
        "ELSE has_schema_privilege($1, 'USAGE') END",
        schema,
    )
    if not usable:
        return tables
    rows = await conn.fetch(
        "SELECT t, to_regclass(format('%I.%I', $1::text, t)) IS NOT NULL AS present "
        "FROM unnest($2::text[]) AS t",
        schema,
        tables,
    )
    missing = []
    for row in rows:
        if not row["present"] or not await conn.fetchval(
            "SELECT has_table_privilege(format('%I.%I', $1::text, $2::text), 'SELECT') "
            "AND has_table_privilege(format('%I.%I', $1::text, $2::text), 'INSERT')",
            schema,
            row["t"],
        ):
            missing.append(row["t"])
    return missing


async def prepare(store: EventStore, extra_sql: str = "") -> None:
    """Make sure this process's role can use its schema; create it where the role may."""
    tables = tables_of(extra_sql)
    async with store.pool.acquire() as conn:
        missing = await _missing(conn, store.schema, tables)
        if not missing:
            return
        role = await conn.fetchval("SELECT current_user")
        may_create = await conn.fetchval(
            "SELECT CASE WHEN to_regnamespace($1) IS NULL "
            "THEN has_database_privilege(current_database(), 'CREATE') "
            "ELSE pg_has_role((SELECT nspowner FROM pg_namespace WHERE nspname = $1), 'USAGE') "
            "END",
            store.schema,
        )
    if may_create:
        await store.setup(extra_sql)
        return
    raise SystemExit(
        f"role {role!r} cannot use schema {store.schema!r} (tables missing or not granted: "
        f"{', '.join(missing)}): run the migrations as the owner role first, "
        f"`python -m launcher.migrate {store.schema}` with VOCO_DATABASE_OWNER_URL set "
        "(./voco up does it itself), and check VOCO_DATABASE_URL names this service's role"
    )


async def open_pool(url: str, *, max_size: int = 10) -> asyncpg.Pool:
    """The service's pool, or a sentence saying what to fix in VOCO_DATABASE_URL."""
    try:
        return await create_pool(url, max_size=max_size)
    except asyncpg.InvalidAuthorizationSpecificationError as error:
        raise SystemExit(
            f"PostgreSQL at {redact_url(url)} refused the login ({error}): set "
            "VOCO_DATABASE_URL to postgresql://<role>:<password>@host:port/voco with this "
            "service's own role and password (./voco up writes them to the data dir; for "
            "Kubernetes, python -m launcher.credentials k8s)"
        ) from None
