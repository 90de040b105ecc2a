"""Given/when/then for the schedule deciders: each rule of validation and state, no I/O."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from contracts.base import Event
from contracts.errors import CommandError, NotFound
from contracts.presence import Status
from contracts.scheduler import (
    AddOverride,
    CancelOverride,
    HolidayCalendar,
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
    TimedStatusSet,
    Weekday,
    WeeklyRule,
)
from services.scheduler.domain.decider import (
    UserCommand,
    company_decider,
    decide_company,
    user_decider,
)
from services.scheduler.domain.validation import check_profiles, referenced_profiles
from tests.scheduler.fixtures import office_hours, utc

NOW = utc(2026, 11, 23, 10, 0)


def given(*events: Event) -> Sequence[Event]:
    return events


def when(history: Sequence[Event], command: UserCommand) -> Sequence[Event]:
    return user_decider.decide(command, user_decider.fold(history))


def busy_override(oid: str = "trip", start: int = 11, end: int = 15) -> Override:
    return Override(
        override_id=oid,
        starts_at=utc(2026, 11, 23, start),
        ends_at=utc(2026, 11, 23, end),
        profile_id="busy",
    )


def test_saving_a_valid_schedule_records_it() -> None:
    spec = office_hours()
    then = when(given(), SaveSchedule(extension="1001", schedule=spec, at=NOW))
    assert then == [ScheduleSaved(extension="1001", schedule=spec)]


def test_saving_the_same_schedule_again_records_nothing() -> None:
    spec = office_hours()
    history = given(ScheduleSaved(extension="1001", schedule=spec))
    assert when(history, SaveSchedule(extension="1001", schedule=spec, at=NOW)) == []


def test_invalid_time_zone_is_rejected_with_an_example() -> None:
    with pytest.raises(CommandError, match=r"not an IANA time zone.*Europe/Berlin"):
        when(given(), SaveSchedule(extension="1001", schedule=office_hours("Mars/Olympus"), at=NOW))


def test_end_before_start_is_rejected_with_the_overnight_hint() -> None:
    with pytest.raises(CommandError, match=r"ends at 09:00, not after its start 17:00.*24:00"):
        when(
            given(),
            SaveSchedule(
                extension="1001", schedule=office_hours(start="17:00", end="09:00"), at=NOW
            ),
        )


def test_overlapping_rules_on_a_shared_day_are_rejected() -> None:
    spec = ScheduleSpec(
        time_zone="Europe/Berlin",
        rules=[
            WeeklyRule(days=[Weekday.MON, Weekday.TUE], start="09:00", end="13:00", profile_id="a"),
            WeeklyRule(days=[Weekday.TUE], start="12:00", end="17:00", profile_id="b"),
        ],
    )
    with pytest.raises(CommandError, match="rules 1 and 2 overlap on tue") as error:
        when(given(), SaveSchedule(extension="1001", schedule=spec, at=NOW))
    assert error.value.field == "schedule.rules"


def test_rules_that_touch_do_not_overlap() -> None:
    spec = ScheduleSpec(
        time_zone="Europe/Berlin",
        rules=[
            WeeklyRule(days=[Weekday.MON], start="09:00", end="12:00", profile_id="a"),
            WeeklyRule(days=[Weekday.MON], start="12:00", end="24:00", profile_id="b"),
        ],
    )
    assert when(given(), SaveSchedule(extension="1001", schedule=spec, at=NOW))


def test_unknown_holiday_country_is_rejected() -> None:
    spec = office_hours(calendar=HolidayCalendar(country="XX"), holiday_profile="away")
    with pytest.raises(CommandError, match="country 'XX' is not known"):
        when(given(), SaveSchedule(extension="1001", schedule=spec, at=NOW))


def test_holidays_without_a_holiday_profile_are_rejected() -> None:
    spec = office_hours(calendar=HolidayCalendar(country="DE", subdivision="BY"))
    with pytest.raises(CommandError, match="holiday_profile"):
        when(given(), SaveSchedule(extension="1001", schedule=spec, at=NOW))


def test_unknown_profile_is_rejected_naming_the_known_ones() -> None:
    wanted = referenced_profiles(office_hours(), None)
    with pytest.raises(CommandError, match=r"'away' is not a profile of 1001 \(it has: available"):
        check_profiles("1001", wanted, ["available", "dnd"])


def test_removing_a_missing_schedule_is_not_found() -> None:
    with pytest.raises(NotFound):
        when(given(), RemoveSchedule(extension="1001", at=NOW))


def test_removing_a_schedule_keeps_nothing_of_it() -> None:
    history = given(ScheduleSaved(extension="1001", schedule=office_hours()))
    then = when(history, RemoveSchedule(extension="1001", at=NOW))
    assert then == [ScheduleRemoved(extension="1001")]
    assert user_decider.fold([*history, *then]).spec is None


def test_override_is_added_without_a_weekly_schedule() -> None:
    then = when(given(), AddOverride(extension="1001", override=busy_override(), at=NOW))
    assert then == [OverrideAdded(extension="1001", override=busy_override())]


def test_override_ending_before_it_starts_is_rejected() -> None:
    with pytest.raises(CommandError, match="not after starts_at"):
        when(
            given(), AddOverride(extension="1001", override=busy_override(start=15, end=11), at=NOW)
        )


def test_override_already_over_is_rejected() -> None:
    with pytest.raises(CommandError, match="already past"):
        when(given(), AddOverride(extension="1001", override=busy_override(start=7, end=9), at=NOW))


def test_overlapping_overrides_are_rejected() -> None:
    history = given(OverrideAdded(extension="1001", override=busy_override("a", 11, 15)))
    with pytest.raises(CommandError, match="override b overlaps override a"):
        when(history, AddOverride(extension="1001", override=busy_override("b", 14, 16), at=NOW))


def test_replacing_an_override_by_its_id_is_not_an_overlap() -> None:
    history = given(OverrideAdded(extension="1001", override=busy_override("a", 11, 15)))
    then = when(history, AddOverride(extension="1001", override=busy_override("a", 12, 16), at=NOW))
    state = user_decider.fold([*history, *then])
    assert [(o.override_id, o.ends_at.hour) for o in state.overrides] == [("a", 16)]


def test_cancelling_an_unknown_override_is_not_found() -> None:
    with pytest.raises(NotFound, match="no override 'x'"):
        when(given(), CancelOverride(extension="1001", override_id="x", at=NOW))


def test_cancelling_an_override_removes_it() -> None:
    history = given(OverrideAdded(extension="1001", override=busy_override()))
    then = when(history, CancelOverride(extension="1001", override_id="trip", at=NOW))
    assert then == [OverrideCancelled(extension="1001", override_id="trip")]
    assert user_decider.fold([*history, *then]).overrides == ()


def test_timed_status_is_recorded() -> None:
    timed = TimedStatus(
        timed_id="lunch",
        starts_at=NOW,
        ends_at=utc(2026, 11, 23, 11),
        status=Status.BE_RIGHT_BACK,
        note="lunch",
    )
    then = when(given(), SetTimedStatus(extension="1001", timed_status=timed, at=NOW))
    assert then == [TimedStatusSet(extension="1001", timed_status=timed)]


def test_company_schedule_cannot_inherit_from_itself() -> None:
    with pytest.raises(CommandError, match="cannot inherit from itself"):
        decide_company(
            SaveCompanySchedule(schedule=office_hours(inherit_company=True), at=NOW),
            company_decider.initial_state,
        )


def test_inheriting_user_references_the_company_profiles() -> None:
    company = office_hours(default_profile="closed")
    user = ScheduleSpec(time_zone="Europe/Berlin", inherit_company=True)
    assert referenced_profiles(user, company) == {"available", "closed"}
