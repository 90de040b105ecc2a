"""The timer driver: applies each user's due boundary through the presence service.

Timers live in Postgres (`timers.due_at`) and in an in-memory heap rebuilt from it at
start. The loop fires a timer only when the injected clock says `now >= due_at`, applies
what should hold *now* (so boundaries missed while down are caught up once), and moves
`due_at` to the first boundary after now. A wall clock that jumps back finds nothing due;
one that jumps forward catches up once. One driver per schema is active at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from datetime import datetime, timedelta
from typing import Any

from nats.aio.client import Client as NatsClient

from runtime.clock import Clock
from runtime.eventstore import EventStore
from runtime.outbox import OutboxRelay
from runtime.relays import PartitionedRelay
from services.scheduler.applying import (
    Due,
    Prepared,
    announce_all,
    apply_batch,
    prepare,
    retract_all,
)
from services.scheduler.settings import DriverSettings

__all__ = ["Driver", "DriverSettings"]

log = logging.getLogger(__name__)


class Driver:
    def __init__(
        self,
        store: EventStore,
        nc: NatsClient,
        clock: Clock,
        relay: OutboxRelay | PartitionedRelay,
        settings: DriverSettings | None = None,
    ) -> None:
        self.store = store
        self.nc = nc
        self.clock = clock
        self.relay = relay
        self.settings = settings or DriverSettings()
        self.name = "timer-driver"
        self._due: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self.started_at: datetime | None = None
        self.ready = asyncio.Event()
        self.applied = 0
        self.idle = False  # napping with nothing due: tests wait for this
        self._announce = timedelta(seconds=self.settings.announce_seconds)
        self._lead = max(timedelta(seconds=self.settings.prepare_seconds), self._announce)
        self._prepared: dict[str, Prepared] = {}
        self._announced: dict[str, datetime] = {}  # presence took the switch for this due time
        self._tried: dict[str, datetime] = {}  # prepared (or attempted) for this due time

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Lead the timers until stopped; after a failure (Postgres or NATS away) start over
        from the table, which holds every timer: a database restart must not end the
        boundaries for good."""
        while True:
            try:
                await self._drive()
                return
            except Exception:
                if self._stopping:
                    return
                log.exception("timer driver failed, starting again")
                self._prepared.clear()
                self._tried.clear()
                self._announced.clear()  # their boundaries send the switch again: a repeat
                await asyncio.sleep(self.settings.poll_seconds)

    async def _drive(self) -> None:
        async with self.store.pool.acquire() as lock_conn:
            key = f"driver:{self.store.schema}"
            while not await lock_conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
                if self._stopping:
                    return
                await self._nap(self.settings.poll_seconds)
            try:
                await self._load_all()
                self.started_at = self.clock.now()
                self.ready.set()
                await self._loop()
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)

    async def _load_all(self) -> None:
        async with self.store.pool.acquire() as conn:
            rows = await conn.fetch(
                f"UPDATE {self.store.s}.timers SET dirty = false WHERE dirty "
                "RETURNING extension, due_at"
            )
            changed = [row["extension"] for row in rows]
            rows += await conn.fetch(
                f"SELECT extension, due_at FROM {self.store.s}.timers WHERE due_at IS NOT NULL"
            )
        for row in rows:
            self._set(row["extension"], row["due_at"])
        log.info("timers loaded", extra={"timers": len(self._due)})
        if self._announce and changed:
            # Changed while no driver ran: what was announced for them may not stand.
            await retract_all(self.nc, dict.fromkeys(changed), self.clock.now(), self.settings)

    def _set(self, extension: str, due_at: datetime | None) -> None:
        if due_at is None:
            self._due.pop(extension, None)
            return
        if self._due.get(extension) != due_at:
            self._due[extension] = due_at
            heapq.heappush(self._heap, (due_at, extension))

    async def _refresh(self) -> None:
        """Pick up timers changed by commands or presence events (on any replica)."""
        async with self.store.pool.acquire() as conn:
            rows = await conn.fetch(
                f"UPDATE {self.store.s}.timers SET dirty = false WHERE dirty "
                "RETURNING extension, due_at"
            )
        retract: dict[str, datetime | None] = {}
        for row in rows:
            self._set(row["extension"], row["due_at"])
            # A decision made ahead no longer stands once its timer row changed; what was
            # announced of it is retracted (and announced again if it still holds).
            self._prepared.pop(row["extension"], None)
            self._tried.pop(row["extension"], None)
            moment = self._announced.pop(row["extension"], None)
            if moment is not None:
                retract[row["extension"]] = moment
        if retract:
            await retract_all(self.nc, retract, self.clock.now(), self.settings)

    def _pop_due(self, now: datetime) -> list[Due]:
        found: list[Due] = []
        while self._heap and self._heap[0][0] <= now and len(found) < self.settings.batch:
            due_at, extension = heapq.heappop(self._heap)
            if self._due.get(extension) == due_at:  # else a stale entry: replaced since
                del self._due[extension]
                found.append(Due(extension, due_at))
        return found

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await self._refresh()
            now = self.clock.now()
            due = self._pop_due(now)
            if due:
                await self.fire(due, now)
                continue
            if await self._prepare_upcoming(now):
                continue
            delay = (self._heap[0][0] - now).total_seconds() if self._heap else None
            self.idle = True
            await self._nap(delay)
            self.idle = False

    async def _prepare_upcoming(self, now: datetime) -> bool:
        """Decide the switches due within the prepare window, once; True if it did any."""
        if not self._heap or self._heap[0][0] > now + self._lead:
            return False
        horizon = now + self._lead
        upcoming = [
            Due(extension, due_at)
            for due_at, extension in self._heap
            if due_at <= horizon
            and self._due.get(extension) == due_at
            and self._tried.get(extension) != due_at
        ]
        if not upcoming:
            return False
        self._tried.update((d.extension, d.due_at) for d in upcoming)
        try:
            prepared = await prepare(self.store, upcoming, manual_wins_within=self._announce)
            self._prepared.update(prepared)
            await self._announce_ahead(prepared, now)
        except Exception:
            log.exception("preparing boundaries failed; they are decided when due")
        return True

    async def _announce_ahead(self, prepared: dict[str, Prepared], now: datetime) -> None:
        """Tell presence the switches due within the announcement lead, with their moment:
        routing then decides a call by the profile in effect at its own time, and presence
        applies them at the moment without waiting for the driver."""
        if not self._announce:
            return
        ahead = {
            ext: p
            for ext, p in prepared.items()
            if p.switch.commands and now < p.due_at <= now + self._announce
        }
        taken = await announce_all(self.nc, ahead, now, self.settings)
        self._announced.update((ext, ahead[ext].due_at) for ext in taken)

    async def fire(self, due: list[Due], now: datetime) -> None:
        prepared = {d.extension: p for d in due if (p := self._prepared.pop(d.extension, None))}
        announced = frozenset(
            d.extension for d in due if self._announced.pop(d.extension, None) == d.due_at
        )
        for d in due:
            self._tried.pop(d.extension, None)
        try:
            replanned = await apply_batch(
                self.store,
                self.nc,
                due,
                now,
                started_at=self.started_at,
                settings=self.settings,
                prepared=prepared,
                announced=announced,
            )
        except Exception:
            log.exception("applying boundaries failed; retrying", extra={"due": len(due)})
            retry = now + timedelta(seconds=self.settings.retry_seconds)
            replanned = {d.extension: retry for d in due}
        for extension, due_at in replanned.items():
            self._set(extension, due_at)
        self.applied += len(due)
        self.relay.wake()

    async def _nap(self, clock_seconds: float | None) -> None:
        """Sleep until the clock reaches the next due time, a wake-up, or the poll interval.

        The poll interval runs on real time, so a wall clock that jumped is noticed and
        timers changed on another replica are picked up within it.
        """
        waits: list[asyncio.Task[Any]] = [
            asyncio.create_task(self._wake.wait()),
            asyncio.create_task(asyncio.sleep(self.settings.poll_seconds)),
        ]
        if clock_seconds is not None:
            waits.append(asyncio.create_task(self.clock.sleep(max(clock_seconds, 0.0))))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
