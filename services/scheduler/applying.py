"""Applying due timers: what to send to presence (pure), sending it, recording the result.

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
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, uuid5

from nats.aio.client import Client as NatsClient

from contracts.base import Command
from contracts.envelope import Envelope, Metadata
from contracts.errors import CommandError, ErrorCode
from contracts.presence import ActivateProfile, Channel, SetStatus, Status
from contracts.scheduler import BoundaryApplied
from runtime.bus import request
from runtime.eventstore import EventStore
from services.scheduler.domain.timeline import (
    Effective,
    Target,
    effective,
    last_boundary,
    next_boundary,
    target_at,
)
from services.scheduler.tables import load_company, load_user, outgoing

if TYPE_CHECKING:
    from services.scheduler.driver import DriverSettings

log = logging.getLogger(__name__)
LATE = timedelta(seconds=60)  # only a timer this late can have had a second boundary pass
RETRY_CODES = {ErrorCode.UNAVAILABLE, ErrorCode.CONFLICT, ErrorCode.INTERNAL}


@dataclass(frozen=True)
class Due:
    extension: str
    due_at: datetime


@dataclass(frozen=True)
class TimerRow:
    due_at: datetime | None
    reapply_after: int | None
    reapply_due: bool
    last_applied_at: datetime | None
    last_profile: str | None
    last_status: str | None
    manual_at: datetime | None


@dataclass(frozen=True)
class Switch:
    target: Target
    commands: list[Command]
    outcome: str
    at: datetime


def decide_switch(
    extension: str,
    eff: Effective,
    row: TimerRow,
    now: datetime,
    shows: dict[str, str],
    *,
    catch_up: bool,
) -> Switch:
    """The presence commands that make `now`'s target hold, or why none are sent."""
    target = target_at(eff, now)
    boundary = (last_boundary(eff, now) or now) if catch_up else (row.due_at or now)
    manual = row.manual_at is not None and (
        row.last_applied_at is None or row.manual_at > row.last_applied_at
    )
    if manual and not row.reapply_due and row.reapply_after is None:
        assert row.manual_at is not None
        last = last_boundary(eff, now) if not catch_up else boundary
        if last is None or row.manual_at >= last:
            why = f"held: manual switch at {row.manual_at.isoformat()} after the boundary"
            return Switch(target, [], why, boundary)
    actor = f"schedule:{target.owner or extension}"
    common: dict[str, Any] = {
        "extension": extension,
        "channel": Channel.SCHEDULER,
        "actor": actor,
        "at": boundary,
    }
    commands: list[Command] = []
    if target.profile_id and (
        target.profile_id != row.last_profile or manual or row.reapply_due or catch_up
    ):
        commands.append(ActivateProfile(profile_id=target.profile_id, **common))
    if target.status is not None:
        commands.append(
            SetStatus(
                status=target.status,
                note=target.note,
                # presence expires only notes; the scheduler reverts the status itself
                note_expires_at=target.status_until if target.note else None,
                **common,
            )
        )
    elif row.last_status is not None:
        shown = shows.get(target.profile_id or "")
        revert = Status(shown) if shown else (target.reverts_to or Status.AVAILABLE)
        commands.append(SetStatus(status=revert, **common))
    return Switch(target, commands, "applied" if commands else "unchanged", boundary)


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


async def _send(
    nc: NatsClient, commands: list[Command], timeout: float, slots: asyncio.Semaphore
) -> str | None:
    """None when applied; 'retry' when presence could not answer; else why it refused."""
    async with slots:
        for command in commands:
            try:
                await request(nc, "presence", command, timeout=timeout)
            except CommandError as error:
                if error.code in RETRY_CODES:
                    return "retry"
                return f"rejected: {error.message}"
    return None


async def apply_batch(
    store: EventStore,
    nc: NatsClient,
    due: list[Due],
    now: datetime,
    *,
    started_at: datetime | None,
    settings: DriverSettings,
) -> dict[str, datetime | None]:
    """Apply every due timer; returns each user's next due time."""
    s = store.s
    names = [d.extension for d in due]
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
    by_name = {r["extension"]: r for r in rows}
    slots = asyncio.Semaphore(settings.concurrency)
    work: list[tuple[Due, Effective, TimerRow, Switch, asyncio.Task[str | None]]] = []
    replanned: dict[str, datetime | None] = {}
    for n, item in enumerate(due):
        row = by_name.get(item.extension)
        if row is None or row["due_at"] != item.due_at:
            replanned[item.extension] = row["due_at"] if row else None
            continue
        user = load_user(row["state"])
        eff = effective(item.extension, user.spec, user.overrides, user.timed, company)
        timer = TimerRow(**{f: row[f] for f in TimerRow.__dataclass_fields__})
        catch_up = missed_more_than_one(eff, item, now, started_at)
        switch = decide_switch(
            item.extension, eff, timer, now, shows.get(item.extension, {}), catch_up=catch_up
        )
        task = asyncio.create_task(_send(nc, switch.commands, settings.presence_timeout, slots))
        work.append((item, eff, timer, switch, task))
        if n % 256 == 255:
            await asyncio.sleep(0)  # let the sends already made go out while we compute
    results = await asyncio.gather(*(w[4] for w in work))
    updates = []
    events: list[Envelope] = []
    for (item, eff, timer, switch, _), failure in zip(work, results, strict=True):
        if failure == "retry":
            replanned[item.extension] = now + timedelta(seconds=settings.retry_seconds)
            continue
        sent = bool(switch.commands) and failure is None
        next_due = next_boundary(eff, now)
        replanned[item.extension] = next_due
        t = switch.target
        updates.append(
            (
                item.extension,
                next_due,
                switch.at,
                now if sent else timer.last_applied_at,
                t.profile_id if sent else timer.last_profile,
                (t.status.value if t.status else None) if sent else timer.last_status,
            )
        )
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
        events.append(
            Envelope.wrap(
                event,
                id=uuid5(NAMESPACE_URL, f"voco:{item.extension}:{item.due_at.isoformat()}"),
                stream=f"timer:{item.extension}",
                version=0,
                at=now,
                meta=Metadata(actor="scheduler", channel=Channel.SCHEDULER),
            )
        )
        if failure is not None or switch.outcome.startswith("held"):
            log.info(
                "boundary not applied", extra={"extension": item.extension, "why": event.outcome}
            )
    async with store.pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            f"UPDATE {s}.timers SET due_at = CASE WHEN dirty THEN due_at ELSE $2 END, "
            "last_boundary = $3, last_applied_at = $4, last_profile = $5, last_status = $6, "
            "reapply_due = false WHERE extension = $1",
            updates,
        )
        await store.enqueue(conn, outgoing(events))
    return replanned
