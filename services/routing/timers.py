"""The call's timers: due times kept in Postgres, armed in memory, fired as commands.

A RingStepStarted event writes its call's timer row in the append transaction (an
inline projection); any event that leaves the step deletes it. A call has at most one
live timer (its current step's), so the row is keyed by the call. On start the service loads
every row and re-arms it, so a restart loses no timer. A replica arms the timers of the
calls it decided (an offer may be answered by any replica); every `sweep_seconds` each
replica also arms the stored timers overdue by more than that, so the timers of a
replica that died still fire. Firing is a FireTimer command to the call's decider: a
timer that fires twice, or after its step ended, decides nothing.

A ring timeout is a duration, not a moment: when the wall clock steps (NTP) while timers
are pending, the wheel sees wall time move apart from monotonic time and shifts every
armed timer by the step, in memory and in the stored rows (to the same absolute due, so
replicas that shift the same timer agree), so a 5 s timeout still fires after 5 s, not an
hour early or late. The sweep waits two rounds after a step, for the other replicas to
shift theirs before their rows look overdue. A timer is armed just after its step
commits (and its PBX command may leave first): a step of the clock in that moment is
not seen for it, and it fires at its unshifted due (after a step back, late by the step).

A step this replica saw end disarms its timer in memory too: otherwise every answered
call fired a FireTimer when its ring time ran out (30 s later by default), which read
the ended call back from Postgres (it is not cached) and folded it, to decide nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import asyncpg

from contracts.envelope import Envelope
from contracts.routing import (
    CallAbandoned,
    CallAnswered,
    CallFinished,
    CallForwarded,
    CallRejected,
    CallSentToVoicemail,
    RingStepEnded,
    RingStepStarted,
)
from runtime.clock import Clock
from runtime.eventstore import Conn, SqlProjection

log = logging.getLogger(__name__)

TIMERS_SQL = """
CREATE TABLE IF NOT EXISTS {s}.call_timers (
    call_id text PRIMARY KEY,
    timer_id text NOT NULL,
    due_at timestamptz NOT NULL
);
DO $$ BEGIN  -- earlier versions keyed timers by (call, timer): carry live ones over once
    IF to_regclass('{s}.timers') IS NOT NULL THEN
        INSERT INTO {s}.call_timers (call_id, timer_id, due_at)
            SELECT DISTINCT ON (call_id) call_id, timer_id, due_at FROM {s}.timers
            ORDER BY call_id, due_at DESC
            ON CONFLICT (call_id) DO NOTHING;
        DROP TABLE {s}.timers;
    END IF;
END $$;
"""

LEAVES_STEP = {
    m.type_name
    for m in (
        RingStepEnded,
        CallAnswered,
        CallForwarded,
        CallSentToVoicemail,
        CallRejected,
        CallAbandoned,
        CallFinished,
    )
}

STARTS_STEP = RingStepStarted.type_name
Fire = Callable[[str, str, datetime], Awaitable[None]]
Overdue = Callable[[datetime], Awaitable[Sequence[tuple[str, str, datetime]]]]
"""The stored timers (call id, timer id, due) due before a moment."""
Reschedule = Callable[[Sequence[tuple[str, str, datetime]]], Awaitable[None]]
"""Stores new due times (call id, timer id, due) of timers shifted with a clock step."""

STEP_SECONDS = 1.0
"""Wall and monotonic time parting by more than this is a clock step, not jitter."""


def call_id_of(stream: str) -> str:
    return stream.removeprefix("call:")


def _timer_changes(envelopes: Sequence[Envelope]) -> tuple[list[object], ...]:
    """Per call, the last timer-relevant event: a step started arms, anything else disarms."""
    last: dict[str, Envelope] = {}
    for e in envelopes:
        if e.type in LEAVES_STEP or e.type == STARTS_STEP:
            last[call_id_of(e.stream)] = e
    armed = {c: e for c, e in last.items() if e.type == STARTS_STEP}
    return (
        list(armed),
        [e.data["timer_id"] for e in armed.values()],
        [datetime.fromisoformat(e.data["deadline"]) for e in armed.values()],
        [c for c in last if c not in armed],
    )


TIMER_PROJECTION = SqlProjection(
    sql="""timers_disarmed AS (
    DELETE FROM {s}.call_timers WHERE call_id = ANY({3}::text[])
), timers_armed AS (
    INSERT INTO {s}.call_timers (call_id, timer_id, due_at)
    SELECT * FROM unnest({0}::text[], {1}::text[], {2}::timestamptz[])
    ON CONFLICT (call_id) DO UPDATE SET timer_id = EXCLUDED.timer_id, due_at = EXCLUDED.due_at
)""",
    params=_timer_changes,
    arity=4,
)
"""Part of the append statement; the calls it arms and disarms are disjoint."""


async def reschedule_stored(
    db: Conn | asyncpg.Pool, schema: str, timers: Sequence[tuple[str, str, datetime]]
) -> None:
    """Each timer's stored due set to its shifted one, if the row is still that timer's."""
    await db.execute(
        f"UPDATE {schema}.call_timers AS t SET due_at = s.due_at "
        "FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS s(call_id, timer_id, due_at) "
        "WHERE t.call_id = s.call_id AND t.timer_id = s.timer_id",
        [t[0] for t in timers],
        [t[1] for t in timers],
        [t[2] for t in timers],
    )


async def stored_timers(
    db: Conn | asyncpg.Pool, schema: str, before: datetime | None = None
) -> list[tuple[str, str, datetime]]:
    """The call timers kept in Postgres (call id, timer id, due): all, or those due before
    a moment."""
    sql = f"SELECT call_id, timer_id, due_at FROM {schema}.call_timers"
    rows = await (db.fetch(sql) if before is None else db.fetch(sql + " WHERE due_at < $1", before))
    return [(row["call_id"], row["timer_id"], row["due_at"]) for row in rows]


class TimerWheel:
    name = "routing-timers"

    def __init__(
        self,
        clock: Clock,
        fire: Fire,
        *,
        retry_seconds: float = 1.0,
        overdue: Overdue | None = None,
        sweep_seconds: float = 5.0,
        reschedule: Reschedule | None = None,
    ) -> None:
        self.clock = clock
        self.fire = fire
        self.retry_seconds = retry_seconds
        self.overdue = overdue
        self.sweep_seconds = sweep_seconds
        self.reschedule = reschedule
        self._wall_minus_monotonic = self._offset()
        self._stepped = timedelta()  # shifted in memory, not yet stored nor told the sweep
        self._due: list[tuple[datetime, str, str]] = []
        self._armed: set[tuple[str, str]] = set()
        """What is due to fire; a heap entry not in it was disarmed (skipped when due)."""
        self._armed_of_call: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._firing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._armed)

    def arm(self, call_id: str, timer_id: str, due: datetime) -> None:
        self._notice_step()  # before `due`, which is on the clock as it is now, joins them
        if (call_id, timer_id) in self._armed:
            return
        if not self._due or due < self._due[0][0]:
            self._wake.set()  # only a new earliest timer changes how long the loop sleeps
        heapq.heappush(self._due, (due, call_id, timer_id))
        self._armed.add((call_id, timer_id))
        self._armed_of_call[call_id] = timer_id

    def disarm(self, call_id: str) -> None:
        """The call's step ended: its timer will not fire (its heap entry is skipped)."""
        timer_id = self._armed_of_call.pop(call_id, None)
        if timer_id is not None:
            self._armed.discard((call_id, timer_id))

    def arm_from(self, envelopes: Sequence[Envelope]) -> None:
        """Arm the steps these events started and disarm those they left, in order."""
        for e in envelopes:
            if e.type == STARTS_STEP:
                due = datetime.fromisoformat(e.data["deadline"])
                self.arm(call_id_of(e.stream), e.data["timer_id"], due)
            elif e.type in LEAVES_STEP:
                self.disarm(call_id_of(e.stream))

    async def load(self, conn: Conn, schema: str) -> int:
        rows = await stored_timers(conn, schema)
        for call_id, timer_id, due in rows:
            self.arm(call_id, timer_id, due)
        return len(rows)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        sweep_every = timedelta(seconds=self.sweep_seconds)
        next_sweep = self.clock.now() + sweep_every
        while not self._stopping:
            self._wake.clear()
            self._notice_step()
            if self._stepped:
                next_sweep += self._stepped + 2 * sweep_every
                self._stepped = timedelta()
                await self._store_shifted()
            now = self.clock.now()
            if self.overdue is not None and now >= next_sweep:
                await self._sweep(now - sweep_every)
                next_sweep = now + sweep_every
                continue
            if self._due and self._due[0][0] <= now:
                due, call_id, timer_id = heapq.heappop(self._due)
                if (call_id, timer_id) not in self._armed:
                    continue  # disarmed: its step ended
                self._armed.discard((call_id, timer_id))
                if self._armed_of_call.get(call_id) == timer_id:
                    del self._armed_of_call[call_id]
                task = asyncio.create_task(self._fire(call_id, timer_id, due))
                self._firing.add(task)
                task.add_done_callback(self._firing.discard)
                continue
            wake_at = [self._due[0][0]] if self._due else []
            if self.overdue is not None:
                wake_at.append(next_sweep)
            if not wake_at:
                await self._wake.wait()
                continue
            await self._sleep_or_wake(min(wake_at))
        if self._firing:
            await asyncio.wait(self._firing, timeout=5)

    def _offset(self) -> datetime:
        """Wall time less monotonic time: it changes only when the wall clock steps."""
        return self.clock.now() - timedelta(seconds=self.clock.monotonic())

    def _notice_step(self) -> None:
        """If the wall clock stepped since the last look, shift the armed timers with it."""
        offset = self._offset()
        step = offset - self._wall_minus_monotonic
        if abs(step.total_seconds()) <= STEP_SECONDS:
            return
        self._wall_minus_monotonic = offset
        self._stepped += step
        self._due = [(due + step, c, t) for due, c, t in self._due if (c, t) in self._armed]
        heapq.heapify(self._due)
        self._wake.set()
        log.warning(
            "wall clock stepped: pending ring timers shifted with it",
            extra={"step_seconds": step.total_seconds(), "timers": len(self._due)},
        )

    async def _store_shifted(self) -> None:
        if self.reschedule is None or not self._due:
            return
        try:
            await self.reschedule([(c, t, due) for due, c, t in self._due])
        except Exception as error:  # shifted in memory; a restart reads the old dues
            log.warning("could not store shifted timers", extra={"error": repr(error)})

    async def _sweep(self, before: datetime) -> None:
        assert self.overdue is not None
        try:
            rows = await self.overdue(before)
        except Exception as error:  # Postgres away: the next sweep tries again
            log.warning("timer sweep failed", extra={"error": repr(error)})
            return
        for call_id, timer_id, due in rows:
            self.arm(call_id, timer_id, due)

    async def _sleep_or_wake(self, until: datetime) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep_until(until))
        waker = asyncio.ensure_future(self._wake.wait())
        await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, waker):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _fire(self, call_id: str, timer_id: str, due: datetime) -> None:
        try:
            await self.fire(call_id, timer_id, due)
        except Exception as error:
            # The row is still in Postgres; try again shortly rather than lose the step.
            log.warning(
                "timer could not fire, retrying",
                extra={"call_id": call_id, "timer_id": timer_id, "error": repr(error)},
            )
            await asyncio.sleep(self.retry_seconds)
            self.arm(call_id, timer_id, due)
