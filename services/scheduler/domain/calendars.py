"""Holiday calendars: explicit dates plus a country/region calendar from `holidays`.

The `holidays` package computes a year's dates from rules shipped in the package, so
the answer is a pure function of (country, subdivision, year) and is cached.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays

from contracts.scheduler import HolidayCalendar


@lru_cache(maxsize=1)
def supported() -> dict[str, list[str]]:
    return {code: list(subdivs) for code, subdivs in holidays.list_supported_countries().items()}


def calendar_problem(calendar: HolidayCalendar) -> str | None:
    """Why the calendar cannot be used, or None."""
    country = calendar.country.upper()
    regions = supported().get(country)
    if regions is None:
        return (
            f"holiday calendar country {calendar.country!r} is not known; use an ISO 3166-1 "
            "code such as DE, US or GB"
        )
    if calendar.subdivision is not None and calendar.subdivision.upper() not in {
        r.upper() for r in regions
    }:
        listed = ", ".join(regions[:20]) or "none"
        return (
            f"region {calendar.subdivision!r} is not a subdivision of {country}; "
            f"use one of: {listed}"
        )
    return None


@lru_cache(maxsize=1024)
def _year(country: str, subdivision: str | None, year: int) -> dict[date, str]:
    found = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return {day: str(name) for day, name in found.items()}


def calendar_holiday(calendar: HolidayCalendar, day: date) -> str | None:
    sub = calendar.subdivision.upper() if calendar.subdivision else None
    return _year(calendar.country.upper(), sub, day.year).get(day)


def next_calendar_holiday(calendar: HolidayCalendar, after: date) -> date | None:
    """The first public holiday strictly after `after`, looking two years ahead."""
    sub = calendar.subdivision.upper() if calendar.subdivision else None
    for year in (after.year, after.year + 1, after.year + 2):
        later = sorted(d for d in _year(calendar.country.upper(), sub, year) if d > after)
        if later:
            return later[0]
    return None
