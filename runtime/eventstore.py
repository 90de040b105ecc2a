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
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from contracts.base import Message
from contracts.envelope import Envelope, Metadata
from runtime.metrics import events_stored
from runtime.telemetry import inject_headers

Conn = asyncpg.Connection | PoolConnectionProxy
"""A connection, whether taken from a pool or not."""

_json = msgspec.json.Encoder()


def _json_text(value: object) -> str:
    """JSON text for a jsonb parameter (msgspec: several times stdlib json's speed)."""
    return _json.encode(value).decode()


class VersionConflict(Exception):
    """Another writer appended to the stream first."""


@dataclass(frozen=True)
class Outgoing:
    """A message the outbox relay publishes to JetStream after the transaction commits."""

    subject: str
    payload: bytes
    msg_id: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Queued:
    """An outbox row just written: what the relay may publish from memory once it commits."""

    position: int
    message: Outgoing


@dataclass(frozen=True)
class Checkpoint:
    """A consumer's position (the last JetStream stream sequence applied), written with its
    effect."""

    consumer: str
    sequence: int


InlineProjection = Callable[[Conn, Sequence[Envelope]], Awaitable[None]]
"""Statements run after the append, in its transaction."""


@dataclass(frozen=True)
class SqlProjection:
    """A projection that is data-modifying SQL over arrays: it joins the append's single
    statement as common table expressions, so it costs no round trip and no transaction.

    `sql` is one or more CTEs (`name AS (...)`, comma separated) using `{s}` for the
    schema and `{0}`, `{1}`... for its parameters, which `params` computes from the
    envelopes (arrays, empty when there is nothing to do). The CTEs run on one snapshot:
    two of them must never modify the same row.
    """

    sql: str
    params: Callable[[Sequence[Envelope]], Sequence[object]]
    arity: int


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


_APPEND_SQL = """
WITH appended AS (
    INSERT INTO {s}.events (stream, version, id, type, schema_version, at, data, meta)
    SELECT stream, version, id, type, schema_version, at, data::jsonb, meta::jsonb
    FROM unnest($1::text[], $2::int[], $3::uuid[], $4::text[], $5::int[], $6::timestamptz[],
                $7::text[], $8::text[])
        AS e(stream, version, id, type, schema_version, at, data, meta)
), queued AS (
    INSERT INTO {s}.outbox (msg_id, subject, headers, payload)
    SELECT msg_id, subject, headers::jsonb, payload
    FROM unnest($9::text[], $10::text[], $11::text[], $12::bytea[]) WITH ORDINALITY
        AS o(msg_id, subject, headers, payload, n)
    ORDER BY n  -- outbox positions follow the order the messages were given in
    RETURNING position, msg_id
){more}
SELECT position, msg_id FROM queued
"""

_CHECKPOINT_CTE = """, checkpointed AS (
    INSERT INTO {s}.checkpoints (consumer, sequence) VALUES (${0}, ${1})
    ON CONFLICT (consumer) DO UPDATE
    SET sequence = GREATEST({s}.checkpoints.sequence, EXCLUDED.sequence)
)"""

_ADVANCE_SQL = """
INSERT INTO {s}.checkpoints (consumer, sequence) VALUES ($1, $2)
ON CONFLICT (consumer) DO UPDATE
SET sequence = GREATEST({s}.checkpoints.sequence, EXCLUDED.sequence)
"""


def with_headers(message: Outgoing, headers: dict[str, str]) -> Outgoing:
    """The message with `headers` added under its own (its own win)."""
    if not headers:
        return message
    return Outgoing(
        message.subject, message.payload, message.msg_id, {**headers, **message.headers}
    )


def wrap(
    stream: str,
    expected_version: int,
    events: Sequence[Message],
    *,
    ids: Iterable[UUID],
    at: datetime,
    meta: Metadata,
) -> list[Envelope]:
    """Events as the envelopes they are stored in, numbered after `expected_version`."""
    return [
        Envelope.wrap(
            event, id=event_id, stream=stream, version=expected_version + n, at=at, meta=meta
        )
        for n, (event, event_id) in enumerate(zip(events, ids, strict=False), start=1)
    ]


def _envelope(stream: str, r: asyncpg.Record) -> Envelope:
    return Envelope(
        id=r["id"],
        type=r["type"],
        v=r["schema_version"],
        stream=stream,
        version=r["version"],
        at=r["at"],
        data=r["data"],
        meta=Metadata.model_validate(r["meta"]),
    )


def quote_ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"schema name {name!r} must be letters, digits and underscores")
    return f'"{name}"'


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """No reset on release: the default (UNLISTEN, RESET ALL, unlock all...) costs a round
    trip per command, and no code here leaves session state behind (the advisory locks of
    leaders are held on their own connections and released explicitly)."""


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session
    )
    assert pool is not None
    return pool


class EventStore:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.schema = schema
        self.s = quote_ident(schema)
        self._statements: dict[tuple[tuple[SqlProjection, ...], bool], str] = {}
        self.on_committed: Callable[[Sequence[Queued]], Awaitable[None]] | None = None

    async def setup(self, extra_sql: str = "") -> None:
        """Create the schema's tables (idempotent), plus a service's own read-model tables."""
        # Concurrent start-ups of replicas serialise on one lock per schema.
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.schema)
            await conn.execute(_SCHEMA_SQL.format(s=self.s))
            if extra_sql:
                await conn.execute(extra_sql.format(s=self.s))

    async def load_many(self, conn: Conn, streams: Sequence[str]) -> dict[str, list[Envelope]]:
        """Every event of each stream, in order, in one query (streams with none are absent)."""
        rows = await conn.fetch(
            "SELECT stream, id, type, schema_version, version, at, data, meta "
            f"FROM {self.s}.events WHERE stream = ANY($1::text[]) ORDER BY stream, version",
            list(streams),
        )
        found: dict[str, list[Envelope]] = {}
        for r in rows:
            found.setdefault(r["stream"], []).append(_envelope(r["stream"], r))
        return found

    async def load(
        self, stream: str, conn: Conn | None = None, *, after_version: int = 0
    ) -> list[Envelope]:
        """The stream's events after `after_version`, in order."""
        sql = (
            f"SELECT id, type, schema_version, version, at, data, meta FROM {self.s}.events "
            "WHERE stream = $1 AND version > $2 ORDER BY version"
        )
        if conn is None:
            async with self.pool.acquire() as c:
                rows = await c.fetch(sql, stream, after_version)
        else:
            rows = await conn.fetch(sql, stream, after_version)
        return [_envelope(stream, r) for r in rows]

    async def committed(self, queued: Sequence[Queued]) -> None:
        """Outbox rows whose transaction has committed (the relay publishes them from memory).

        `append` calls it itself; whoever runs `write` in its own transaction calls it
        after that commits. Rows never reported are still found by the relay's scan.
        """
        if queued and self.on_committed is not None:
            await self.on_committed(queued)

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
        projections: Sequence[InlineProjection | SqlProjection] = (),
    ) -> list[Envelope]:
        """Append after `expected_version`; events, outbox rows and projections commit together."""
        envelopes = wrap(stream, expected_version, events, ids=ids, at=at, meta=meta)
        if not envelopes:
            return []
        messages = outgoing(envelopes)
        async with self.pool.acquire() as conn:
            if any(not isinstance(p, SqlProjection) for p in projections):
                async with conn.transaction():
                    queued = await self.write(conn, envelopes, messages, projections)
            else:
                # One statement is atomic on its own: no BEGIN/COMMIT round trips.
                queued = await self.write(conn, envelopes, messages, projections)
        await self.committed(queued)
        return envelopes

    async def write(
        self,
        conn: Conn,
        envelopes: Sequence[Envelope],
        messages: Sequence[Outgoing],
        projections: Sequence[InlineProjection | SqlProjection] = (),
        *,
        checkpoint: Checkpoint | None = None,
    ) -> list[Queued]:
        """Events of any number of streams, their outbox rows, the SQL projections and a
        consumer's checkpoint in one statement; then the inline projections, which need
        the caller to hold a transaction (one statement is atomic on its own).

        Each envelope's version is the one expected to be next in its stream: if another
        writer got there first, VersionConflict and nothing of this statement is stored.
        A message's trace context is the current span's unless it carries its own.
        """
        in_statement = tuple(p for p in projections if isinstance(p, SqlProjection))
        trace_headers = inject_headers()
        sent = [with_headers(m, trace_headers) for m in messages]
        params: list[object] = [
            [e.stream for e in envelopes],
            [e.version for e in envelopes],
            [e.id for e in envelopes],
            [e.type for e in envelopes],
            [e.schema_version for e in envelopes],
            [e.at for e in envelopes],
            [_json_text(e.data) for e in envelopes],
            [e.meta.model_dump_json(exclude_none=True) for e in envelopes],
            [m.msg_id for m in sent],
            [m.subject for m in sent],
            [_json_text(m.headers) for m in sent],
            [m.payload for m in sent],
        ]
        for projection in in_statement:
            params += projection.params(envelopes)
        if checkpoint is not None:
            params += [checkpoint.consumer, checkpoint.sequence]
        try:
            rows = await conn.fetch(self._statement(in_statement, checkpoint is not None), *params)
        except asyncpg.UniqueViolationError as error:
            raise VersionConflict(
                f"a stream moved past the version expected ({error.detail or error})"
            ) from error
        for project in projections:
            if not isinstance(project, SqlProjection):
                await project(conn, envelopes)
        for type_name, count in Counter(e.type for e in envelopes).items():
            events_stored.add(count, {"type": type_name})
        position_of = {row["msg_id"]: row["position"] for row in rows}
        return [Queued(position_of[m.msg_id], m) for m in sent]

    def _statement(self, projections: tuple[SqlProjection, ...], checkpoint: bool) -> str:
        key = (projections, checkpoint)
        if key not in self._statements:
            more, n = "", 13
            for projection in projections:
                numbers = [f"${n + i}" for i in range(projection.arity)]
                more += ", " + projection.sql.format(*numbers, s=self.s)
                n += projection.arity
            if checkpoint:
                more += _CHECKPOINT_CTE.format(n, n + 1, s=self.s)
            self._statements[key] = _APPEND_SQL.format(s=self.s, more=more)
        return self._statements[key]

    async def advance(self, conn: Conn, checkpoint: Checkpoint) -> None:
        """Move a consumer's checkpoint forward (never back), in the caller's transaction."""
        await conn.execute(_ADVANCE_SQL.format(s=self.s), checkpoint.consumer, checkpoint.sequence)

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
