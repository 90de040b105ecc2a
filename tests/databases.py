"""Databases of their own on the test session's PostgreSQL server."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator

import asyncpg

from launcher.processes import PostgresServer

_database_numbers = itertools.count(1)


@contextlib.asynccontextmanager
async def fresh_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A database of its own on the session's server, dropped afterwards; yields its DSN."""
    name = f"test_{os.getpid()}_{next(_database_numbers)}"
    admin = await asyncpg.connect(postgres_server.dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield postgres_server.dsn(name)
    finally:
        admin = await asyncpg.connect(postgres_server.dsn("postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
