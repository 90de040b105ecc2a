"""What holds at an instant and when it next changes: precedence, holidays, DST, timed status."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from contracts.presence import Status
from contracts.scheduler import (
    HolidayCalendar,
    Override,
    ScheduleSpec,
    TimedStatus,
    Weekday,
    WeeklyRule,
)
from services.scheduler.domain.timeline import (
    Effective,
    effective,
    last_boundary,
    next_boundary,
    target_at,
)
from tests.scheduler.fixtures import office_hours, utc


def schedule(spec: ScheduleSpec, overrides=(), timed=(), company=None) -> Effective:
    return effective("1001", spec, tuple(overrides), tuple(timed), company)


def test_weekday_rule_holds_inside_its_hours_and_default_outside() -> None:
    eff = schedule(office_hours())  # Berlin, UTC+1 in November
    assert target_at(eff, utc(2026, 11, 23, 12)).profile_id == "available"
    assert target_at(eff, utc(2026, 11, 23, 16)).profile_id == "away"  # 17:00 local
    assert target_at(eff, utc(2026, 11, 28, 12)).profile_id == "away"  # Saturday


def test_next_boundary_is_17_local_then_9_next_morning() -> None:
    eff = schedule(office_hours())
    assert next_boundary(eff, utc(2026, 11, 23, 12)) == utc(2026, 11, 23, 16)
    assert next_boundary(eff, utc(2026, 11, 23, 16)) == utc(2026, 11, 24, 8)


def test_friday_evening_boundary_is_monday_morning() -> None:
    eff = schedule(office_hours())
    assert next_boundary(eff, utc(2026, 11, 27, 16)) == utc(2026, 11, 30, 8)


def test_last_boundary_is_the_latest_change_at_or_before() -> None:
    eff = schedule(office_hours())
    assert last_boundary(eff, utc(2026, 11, 23, 16, 30)) == utc(2026, 11, 23, 16)
    assert last_boundary(eff, utc(2026, 11, 23, 16)) == utc(2026, 11, 23, 16)


def test_holiday_outranks_the_weekday_rule() -> None:
    eff = schedule(office_hours(holidays=(date(2026, 11, 24),)))
    noon = utc(2026, 11, 24, 11)
    assert target_at(eff, noon).profile_id == "away"
    assert target_at(eff, noon).source.startswith("holiday 2026-11-24")
    # The Monday 17:00 boundary leads to Away; the holiday keeps it, so next is Wednesday 09:00.
    assert next_boundary(eff, utc(2026, 11, 23, 16)) == utc(2026, 11, 25, 8)


def test_holiday_outranks_an_override() -> None:
    trip = Override(
        override_id="trip",
        starts_at=utc(2026, 11, 24, 0),
        ends_at=utc(2026, 11, 25, 0),
        profile_id="trip",
    )
    eff = schedule(office_hours(holidays=(date(2026, 11, 24),)), overrides=[trip])
    assert target_at(eff, utc(2026, 11, 24, 11)).profile_id == "away"


def test_override_outranks_the_weekly_rule() -> None:
    busy = Override(
        override_id="busy",
        starts_at=utc(2026, 11, 23, 10),
        ends_at=utc(2026, 11, 23, 14),
        profile_id="busy",
    )
    eff = schedule(office_hours(), overrides=[busy])
    assert target_at(eff, utc(2026, 11, 23, 12)).profile_id == "busy"
    assert next_boundary(eff, utc(2026, 11, 23, 9)) == utc(2026, 11, 23, 10)
    assert next_boundary(eff, utc(2026, 11, 23, 10)) == utc(2026, 11, 23, 14)


def test_country_calendar_holiday_applies_in_the_region() -> None:
    spec = office_hours(
        calendar=HolidayCalendar(country="DE", subdivision="BY"), holiday_profile="away"
    )
    eff = schedule(spec)
    # 6 January (Epiphany) is a public holiday in Bavaria, a Wednesday in 2027.
    assert target_at(eff, utc(2027, 1, 6, 11)).source == "holiday 2027-01-06 Epiphany"
    assert target_at(eff, utc(2027, 1, 7, 11)).profile_id == "available"


def test_no_change_at_a_seam_between_two_rules_with_the_same_profile() -> None:
    spec = ScheduleSpec(
        time_zone="UTC",
        rules=[
            WeeklyRule(days=[Weekday.MON], start="09:00", end="12:00", profile_id="available"),
            WeeklyRule(days=[Weekday.MON], start="12:00", end="17:00", profile_id="available"),
        ],
        default_profile="away",
    )
    assert next_boundary(schedule(spec), utc(2026, 11, 23, 10)) == utc(2026, 11, 23, 17)


def test_a_schedule_that_never_changes_has_no_next_boundary() -> None:
    spec = ScheduleSpec(time_zone="UTC", default_profile="away")
    assert next_boundary(schedule(spec), utc(2026, 11, 23, 10)) is None


def test_timed_status_sits_on_top_and_ends_with_a_boundary() -> None:
    lunch = TimedStatus(
        timed_id="lunch",
        starts_at=utc(2026, 11, 23, 11),
        ends_at=utc(2026, 11, 23, 12),
        status=Status.BE_RIGHT_BACK,
        note="lunch",
    )
    eff = schedule(office_hours(), timed=[lunch])
    during = target_at(eff, utc(2026, 11, 23, 11, 30))
    assert (during.profile_id, during.status, during.note) == (
        "available",
        Status.BE_RIGHT_BACK,
        "lunch",
    )
    assert next_boundary(eff, utc(2026, 11, 23, 11)) == utc(2026, 11, 23, 12)
    assert target_at(eff, utc(2026, 11, 23, 12)).status is None


def test_inheriting_user_gets_company_rules_in_their_own_time_zone() -> None:
    company = office_hours("Europe/Berlin")
    user = ScheduleSpec(time_zone="America/New_York", inherit_company=True)
    eff = schedule(user, company=company)
    # 09:00 in New York is 14:00 UTC in November.
    assert next_boundary(eff, utc(2026, 11, 23, 12)) == utc(2026, 11, 23, 14)
    assert target_at(eff, utc(2026, 11, 23, 14)).owner == "company"


# ---- daylight saving ----------------------------------------------------------------


def one_rule(zone: str, start: str, end: str) -> Effective:
    spec = ScheduleSpec(
        time_zone=zone,
        rules=[WeeklyRule(days=list(Weekday), start=start, end=end, profile_id="night")],
        default_profile="day",
    )
    return schedule(spec)


def fired(eff: Effective, start: datetime, end: datetime) -> list[datetime]:
    """Every boundary between start and end, walking as the driver does."""
    found: list[datetime] = []
    at = next_boundary(eff, start)
    while at is not None and at < end:
        found.append(at)
        at = next_boundary(eff, at)
    return found


@pytest.mark.parametrize(
    ("zone", "day", "start", "expected_utc_start"),
    [
        # Berlin skips 02:00-03:00 on 29 Mar 2026: 02:30 fires at 03:00 CEST = 01:00 UTC.
        ("Europe/Berlin", date(2026, 3, 29), "02:30", utc(2026, 3, 29, 1, 0)),
        # New York skips 02:00-03:00 on 8 Mar 2026: 02:30 fires at 03:00 EDT = 07:00 UTC.
        ("America/New_York", date(2026, 3, 8), "02:30", utc(2026, 3, 8, 7, 0)),
    ],
)
def test_boundary_in_the_skipped_hour_fires_once_at_the_end_of_the_gap(
    zone, day, start, expected_utc_start
) -> None:  # type: ignore[no-untyped-def]
    eff = one_rule(zone, start, "05:00")
    midnight = utc(day.year, day.month, day.day) - timedelta(hours=6)
    boundaries = fired(eff, midnight, midnight + timedelta(hours=20))
    assert boundaries.count(expected_utc_start) == 1
    assert len(boundaries) == 2  # the start and the 05:00 end, nothing twice


@pytest.mark.parametrize(
    ("zone", "day", "start", "expected_utc_start"),
    [
        # Berlin repeats 02:00-03:00 on 25 Oct 2026: 02:30 fires at the first, 02:30 CEST.
        ("Europe/Berlin", date(2026, 10, 25), "02:30", utc(2026, 10, 25, 0, 30)),
        # New York repeats 01:00-02:00 on 1 Nov 2026: 01:30 fires at the first, 01:30 EDT.
        ("America/New_York", date(2026, 11, 1), "01:30", utc(2026, 11, 1, 5, 30)),
    ],
)
def test_boundary_in_the_repeated_hour_fires_once_at_its_first_occurrence(
    zone, day, start, expected_utc_start
) -> None:  # type: ignore[no-untyped-def]
    eff = one_rule(zone, start, "05:00")
    midnight = utc(day.year, day.month, day.day) - timedelta(hours=6)
    boundaries = fired(eff, midnight, midnight + timedelta(hours=20))
    assert boundaries.count(expected_utc_start) == 1
    assert len(boundaries) == 2
    # Still night during the second pass through the repeated hour: no flip back.
    assert target_at(eff, expected_utc_start + timedelta(hours=1)).profile_id == "night"


def test_office_hours_follow_local_time_across_the_spring_change() -> None:
    eff = schedule(office_hours("America/New_York"))
    # Friday 6 Mar 2026 09:00 EST = 14:00 UTC; Monday 9 Mar 09:00 EDT = 13:00 UTC.
    assert next_boundary(eff, utc(2026, 3, 6, 0)) == utc(2026, 3, 6, 14)
    assert next_boundary(eff, utc(2026, 3, 6, 22)) == utc(2026, 3, 9, 13)
