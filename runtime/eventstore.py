"""The event store: one PostgreSQL schema per service, streams appended with an expected version.

Tables (in the service's schema):
- events:      every event, PRIMARY KEY (stream, version) makes a concurrent append conflict.
- outbox:      what must still be published; written in the same transaction as the events.
- checkpoints: per consumer, the last JetStream sequence whose effect committed.
- dead_letters: messages a consumer could not apply, kept with the reason.

`position` is a bigserial: it orders rows but it is not commit order, so no
reader here ever advances by "the highest position seen" (see outbox.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from contracts.base import Message
from contracts.envelope import Envelope, Metadata
from runtime.telemetry import inject_headers

Conn = asyncpg.Connection | PoolConnectionProxy
"""A connection, whether taken from a pool or not."""


class VersionConflict(Exception):
    """Another writer appended to the stream first."""


@dataclass(frozen=True)
class Outgoing:
    """A message the outbox relay publishes to JetStream after the transaction commits."""

    subject: str
    payload: bytes
    msg_id: str
    headers: dict[str, str] = field(default_factory=dict)


InlineProjection = Callable[[Conn, Sequence[Envelope]], Awaitable[None]]

_SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.events (
    position bigserial UNIQUE,
    stream text NOT NULL,
    version integer NOT NULL,
    id uuid NOT NULL UNIQUE,
    type text NOT NULL,
    schema_version integer NOT NULL,
    at timestamptz NOT NULL,
    data jsonb NOT NULL,
    meta jsonb NOT NULL,
    PRIMARY KEY (stream, version)
);
CREATE TABLE IF NOT EXISTS {s}.outbox (
    position bigserial PRIMARY KEY,
    msg_id text NOT NULL,
    subject text NOT NULL,
    headers jsonb NOT NULL,
    payload bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.checkpoints (
    consumer text PRIMARY KEY,
    sequence bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.dead_letters (
    id bigserial PRIMARY KEY,
    consumer text NOT NULL,
    subject text NOT NULL,
    sequence bigint,
    payload bytea NOT NULL,
    reason text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
"""


def quote_ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"schema name {name!r} must be letters, digits and underscores")
    return f'"{name}"'


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection
    )
    assert pool is not None
    return pool


class EventStore:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.schema = schema
        self.s = quote_ident(schema)

    async def setup(self, extra_sql: str = "") -> None:
        """Create the schema's tables (idempotent), plus a service's own read-model tables."""
        # Concurrent start-ups of replicas serialise on one lock per schema.
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.schema)
            await conn.execute(_SCHEMA_SQL.format(s=self.s))
            if extra_sql:
                await conn.execute(extra_sql.format(s=self.s))

    async def load(self, stream: str, conn: Conn | None = None) -> list[Envelope]:
        sql = (
            f"SELECT id, type, schema_version, version, at, data, meta FROM {self.s}.events "
            "WHERE stream = $1 ORDER BY version"
        )
        if conn is None:
            async with self.pool.acquire() as c:
                rows = await c.fetch(sql, stream)
        else:
            rows = await conn.fetch(sql, stream)
        return [
            Envelope(
                id=r["id"],
                type=r["type"],
                v=r["schema_version"],
                stream=stream,
                version=r["version"],
                at=r["at"],
                data=r["data"],
                meta=Metadata.model_validate(r["meta"]),
            )
            for r in rows
        ]

    async def append(
        self,
        stream: str,
        expected_version: int,
        events: Sequence[Message],
        *,
        ids: Iterable[UUID],
        at: datetime,
        meta: Metadata,
        outgoing: Callable[[Sequence[Envelope]], Sequence[Outgoing]],
        projections: Sequence[InlineProjection] = (),
    ) -> list[Envelope]:
        """Append after `expected_version`; events, outbox rows and projections commit together."""
        envelopes = [
            Envelope.wrap(
                event, id=event_id, stream=stream, version=expected_version + n, at=at, meta=meta
            )
            for n, (event, event_id) in enumerate(zip(events, ids, strict=False), start=1)
        ]
        if not envelopes:
            return []
        async with self.pool.acquire() as conn, conn.transaction():
            try:
                await conn.executemany(
                    f"INSERT INTO {self.s}.events "
                    "(stream, version, id, type, schema_version, at, data, meta) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    [
                        (
                            e.stream,
                            e.version,
                            e.id,
                            e.type,
                            e.schema_version,
                            e.at,
                            e.data,
                            e.meta.model_dump(exclude_none=True),
                        )
                        for e in envelopes
                    ],
                )
            except asyncpg.UniqueViolationError as error:
                raise VersionConflict(
                    f"stream {stream} moved past version {expected_version}"
                ) from error
            await self.enqueue(conn, outgoing(envelopes))
            for project in projections:
                await project(conn, envelopes)
        return envelopes

    async def enqueue(self, conn: Conn, messages: Sequence[Outgoing]) -> None:
        """Add messages to the outbox inside the caller's transaction.

        Each carries the current trace context, so the consumer's span joins the trace of
        the command that caused it even though the relay publishes later.
        """
        if messages:
            trace_headers = inject_headers()
            await conn.executemany(
                f"INSERT INTO {self.s}.outbox (msg_id, subject, headers, payload) "
                "VALUES ($1, $2, $3, $4)",
                [
                    (m.msg_id, m.subject, {**trace_headers, **m.headers}, m.payload)
                    for m in messages
                ],
            )
