"""Applying due timers: deciding ahead of the boundary, sending in bulk, recording the result.

A manual switch holds: when the user switched by hand after the last boundary, the
boundary's state is not forced on them (unless the schedule re-applies itself). The
switch is at-least-once: a crash between the presence reply and the timer update
re-applies the same state after restart, which presence takes as a repeat.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, uuid5

from nats.aio.client import Client as NatsClient

from contracts.base import Command, Role
from contracts.envelope import Envelope, Metadata
from contracts.errors import CommandError, ErrorCode
from contracts.presence import Channel, SwitchResults, SwitchUsers
from contracts.scheduler import BoundaryApplied
from runtime.bus import request
from runtime.eventstore import EventStore
from services.scheduler.domain.switching import Switch, TimerRow, decide_switch
from services.scheduler.domain.timeline import (
    Effective,
    effective,
    next_boundary,
)
from services.scheduler.settings import DriverSettings
from services.scheduler.tables import load_company, load_user, outgoing

log = logging.getLogger(__name__)
SCHEDULER = {"actor": "scheduler", "role": Role.SERVICE}
CHUNK = 250  # users per SwitchUsers command (presence takes up to MAX_SWITCHES switches)
LATE = timedelta(seconds=60)  # only a timer this late can have had a second boundary pass
RETRY_CODES = {ErrorCode.UNAVAILABLE, ErrorCode.CONFLICT, ErrorCode.INTERNAL}


@dataclass(frozen=True)
class Due:
    extension: str
    due_at: datetime


def missed_more_than_one(
    eff: Effective, item: Due, now: datetime, started_at: datetime | None
) -> bool:
    """Catching up: due before this driver started, or so late that a later boundary passed.

    Then the state of now is applied once, stamped with the last boundary before now.
    """
    if started_at is not None and item.due_at < started_at:
        return True
    if now - item.due_at <= LATE:
        return False
    following = next_boundary(eff, item.due_at)
    return following is not None and following <= now


@dataclass(frozen=True)
class Loaded:
    eff: Effective
    row: TimerRow
    shows: dict[str, str]


@dataclass(frozen=True)
class Prepared:
    """A switch decided ahead of its boundary; valid until its timer row changes."""

    due_at: datetime
    loaded: Loaded
    switch: Switch
    next_due: datetime | None


async def load(store: EventStore, names: list[str]) -> dict[str, Loaded]:
    s = store.s
    async with store.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT t.*, s.state FROM {s}.timers t LEFT JOIN {s}.schedules s "
            "ON s.key = t.extension WHERE t.extension = ANY($1)",
            names,
        )
        company = load_company(
            await conn.fetchval(f"SELECT state FROM {s}.schedules WHERE key = 'company'")
        )
        profile_rows = await conn.fetch(
            f"SELECT extension, profile_id, shows FROM {s}.profiles WHERE extension = ANY($1)",
            names,
        )
    shows: dict[str, dict[str, str]] = {}
    for p in profile_rows:
        shows.setdefault(p["extension"], {})[p["profile_id"]] = p["shows"]
    loaded = {}
    for row in rows:
        user = load_user(row["state"])
        ext = row["extension"]
        loaded[ext] = Loaded(
            effective(ext, user.spec, user.overrides, user.timed, company),
            TimerRow(**{f: row[f] for f in TimerRow.__dataclass_fields__}),
            shows.get(ext, {}),
        )
    return loaded


async def prepare(store: EventStore, due: list[Due]) -> dict[str, Prepared]:
    """Decide upcoming switches before their boundary, so the boundary only sends."""
    loaded = await load(store, [d.extension for d in due])
    prepared = {}
    for n, item in enumerate(due):
        found = loaded.get(item.extension)
        if found is None or found.row.due_at != item.due_at:
            continue
        switch = decide_switch(
            item.extension, found.eff, found.row, item.due_at, found.shows, catch_up=False
        )
        next_due = next_boundary(found.eff, item.due_at)
        prepared[item.extension] = Prepared(item.due_at, found, switch, next_due)
        if n % 500 == 499:
            await asyncio.sleep(0)  # stay responsive to commands while preparing
    return prepared


async def send_all(
    nc: NatsClient, switches: dict[str, Switch], timeout: float, in_flight: int
) -> dict[str, str | None]:
    """None when applied; 'retry' when presence could not answer; else why it refused.

    Switches go in `SwitchUsers` commands of about CHUNK, a user's commands together and
    in order (presence applies them so), with at most `in_flight` switches unanswered, so
    a slow presence queues no more than it can answer within `timeout`.
    """
    chunks: list[list[tuple[str, Command]]] = [[]]
    for ext, switch in switches.items():
        if len(chunks[-1]) >= CHUNK:
            chunks.append([])
        chunks[-1] += [(ext, c) for c in switch.commands]
    window = asyncio.Semaphore(max(1, in_flight // CHUNK))
    outcome: dict[str, str | None] = {ext: None for ext in switches}

    async def send(chunk: list[tuple[str, Command]]) -> None:
        async with window:
            try:
                answer = await request(
                    nc,
                    "presence",
                    SwitchUsers(switches=[c for _, c in chunk], **SCHEDULER),
                    timeout=timeout,
                )
                refusals = SwitchResults.model_validate(answer).refused
            except CommandError as error:
                refusals = [error.body()] * len(chunk)
        for (ext, _), refused in zip(chunk, refusals, strict=True):
            if refused is not None and outcome[ext] is None:
                retry = refused.code in RETRY_CODES
                outcome[ext] = "retry" if retry else f"rejected: {refused.message}"

    await asyncio.gather(*(send(chunk) for chunk in chunks if chunk))
    return outcome


async def apply_batch(
    store: EventStore,
    nc: NatsClient,
    due: list[Due],
    now: datetime,
    *,
    started_at: datetime | None,
    settings: DriverSettings,
    prepared: dict[str, Prepared] | None = None,
) -> dict[str, datetime | None]:
    """Apply every due timer; returns each user's next due time."""
    prepared = prepared or {}
    replanned: dict[str, datetime | None] = {}
    ready: dict[str, tuple[Due, Loaded, Switch, datetime | None]] = {}
    slow: list[Due] = []
    for item in due:
        # A prepared decision is dropped by the driver when its timer row changes (dirty).
        ahead = prepared.get(item.extension)
        catch_up = started_at is not None and item.due_at < started_at
        if (
            ahead is not None
            and ahead.due_at == item.due_at
            and not catch_up
            and (ahead.next_due is None or ahead.next_due > now)
        ):
            ready[item.extension] = (item, ahead.loaded, ahead.switch, ahead.next_due)
        else:
            slow.append(item)
    if slow:
        loaded = await load(store, [d.extension for d in slow])
        for item in slow:
            found = loaded.get(item.extension)
            if found is None or found.row.due_at != item.due_at:
                replanned[item.extension] = found.row.due_at if found else None
                continue  # changed since it was queued
            catch_up = missed_more_than_one(found.eff, item, now, started_at)
            switch = decide_switch(
                item.extension, found.eff, found.row, now, found.shows, catch_up=catch_up
            )
            ready[item.extension] = (item, found, switch, None)
    outcomes = await send_all(
        nc,
        {ext: r[2] for ext, r in ready.items()},
        settings.presence_timeout,
        settings.concurrency,
    )
    updates = []
    events: list[Envelope] = []
    for ext, (item, found, switch, next_due) in ready.items():
        failure = outcomes[ext]
        if failure == "retry":
            replanned[ext] = now + timedelta(seconds=settings.retry_seconds)
            continue
        if next_due is None:
            next_due = next_boundary(found.eff, now)
        replanned[ext] = next_due
        sent = bool(switch.commands) and failure is None
        t = switch.target
        timer = found.row
        updates.append(
            (
                ext,
                next_due,
                switch.at,
                now if sent else timer.last_applied_at,
                t.profile_id if sent else timer.last_profile,
                (t.status.value if t.status else None) if sent else timer.last_status,
            )
        )
        events.append(_boundary_event(item, switch, now, failure))
        if failure is not None or switch.outcome.startswith("held"):
            log.info(
                "boundary not applied", extra={"extension": ext, "why": failure or switch.outcome}
            )
    async with store.pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            f"UPDATE {store.s}.timers SET due_at = CASE WHEN dirty THEN due_at ELSE $2 END, "
            "last_boundary = $3, last_applied_at = $4, last_profile = $5, last_status = $6, "
            "reapply_due = false WHERE extension = $1",
            updates,
        )
        await store.enqueue(conn, outgoing(events))
    return replanned


def _boundary_event(item: Due, switch: Switch, now: datetime, failure: str | None) -> Envelope:
    t = switch.target
    event = BoundaryApplied(
        extension=item.extension,
        boundary_at=switch.at,
        applied_at=now,
        profile_id=t.profile_id,
        status=t.status,
        source=t.source,
        catch_up=switch.at != item.due_at,
        outcome=failure or switch.outcome,
    )
    return Envelope.wrap(
        event,
        id=uuid5(NAMESPACE_URL, f"voco:{item.extension}:{item.due_at.isoformat()}"),
        stream=f"timer:{item.extension}",
        version=0,
        at=now,
        meta=Metadata(actor="scheduler", channel=Channel.SCHEDULER),
    )
