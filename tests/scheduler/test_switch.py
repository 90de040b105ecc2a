"""Given/when/then for what the driver sends at a due timer (pure: decide_switch)."""

from __future__ import annotations

from datetime import timedelta

from contracts.base import Role
from contracts.presence import ActivateProfile, Channel, SetStatus, Status
from contracts.scheduler import TimedStatus
from services.scheduler.domain.switching import TimerRow, decide_switch
from services.scheduler.domain.timeline import effective
from tests.scheduler.fixtures import office_hours, utc

FIVE_PM = utc(2026, 11, 23, 16)  # 17:00 in Berlin


def timer(**changes: object) -> TimerRow:
    base: dict[str, object] = {
        "due_at": FIVE_PM,
        "reapply_after": None,
        "reapply_due": False,
        "last_applied_at": utc(2026, 11, 23, 8),
        "last_profile": "available",
        "last_status": None,
        "manual_at": None,
    }
    return TimerRow(**{**base, **changes})  # type: ignore[arg-type]


def test_boundary_activates_the_scheduled_profile_as_the_scheduler() -> None:
    switch = decide_switch(
        "1001",
        effective("1001", office_hours(), (), (), None),
        timer(),
        FIVE_PM,
        {},
        catch_up=False,
    )
    assert switch.commands == [
        ActivateProfile(
            extension="1001",
            profile_id="away",
            channel=Channel.SCHEDULER,
            actor="schedule:1001",
            role=Role.SERVICE,
            at=FIVE_PM,
        )
    ]


def test_manual_switch_after_the_last_boundary_holds_at_catch_up() -> None:
    eff = effective("1001", office_hours(), (), (), None)
    row = timer(manual_at=utc(2026, 11, 23, 16, 30))
    switch = decide_switch("1001", eff, row, utc(2026, 11, 23, 17), {}, catch_up=True)
    assert switch.commands == []
    assert switch.outcome.startswith("held")


def test_manual_switch_before_the_boundary_is_overruled_by_it() -> None:
    eff = effective("1001", office_hours(), (), (), None)
    row = timer(manual_at=utc(2026, 11, 23, 15), last_applied_at=utc(2026, 11, 23, 8))
    switch = decide_switch("1001", eff, row, FIVE_PM, {}, catch_up=False)
    assert [c.profile_id for c in switch.commands] == ["away"]  # type: ignore[attr-defined]


def test_catch_up_applies_the_state_of_now_at_the_last_boundary() -> None:
    eff = effective("1001", office_hours(), (), (), None)
    # Down from Monday 15:00 UTC until Tuesday 10:00 UTC: both 17:00 and 09:00 passed.
    row = timer(due_at=FIVE_PM)
    switch = decide_switch("1001", eff, row, utc(2026, 11, 24, 10), {}, catch_up=True)
    assert [(c.profile_id, c.at) for c in switch.commands] == [("available", utc(2026, 11, 24, 8))]  # type: ignore[attr-defined]


def test_reapplying_schedule_overrules_a_manual_switch() -> None:
    eff = effective("1001", office_hours(), (), (), None)
    row = timer(
        manual_at=utc(2026, 11, 23, 16, 30), reapply_after=15, reapply_due=True, last_profile="away"
    )
    switch = decide_switch("1001", eff, row, utc(2026, 11, 23, 16, 45), {}, catch_up=False)
    assert [c.profile_id for c in switch.commands] == ["away"]  # type: ignore[attr-defined]


def test_expired_timed_status_reverts_to_the_status_the_profile_shows() -> None:
    lunch = TimedStatus(
        timed_id="lunch",
        starts_at=utc(2026, 11, 23, 11),
        ends_at=utc(2026, 11, 23, 12),
        status=Status.BE_RIGHT_BACK,
        note="lunch",
    )
    eff = effective("1001", office_hours(), (), (lunch,), None)
    row = timer(due_at=utc(2026, 11, 23, 12), last_status="be_right_back")
    switch = decide_switch(
        "1001", eff, row, utc(2026, 11, 23, 12), {"available": "available"}, catch_up=False
    )
    assert len(switch.commands) == 1
    command = switch.commands[0]
    assert isinstance(command, SetStatus)
    assert (command.status, command.note) == (Status.AVAILABLE, None)


def test_timed_status_start_sets_status_and_note_until_its_end() -> None:
    lunch = TimedStatus(
        timed_id="lunch",
        starts_at=utc(2026, 11, 23, 11),
        ends_at=utc(2026, 11, 23, 12),
        status=Status.BE_RIGHT_BACK,
        note="lunch",
    )
    eff = effective("1001", office_hours(), (), (lunch,), None)
    row = timer(due_at=utc(2026, 11, 23, 11))
    switch = decide_switch("1001", eff, row, utc(2026, 11, 23, 11), {}, catch_up=False)
    assert switch.commands == [
        SetStatus(
            extension="1001",
            status=Status.BE_RIGHT_BACK,
            note="lunch",
            note_expires_at=utc(2026, 11, 23, 12),
            channel=Channel.SCHEDULER,
            actor="schedule:1001",
            role=Role.SERVICE,
            at=utc(2026, 11, 23, 11),
        )
    ]


def test_manual_switch_after_the_announcement_wins_over_the_boundary() -> None:
    eff = effective("1001", office_hours(), (), (), None)
    row = timer(manual_at=FIVE_PM - timedelta(seconds=30))
    switch = decide_switch(
        "1001", eff, row, FIVE_PM, {}, catch_up=False, manual_wins_within=timedelta(minutes=1)
    )
    assert switch.commands == []
    assert "announced" in switch.outcome


def test_manual_switch_before_the_announcement_is_overruled_by_the_boundary() -> None:
    eff = effective("1001", office_hours(), (), (), None)
    row = timer(manual_at=FIVE_PM - timedelta(seconds=61))
    switch = decide_switch(
        "1001", eff, row, FIVE_PM, {}, catch_up=False, manual_wins_within=timedelta(minutes=1)
    )
    assert [type(c) for c in switch.commands] == [ActivateProfile]
