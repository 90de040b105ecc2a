"""Shared builders for scheduler tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

from contracts.scheduler import HolidayDate, ScheduleSpec, Weekday, WeeklyRule

WEEKDAYS = [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI]


def office_hours(
    zone: str = "Europe/Berlin",
    start: str = "09:00",
    end: str = "17:00",
    holidays: tuple[date, ...] = (),
    **extra: object,
) -> ScheduleSpec:
    """Weekdays start-end Available, Away otherwise, Away on holidays."""
    fields: dict[str, object] = {
        "time_zone": zone,
        "rules": [WeeklyRule(days=WEEKDAYS, start=start, end=end, profile_id="available")],
        "default_profile": "away",
        "holidays": [HolidayDate(date=d, name="office closed") for d in holidays],
        "holiday_profile": "away" if holidays else None,
    }
    return ScheduleSpec.model_validate({**fields, **extra})


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
