"""What should hold at an instant, and when that next (or last) changed: pure functions.

Precedence: holiday > override > weekly rule > the schedule's default profile. A timed
status is a separate layer on top: it sets status and note while the profile layer
goes on underneath, and when it expires the profile layer's status shows again.

Daylight saving: local wall times become instants through `to_instant`, which is
monotone (a later wall time never maps to an earlier instant), so rules never swap:
- a wall time in the skipped hour maps to the first instant after the gap
  (Berlin 29 Mar 2026 02:30 -> 03:00 CEST, New York 8 Mar 2026 02:30 -> 03:00 EDT);
- a wall time in the repeated hour maps to its first occurrence
  (Berlin 25 Oct 2026 02:30 -> 02:30 CEST, New York 1 Nov 2026 01:30 -> 01:30 EDT).
Each boundary is one instant, so it fires exactly once.

A boundary is an instant where the target really changes; candidates where it does not
(one rule ending where the next starts with the same profile) are not boundaries, so a
manual switch is not undone by a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from contracts.presence import Status
from contracts.scheduler import (
    COMPANY,
    HolidayCalendar,
    Override,
    ScheduleSpec,
    TimedStatus,
    WeeklyRule,
)
from services.scheduler.domain.calendars import calendar_holiday, next_calendar_holiday

HORIZON_DAYS = 8  # a weekly pattern repeats within 7 days; one more covers the day before


def minutes(wall: str) -> int:
    hours, mins = wall.split(":")
    return int(hours) * 60 + int(mins)


@lru_cache(maxsize=200_000)
def to_instant(day: date, minute_of_day: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time, monotone across DST (see module doc)."""
    if minute_of_day >= 1440:
        day, minute_of_day = day + timedelta(days=1), minute_of_day - 1440
    local = datetime.combine(day, time(minute_of_day // 60, minute_of_day % 60), tzinfo=zone)
    instant = local.astimezone(UTC)  # fold=0: the first occurrence of a repeated time
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # Skipped wall time: the gap's end is the transition, between the two readings.
    early = local.replace(fold=1).astimezone(UTC)
    late = instant
    if early > late:
        early, late = late, early
    before = early.astimezone(zone).utcoffset()
    while late - early > timedelta(seconds=1):
        middle = early + (late - early) / 2
        if middle.astimezone(zone).utcoffset() == before:
            early = middle
        else:
            late = middle
    return late.replace(microsecond=0)


@dataclass(frozen=True)
class Target:
    """What should hold: a profile, and optionally a timed status on top."""

    profile_id: str | None
    status: Status | None = None
    note: str | None = None
    status_until: datetime | None = None
    reverts_to: Status | None = None
    source: str = "nothing"
    owner: str = ""  # whose schedule supplied the profile: an extension or "company"

    def key(self) -> tuple[str | None, Status | None, str | None]:
        return (self.profile_id, self.status, self.note)


@dataclass(frozen=True)
class Effective:
    """One user's schedule with the company default folded in."""

    extension: str
    zone: ZoneInfo
    rules: tuple[WeeklyRule, ...]
    rules_owner: str
    holidays: dict[date, tuple[str, str | None]]
    calendar: HolidayCalendar | None
    holiday_profile: str | None
    default_profile: str | None
    overrides: tuple[Override, ...]
    timed: tuple[TimedStatus, ...]
    default_owner: str = ""
    holiday_owner: str = ""


def effective(
    extension: str,
    spec: ScheduleSpec | None,
    overrides: tuple[Override, ...],
    timed: tuple[TimedStatus, ...],
    company: ScheduleSpec | None,
) -> Effective:
    """Fold the company default into a user's schedule when the user inherits it."""
    base = company if spec is not None and spec.inherit_company else None
    own_rules = tuple(spec.rules) if spec else ()
    rules, owner = (own_rules, extension)
    if base is not None and not own_rules:
        rules, owner = tuple(base.rules), COMPANY
    holidays: dict[date, tuple[str, str | None]] = {}
    for source in (base, spec):
        for h in source.holidays if source else ():
            holidays[h.date] = (h.name, h.profile_id)
    zone_name = spec.time_zone if spec else (company.time_zone if company else "UTC")
    return Effective(
        extension=extension,
        zone=ZoneInfo(zone_name),
        rules=rules,
        rules_owner=owner,
        holidays=holidays,
        calendar=(spec.calendar if spec else None) or (base.calendar if base else None),
        holiday_profile=(spec.holiday_profile if spec else None)
        or (base.holiday_profile if base else None),
        default_profile=(spec.default_profile if spec else None)
        or (base.default_profile if base else None),
        overrides=overrides,
        timed=timed,
        default_owner=extension if spec and spec.default_profile else COMPANY,
        holiday_owner=extension if spec and spec.holiday_profile else COMPANY,
    )


def holiday_on(eff: Effective, day: date) -> tuple[str, str | None] | None:
    if day in eff.holidays:
        return eff.holidays[day]
    if eff.calendar is not None:
        name = calendar_holiday(eff.calendar, day)
        if name is not None:
            return (name, None)
    return None


def local_day(eff: Effective, at: datetime) -> date:
    day = at.astimezone(eff.zone).date()
    # In a zone that skips midnight the day starts at the gap's end; stay consistent.
    return day if at >= to_instant(day, 0, eff.zone) else day - timedelta(days=1)


def _profile_layer(eff: Effective, at: datetime) -> tuple[str | None, str, str]:
    day = local_day(eff, at)
    holiday = holiday_on(eff, day)
    if holiday is not None and (holiday[1] or eff.holiday_profile):
        name, profile = holiday
        owner = eff.extension if profile else eff.holiday_owner
        return profile or eff.holiday_profile, f"holiday {day.isoformat()} {name}", owner
    for o in eff.overrides:
        if o.starts_at <= at < o.ends_at:
            return o.profile_id, f"override {o.override_id}", eff.extension
    for d in (day, day - timedelta(days=1)):
        for n, rule in enumerate(eff.rules, start=1):
            if d.weekday() not in {w.number for w in rule.days}:
                continue
            start = to_instant(d, minutes(rule.start), eff.zone)
            end = to_instant(d, minutes(rule.end), eff.zone)
            if start <= at < end:
                label = f"rule {n} {','.join(rule.days)} {rule.start}-{rule.end}"
                return rule.profile_id, label, eff.rules_owner
    if eff.default_profile is not None:
        return eff.default_profile, "default", eff.default_owner
    return None, "nothing", eff.extension


def target_at(eff: Effective, at: datetime) -> Target:
    profile, source, owner = _profile_layer(eff, at)
    for t in eff.timed:
        if t.starts_at <= at < t.ends_at:
            return Target(
                profile,
                t.status,
                t.note,
                t.ends_at,
                t.reverts_to,
                f"{source}; timed status {t.timed_id}",
                owner,
            )
    reverts = next((t.reverts_to for t in eff.timed if t.ends_at <= at), None)
    return Target(profile, reverts_to=reverts, source=source, owner=owner)


def _candidates(eff: Effective, first: date, last: date) -> set[datetime]:
    found: set[datetime] = set()
    day = first
    while day <= last:
        found.add(to_instant(day, 0, eff.zone))  # holidays start and end at midnight
        for rule in eff.rules:
            if day.weekday() in {w.number for w in rule.days}:
                found.add(to_instant(day, minutes(rule.start), eff.zone))
                found.add(to_instant(day, minutes(rule.end), eff.zone))
        day += timedelta(days=1)
    for o in eff.overrides:
        found.update((o.starts_at, o.ends_at))
    for t in eff.timed:
        found.update((t.starts_at, t.ends_at))
    return found


def _next_holiday_after(eff: Effective, day: date) -> date | None:
    explicit = [d for d in eff.holidays if d > day]
    options = [min(explicit)] if explicit else []
    if eff.calendar is not None:
        found = next_calendar_holiday(eff.calendar, day)
        if found is not None:
            options.append(found)
    return min(options) if options else None


def _changes_at(eff: Effective, instant: datetime) -> bool:
    return (
        target_at(eff, instant).key() != target_at(eff, instant - timedelta(microseconds=1)).key()
    )


def next_boundary(eff: Effective, after: datetime) -> datetime | None:
    """The first instant strictly after `after` where the target changes, or None."""
    day = local_day(eff, after)
    found = _candidates(eff, day - timedelta(days=1), day + timedelta(days=HORIZON_DAYS))
    holiday = _next_holiday_after(eff, day + timedelta(days=HORIZON_DAYS))
    if holiday is not None:
        found.update(_candidates(eff, holiday, holiday + timedelta(days=1)))
    for candidate in sorted(c for c in found if c > after):
        if _changes_at(eff, candidate):
            return candidate.astimezone(UTC)
    return None


def last_boundary(eff: Effective, at: datetime) -> datetime | None:
    """The latest instant at or before `at` where the target changed (within the horizon)."""
    day = local_day(eff, at)
    found = _candidates(eff, day - timedelta(days=HORIZON_DAYS), day + timedelta(days=1))
    for candidate in sorted((c for c in found if c <= at), reverse=True):
        if _changes_at(eff, candidate):
            return candidate.astimezone(UTC)
    return None
