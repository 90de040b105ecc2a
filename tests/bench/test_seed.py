"""bench/seed.py writes what the services write: the same rows as the real presence and
routing fed the same commands, and services started on a seeded store answer from it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from bench import seed
from contracts.presence import GetHistory, GetPresence, ListProfiles
from contracts.routing import WhatIf
from launcher.postgres import PostgresServer
from runtime.bus import connect, request
from runtime.config import Connections
from services.presence.app import build as build_presence
from services.routing.app import build as build_routing
from tests.conftest import ConnectionsFor
from tests.databases import fresh_database
from tests.principals import ADMIN

pytestmark = pytest.mark.integration

AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
IGNORED = {"outbox", "checkpoints"}
"""The real services' outbox (drained by their relay) and routing's consumer checkpoint."""


@pytest.fixture
async def seeded_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A second database, for the seeder, beside the one the real services use."""
    async with fresh_database(postgres_server) as dsn:
        yield dsn


async def tables(dsn: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows in insertion order, without ids and serials (ours, not theirs)."""
    conn = await asyncpg.connect(dsn)
    try:
        columns = await conn.fetch(
            "SELECT table_name, column_name, coalesce(column_default, '') LIKE 'nextval(%' "
            "AS serial FROM information_schema.columns WHERE table_schema = $1 "
            "ORDER BY ordinal_position",
            schema,
        )
        out = {}
        for table in sorted({c["table_name"] for c in columns} - IGNORED):
            kept = [
                c["column_name"]
                for c in columns
                if c["table_name"] == table and not c["serial"] and c["column_name"] != "id"
            ]
            serial = [c["column_name"] for c in columns if c["table_name"] == table and c["serial"]]
            order = ", ".join(serial or kept)
            rows = await conn.fetch(
                f"SELECT {', '.join(kept)} FROM {schema}.{table} ORDER BY {order}"
            )
            out[table] = [tuple(r) for r in rows]
        return out
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def presence_and_routing(connections_for: ConnectionsFor) -> AsyncIterator[NatsClient]:
    """Presence and routing running as themselves, and the operator's client to ask them."""
    presence = await build_presence(connections_for("presence"))
    routing = await build_routing(connections_for("routing"))
    await presence.start()
    await routing.start()
    nc = await connect(connections_for("operator").nats_url, "test-operator")
    try:
        yield nc
    finally:
        await nc.close()
        await routing.stop()
        await presence.stop()


async def test_seeded_rows_are_those_the_services_write_for_the_same_commands(
    connections: Connections, connections_for: ConnectionsFor, seeded_url: str
) -> None:
    users = seed.extensions(seed.VARIANTS)  # one user of each variant
    await seed.presence(seeded_url, users, AT)
    await seed.routing(seeded_url, users, AT)

    async with presence_and_routing(connections_for) as nc:
        for n, extension in enumerate(users):
            for command in seed.commands(extension, n % seed.VARIANTS, AT):
                await request(nc, "presence", command)
        expected = await tables(seeded_url, "routing")
        for _ in range(250):  # routing's directory consumer catches up
            if await tables(connections.database_url, "routing") == expected:
                break
            await asyncio.sleep(0.02)

    written = await tables(connections.database_url, "presence")
    seeded = await tables(seeded_url, "presence")
    # 8 events from provisioning, 2 devices, a status change (2 when a profile is activated)
    assert len(seeded["events"]) == 11 * len(users) + 2
    assert {table for table, rows in seeded.items() if rows} == {
        "directory",
        "events",
        "profiles",
        "users",
    }
    assert seeded == written
    directory = await tables(seeded_url, "routing")
    assert {table for table, rows in directory.items() if rows} == {"extensions"}
    assert directory == await tables(connections.database_url, "routing")


async def test_services_started_on_a_seeded_store_answer_from_it(
    connections: Connections, connections_for: ConnectionsFor
) -> None:
    users = seed.extensions(50)
    await seed.presence(connections.database_url, users)
    await seed.routing(connections.database_url, users)
    async with presence_and_routing(connections_for) as nc:
        view = await request(nc, "presence", GetPresence(extension="100042", **ADMIN))  # variant 2
        profiles = await request(nc, "presence", ListProfiles(extension="100042", **ADMIN))
        history = await request(nc, "presence", GetHistory(extension="100049", **ADMIN))
        plan = await request(nc, "routing", WhatIf(callee="100000", **ADMIN))

    assert view == {
        "extension": "100042",
        "display_name": "User 100042",
        "status": "in_meeting",
        "note": None,
        "note_expires_at": None,
        "active_profile": "meeting",
        "devices": {"100042-desk": "registered", "100042-softphone": "registered"},
        "signed_in_sessions": 0,
    }
    assert [p["id"] for p in profiles["profiles"]] == [
        "available",
        "away",
        "dnd",
        "meeting",
        "business-trip",
    ]
    assert len(history["entries"]) == 11
    assert history["entries"][0]["summary"]  # every stored event loads and summarises
    ring = next(step for step in plan["steps"] if step["event"] == "RingStepStarted")
    assert "100000/100000-desk, 100000/100000-softphone for 30 s" in ring["why"]
    assert plan["outcome"] == "voicemail 100000 (default greeting)"
