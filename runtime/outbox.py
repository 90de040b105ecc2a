"""The outbox relay: publishes committed outbox rows to JetStream, then deletes them.

Rows are read whatever their position and deleted once acked, so a row whose
transaction committed after a higher-numbered one is still published: there is
no high-water mark to skip past it. The JetStream message id is the outbox
msg_id (the event id), so a republish after a crash between ack and delete is
dropped by JetStream's duplicate window. One relay per schema is active at a
time (a Postgres advisory lock), so events leave in the order they committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.js import JetStreamContext

from runtime.eventstore import Conn, EventStore

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        store: EventStore,
        js: JetStreamContext,
        *,
        batch: int = 500,
        idle_poll_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.js = js
        self.batch = batch
        self.idle_poll_seconds = idle_poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        async with self.store.pool.acquire() as lock_conn:
            await self._lead(lock_conn)

    async def _lead(self, lock_conn: Conn) -> None:
        key = f"outbox:{self.store.schema}"
        while not await lock_conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
            if self._stopping:
                return
            await self._sleep()
        try:
            while True:
                self._wake.clear()
                published = await self.publish_pending()
                if self._stopping and published == 0:
                    return
                if published < self.batch:
                    await self._sleep()
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.idle_poll_seconds)

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows left the outbox."""
        s = self.store.s
        async with self.store.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT position, msg_id, subject, headers, payload FROM {s}.outbox "
                "ORDER BY position LIMIT $1",
                self.batch,
            )
            if not rows:
                return 0
            acks = [
                await self.js.publish_async(
                    row["subject"],
                    bytes(row["payload"]),
                    headers={**row["headers"], "Nats-Msg-Id": row["msg_id"]},
                )
                for row in rows
            ]
            done: list[int] = []
            for row, ack in zip(rows, acks, strict=True):
                try:
                    await ack
                except Exception as error:
                    # Later rows may be stored already; they are republished with their
                    # ids and dropped as duplicates, so stopping here loses nothing.
                    log.warning(
                        "publish failed, will retry",
                        extra={"subject": row["subject"], "error": repr(error)},
                    )
                    break
                done.append(row["position"])
            if done:
                await conn.execute(f"DELETE FROM {s}.outbox WHERE position = ANY($1)", done)
            return len(done)
