"""The fan-out leader: the one replica that holds the index and publishes every view.

Views must leave from one place in one order: a block and the next presence change
must not race from two replicas. So one replica at a time (a PostgreSQL advisory lock)
loads the index from the compact tables and runs both consumers:

- presence: PresenceChanged -> every allowed watcher; UserProvisioned -> the directory;
- visibility: this service's own committed events (VOCO_VISIBILITY, through the outbox)
  -> the index, plus the view each affected watcher must now see.

Commands are handled by any replica and touch only the event store; a visibility
event is applied by reading its (owner, watcher) row as committed now, so replays and
batches converge on the current state. When the leader dies its lock is released and
another replica takes over, rebuilding the index from the tables.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from contracts.base import Event
from contracts.envelope import Envelope
from contracts.presence import (
    PRESENCE_STREAM,
    PresenceChanged,
    UserProvisioned,
)
from contracts.presence import event_subject as presence_subject
from contracts.visibility import (
    VISIBILITY_STREAM,
    VISIBILITY_SUBJECTS,
    ContactAdded,
    ContactFavourited,
    ContactUnfavourited,
    WatchedPresence,
)
from runtime.consumer import CheckpointedConsumer, Delivery, Rejected, to_delivery
from runtime.eventstore import Conn, EventStore
from services.visibility.index import FanoutIndex
from services.visibility.tables import Tables
from services.visibility.views import ViewPublisher

log = logging.getLogger(__name__)

PRESENCE_CONSUMER = "visibility-presence"
CHANGES_CONSUMER = "visibility-changes"
CONSUMED = [
    presence_subject("*", PresenceChanged.type_name),
    presence_subject("*", UserProvisioned.type_name),
]


Apply1 = Callable[[Delivery], Awaitable[None]]


def decode(delivery: Delivery) -> Event:
    try:
        event = Envelope.from_bytes(delivery.data).payload()
    except Exception as error:
        raise Rejected(f"not an event envelope Voco knows: {error}") from error
    assert isinstance(event, Event)
    return event


class FanOutFirst(CheckpointedConsumer):
    """A checkpointed consumer that publishes a batch's views before its transaction.

    The views depend only on memory, so no database round trip sits between a presence
    change and its watchers; the rows and the checkpoint then commit as usual. A change
    already fanned out (by the fast path, or before a failed commit) is recognised by the
    envelope version the index keeps per user and not published twice.
    """

    def __init__(self, *args: Any, before: Apply1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before = before

    async def handle_batch(self, msgs: Sequence[Msg]) -> None:
        for msg in msgs:
            await self.before(to_delivery(msg))
        await super().handle_batch(msgs)


class FanoutLeader:
    name = "fanout-leader"

    def __init__(
        self,
        store: EventStore,
        nc: NatsClient,
        js: JetStreamContext,
        views: ViewPublisher,
        tables: Tables,
        *,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.nc = nc
        self.views = views
        self.index: FanoutIndex = views.index
        self.tables = tables
        self.consumers = [
            FanOutFirst(
                store,
                js,
                name=PRESENCE_CONSUMER,
                stream=PRESENCE_STREAM,
                subjects=CONSUMED,
                apply=self.apply_presence,
                before=self.fan_out,
                after_commit=after_commit,
            ),
            CheckpointedConsumer(
                store,
                js,
                name=CHANGES_CONSUMER,
                stream=VISIBILITY_STREAM,
                subjects=VISIBILITY_SUBJECTS,
                apply=self.apply_change,
                after_commit=after_commit,
            ),
        ]
        self.leading = asyncio.Event()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        for consumer in self.consumers:
            consumer.stop()

    async def run(self) -> None:
        async with self.store.pool.acquire() as lock_conn:
            key = f"fanout:{self.store.schema}"
            while not await lock_conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
                try:
                    await asyncio.wait_for(self._stopping.wait(), 1.0)
                    return
                except TimeoutError:
                    continue
            try:
                async with self.store.pool.acquire() as conn:
                    report = await self.index.load(conn, self.store.s)
                log.info(
                    "fan-out leader: index loaded",
                    extra={
                        "edges": report.edges,
                        "users": report.users_with_presence,
                        "seconds": round(report.seconds, 3),
                    },
                )
                # The fast path: JetStream's publishes reach core subscribers too, so a
                # change is fanned out the moment it is stored, never queued behind the
                # consumer's previous commit. The consumer stays the path of record and
                # fans out whatever this missed (a leader switch, a reconnect).
                fast = await self.nc.subscribe(
                    presence_subject("*", PresenceChanged.type_name),
                    cb=self._fast_path,
                    pending_msgs_limit=-1,
                )
                self.leading.set()
                try:
                    await asyncio.gather(*(c.run() for c in self.consumers))
                finally:
                    await fast.unsubscribe()
            finally:
                self.leading.clear()
                await lock_conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)

    async def _fast_path(self, msg: Msg) -> None:
        await self._fan_out_bytes(msg.data)

    async def fan_out(self, delivery: Delivery) -> None:
        """Before the consumer's transaction: publish what the fast path has not."""
        if delivery.subject.endswith(PresenceChanged.type_name):
            await self._fan_out_bytes(delivery.data)

    async def _fan_out_bytes(self, data: bytes) -> None:
        """Publish a PresenceChanged to every allowed watcher, once per envelope version
        (the user's stream version: both paths see it, and it only grows). Anything that
        does not decode waits for the consumer, which dead-letters it."""
        try:
            envelope = Envelope.from_bytes(data)
            event = envelope.payload()
        except Exception:
            return
        if isinstance(event, PresenceChanged):
            presence = WatchedPresence(
                extension=event.extension,
                status=event.status,
                note=event.note,
                note_expires_at=event.note_expires_at,
            )
            await self.views.presence_changed(presence, envelope.version)

    async def apply_presence(self, conn: Conn, delivery: Delivery) -> None:
        match decode(delivery):
            case UserProvisioned(extension=extension, display_name=name):
                await self.tables.add_user(conn, extension, name)
            case PresenceChanged() as event:
                await self.tables.save_presence(
                    conn,
                    event.extension,
                    event.status.value,
                    event.note,
                    event.note_expires_at,
                    Envelope.from_bytes(delivery.data).version,
                )

    async def apply_change(self, conn: Conn, delivery: Delivery) -> None:
        event = decode(delivery)
        if isinstance(event, ContactFavourited | ContactUnfavourited):
            return  # who sees whom is unchanged; routing reads these
        watcher = getattr(event, "watcher", None)
        owner = getattr(event, "owner", None)
        if not isinstance(watcher, str) or not isinstance(owner, str):
            return  # a policy change alone changes nobody; its re-placements follow
        contact, standing = await self.tables.edge(conn, owner, watcher)
        await self.views.watcher_changed(
            owner,
            watcher,
            can_see=standing == "allowed",
            watching=contact,
            announce=isinstance(event, ContactAdded),
        )
