"""Provisioned users in bulk, for the scale figures: presence's event store and read model,
and routing's directory, as the services would have written them.

Each seeded user (extensions 100000, 100001, ...) went through what a real user does:

1. `ProvisionUser` by an admin: UserProvisioned, the five default profiles (ProfileSaved),
   ProfileActivated `available`, PresenceChanged; users 4-7 of every eight have a
   mobile number, which changes their `away` and `business-trip` profiles;
2. the PBX reports the desk phone and the softphone registered (`ReportDevice`, actor
   and channel `pbx`, as presence's PBX consumer issues it): two DeviceStateChanged;
3. the user changes presence, one of four ways by extension: a note while available,
   busy, activating the `meeting` profile, away with a note.

How, so that it is what the services write and still takes seconds: the commands of one
template user per variant (8 in all, extension `TEMPLATE`) are run by presence's own
command shell (`PresenceCommands`: decider, metadata, event store, inline projection)
on a scratch schema, and the envelopes it stored are applied by routing's own
`DirectoryStore.apply` (its presence consumer) to a scratch routing schema. The rows
they wrote are read back and copied (COPY) once per user with the template extension
replaced, which is the only way an extension enters those rows (names, device ids and
mobile numbers are derived from it); every event gets a fresh id. The scratch schemas
are dropped. `tests/bench/test_seed.py` checks the result against the real services
fed the same commands.

Not seeded: outbox rows (the relay deletes them once published), JetStream messages
and routing's `routing-directory` checkpoint (the bench starts on empty streams, which a
zero checkpoint matches), ring groups and IVRs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg

from contracts.base import Command, Role
from contracts.presence import (
    ActivateProfile,
    Channel,
    DeviceState,
    ProvisionUser,
    ReportDevice,
    SetStatus,
    Status,
)
from runtime.clock import SystemClock
from runtime.consumer import Delivery
from runtime.eventstore import Conn, EventStore, create_pool
from services.presence.app import SCHEMA as PRESENCE_SCHEMA
from services.presence.commands import PresenceCommands
from services.presence.read_model import TABLES_SQL as PRESENCE_SQL
from services.presence.read_model import ReadModel
from services.routing.app import SCHEMA as ROUTING_SCHEMA
from services.routing.app import TABLES_SQL as ROUTING_TABLES_SQL
from services.routing.directory_store import DirectoryStore

TEMPLATE = "9876543210"
"""The template user's extension: it appears nowhere else in its rows."""
VARIANTS = 8
FIRST = 100_000
NOT_COPIED = {"outbox", "checkpoints", "dead_letters"}
"""Tables of a schema left empty: the relay deletes what it published; no consumer ran."""


def extension(n: int) -> str:
    return str(FIRST + n)


def extensions(count: int) -> list[str]:
    return [extension(n) for n in range(count)]


def commands(ext: str, variant: int, at: datetime) -> list[Command]:
    """What user `ext` of `variant` (0-7) went through, in order, from `at` on."""
    mobile = f"+49151{ext}" if variant >= 4 else None
    later = at + timedelta(minutes=1)
    pbx: dict[str, Any] = {
        "actor": "pbx",
        "role": Role.SERVICE,
        "channel": Channel.PBX,
        "at": later,
    }
    me: dict[str, Any] = {
        "actor": ext,
        "role": Role.USER,
        "channel": Channel.CLIENT,
        "at": at + timedelta(hours=1),
    }
    change: Command = [
        SetStatus(extension=ext, status=Status.AVAILABLE, note="in the office", **me),
        SetStatus(extension=ext, status=Status.BUSY, **me),
        ActivateProfile(extension=ext, profile_id="meeting", **me),
        SetStatus(extension=ext, status=Status.AWAY, note="back at 14:00", **me),
    ][variant % 4]
    return [
        ProvisionUser(
            extension=ext,
            display_name=f"User {ext}",
            mobile_number=mobile,
            actor="admin",
            role=Role.ADMIN,
            channel=Channel.ADMIN,
            at=at,
        ),
        ReportDevice(extension=ext, device_id=f"{ext}-desk", state=DeviceState.REGISTERED, **pbx),
        ReportDevice(
            extension=ext, device_id=f"{ext}-softphone", state=DeviceState.REGISTERED, **pbx
        ),
        change,
    ]


@dataclass(frozen=True)
class Table:
    """The template user's rows of one table, as COPY takes them (jsonb as text)."""

    name: str
    columns: list[str]
    rows: list[tuple[Any, ...]]


Schema = dict[str, Table]
"""A scratch schema's tables by name."""


async def _read(conn: Conn, schema: str) -> Schema:
    """Every row of every table of a scratch schema (but NOT_COPIED), jsonb as text.

    Serial columns are left out, so the copies take the next values as the services'
    inserts would; rows are read in their order (that of the serial columns, e.g. an
    event's position), so the copies keep it."""
    found = await conn.fetch(
        "SELECT table_name, column_name, column_default LIKE 'nextval(%' AS serial "
        "FROM information_schema.columns WHERE table_schema = $1 "
        "ORDER BY table_name, ordinal_position",
        schema,
    )
    out: Schema = {}
    for table in sorted({r["table_name"] for r in found} - NOT_COPIED):
        columns = [r["column_name"] for r in found if r["table_name"] == table and not r["serial"]]
        serial = [r["column_name"] for r in found if r["table_name"] == table and r["serial"]]
        order = f" ORDER BY {', '.join(serial)}" if serial else ""
        stmt = await conn.prepare(f'SELECT * FROM "{schema}"."{table}"{order}')
        types = {a.name: a.type.name for a in stmt.get_attributes()}
        rows = [
            tuple(json.dumps(r[c]) if types[c] in ("json", "jsonb") else r[c] for c in columns)
            for r in await stmt.fetch()
        ]
        out[table] = Table(table, columns, rows)
    return out


@dataclass(frozen=True)
class Templates:
    """Per variant, the rows the services wrote for the template user."""

    presence: list[Schema]
    routing: list[Schema]


async def templates(dsn: str, at: datetime) -> Templates:
    """Run each variant's commands through the services' own code in scratch schemas:
    presence's command shell, then routing's consumer of the events it stored."""
    pool = await create_pool(dsn, min_size=1, max_size=2)
    out = Templates([], [])
    try:
        for variant in range(VARIANTS):
            scratch_p, scratch_r = f"seed_presence_{variant}", f"seed_routing_{variant}"
            try:
                store = EventStore(pool, scratch_p)
                await store.setup(PRESENCE_SQL)
                shell = PresenceCommands(store, ReadModel(store.s), SystemClock())
                for command in commands(TEMPLATE, variant, at):
                    await shell.user(command)
                routing_store = EventStore(pool, scratch_r)
                await routing_store.setup(ROUTING_TABLES_SQL)
                directory = DirectoryStore(routing_store.s)
                async with pool.acquire() as conn:
                    async with conn.transaction():
                        for n, envelope in enumerate(await store.load(f"user:{TEMPLATE}"), 1):
                            await directory.apply(conn, Delivery("", envelope.to_bytes(), {}, n))
                    out.presence.append(await _read(conn, scratch_p))
                    out.routing.append(await _read(conn, scratch_r))
            finally:
                async with pool.acquire() as conn:
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{scratch_p}" CASCADE')
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{scratch_r}" CASCADE')
    finally:
        await pool.close()
    return out


def _rows(made: list[Schema], table: str, users: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """Each user's rows of `table` from their variant, the template extension replaced."""
    for n, ext in enumerate(users):
        for row in made[n % VARIANTS][table].rows:
            yield tuple(v.replace(TEMPLATE, ext) if isinstance(v, str) else v for v in row)


def _events(made: list[Schema], table: str, users: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """As `_rows`, each event with an id of its own."""
    id_at = made[0][table].columns.index("id")
    for row in _rows(made, table, users):
        yield (*row[:id_at], uuid4(), *row[id_at + 1 :])


async def _copy_tables(
    dsn: str, schema: str, made: list[Schema], tables: list[str], users: Sequence[str]
) -> None:
    conn = await asyncpg.connect(dsn)  # no jsonb codec: jsonb goes as the text it is
    try:
        for table in tables:
            await conn.copy_records_to_table(
                table,
                schema_name=schema,
                columns=made[0][table].columns,
                records=(_events if table == "events" else _rows)(made, table, users),
            )
        await conn.execute(f"ANALYZE {', '.join(f'{schema}.{table}' for table in tables)}")
    finally:
        await conn.close()


async def _copy(dsn: str, schema: str, made: list[Schema], users: Sequence[str]) -> None:
    """COPY every table the template users have rows in: the event store on one
    connection and the read model on another (about the same volume: the profiles are
    in both)."""
    filled = [t for t in made[0] if any(variant[t].rows for variant in made)]
    parts = [[t for t in filled if t == "events"], [t for t in filled if t != "events"]]
    await asyncio.gather(*(_copy_tables(dsn, schema, made, part, users) for part in parts if part))


async def _setup(dsn: str, schema: str, sql: str) -> None:
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        await EventStore(pool, schema).setup(sql)
    finally:
        await pool.close()


def default_start() -> datetime:
    """When the seeded users were provisioned: a week ago."""
    return (datetime.now(UTC) - timedelta(days=7)).replace(microsecond=0)


async def presence(dsn: str, users: Sequence[str], at: datetime | None = None) -> float:
    """Seed presence's schema with `users` (fresh database); returns the seconds taken."""
    started = time.perf_counter()
    made = await templates(dsn, at or default_start())
    await _setup(dsn, PRESENCE_SCHEMA, PRESENCE_SQL)
    await _copy(dsn, PRESENCE_SCHEMA, made.presence, users)
    return time.perf_counter() - started


async def routing(dsn: str, users: Sequence[str], at: datetime | None = None) -> float:
    """Seed routing's directory with `users` (fresh database); returns the seconds taken."""
    started = time.perf_counter()
    made = await templates(dsn, at or default_start())
    await _setup(dsn, ROUTING_SCHEMA, ROUTING_TABLES_SQL)
    await _copy(dsn, ROUTING_SCHEMA, made.routing, users)
    return time.perf_counter() - started
