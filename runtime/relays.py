"""The outbox relayed partition by partition, by the replicas that consume the partitions.

A service with a partitioned consumer (runtime/leases.py) writes each outbox row in the
partition of its aggregate (`EventStore.partition_of`: the same hash of the call id or
extension as its stream's partition on JetStream). Relay partition p runs on the replica
that holds consumer partition p, so the rows that replica's consumer commits are
published from memory by the same replica, and two replicas share the publishing as they
share the deciding; no lock spans the schema. Each partition's relay is an OutboxRelay of
its own (its lock, its channel, scans and order check over its rows only), so the relay's
guarantees hold per partition: a row committed late is still read by its partition's scan
(no high-water mark), and a stream's rows, all in one partition, leave in version order.

Rows a replica commits for a partition it does not relay (an offer answered here, a call
of another replica's partition) are announced on that partition's channel; a partition
between holders (a handover) has no listener for a moment, and its next relay starts with
a scan, so nothing waits for a lost notification. Rows written with `enqueue` (no
aggregate) are partition 0.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from itertools import groupby

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from runtime.eventstore import EventStore, Queued
from runtime.outbox import OutboxRelay

log = logging.getLogger(__name__)


class PartitionedRelay:
    """The relays of the partitions this replica holds; the service's `relay`."""

    def __init__(
        self,
        store: EventStore,
        nc: NatsClient,
        js: JetStreamContext,
        *,
        batched_subjects: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.nc = nc
        self.js = js
        self.batched_subjects = list(batched_subjects)
        self._relays: dict[int, tuple[OutboxRelay, asyncio.Task[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        store.on_committed = self.committed
        store.sent_positions = self.sent_positions

    @property
    def relayed(self) -> list[int]:
        """The partitions relayed here now."""
        return sorted(self._relays)

    async def take(self, partition: int) -> None:
        """Relay `partition` (once its previous relay, elsewhere, has let go of its lock)."""
        if partition in self._relays or self._stopping.is_set():
            return
        relay = OutboxRelay(
            self.store,
            self.nc,
            self.js,
            batched_subjects=self.batched_subjects,
            partition=partition,
        )
        # The relay made itself the store's: this one answers for all partitions.
        self.store.on_committed = self.committed
        self.store.sent_positions = self.sent_positions
        task = asyncio.create_task(relay.run(), name=f"outbox-relay-{partition}")
        self._relays[partition] = (relay, task)

    async def let_go(self, partition: int) -> None:
        """Stop relaying `partition`, after publishing what is left of it."""
        found = self._relays.pop(partition, None)
        if found is not None:
            relay, task = found
            relay.stop()
            await task

    def sent_positions(self) -> set[int]:
        """Rows any partition's relay here has sent and not yet deleted."""
        return set().union(*(relay.sent_positions() for relay, _ in self._relays.values()))

    async def committed(self, queued: Sequence[Queued]) -> None:
        for partition, rows in groupby(queued, key=lambda q: q.partition):
            found = self._relays.get(partition)
            if found is not None:
                await found[0].committed(list(rows))
            else:
                await self._notify(partition)

    def wake(self) -> None:
        """Rows were written with `enqueue` (partition 0): scan them."""
        found = self._relays.get(0)
        if found is not None:
            found[0].wake()
        else:
            task = asyncio.create_task(self._notify(0))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _notify(self, partition: int) -> None:
        try:
            await self.store.pool.execute(
                "SELECT pg_notify($1, '')", f"voco_outbox_{self.store.schema}_{partition}"
            )
        except Exception as error:  # its relay's poll finds the rows anyway
            log.warning("could not notify a partition's relay", extra={"error": repr(error)})

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Until stopped; then every partition still relayed publishes what is left."""
        await self._stopping.wait()
        for partition in list(self._relays):
            await self.let_go(partition)
