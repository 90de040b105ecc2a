"""The schedule deciders: one for a user's schedule, one for the company default.

States are plain frozen values; `decide` validates and returns events, `evolve` only
sets fields. Time arrives on the command (`at`, stamped by the shell when absent).
Profile existence needs the presence read model, so the shell checks it before
deciding (`validation.check_profiles`), keeping this module free of I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from contracts.base import Event
from contracts.errors import CommandError, NotFound
from contracts.scheduler import (
    AddOverride,
    CancelOverride,
    CancelTimedStatus,
    Override,
    OverrideAdded,
    OverrideCancelled,
    RemoveSchedule,
    SaveCompanySchedule,
    SaveSchedule,
    ScheduleRemoved,
    ScheduleSaved,
    ScheduleSpec,
    SetTimedStatus,
    TimedStatus,
    TimedStatusCancelled,
    TimedStatusSet,
)
from runtime.decider import Decider
from services.scheduler.domain.validation import check_spec, check_window

UserCommand = (
    SaveSchedule
    | RemoveSchedule
    | AddOverride
    | CancelOverride
    | SetTimedStatus
    | CancelTimedStatus
)


@dataclass(frozen=True)
class UserSchedule:
    """A user's schedule; `spec` is None until one is saved (overrides work without it)."""

    spec: ScheduleSpec | None = None
    overrides: tuple[Override, ...] = ()
    timed: tuple[TimedStatus, ...] = ()


@dataclass(frozen=True)
class CompanySchedule:
    spec: ScheduleSpec | None = None


def _now(command: UserCommand | SaveCompanySchedule) -> datetime:
    if command.at is None:
        raise CommandError("the command has no time; the service stamps it", field="at")
    return command.at


def window_id(window: Override | TimedStatus) -> str:
    return window.override_id if isinstance(window, Override) else window.timed_id


def _overlapping(
    window: Override | TimedStatus, others: Sequence[Override | TimedStatus], now: datetime
) -> Override | TimedStatus | None:
    """A live window (not yet ended, not the one being replaced) that shares time with it."""
    for other in others:
        if window_id(other) == window_id(window) or other.ends_at <= now:
            continue
        if other.starts_at < window.ends_at and window.starts_at < other.ends_at:
            return other
    return None


def decide_user(command: UserCommand, state: UserSchedule) -> Sequence[Event]:
    now = _now(command)
    match command:
        case SaveSchedule(extension=ext, schedule=spec):
            check_spec(spec)
            if spec == state.spec:
                return []
            return [ScheduleSaved(extension=ext, schedule=spec)]
        case RemoveSchedule(extension=ext):
            if state.spec is None:
                raise NotFound(f"{ext} has no schedule to remove", field="extension")
            return [ScheduleRemoved(extension=ext)]
        case AddOverride(extension=ext, override=o):
            check_window(o, now, "override")
            clash = _overlapping(o, state.overrides, now)
            if clash is not None:
                raise CommandError(
                    f"override {o.override_id} overlaps override {window_id(clash)}"
                    f" ({clash.starts_at.isoformat()} to {clash.ends_at.isoformat()}); cancel "
                    "that one or pick times that do not overlap",
                    field="override",
                )
            return [OverrideAdded(extension=ext, override=o)]
        case CancelOverride(extension=ext, override_id=oid):
            if all(o.override_id != oid for o in state.overrides):
                raise NotFound(f"{ext} has no override {oid!r}", field="override_id")
            return [OverrideCancelled(extension=ext, override_id=oid)]
        case SetTimedStatus(extension=ext, timed_status=t):
            check_window(t, now, "timed_status")
            clash = _overlapping(t, state.timed, now)
            if clash is not None:
                raise CommandError(
                    f"timed status {t.timed_id} overlaps {window_id(clash)}; cancel that one "
                    "or pick times that do not overlap",
                    field="timed_status",
                )
            return [TimedStatusSet(extension=ext, timed_status=t)]
        case CancelTimedStatus(extension=ext, timed_id=tid):
            if all(t.timed_id != tid for t in state.timed):
                raise NotFound(f"{ext} has no timed status {tid!r}", field="timed_id")
            return [TimedStatusCancelled(extension=ext, timed_id=tid)]
    raise CommandError(f"{command.type_name} is not a schedule command")


def evolve_user(state: UserSchedule, event: Event) -> UserSchedule:
    match event:
        case ScheduleSaved(schedule=spec):
            return replace(state, spec=spec)
        case ScheduleRemoved():
            return replace(state, spec=None)
        case OverrideAdded(override=o):
            kept = tuple(x for x in state.overrides if x.override_id != o.override_id)
            return replace(state, overrides=(*kept, o))
        case OverrideCancelled(override_id=oid):
            return replace(
                state, overrides=tuple(x for x in state.overrides if x.override_id != oid)
            )
        case TimedStatusSet(timed_status=t):
            kept_t = tuple(x for x in state.timed if x.timed_id != t.timed_id)
            return replace(state, timed=(*kept_t, t))
        case TimedStatusCancelled(timed_id=tid):
            return replace(state, timed=tuple(x for x in state.timed if x.timed_id != tid))
    return state


def decide_company(command: SaveCompanySchedule, state: CompanySchedule) -> Sequence[Event]:
    _now(command)
    if command.schedule.inherit_company:
        raise CommandError(
            "the company schedule cannot inherit from itself; set inherit_company to false",
            field="schedule.inherit_company",
        )
    check_spec(command.schedule)
    if command.schedule == state.spec:
        return []
    return [ScheduleSaved(extension="company", schedule=command.schedule)]


def evolve_company(state: CompanySchedule, event: Event) -> CompanySchedule:
    if isinstance(event, ScheduleSaved):
        return CompanySchedule(spec=event.schedule)
    return state


user_decider = Decider[UserCommand, UserSchedule](UserSchedule(), decide_user, evolve_user)
company_decider = Decider[SaveCompanySchedule, CompanySchedule](
    CompanySchedule(), decide_company, evolve_company
)
