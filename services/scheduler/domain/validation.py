"""Rules a schedule must keep, as pure checks that raise a CommandError saying how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.errors import CommandError
from contracts.scheduler import Override, ScheduleSpec, TimedStatus, Weekday
from services.scheduler.domain.calendars import calendar_problem
from services.scheduler.domain.timeline import minutes


def check_zone(name: str, field: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CommandError(
            f"time zone {name!r} is not an IANA time zone name; use e.g. Europe/Berlin or "
            "America/New_York",
            field=field,
        ) from None


def check_spec(spec: ScheduleSpec, field: str = "schedule") -> None:
    check_zone(spec.time_zone, f"{field}.time_zone")
    for n, rule in enumerate(spec.rules, start=1):
        if minutes(rule.end) <= minutes(rule.start):
            raise CommandError(
                f"rule {n} ends at {rule.end}, not after its start {rule.start}; a range over "
                f"midnight is two rules, e.g. {rule.start}-24:00 and 00:00-{rule.end}",
                field=f"{field}.rules.{n - 1}.end",
            )
    check_overlaps(spec, field)
    if spec.calendar is not None:
        problem = calendar_problem(spec.calendar)
        if problem is not None:
            raise CommandError(problem, field=f"{field}.calendar")
    needs_profile = spec.calendar is not None or any(h.profile_id is None for h in spec.holidays)
    if needs_profile and spec.holiday_profile is None and not spec.inherit_company:
        raise CommandError(
            "holidays are set but no holiday_profile says which profile holds on them; "
            "set holiday_profile (e.g. away) or a profile_id on each holiday date",
            field=f"{field}.holiday_profile",
        )
    seen = set()
    for h in spec.holidays:
        if h.date in seen:
            raise CommandError(f"holiday {h.date} is listed twice", field=f"{field}.holidays")
        seen.add(h.date)


def check_overlaps(spec: ScheduleSpec, field: str) -> None:
    for day in Weekday:
        ranges = sorted(
            (minutes(r.start), minutes(r.end), n)
            for n, r in enumerate(spec.rules, start=1)
            if day in r.days
        )
        for (_, end_a, a), (start_b, _, b) in pairwise(ranges):
            if start_b < end_a:
                raise CommandError(
                    f"rules {min(a, b)} and {max(a, b)} overlap on {day.value}; make one end "
                    "where the other starts",
                    field=f"{field}.rules",
                )


def check_window(item: Override | TimedStatus, now: datetime, field: str) -> None:
    if item.ends_at <= item.starts_at:
        raise CommandError(
            f"ends_at {item.ends_at.isoformat()} is not after starts_at "
            f"{item.starts_at.isoformat()}; swap them or pick a later end",
            field=f"{field}.ends_at",
        )
    if item.ends_at <= now:
        raise CommandError(
            f"ends_at {item.ends_at.isoformat()} is already past; pick a time in the future",
            field=f"{field}.ends_at",
        )


def referenced_profiles(spec: ScheduleSpec | None, company: ScheduleSpec | None) -> set[str]:
    """Every profile id a user's schedule can switch to, the inherited ones included."""
    found: set[str] = set()
    for source in (spec, company if spec is not None and spec.inherit_company else None):
        if source is None:
            continue
        found.update(r.profile_id for r in source.rules)
        found.update(h.profile_id for h in source.holidays if h.profile_id)
        found.update(p for p in (source.holiday_profile, source.default_profile) if p)
    return found


def check_profiles(extension: str, wanted: Iterable[str], known: Iterable[str]) -> None:
    known_set = set(known)
    missing = sorted(set(wanted) - known_set)
    if missing:
        have = ", ".join(sorted(known_set)) or "none yet"
        raise CommandError(
            f"profile {', '.join(repr(m) for m in missing)} is not a profile of {extension} "
            f"(it has: {have}); create it with SaveProfile first or pick an existing one",
            field="profile_id",
        )
