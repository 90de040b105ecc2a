"""The outbox relay: publishes committed outbox rows to JetStream, then deletes them.

Rows are read whatever their position and deleted once acked, so a row whose
transaction committed after a higher-numbered one is still published: there is
no high-water mark to skip past it. The JetStream message id is the outbox
msg_id (the event id), so a republish after a crash between ack and delete is
dropped by JetStream's duplicate window. One relay per schema is active at a
time (a Postgres advisory lock), so events leave in the order they committed; or, for a
partitioned outbox (runtime/relays.py), one per partition, each reading only its
partition's rows, with its own lock and notification channel: each stream's rows are in
one partition, so everything below holds per partition.

Rows this process commits are also handed over in memory (`committed`): the leader
publishes those at once, without reading them back, and deletes them after the acks.
The scan stays the source of truth: it runs when the relay becomes leader, when
asked (`wake`, for rows written with `enqueue`), when another replica has committed rows
(it sends a Postgres NOTIFY on the schema's channel, which the leader LISTENs to),
every `idle_poll_seconds` (a notification lost with a connection) and after any failed
publish; until a scan finds the table drained,
rows handed over in memory are left to it, so a row never overtakes an older one. Rows
handed over leave to the scan too if an older row of their partition is still unsent
(another replica's, committed while its notification is still on the way): the write
that made them read which older rows were in the table and not yet sent (in the same
statement, `Queued.waits_for`), and the leader checks those against what it has sent
since. So every stream's events reach JetStream in version order.
A row published by both ways is dropped by JetStream as a duplicate; a core NATS
subscriber may see it twice (rarely: a scan must read a row in the moment between its
commit and its hand-over), which the contracts allow (ids make every message idempotent).

Rows handed over together (one commit of at least MIN_BATCH, e.g. a bulk command's
thousands of events) leave as JetStream atomic batches, one batch in flight at a time:
up to MAX_BATCH messages of one stream stored with one fsync and acked once (a durable
server fsyncs every message: about 4,000 messages/s here one by one, about 40,000/s in
batches of 1,000). JetStream refuses a whole batch that repeats a stored message id; a
refused batch is a failed publish, so the scan sends its rows again one by one, where
duplicates are dropped as usual. Only streams configured for it are sent batches
(`batched_subjects`; `allow_atomic` on the stream); one that refuses them anyway is sent
one by one from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Coroutine, Iterable, Sequence
from itertools import groupby
from typing import Any
from uuid import uuid4

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import Header, PubAck

from runtime.eventstore import Conn, EventStore, Outgoing, Queued
from runtime.metrics import outbox_backlog

log = logging.getLogger(__name__)
MAX_BATCH = 1000  # JetStream's limit on an atomic batch
BACKLOG_COUNT_SECONDS = 5.0
MIN_BATCH = 100  # fewer rows go one by one: a batch pays off on a bulk command's commit
ATOMIC_DISABLED = 10174  # JetStream's error code: the stream does not allow atomic batches


class BatchRefused(Exception):
    """JetStream stored none of an atomic batch."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("description", "batch refused"))
        self.err_code = error.get("err_code")


def _abandon(acks: Iterable[asyncio.Future[PubAck]]) -> None:
    """Acks no longer awaited (their rows are left to the scan): their outcome is not an
    error to report."""
    for ack in acks:
        ack.add_done_callback(lambda f: f.cancelled() or f.exception())


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for n, token in enumerate(want):
        if token == ">":
            return len(have) > n
        if n >= len(have) or (token != "*" and token != have[n]):
            return False
    return len(have) == len(want)


class OutboxRelay:
    def __init__(
        self,
        store: EventStore,
        nc: NatsClient,
        js: JetStreamContext,
        *,
        batch: int = 500,
        idle_poll_seconds: float = 1.0,
        delete_interval_seconds: float = 0.05,
        ack_timeout_seconds: float = 10.0,
        batched_subjects: Sequence[str] = (),
        partition: int | None = None,
    ) -> None:
        """`batched_subjects`: the subjects of the streams configured for atomic batches;
        `partition`: relay only that partition's rows (runtime/relays.py), else all."""
        self.store = store
        self.partition = partition
        # Only this relay's rows: the scans and the order check read nothing else.
        self._mine = "" if partition is None else f" AND partition = {int(partition)}"
        self.nc = nc
        self.js = js
        self.ack_timeout_seconds = ack_timeout_seconds
        self._batched = list(batched_subjects)
        self._unbatched: set[str] = set()  # subjects whose stream refused batches anyway
        self._commit_inbox: str | None = None
        self._commit_acks: dict[str, asyncio.Future[PubAck]] = {}
        self._last_batch: asyncio.Future[PubAck] | None = None
        self.batch = batch
        self.idle_poll_seconds = idle_poll_seconds
        self.delete_interval_seconds = delete_interval_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._leading = False
        self._caught_up = False
        self._scan_wanted = True
        self._fresh: deque[Queued] = deque()
        self._unconfirmed: deque[tuple[Queued, asyncio.Future[PubAck]]] = deque()
        self._sent: set[int] = set()  # published from memory, row not yet deleted: not scanned
        self._confirm_wake = asyncio.Event()
        self._settled = asyncio.Event()  # the confirmer took some rows out of `_sent`
        self._failures = 0  # publishes from memory that failed (their rows go by the scan)
        self._sending = asyncio.Lock()  # one publisher at a time keeps the commit order
        self._tasks: set[asyncio.Task[None]] = set()
        store.on_committed = self.committed
        store.sent_positions = self.sent_positions

    def sent_positions(self) -> set[int]:
        """Rows published from memory whose rows are not yet deleted."""
        return self._sent

    @property
    def caught_up(self) -> bool:
        """Leading, with the table drained: rows handed over now leave at once."""
        return self._leading and self._caught_up

    @property
    def channel(self) -> str:
        """The Postgres notification channel of this schema's outbox (or partition)."""
        suffix = "" if self.partition is None else f"_{self.partition}"
        return f"voco_outbox_{self.store.schema}{suffix}"

    def wake(self) -> None:
        """Rows were committed that were not handed over: scan the table (the leader's)."""
        if not self._leading:
            self._spawn(self._notify_leader())
        self._scan_wanted = True
        self._wake.set()

    async def committed(self, queued: Sequence[Queued]) -> None:
        """Rows just committed by this process: published at once by the committing task
        (no hop through the relay's loop), unless older ones are still waiting; on a
        replica that does not lead, the leader is told to scan."""
        if self._leading and self._caught_up and not self._fresh and not self._sending.locked():
            async with self._sending:
                if await self._older_rows_waiting(queued):
                    self._leave_to_scan()
                else:
                    await self._send(queued)
        elif self._leading and self._caught_up:
            self._fresh.extend(queued)
            self._wake.set()
        elif self._leading:
            self._scan_wanted = True  # a scan under way may have read the table before them
        elif queued:
            await self._notify_leader()

    async def _notify_leader(self) -> None:
        try:
            await self.store.pool.execute("SELECT pg_notify($1, '')", self.channel)
        except Exception as error:  # the leader's poll finds the rows anyway
            log.warning("could not notify the outbox leader", extra={"error": repr(error)})

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_notification(self, *_: object) -> None:
        # Another replica's rows are older than this one's next commits: until a scan has
        # published them, this one's are left to the scan too, which keeps position order.
        self._caught_up = False
        self._scan_wanted = True
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._scan_wanted = True  # a last scan before the relay lets go
        self._wake.set()

    async def run(self) -> None:
        """Lead until stopped; after a failure (Postgres or NATS gone) start over: what was
        not deleted is still in the table and published again (dropped as duplicates)."""
        while True:
            try:
                async with self.store.pool.acquire() as lock_conn:
                    await self._lead(lock_conn)
                return
            except Exception:
                log.exception("outbox relay failed, starting again")
                if self._stopping:
                    return
                await self._sleep()

    async def _lead(self, lock_conn: Conn) -> None:
        key = f"outbox:{self.store.schema}" + (
            "" if self.partition is None else f":{self.partition}"
        )
        while not await lock_conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
            if self._stopping:
                return
            await self._sleep()
        await lock_conn.add_listener(self.channel, self._on_notification)
        self._leading, self._caught_up, self._scan_wanted = True, False, True
        confirmer = asyncio.create_task(self._confirm())
        counter = asyncio.create_task(self._count_backlog())
        try:
            while True:
                self._wake.clear()
                if self._scan_wanted or not self._caught_up:
                    self._scan_wanted = False
                    drained = await self.publish_pending() < self.batch
                    self._caught_up = drained
                    self._scan_wanted = self._scan_wanted or not drained
                elif self._fresh:
                    await self._publish_fresh()
                elif self._stopping:
                    return
                elif not await self._sleep():
                    self._scan_wanted = True  # the poll: in case a notification was lost
        finally:
            counter.cancel()
            await asyncio.wait([counter])  # unlike `await counter`, keeps our own cancel
            self._leading = False
            self._fresh.clear()
            self._confirm_wake.set()
            await confirmer  # the acks of what was published, and their rows deleted
            self._sent.clear()
            await lock_conn.remove_listener(self.channel, self._on_notification)
            await lock_conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)

    async def _count_backlog(self) -> None:
        """The rows still in the outbox, every few seconds while leading (the dashboard's
        outbox backlog); counted up to a cap so a huge backlog costs a bounded scan."""
        s = self.store.s
        while True:
            try:
                waiting = await self.store.pool.fetchval(
                    f"SELECT count(*) FROM (SELECT 1 FROM {s}.outbox WHERE true{self._mine} "
                    "LIMIT 100000) AS waiting"
                )
                where = {"schema": self.store.schema}
                if self.partition is not None:
                    where["partition"] = str(self.partition)
                outbox_backlog.set(int(waiting), where)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the relay's own loop reports a lost database
                log.debug("could not count the outbox", extra={"error": repr(error)})
            await asyncio.sleep(BACKLOG_COUNT_SECONDS)

    async def _sleep(self) -> bool:
        """Wait for a wake-up or the poll interval; True if woken."""
        try:
            await asyncio.wait_for(self._wake.wait(), self.idle_poll_seconds)
        except TimeoutError:
            return False
        return True

    async def publish_pending(self) -> int:
        """Publish one batch read from the table; returns how many rows left the outbox."""
        s = self.store.s
        while True:
            failures = self._failures
            async with self.store.pool.acquire() as conn:
                rows = await conn.fetch(
                    f"SELECT position, msg_id, subject, headers, payload FROM {s}.outbox "
                    f"WHERE position <> ALL($2::bigint[]){self._mine} ORDER BY position LIMIT $1",
                    self.batch,
                    list(self._sent),
                )
                if not rows:
                    return 0
                queued = [
                    Queued(
                        row["position"],
                        Outgoing(
                            row["subject"], bytes(row["payload"]), row["msg_id"], row["headers"]
                        ),
                        self.partition or 0,
                    )
                    for row in rows
                ]
                async with self._sending:
                    # An older row sent from memory and not yet acked may still fail (a
                    # refused batch): it then leaves from the table, and these rows, which
                    # the SELECT read past it, must not be stored ahead of it.
                    await self._until_sent_below(queued[-1].position)
                    if self._failures != failures:
                        continue  # read again: the failed rows are the oldest now
                    # Rows reported and sent from memory since the SELECT are not sent twice.
                    queued = [q for q in queued if q.position not in self._sent]
                    done = await self._publish(queued)
                if done:
                    await self._delete(conn, done)
            break
        published = set(done)
        self._fresh = deque(q for q in self._fresh if q.position not in published)
        return len(done)

    async def _until_sent_below(self, position: int) -> None:
        """Until every row sent from memory before `position` is acked or has failed."""
        while any(p < position for p in self._sent):
            self._settled.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), self.ack_timeout_seconds)

    async def _publish_fresh(self) -> None:
        async with self._sending:
            if self._fresh and self._caught_up:
                # In position order: two commits can hand over in the other order.
                fresh = sorted(self._fresh, key=lambda q: q.position)
                if await self._older_rows_waiting(fresh):
                    self._leave_to_scan()
                    return
                self._fresh.clear()
                await self._send(fresh)

    async def _older_rows_waiting(self, queued: Sequence[Queued]) -> bool:
        """Whether the table holds a row older than these that this relay has not sent:
        another replica's commit whose NOTIFY has not arrived, or one of this process
        whose committing task has not handed it over yet. An older event of the same
        stream is always committed before a newer one can be appended, so the statement
        that wrote these saw it (`Queued.waits_for`, read inside the write: no round
        trip); this check keeps every stream in order on JetStream. Rows whose write
        could not tell (more older rows than it reads back) are checked in the table."""
        if not queued:
            return False
        waited: set[int] = set()
        for q in queued:
            if q.waits_for is None:
                return await self._older_rows_in_table(queued)
            waited.update(q.waits_for)
        if not waited:
            return False
        handed_over = {q.position for q in queued}
        return any(p not in self._sent and p not in handed_over for p in waited)

    async def _older_rows_in_table(self, queued: Sequence[Queued]) -> bool:
        """`_older_rows_waiting`, read from the table now (one indexed read)."""
        try:
            return bool(
                await self.store.pool.fetchval(
                    f"SELECT EXISTS (SELECT 1 FROM {self.store.s}.outbox WHERE position < $1 "
                    f"AND position <> ALL($2::bigint[]){self._mine})",
                    min(q.position for q in queued),
                    list(self._sent),
                )
            )
        except Exception as error:  # the database is away: the scan sorts it out later
            log.warning("could not check the outbox order", extra={"error": repr(error)})
            return True

    def _leave_to_scan(self) -> None:
        """Rows handed over are left in the table, for the scan to send in position order."""
        self._caught_up = False
        self._scan_wanted = True
        self._wake.set()

    async def _send(self, queued: Sequence[Queued]) -> None:
        """Publish without waiting for the acks: the confirmer awaits them and deletes.
        Consecutive rows of one stream go as atomic batches."""
        batch_sent = False
        for batched, rows in groupby(queued, key=lambda q: self._batched_as(q.message.subject)):
            run = list(rows)
            for start in range(0, len(run), MAX_BATCH):
                part = run[start : start + MAX_BATCH]
                if batch_sent and await self._last_batch_refused():
                    # A refused batch's rows go again from the scan, in order: what follows
                    # them waits there too, or it would be stored ahead of them.
                    self._confirm_wake.set()
                    return
                if (
                    batched is not None
                    and batched not in self._unbatched
                    and len(part) >= MIN_BATCH
                ):
                    acks = [await self._publish_batch(part)] * len(part)
                    batch_sent = True
                else:
                    acks = [await self._publish_one(q) for q in part]
                for q, ack in zip(part, acks, strict=True):
                    self._unconfirmed.append((q, ack))
                    self._sent.add(q.position)
        self._confirm_wake.set()
        # nats-py writes to the socket from its flusher task, which runs only once this
        # task yields; a consumer's task goes straight on to decide its next batch, so the
        # messages would wait for that (routing: batch done -> PBX command p50 1.6 ms;
        # with this yield 0.3-0.5 ms).
        await asyncio.sleep(0)

    async def _last_batch_refused(self) -> bool:
        """Whether the batch sent last failed, once its answer is in (or timed out)."""
        last = self._last_batch
        if last is None:
            return False
        if not last.done():
            await asyncio.wait([last], timeout=self.ack_timeout_seconds)
        return not last.done() or last.cancelled() or last.exception() is not None

    def _batched_as(self, subject: str) -> str | None:
        """Which of the batched streams' subjects this one is stored under, if any."""
        return next((p for p in self._batched if subject_matches(p, subject)), None)

    async def _publish_batch(self, part: Sequence[Queued]) -> asyncio.Future[PubAck]:
        """An atomic batch: stored together once its last message (the commit) arrives,
        which alone is acked."""
        if self._last_batch is not None and not self._last_batch.done():
            # One batch at a time: JetStream bounds the batches in flight per stream and
            # drops a batch past the bound without an answer (seen as a 10 s ack timeout).
            await asyncio.wait([self._last_batch], timeout=self.ack_timeout_seconds)
        batch_id = uuid4().hex
        for n, q in enumerate(part[:-1], start=1):
            await self.nc.publish(
                q.message.subject,
                q.message.payload,
                headers={
                    **q.message.headers,
                    "Nats-Msg-Id": q.message.msg_id,
                    Header.BATCH_ID: batch_id,
                    Header.BATCH_SEQUENCE: str(n),
                },
            )
        last = part[-1]
        ack: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
        await self.nc.publish(
            last.message.subject,
            last.message.payload,
            reply=await self._commit_reply(batch_id, ack),
            headers={
                **last.message.headers,
                "Nats-Msg-Id": last.message.msg_id,
                Header.BATCH_ID: batch_id,
                Header.BATCH_SEQUENCE: str(len(part)),
                Header.BATCH_COMMIT: "1",
            },
        )
        self._last_batch = ack
        return ack

    async def _commit_reply(self, batch_id: str, ack: asyncio.Future[PubAck]) -> str:
        """A reply subject that settles `ack` with the batch's answer.

        Not `js.publish_async`: nats-py raises JetStream's 400 errors inside its reply
        callback, so the future of a refused batch would never be settled.
        """
        if self._commit_inbox is None:
            self._commit_inbox = self.nc.new_inbox()
            await self.nc.subscribe(f"{self._commit_inbox}.*", cb=self._committed_batch)
        self._commit_acks[batch_id] = ack
        return f"{self._commit_inbox}.{batch_id}"

    async def _committed_batch(self, msg: Msg) -> None:
        ack = self._commit_acks.pop(msg.subject.rsplit(".", 1)[-1], None)
        if ack is None or ack.done():
            return
        answer = json.loads(msg.data) if msg.data else {}
        if "error" in answer or "stream" not in answer:
            ack.set_exception(BatchRefused(answer.get("error") or {"description": "no stream"}))
        else:
            ack.set_result(PubAck.from_response(answer))

    async def _confirm(self) -> None:
        """Await fresh publications' acks in order, delete their rows in batches; on a
        failure the rest is left to the scan."""
        while True:
            self._confirm_wake.clear()
            if not self._unconfirmed:
                if not self._leading:
                    return
                await self._confirm_wake.wait()
                continue
            taken = [self._unconfirmed.popleft() for _ in range(len(self._unconfirmed))]
            done: list[int] = []
            for n, (q, ack) in enumerate(taken):
                try:
                    if not ack.done():
                        await asyncio.wait([ack], timeout=self.ack_timeout_seconds)
                    ack.result()  # not done by then: InvalidStateError, a failed publish
                except Exception as error:
                    _abandon(ack for _, ack in taken[n:])
                    if isinstance(error, BatchRefused) and error.err_code == ATOMIC_DISABLED:
                        self._unbatched.add(self._batched_as(q.message.subject) or "")
                    log.warning(
                        "publish failed, will retry",
                        extra={"subject": q.message.subject, "error": repr(error)},
                    )
                    self._caught_up = False  # the rest is still in the table: scan it
                    self._failures += 1
                    self._fresh.clear()
                    _abandon(ack for _, ack in self._unconfirmed)
                    self._unconfirmed.clear()
                    self._sent.clear()
                    self._settled.set()
                    self.wake()
                    break
                done.append(q.position)
            if done:
                try:
                    async with self.store.pool.acquire() as conn:
                        await self._delete(conn, done)
                except Exception as error:  # published already; the scan deletes them later
                    log.warning("outbox rows not deleted", extra={"error": repr(error)})
                    self.wake()
                self._sent.difference_update(done)
                self._settled.set()
                if self._leading:
                    # Let rows gather: one DELETE (one commit, one WAL flush) per interval
                    # instead of one per batch, leaving the disk to the writes calls wait on.
                    await asyncio.sleep(self.delete_interval_seconds)

    async def _publish(self, queued: Sequence[Queued]) -> list[int]:
        """Publish in order; the positions acked, up to the first failure."""
        acks = [await self._publish_one(q) for q in queued]
        done: list[int] = []
        for q, ack in zip(queued, acks, strict=True):
            try:
                await ack
            except Exception as error:
                # Later rows may be stored already; they are republished with their
                # ids and dropped as duplicates, so stopping here loses nothing.
                log.warning(
                    "publish failed, will retry",
                    extra={"subject": q.message.subject, "error": repr(error)},
                )
                break
            done.append(q.position)
        return done

    async def _publish_one(self, q: Queued) -> asyncio.Future[PubAck]:
        """Publish a row with its id as `Nats-Msg-Id`; the ack arrives later."""
        return await self.js.publish_async(
            q.message.subject,
            q.message.payload,
            headers={**q.message.headers, "Nats-Msg-Id": q.message.msg_id},
        )

    async def _delete(self, conn: Conn, positions: list[int]) -> None:
        await conn.execute(f"DELETE FROM {self.store.s}.outbox WHERE position = ANY($1)", positions)
