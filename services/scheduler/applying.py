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
from contracts.presence import (
    ActivateProfile,
    AnnounceSwitch,
    Channel,
    RetractSwitch,
    SetStatus,
    SwitchResults,
    SwitchUsers,
)
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


async def prepare(
    store: EventStore, due: list[Due], manual_wins_within: timedelta = timedelta(0)
) -> dict[str, Prepared]:
    """Decide upcoming switches before their boundary, so the boundary only sends."""
    loaded = await load(store, [d.extension for d in due])
    prepared = {}
    for n, item in enumerate(due):
        found = loaded.get(item.extension)
        if found is None or found.row.due_at != item.due_at:
            continue
        switch = decide_switch(
            item.extension,
            found.eff,
            found.row,
            item.due_at,
            found.shows,
            catch_up=False,
            manual_wins_within=manual_wins_within,
        )
        next_due = next_boundary(found.eff, item.due_at)
        prepared[item.extension] = Prepared(item.due_at, found, switch, next_due)
        if n % 500 == 499:
            await asyncio.sleep(0)  # stay responsive to commands while preparing
    return prepared


async def send_all(
    nc: NatsClient, switches: dict[str, Switch], timeout: float, in_flight: int
) -> dict[str, str | None]:
    """None when applied; 'retry' when presence could not answer; else why it refused."""
    return await send_commands(
        nc, {ext: s.commands for ext, s in switches.items()}, timeout, in_flight
    )


async def send_commands(
    nc: NatsClient, commands: dict[str, list[Command]], timeout: float, in_flight: int
) -> dict[str, str | None]:
    """Per user: None when every command holds; 'retry' when presence could not answer;
    else why it refused.

    The commands go in `SwitchUsers` of about CHUNK, a user's commands together and in
    order (presence applies them so), with at most `in_flight` unanswered, so a slow
    presence queues no more than it can answer within `timeout`.
    """
    chunks: list[list[tuple[str, Command]]] = [[]]
    for ext, theirs in commands.items():
        if len(chunks[-1]) >= CHUNK:
            chunks.append([])
        chunks[-1] += [(ext, c) for c in theirs]
    window = asyncio.Semaphore(max(1, in_flight // CHUNK))
    outcome: dict[str, str | None] = {ext: None for ext in commands}

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
    announced: frozenset[str] = frozenset(),
) -> dict[str, datetime | None]:
    """Apply every due timer; returns each user's next due time.

    The prepared switches of `announced` users were accepted by presence ahead of the
    boundary: presence applies them at the moment itself, so they are not sent again.
    """
    prepared = prepared or {}
    replanned: dict[str, datetime | None] = {}
    ready: dict[str, tuple[Due, Loaded, Switch, datetime | None]] = {}
    slow: list[Due] = []
    taken_ahead: set[str] = set()  # announced, and the decision announced still stands
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
            if item.extension in announced:
                taken_ahead.add(item.extension)
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
                item.extension,
                found.eff,
                found.row,
                now,
                found.shows,
                catch_up=catch_up,
                manual_wins_within=timedelta(seconds=settings.announce_seconds),
            )
            ready[item.extension] = (item, found, switch, None)
    outcomes = await send_all(
        nc,
        {ext: r[2] for ext, r in ready.items() if ext not in taken_ahead},
        settings.presence_timeout,
        settings.concurrency,
    )
    outcomes.update(dict.fromkeys(taken_ahead))
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


def announcement(switch: Switch, now: datetime) -> list[Command]:
    """The switch as presence's `AnnounceSwitch`: its profile and status, from its moment."""
    profile = next((c for c in switch.commands if isinstance(c, ActivateProfile)), None)
    status = next((c for c in switch.commands if isinstance(c, SetStatus)), None)
    first = profile or status
    if first is None:
        return []
    return [
        AnnounceSwitch(
            extension=first.extension,
            takes_effect_at=switch.at,
            profile_id=profile.profile_id if profile else None,
            status=status.status if status else None,
            note=status.note if status else None,
            note_expires_at=status.note_expires_at if status else None,
            channel=Channel.SCHEDULER,
            actor=first.actor,
            role=Role.SERVICE,
            at=now,
        )
    ]


async def announce_all(
    nc: NatsClient, upcoming: dict[str, Prepared], now: datetime, settings: DriverSettings
) -> set[str]:
    """Announce the prepared switches to presence; the users whose announcement it took."""
    commands = {ext: announcement(p.switch, now) for ext, p in upcoming.items()}
    commands = {ext: c for ext, c in commands.items() if c}
    if not commands:
        return set()
    outcomes = await send_commands(nc, commands, settings.presence_timeout, settings.concurrency)
    refused = {ext: why for ext, why in outcomes.items() if why is not None}
    if refused:
        # Not fatal: the boundary then sends the switch itself (and records a refusal).
        log.info("announcements not taken", extra={"refused": len(refused)})
    return {ext for ext, why in outcomes.items() if why is None}


async def retract_all(
    nc: NatsClient, extensions: dict[str, datetime | None], now: datetime, settings: DriverSettings
) -> None:
    """Withdraw the switches announced for these users (None: whatever is pending)."""
    commands: dict[str, list[Command]] = {
        ext: [
            RetractSwitch(
                extension=ext,
                takes_effect_at=moment,
                channel=Channel.SCHEDULER,
                actor="scheduler",
                role=Role.SERVICE,
                at=now,
            )
        ]
        for ext, moment in extensions.items()
    }
    if not commands:
        return
    outcomes = await send_commands(nc, commands, settings.presence_timeout, settings.concurrency)
    failed = [ext for ext, why in outcomes.items() if why is not None]
    if failed:
        log.warning("retractions not taken", extra={"users": failed[:20], "count": len(failed)})
