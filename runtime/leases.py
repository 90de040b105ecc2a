"""A partitioned consumer: the partitions of a stream shared among a service's live replicas.

Each partition (runtime/partitions.py) has its own checkpointed consumer, taken by one
replica at a time with a PostgreSQL advisory lock, so one aggregate's messages are applied
in order by one replica while every replica applies some. Replicas find each other by a
second set of locks: each live one holds a member slot, and all of them can count the
slots held (`pg_locks`). Every `rebalance_seconds` a replica takes its fair share, at
most ceil(partitions / members), preferring the partitions of its own rank (p mod
members) so the shares settle without a coordinator; it lets go of the ones over its
share, each after the batch it is applying. A replica that dies loses its locks with its
connections (PostgreSQL ends the session), and the others take its partitions within a
rebalance interval.

Order and exactly-once across a handover:
- A partition's batches are applied on the very connection that holds its lock, so a
  replica whose lock is gone (its connection lost) can no longer commit anything for it:
  the lock fences the writes as well as the reads.
- Whoever takes a partition reads its checkpoint (the stream sequences whose effect
  committed, runtime/consumer.py) and recreates the partition's JetStream consumer to
  start right after its contiguous floor; those applied above the floor are skipped.
  Messages the previous holder had been sent and not applied come again in stream
  order, before anything newer; nothing depends on JetStream's redelivery of another
  consumer's unacknowledged messages, whose order is not kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from runtime.consumer import Apply, ApplyBatch, CheckpointedConsumer
from runtime.eventstore import Conn, EventStore
from runtime.partitions import PartitionScheme

log = logging.getLogger(__name__)
MAX_MEMBERS = 64
_MEMBERS_SQL = """
SELECT objid::text::bigint AS slot FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = $1::bigint::oid
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY slot
"""


def lock_space(text: str) -> int:
    """A stable 32-bit key (signed, as PostgreSQL's int4) for a family of advisory locks."""
    key = zlib.crc32(text.encode())
    return key - (1 << 32) if key >= 1 << 31 else key


class PartitionConsumer(CheckpointedConsumer):
    """One partition's consumer, applied on the connection that holds its lock."""

    def __init__(
        self,
        store: EventStore,
        js: JetStreamContext,
        *,
        group: str,
        partition: int,
        locks: int,
        stream: str,
        subjects: Sequence[str],
        apply: Apply | None = None,
        apply_batch: ApplyBatch | None = None,
        batch: int = 200,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            store,
            js,
            name=f"{group}-p{partition}",
            stream=stream,
            subjects=subjects,
            apply=apply,
            apply_batch=apply_batch,
            batch=batch,
            after_commit=after_commit,
        )
        self.group = group
        self.partition = partition
        self._locks = locks
        self._fence: Conn | None = None
        self._releasing: contextlib.AsyncExitStack | None = None

    @property
    def label(self) -> str:
        return self.group

    def _connection(self) -> AbstractAsyncContextManager[Conn]:
        assert self._fence is not None, "a partition is applied only while it is held"
        return nullcontext(self._fence)

    async def acquire(self, timeout: float) -> bool:
        """Take the partition's lock if no one holds it (then `hold` must follow)."""
        exits = contextlib.AsyncExitStack()
        conn = await exits.enter_async_context(self.store.pool.acquire(timeout=timeout))
        try:
            got = await conn.fetchval(
                "SELECT pg_try_advisory_lock($1, $2)", self._locks, self.partition
            )
        except BaseException:
            await exits.aclose()
            raise
        if not got:
            await exits.aclose()
            return False
        self._fence, self._releasing = conn, exits
        return True

    async def hold(self) -> None:
        """Consume the partition until stopped or failed, then let go of it."""
        assert self._fence is not None
        assert self._releasing is not None
        try:
            await self._consume()
        except Exception:
            log.exception("partition failed; letting go of it", extra={"consumer": self.name})
        finally:
            fence, self._fence = self._fence, None
            try:
                await fence.execute(
                    "SELECT pg_advisory_unlock($1, $2)", self._locks, self.partition
                )
            except Exception:  # a connection that lost its session holds no lock anyway
                with contextlib.suppress(Exception):
                    fence.terminate()
            with contextlib.suppress(Exception):  # its pool may be gone (closing)
                await self._releasing.aclose()

    async def handle_batch(self, msgs: Sequence[Msg]) -> None:
        if self._fence is None or self._fence.is_closed():
            self.stop()  # the lock went with the connection: another replica may hold it
            raise ConnectionError(f"{self.name}: the connection holding the partition is lost")
        await super().handle_batch(msgs)

    async def _ensure(self, config: ConsumerConfig) -> str:
        """The partition's JetStream consumer, made afresh to start after the checkpoint."""
        self._last_committed = None
        assert self._fence is not None
        after = await self._checkpoint(self._fence)
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(self.stream, self.name)
        await self.js.add_consumer(
            self.stream,
            config.evolve(
                name=self.name,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=after.contiguous + 1,  # those applied above it are skipped
            ),
        )
        return self.name


class PartitionedConsumer:
    """A consumer of every partition of a stream, its share of them taken by this replica.

    A `Worker` of the service (runtime/service.py): started and stopped with it.
    """

    def __init__(
        self,
        store: EventStore,
        js: JetStreamContext,
        *,
        name: str,
        stream: str,
        scheme: PartitionScheme,
        subjects: Sequence[str],
        partitions: int,
        apply: Apply | None = None,
        apply_batch: ApplyBatch | None = None,
        batch: int = 200,
        after_commit: Callable[[], None] | None = None,
        rebalance_seconds: float = 1.0,
        on_taken: Callable[[int], Awaitable[None]] | None = None,
        on_let_go: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        """`on_taken`, `on_let_go`: told of each partition taken, before its consumer
        starts, and let go, after it has stopped (e.g. to relay that partition's outbox)."""
        self.on_taken = on_taken
        self.on_let_go = on_let_go
        self.store = store
        self.js = js
        self.name = name
        self.stream = stream
        self.scheme = scheme
        self.subjects = list(subjects)
        self.partitions = partitions
        self._apply = apply
        self._apply_batch = apply_batch
        self.batch = batch
        self.after_commit = after_commit
        self.rebalance_seconds = rebalance_seconds
        self._members = lock_space(f"members:{store.schema}:{name}")
        self._locks = lock_space(f"partitions:{store.schema}:{name}")
        self._held: dict[int, tuple[PartitionConsumer, asyncio.Task[None]]] = {}
        self._stopping = asyncio.Event()

    @property
    def held(self) -> list[int]:
        """The partitions this replica consumes now."""
        return sorted(p for p, (_, task) in self._held.items() if not task.done())

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                async with self.store.pool.acquire() as conn:
                    await self._member(conn)
            except Exception:
                log.exception(
                    "partitioned consumer failed, joining again", extra={"consumer": self.name}
                )
                await self._stopped_within(1.0)

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _member(self, conn: Conn) -> None:
        slot = await self._join(conn)
        if slot is None:
            return
        log.info("member of a partitioned consumer", extra={"consumer": self.name, "slot": slot})
        try:
            while True:
                await self._rebalance(conn, slot)
                if await self._stopped_within(self.rebalance_seconds):
                    return
        finally:
            await self._let_go(list(self._held))
            try:
                await conn.execute("SELECT pg_advisory_unlock($1, $2)", self._members, slot)
            except Exception:  # never back in the pool holding a slot: it would count
                with contextlib.suppress(Exception):
                    conn.terminate()

    async def _join(self, conn: Conn) -> int | None:
        """Take a free member slot (waiting while every one is taken)."""
        while not self._stopping.is_set():
            for slot in range(MAX_MEMBERS):
                if await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", self._members, slot):
                    return slot
            log.warning("every member slot is taken", extra={"consumer": self.name})
            await self._stopped_within(self.rebalance_seconds)
        return None

    async def _rebalance(self, conn: Conn, slot: int) -> None:
        for partition, (_, task) in list(self._held.items()):
            if task.done():
                del self._held[partition]  # failed: taken again below, here or elsewhere
        rows = await conn.fetch(_MEMBERS_SQL, self._members & 0xFFFFFFFF)
        members = [row["slot"] for row in rows]
        if slot not in members:
            raise ConnectionError("this replica's member lock is gone")
        rank, live = members.index(slot), len(members)
        share = -(-self.partitions // live)
        preferred = [p for p in range(self.partitions) if p % live == rank]
        rest = [p for p in range(self.partitions) if p % live != rank]
        order = preferred + rest[rank:] + rest[:rank]  # the others' spares, spread by rank
        if len(self._held) > share:
            over = sorted(self._held, key=order.index)[share:]
            await self._let_go(over)
        for partition in order:
            if len(self._held) >= share or self._stopping.is_set():
                break
            if partition not in self._held:
                await self._take(partition)

    async def _take(self, partition: int) -> None:
        consumer = PartitionConsumer(
            self.store,
            self.js,
            group=self.name,
            partition=partition,
            locks=self._locks,
            stream=self.stream,
            subjects=self.scheme.filters(self.subjects, partition),
            apply=self._apply,
            apply_batch=self._apply_batch,
            batch=self.batch,
            after_commit=self.after_commit,
        )
        try:
            taken = await consumer.acquire(timeout=self.rebalance_seconds * 5)
        except TimeoutError:  # every pooled connection busy: next round
            log.warning("no connection free to take a partition", extra={"consumer": consumer.name})
            return
        if taken:
            log.info("partition taken", extra={"consumer": consumer.name})
            task = asyncio.create_task(self._hold(consumer), name=f"partition-{consumer.name}")
            self._held[partition] = (consumer, task)

    async def _hold(self, consumer: PartitionConsumer) -> None:
        if self.on_taken is not None:
            await self.on_taken(consumer.partition)
        try:
            await consumer.hold()
        finally:
            if self.on_let_go is not None:
                await self.on_let_go(consumer.partition)

    async def _let_go(self, partitions: Sequence[int]) -> None:
        """Stop consuming these, each after its current batch."""
        leaving = [self._held.pop(p) for p in partitions if p in self._held]
        for consumer, _ in leaving:
            consumer.stop()
        if leaving:
            await asyncio.wait([task for _, task in leaving])
            log.info(
                "partitions let go",
                extra={"consumer": self.name, "partitions": [c.partition for c, _ in leaving]},
            )
