"""The event store: one PostgreSQL schema per service, streams appended with an expected version.

Tables (in the service's schema):
- events:      every event, PRIMARY KEY (stream, version) makes a concurrent append conflict.
- outbox:      what must still be published; written in the same transaction as the events,
               each row in the partition of its aggregate (runtime/relays.py).
- checkpoints: per consumer, the JetStream sequences whose effect committed: every one
               up to `floor_sequence` and those in `applied_above` (runtime/consumer.py);
               `sequence` is the highest.
- dead_letters: messages a consumer could not apply, kept with the reason.

`position` is a bigserial: it orders rows but it is not commit order, so no
reader here ever advances by "the highest position seen" (see outbox.py).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from contracts.base import Message
from contracts.envelope import Envelope, Metadata
from runtime.metrics import events_stored
from runtime.partitions import partition_of
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
    partition: int = 0
    waits_for: tuple[int, ...] | None = None
    """The older rows of its partition that were in the outbox, not sent by the relay,
    when it was written (None: not known, or more than ORDER_CHECK_LIMIT of them): the
    relay sends it from memory only once each of these is sent (outbox.py)."""


ORDER_CHECK_LIMIT = 32
"""Older unsent rows a write reads back per partition; with more, the relay asks again."""


@dataclass(frozen=True)
class Checkpoint:
    """What a consumer has applied, written with its effect: every JetStream stream sequence
    up to `floor` (all of them, when it is None) and each one in `above`; `sequence` is the
    highest applied. A sequence below the highest may still be unapplied (a redelivery
    comes after later messages), which is why the highest alone is not the checkpoint."""

    consumer: str
    sequence: int
    floor: int | None = None
    above: tuple[int, ...] = ()

    @property
    def contiguous(self) -> int:
        """Every sequence up to this one is applied."""
        return self.sequence if self.floor is None else self.floor


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
-- Added by the partitioned relay: rows from before it are partition 0.
ALTER TABLE {s}.outbox ADD COLUMN IF NOT EXISTS partition smallint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS outbox_partition_position ON {s}.outbox (partition, position);
CREATE TABLE IF NOT EXISTS {s}.checkpoints (
    consumer text PRIMARY KEY,
    sequence bigint NOT NULL,
    floor_sequence bigint,
    applied_above bigint[] NOT NULL DEFAULT '{{}}'
);
-- schemas made before the floor (their `sequence` was taken for everything up to it)
ALTER TABLE {s}.checkpoints ADD COLUMN IF NOT EXISTS floor_sequence bigint,
    ADD COLUMN IF NOT EXISTS applied_above bigint[] NOT NULL DEFAULT '{{}}';
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
    INSERT INTO {s}.outbox (msg_id, subject, headers, payload, partition)
    SELECT msg_id, subject, headers::jsonb, payload, partition
    FROM unnest($9::text[], $10::text[], $11::text[], $12::bytea[], $13::smallint[])
        WITH ORDINALITY AS o(msg_id, subject, headers, payload, partition, n)
    ORDER BY n  -- outbox positions follow the order the messages were given in
    RETURNING position, msg_id, partition
), unsent AS (
    -- Older rows of the same partitions still in the outbox and not among those the relay
    -- has sent ($14): an older event of the same stream committed before this statement
    -- began, so it is seen here if it is still waiting (outbox.py, the order check).
    SELECT older.position, q.partition
    FROM (SELECT partition, min(position) AS first FROM queued GROUP BY partition) AS q
    CROSS JOIN LATERAL (
        SELECT position FROM {s}.outbox
        WHERE partition = q.partition AND position < q.first
            AND position <> ALL($14::bigint[])
        ORDER BY position LIMIT {limit}
    ) AS older
){more}
SELECT position, msg_id, partition FROM queued
UNION ALL SELECT position, NULL, partition FROM unsent
"""

_CHECKPOINT_UPSERT = """
    INSERT INTO {s}.checkpoints (consumer, sequence, floor_sequence, applied_above)
    VALUES (${0}, ${1}, ${2}, ${3}::bigint[])
    ON CONFLICT (consumer) DO UPDATE
    SET sequence = GREATEST({s}.checkpoints.sequence, EXCLUDED.sequence),
        floor_sequence = GREATEST({s}.checkpoints.floor_sequence, EXCLUDED.floor_sequence),
        applied_above = EXCLUDED.applied_above
"""
_CHECKPOINT_CTE = ", checkpointed AS (" + _CHECKPOINT_UPSERT + ")"

CHECKPOINT_PARAMS = 4
"""A checkpoint's parameters in a statement: consumer, highest, floor, sequences above."""


def checkpoint_params(checkpoint: Checkpoint) -> list[object]:
    return [
        checkpoint.consumer,
        checkpoint.sequence,
        checkpoint.contiguous,
        list(checkpoint.above),
    ]


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
        self.sent_positions: Callable[[], Collection[int]] = tuple
        """The rows the relay has sent and not yet deleted (the relay sets it)."""
        self.partitions = 1
        """How many partitions outbox rows are spread over (a partitioned relay sets it)."""

    def partition_of(self, stream: str) -> int:
        """The outbox partition of a stream's messages: a hash of its key (the part after
        `<kind>:`, e.g. the call id), the same as JetStream's partition of that key."""
        if self.partitions == 1:
            return 0
        return partition_of(stream.partition(":")[2] or stream, self.partitions)

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
        partitions = [self.partition_of(stream)] * len(messages)
        async with self.pool.acquire() as conn:
            if any(not isinstance(p, SqlProjection) for p in projections):
                async with conn.transaction():
                    queued = await self.write(
                        conn, envelopes, messages, projections, partitions=partitions
                    )
            else:
                # One statement is atomic on its own: no BEGIN/COMMIT round trips.
                queued = await self.write(
                    conn, envelopes, messages, projections, partitions=partitions
                )
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
        partitions: Sequence[int] | None = None,
    ) -> list[Queued]:
        """Events of any number of streams, their outbox rows, the SQL projections and a
        consumer's checkpoint in one statement; then the inline projections, which need
        the caller to hold a transaction (one statement is atomic on its own).

        Each envelope's version is the one expected to be next in its stream: if another
        writer got there first, VersionConflict and nothing of this statement is stored.
        A message's trace context is the current span's unless it carries its own.
        `partitions`: each message's outbox partition (`partition_of` its stream; all 0
        when not given).
        """
        in_statement = tuple(p for p in projections if isinstance(p, SqlProjection))
        trace_headers = inject_headers()
        sent = [with_headers(m, trace_headers) for m in messages]
        where = list(partitions) if partitions is not None else [0] * len(sent)
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
            where,
            list(self.sent_positions()),
        ]
        for projection in in_statement:
            params += projection.params(envelopes)
        if checkpoint is not None:
            params += checkpoint_params(checkpoint)
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
        position_of: dict[str, int] = {}
        unsent: dict[int, list[int]] = {}
        for row in rows:
            if row["msg_id"] is None:
                unsent.setdefault(row["partition"], []).append(row["position"])
            else:
                position_of[row["msg_id"]] = row["position"]
        waits_for = {
            partition: tuple(older) if len(older) < ORDER_CHECK_LIMIT else None
            for partition, older in unsent.items()
        }
        return [
            Queued(position_of[m.msg_id], m, p, waits_for.get(p, ()))
            for m, p in zip(sent, where, strict=True)
        ]

    def _statement(self, projections: tuple[SqlProjection, ...], checkpoint: bool) -> str:
        key = (projections, checkpoint)
        if key not in self._statements:
            more, n = "", 15
            for projection in projections:
                numbers = [f"${n + i}" for i in range(projection.arity)]
                more += ", " + projection.sql.format(*numbers, s=self.s)
                n += projection.arity
            if checkpoint:
                more += _CHECKPOINT_CTE.format(*range(n, n + CHECKPOINT_PARAMS), s=self.s)
            self._statements[key] = _APPEND_SQL.format(s=self.s, more=more, limit=ORDER_CHECK_LIMIT)
        return self._statements[key]

    async def advance(self, conn: Conn, checkpoint: Checkpoint) -> None:
        """Write a consumer's checkpoint (its floor and highest never move back), in the
        caller's transaction."""
        sql = _CHECKPOINT_UPSERT.format(*range(1, CHECKPOINT_PARAMS + 1), s=self.s)
        await conn.execute(sql, *checkpoint_params(checkpoint))

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
