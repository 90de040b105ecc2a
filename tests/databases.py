"""Databases of their own on the test session's PostgreSQL server."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator

import asyncpg

from launcher.postgres import PostgresServer
from runtime.permissions import OWNER_ROLE

TEST_PRINCIPAL = "voco_test"
"""The test bench's own NATS user and PostgreSQL superuser: exists only in test servers."""
TEMPLATE = "voco"
"""The session's provisioned and migrated database, which every test's own copies."""

_database_numbers = itertools.count(1)


async def create_test_role(server: PostgresServer) -> None:
    admin = await asyncpg.connect(server.dsn("postgres"))
    try:
        password = server.passwords[TEST_PRINCIPAL].replace("'", "''")
        await admin.execute(f"CREATE ROLE {TEST_PRINCIPAL} SUPERUSER LOGIN PASSWORD '{password}'")
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def fresh_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A copy of the migrated template, dropped afterwards; yields its DSN as the test
    bench's superuser. Each service's role finds its schema there, granted as in production."""
    name = f"test_{os.getpid()}_{next(_database_numbers)}"
    admin = await asyncpg.connect(postgres_server.dsn("postgres", TEST_PRINCIPAL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}" OWNER {OWNER_ROLE}')
    finally:
        await admin.close()
    try:
        yield postgres_server.dsn(name, TEST_PRINCIPAL)
    finally:
        admin = await asyncpg.connect(postgres_server.dsn("postgres", TEST_PRINCIPAL))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
