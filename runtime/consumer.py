"""JetStream consumers whose effect and checkpoint commit together.

Each consumer is a durable pull consumer (runtime/pull.py keeps its requests
outstanding). A batch is applied atomically with the checkpoint, which says which
JetStream stream sequences are applied: every one up to a floor, and each one above it
(`is_applied`). A message the checkpoint has is a redelivery and is skipped, so every
message takes effect exactly once. JetStream's sequence is assigned when the outbox
relay publishes, which happens only after the producing transaction committed, so a
late commit gets a later sequence. One instance per consumer is active at a time (an
advisory lock).

The highest sequence applied is not the checkpoint: JetStream delivers in stream order
except a redelivery. A message pulled by a process that stopped or died before it was
applied comes again after its ack wait, by when the next leader has applied later ones
(F9, tests/faults/README.md); a high-water mark would skip it for good. The floor
follows JetStream's ack floor for the consumer (every message up to it acked, and a
message is acked only after its effect committed), so the sequences kept above it are
the few applied since it was last read (`_ACK_FLOOR_EVERY`).

A message that fails to decode or apply on its own is moved to dead_letters
with the reason and the stream goes on: one bad message never blocks the rest.
A version conflict (another writer got to a stream first) is not bad input: the
message is applied again, on fresh state, and only dead-lettered if it keeps failing.

A failure of the infrastructure (Postgres unreachable, a connection lost) is not
bad input either: nothing is dead-lettered or acked, the batch is tried again after
a pause, and the consumer keeps running.

A consumer applies either message by message (`apply`, in one transaction with the
checkpoint) or a whole batch at once (`apply_batch`, which commits the checkpoint
with its effect itself, e.g. every call event of the batch decided and written with
the checkpoint in one statement).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import asyncpg
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry.trace import SpanKind

from runtime.eventstore import Checkpoint, Conn, EventStore, VersionConflict
from runtime.metrics import consumer_lag
from runtime.pull import PullStream
from runtime.telemetry import span_from_headers, tracer

log = logging.getLogger(__name__)
_tracer = tracer(__name__)


@dataclass(frozen=True)
class Delivery:
    subject: str
    data: bytes
    headers: dict[str, str]
    sequence: int


def to_delivery(msg: Msg) -> Delivery:
    return Delivery(msg.subject, msg.data, dict(msg.headers or {}), msg.metadata.sequence.stream)


Apply = Callable[[Conn, Delivery], Awaitable[None]]
AfterCommit = Callable[[], Awaitable[None]]
ApplyBatch = Callable[[Conn, Sequence[Delivery], Checkpoint], Awaitable[AfterCommit]]
"""Applies deliveries and commits the checkpoint with their effect, atomically (in one
statement, `EventStore.write(checkpoint=)`, or in a transaction it opens on `conn`);
returns what to do once that has committed."""

_CONFLICT_ATTEMPTS = 5
_ACK_FLOOR_EVERY = 1.0
"""Seconds between reads of JetStream's ack floor (sooner once a batch's worth is kept
above the floor)."""


def is_applied(checkpoint: Checkpoint, sequence: int) -> bool:
    return sequence <= checkpoint.contiguous or sequence in checkpoint.above


def advanced(checkpoint: Checkpoint, sequences: Sequence[int], ack_floor: int) -> Checkpoint:
    """The checkpoint once `sequences` are applied too, its floor raised to `ack_floor`
    (every message up to it acked, so applied) and what it covers dropped from above."""
    floor = max(checkpoint.contiguous, ack_floor)
    above = sorted({s for s in (*checkpoint.above, *sequences) if s > floor})
    highest = max(checkpoint.sequence, floor, *sequences)
    return Checkpoint(checkpoint.consumer, highest, floor, tuple(above))


async def _nothing() -> None:
    pass


def _infrastructure(error: Exception) -> bool:
    return isinstance(
        error,
        OSError  # ConnectionError, asyncpg's connection failures, timeouts
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.OperatorInterventionError  # shutting down, cannot connect now
        | asyncpg.TooManyConnectionsError,
    )


class Rejected(Exception):
    """Raised by an apply function for a message that can never be applied (bad input)."""


class CheckpointedConsumer:
    def __init__(
        self,
        store: EventStore,
        js: JetStreamContext,
        *,
        name: str,
        stream: str,
        subjects: Sequence[str],
        apply: Apply | None = None,
        apply_batch: ApplyBatch | None = None,
        batch: int = 200,
        after_commit: Callable[[], None] | None = None,
        deliver_new_only: bool = False,
    ) -> None:
        if apply is not None and apply_batch is None:
            apply_batch = self._apply_each(apply)
        elif apply_batch is None or apply is not None:
            raise ValueError("give a consumer either apply or apply_batch")
        self.store = store
        self.js = js
        self.name = name
        self.stream = stream
        self.subjects = list(subjects)
        self._apply_batch = apply_batch
        self.batch = batch
        self.after_commit = after_commit
        self.deliver_new_only = deliver_new_only
        self._stopping = asyncio.Event()
        self._last_committed: Checkpoint | None = None
        self._ack_floor = 0  # JetStream's, for this consumer, as last read
        self._ack_floor_read = 0.0

    @property
    def label(self) -> str:
        """The name its dead letters are kept under."""
        return self.name

    def stop(self) -> None:
        self._stopping.set()

    def _connection(self) -> AbstractAsyncContextManager[Conn]:
        """Where batches are applied: any pooled connection (the advisory lock that makes
        this the only instance is held on another)."""
        return self.store.pool.acquire()

    async def run(self) -> None:
        """Lead and consume until stopped; after a failure (Postgres or NATS gone) start over."""
        while not self._stopping.is_set():
            try:
                await self._lead()
            except Exception:
                log.exception("consumer failed, starting again", extra={"consumer": self.name})
                await self._stopped_within(1.0)

    async def _lead(self) -> None:
        async with self.store.pool.acquire() as lock_conn:
            key = f"consumer:{self.store.schema}:{self.name}"
            while not await lock_conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
                if await self._stopped_within(1.0):
                    return
            self._last_committed = None  # leadership (re)gained: read the checkpoint again
            try:
                await self._consume()
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _consume(self) -> None:
        config = ConsumerConfig(
            durable_name=self.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW if self.deliver_new_only else DeliverPolicy.ALL,
            filter_subjects=self.subjects if len(self.subjects) > 1 else None,
            filter_subject=self.subjects[0] if len(self.subjects) == 1 else None,
            ack_wait=30,
            max_ack_pending=10_000,
        )
        pull = PullStream(
            self.js._nc,
            api_prefix=self.js._prefix,  # nats-py keeps the API prefix (domain) here
            stream=self.stream,
            durable=await self._ensure(config),
            batch=self.batch,
        )
        await pull.start()
        msgs: list[Msg] = []
        try:
            while not self._stopping.is_set():
                msgs = await pull.next_batch(timeout=0.5)
                while msgs and not self._stopping.is_set():
                    try:
                        await self.handle_batch(msgs)
                        msgs = []
                    except Exception:
                        log.exception("batch failed, trying again", extra={"consumer": self.name})
                        await self._stopped_within(1.0)
        finally:
            await pull.stop(unhandled=msgs)

    async def _ensure(self, config: ConsumerConfig) -> str:
        await self.js.add_consumer(self.stream, config)
        assert config.durable_name is not None
        return config.durable_name

    async def handle_batch(self, msgs: Sequence[Msg]) -> None:
        await self._read_ack_floor()
        await self.apply_batch([to_delivery(m) for m in msgs])
        for m in msgs:
            await m.ack()
        if msgs:
            consumer_lag.set(msgs[-1].metadata.num_pending, {"consumer": self.name})
        if self.after_commit is not None:
            self.after_commit()

    async def apply_batch(self, deliveries: Sequence[Delivery]) -> None:
        """Apply and checkpoint in one transaction; the caller acks after it returns."""
        try:
            await self._apply_together(deliveries)
        except Exception:
            # The commit may have happened (a connection lost on COMMIT): read it again.
            self._last_committed = None
            # Find the bad message: apply one at a time, dead-lettering what fails.
            for delivery in deliveries:
                await self._apply_alone(delivery)

    async def _apply_together(self, deliveries: Sequence[Delivery]) -> None:
        async with self._connection() as conn:
            last = await self._checkpoint(conn)
            fresh = [d for d in deliveries if not is_applied(last, d.sequence)]
            if not fresh:
                return
            checkpoint = advanced(last, [d.sequence for d in fresh], self._ack_floor)
            done = await self._apply_batch(conn, fresh, checkpoint)
        self._last_committed = checkpoint
        await done()

    def _apply_each(self, apply: Apply) -> ApplyBatch:
        async def apply_in_order(
            conn: Conn, deliveries: Sequence[Delivery], checkpoint: Checkpoint
        ) -> AfterCommit:
            async with conn.transaction():
                for delivery in deliveries:
                    with span_from_headers(
                        _tracer,
                        f"apply {self.name}",
                        delivery.headers,
                        kind=SpanKind.CONSUMER,
                        attributes={"messaging.destination": delivery.subject},
                    ):
                        await apply(conn, delivery)
                await self.store.advance(conn, checkpoint)
            return _nothing

        return apply_in_order

    async def _apply_alone(self, delivery: Delivery) -> None:
        async with self._connection() as conn:
            for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
                last = await self._checkpoint(conn)
                if is_applied(last, delivery.sequence):
                    return
                checkpoint = advanced(last, [delivery.sequence], self._ack_floor)
                try:
                    done = await self._apply_batch(conn, [delivery], checkpoint)
                except VersionConflict as error:
                    reason = repr(error)
                    log.info(
                        "version conflict, applying again",
                        extra={"consumer": self.name, "attempt": attempt},
                    )
                    await asyncio.sleep(random.uniform(0, 0.002 * attempt))
                    continue
                except Exception as error:
                    if _infrastructure(error):
                        raise  # not this message's fault: the whole batch is tried again
                    reason = str(error) if isinstance(error, Rejected) else repr(error)
                    break
                self._last_committed = checkpoint
                await done()
                return
            log.warning(
                "message dead-lettered",
                extra={
                    "consumer": self.name,
                    "subject": delivery.subject,
                    "sequence": delivery.sequence,
                    "reason": reason,
                },
            )
            async with conn.transaction():
                await conn.execute(
                    f"INSERT INTO {self.store.s}.dead_letters "
                    "(consumer, subject, sequence, payload, reason) VALUES ($1, $2, $3, $4, $5)",
                    self.label,
                    delivery.subject,
                    delivery.sequence,
                    delivery.data,
                    reason,
                )
                last = await self._checkpoint(conn)
                checkpoint = advanced(last, [delivery.sequence], self._ack_floor)
                await self.store.advance(conn, checkpoint)
            self._last_committed = checkpoint

    async def _checkpoint(self, conn: Conn) -> Checkpoint:
        # Only the leader writes the checkpoint, so after one read it is known in memory;
        # it is read again whenever this instance (re)gains leadership or a write failed.
        if self._last_committed is None:
            row = await conn.fetchrow(
                "SELECT sequence, floor_sequence, applied_above "
                f"FROM {self.store.s}.checkpoints WHERE consumer = $1",
                self.name,
            )
            if row is None:
                self._last_committed = Checkpoint(self.name, 0, 0)
            else:  # a checkpoint from before the floor: everything up to its sequence
                floor = row["sequence"] if row["floor_sequence"] is None else row["floor_sequence"]
                above = tuple(row["applied_above"] or ())
                self._last_committed = Checkpoint(self.name, row["sequence"], floor, above)
        return self._last_committed

    async def _read_ack_floor(self) -> None:
        """JetStream's ack floor for this consumer, now and then: the checkpoint's floor
        follows it, so that only the sequences applied since are kept above it."""
        kept = len(self._last_committed.above) if self._last_committed is not None else 0
        since = time.monotonic() - self._ack_floor_read
        if kept == 0 or (kept < self.batch and since < _ACK_FLOOR_EVERY):
            return
        self._ack_floor_read = time.monotonic()
        try:
            info = await self.js.consumer_info(self.stream, self.name)
        except Exception as error:  # the floor stays where it is; the next batch asks again
            log.warning(
                "could not read the consumer's ack floor",
                extra={"consumer": self.name, "error": repr(error)},
            )
            return
        if info.ack_floor is not None and info.ack_floor.stream_seq is not None:
            self._ack_floor = max(self._ack_floor, info.ack_floor.stream_seq)
