"""The scheduler's read models and timer table, written in the same transaction as events.

- schedules: each schedule stream's folded state (JSON), for the driver and queries.
- timers: per user, the next instant to act (`due_at`), what was last applied, the last
  manual switch seen from presence, and `dirty` so every replica's driver learns of a
  change without trusting a high-water mark.
- profiles: which profiles each user has (from presence ProfileSaved/ProfileDeleted),
  to reject a schedule that names an unknown profile.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from contracts.base import Event
from contracts.envelope import Envelope
from contracts.scheduler import (
    COMPANY,
    Override,
    OverrideAdded,
    OverrideCancelled,
    ScheduleSpec,
    TimedStatus,
    TimedStatusCancelled,
    TimedStatusSet,
    event_subject,
)
from runtime.eventstore import Conn, EventStore, Outgoing
from services.scheduler.domain.decider import (
    CompanySchedule,
    UserSchedule,
    company_decider,
    user_decider,
)
from services.scheduler.domain.timeline import effective, next_boundary, target_at

EXTRA_SQL = """
CREATE TABLE IF NOT EXISTS {s}.schedules (
    key text PRIMARY KEY,
    state jsonb NOT NULL,
    inherits boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS {s}.timers (
    extension text PRIMARY KEY,
    due_at timestamptz,
    reapply_after integer,
    reapply_due boolean NOT NULL DEFAULT false,
    last_boundary timestamptz,
    last_applied_at timestamptz,
    last_profile text,
    last_status text,
    manual_at timestamptz,
    dirty boolean NOT NULL DEFAULT true
);
CREATE INDEX IF NOT EXISTS timers_dirty ON {s}.timers (extension) WHERE dirty;
CREATE TABLE IF NOT EXISTS {s}.profiles (
    extension text NOT NULL,
    profile_id text NOT NULL,
    shows text NOT NULL,
    PRIMARY KEY (extension, profile_id)
);
"""

USER_PREFIX = "schedule:"
NOW_EVENTS = (OverrideAdded, OverrideCancelled, TimedStatusSet, TimedStatusCancelled)


def stream_of(key: str) -> str:
    return f"{USER_PREFIX}{key}"


def outgoing(envelopes: Sequence[Envelope]) -> list[Outgoing]:
    return [
        Outgoing(
            subject=event_subject(e.stream.split(":", 1)[-1], e.type),
            payload=e.to_bytes(),
            msg_id=str(e.id),
        )
        for e in envelopes
    ]


def dump_user(state: UserSchedule) -> dict[str, Any]:
    return {
        "spec": state.spec.model_dump(mode="json") if state.spec else None,
        "overrides": [o.model_dump(mode="json") for o in state.overrides],
        "timed": [t.model_dump(mode="json") for t in state.timed],
    }


def load_user(doc: dict[str, Any] | None) -> UserSchedule:
    if not doc:
        return UserSchedule()
    return UserSchedule(
        spec=ScheduleSpec.model_validate(doc["spec"]) if doc["spec"] else None,
        overrides=tuple(Override.model_validate(o) for o in doc["overrides"]),
        timed=tuple(TimedStatus.model_validate(t) for t in doc["timed"]),
    )


def load_company(doc: dict[str, Any] | None) -> ScheduleSpec | None:
    return ScheduleSpec.model_validate(doc["spec"]) if doc and doc["spec"] else None


async def read_company(store: EventStore, conn: Conn) -> ScheduleSpec | None:
    doc = await conn.fetchval(f"SELECT state FROM {store.s}.schedules WHERE key = $1", COMPANY)
    return load_company(doc)


async def read_user(store: EventStore, conn: Conn, extension: str) -> UserSchedule:
    doc = await conn.fetchval(f"SELECT state FROM {store.s}.schedules WHERE key = $1", extension)
    return load_user(doc)


def plan_timer(
    extension: str,
    before: UserSchedule,
    after: UserSchedule,
    company: ScheduleSpec | None,
    at: datetime,
    events: Sequence[Event],
) -> datetime | None:
    """When the driver should next act for this user after a schedule change at `at`.

    A saved weekly schedule takes effect at its next boundary; an override or timed
    status that changes what holds right now is applied at once.
    """
    new = effective(extension, after.spec, after.overrides, after.timed, company)
    if any(isinstance(e, NOW_EVENTS) for e in events):
        old = effective(extension, before.spec, before.overrides, before.timed, company)
        if target_at(old, at).key() != target_at(new, at).key():
            return at
    return next_boundary(new, at)


async def upsert_timer(
    store: EventStore,
    conn: Conn,
    extension: str,
    due_at: datetime | None,
    spec: ScheduleSpec | None,
) -> None:
    reapply = spec.reapply_after_minutes if spec and spec.manual_switch == "reapply" else None
    await conn.execute(
        f"INSERT INTO {store.s}.timers (extension, due_at, reapply_after, dirty) "
        "VALUES ($1, $2, $3, true) ON CONFLICT (extension) DO UPDATE SET "
        "due_at = EXCLUDED.due_at, reapply_after = EXCLUDED.reapply_after, "
        "reapply_due = false, dirty = true",
        extension,
        due_at,
        reapply,
    )


def projection(store: EventStore) -> Any:
    """The inline projection: folded state, and the user's (or inheritors') timers."""

    async def project(conn: Conn, envelopes: Sequence[Envelope]) -> None:
        stream = envelopes[0].stream
        key = stream.removeprefix(USER_PREFIX)
        at = envelopes[0].at
        events = [e.payload() for e in envelopes]
        history = [e.payload() for e in await store.load(stream, conn)]
        if key == COMPANY:
            company = company_decider.fold(history)
            await _save(store, conn, key, {"spec": _spec_json(company)}, inherits=False)
            await _replan_inheritors(store, conn, company.spec, at)
            return
        before = user_decider.fold(history[: len(history) - len(events)])
        after = user_decider.fold(events, before)
        inherits = bool(after.spec and after.spec.inherit_company)
        await _save(store, conn, key, dump_user(after), inherits=inherits)
        company_spec = await read_company(store, conn)
        due = plan_timer(key, before, after, company_spec, at, events)  # type: ignore[arg-type]
        await upsert_timer(store, conn, key, due, after.spec)

    return project


def _spec_json(company: CompanySchedule) -> dict[str, Any] | None:
    return company.spec.model_dump(mode="json") if company.spec else None


async def _save(
    store: EventStore, conn: Conn, key: str, state: dict[str, Any], *, inherits: bool
) -> None:
    await conn.execute(
        f"INSERT INTO {store.s}.schedules (key, state, inherits) VALUES ($1, $2, $3) "
        "ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, inherits = EXCLUDED.inherits",
        key,
        state,
        inherits,
    )


async def _replan_inheritors(
    store: EventStore, conn: Conn, company: ScheduleSpec | None, at: datetime
) -> None:
    rows = await conn.fetch(f"SELECT key, state FROM {store.s}.schedules WHERE inherits")
    plans = []
    for row in rows:
        user = load_user(row["state"])
        due = next_boundary(
            effective(row["key"], user.spec, user.overrides, user.timed, company), at
        )
        plans.append((row["key"], due))
    await conn.executemany(
        f"UPDATE {store.s}.timers SET due_at = $2, reapply_due = false, dirty = true "
        "WHERE extension = $1",
        plans,
    )


async def known_profiles(store: EventStore, conn: Conn, extension: str) -> dict[str, str]:
    rows = await conn.fetch(
        f"SELECT profile_id, shows FROM {store.s}.profiles WHERE extension = $1", extension
    )
    return {r["profile_id"]: r["shows"] for r in rows}
