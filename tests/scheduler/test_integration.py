"""The scheduler with the real presence service, NATS and Postgres, on a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

from contracts.errors import CommandError
from contracts.presence import ActivateProfile, Channel, GetHistory, GetPresence, SignIn, Status
from contracts.scheduler import (
    AddOverride,
    GetCompanySchedule,
    GetSchedule,
    ManualSwitch,
    Override,
    SaveCompanySchedule,
    SaveSchedule,
    ScheduleSpec,
    SetTimedStatus,
    TimedStatus,
    Weekday,
    WeeklyRule,
)
from runtime.config import Connections
from tests.conftest import ConnectionsFor
from tests.principals import ADMIN
from tests.scheduler.fixtures import office_hours, utc
from tests.scheduler.platform import Platform

pytestmark = pytest.mark.integration

MONDAY_4PM_BERLIN = utc(2026, 11, 23, 15)
FIVE_PM = utc(2026, 11, 23, 16)
NINE_AM_TUESDAY = utc(2026, 11, 24, 8)


@pytest.fixture
async def platform(
    connections: Connections, connections_for: ConnectionsFor
) -> AsyncIterator[Platform]:
    started = await Platform.start(connections, connections_for, MONDAY_4PM_BERLIN)
    yield started
    await started.stop()


async def office_user(platform: Platform, extension: str = "1001") -> None:
    await platform.provision(extension)
    await platform.send(
        "scheduler", SaveSchedule(extension=extension, schedule=office_hours(), **ADMIN)
    )
    await platform.settle()


async def test_17_00_boundary_switches_to_away(platform: Platform) -> None:
    await office_user(platform)
    await platform.advance_to(FIVE_PM - timedelta(seconds=1))
    assert await platform.scheduler_switches("1001") == []
    await platform.advance_to(FIVE_PM)
    switches = await platform.scheduler_switches("1001")
    assert [(s[1].split()[0] if s[1] else "", s[2]) for s in switches][-1][1] == FIVE_PM
    assert len(switches) == 1
    assert await platform.active_profile("1001") == "away"


async def test_manual_switch_at_17_30_holds_until_09_00(platform: Platform) -> None:
    await office_user(platform)
    await platform.advance_to(FIVE_PM)
    await platform.advance_to(FIVE_PM + timedelta(minutes=30))
    await platform.send(
        "presence",
        ActivateProfile(
            extension="1001", profile_id="available", channel=Channel.CLIENT, actor="1001"
        ),
    )
    await platform.settle()
    # Through the evening, and across a scheduler restart, the manual choice holds.
    await platform.advance_to(utc(2026, 11, 23, 21))
    await platform.stop_scheduler()
    await platform.start_scheduler()
    await platform.advance_to(NINE_AM_TUESDAY - timedelta(minutes=1))
    assert await platform.active_profile("1001") == "available"
    assert len(await platform.scheduler_switches("1001")) == 1
    await platform.advance_to(NINE_AM_TUESDAY)
    # 09:00 schedules Available, which the user already has: the boundary is applied
    # (the manual hold is over) and presence records no change because none is needed.
    await platform.advance_to(FIVE_PM + timedelta(days=1))
    assert await platform.active_profile("1001") == "away"
    assert [s[2] for s in await platform.scheduler_switches("1001")] == [
        FIVE_PM,
        FIVE_PM + timedelta(days=1),
    ]


async def test_holiday_outranks_the_weekday_rule(platform: Platform) -> None:
    await platform.provision("1001")
    spec = ScheduleSpec(
        time_zone="Europe/Berlin",
        rules=[
            WeeklyRule(days=list(Weekday)[:5], start="09:00", end="17:00", profile_id="available")
        ],
        default_profile="away",
        holidays=[{"date": date(2026, 11, 24), "name": "company day", "profile_id": "dnd"}],  # type: ignore[list-item]
    )
    await platform.send("scheduler", SaveSchedule(extension="1001", schedule=spec, **ADMIN))
    await platform.advance_to(FIVE_PM)
    await platform.advance_to(utc(2026, 11, 23, 23))  # Tuesday 00:00 Berlin: the holiday starts
    assert await platform.active_profile("1001") == "dnd"
    await platform.advance_to(utc(2026, 11, 24, 12))  # Tuesday 13:00: the weekday rule is outranked
    assert await platform.active_profile("1001") == "dnd"
    view = await platform.send("scheduler", GetSchedule(extension="1001", **ADMIN))
    assert view["source"] == "holiday 2026-11-24 company day"
    await platform.advance_to(utc(2026, 11, 25, 0))  # the holiday is over: Away (default)
    assert await platform.active_profile("1001") == "away"
    await platform.advance_to(utc(2026, 11, 25, 8))  # Wednesday 09:00: the rule again
    assert await platform.active_profile("1001") == "available"
    assert [s[2] for s in await platform.scheduler_switches("1001")] == [
        FIVE_PM,
        utc(2026, 11, 23, 23),  # holiday: dnd
        utc(2026, 11, 24, 23),  # the holiday ends at midnight: away, outside office hours
        utc(2026, 11, 25, 8),
    ]


async def test_restart_across_boundaries_catches_up_once(platform: Platform) -> None:
    await office_user(platform)
    await platform.stop_scheduler()
    # Down across Monday 17:00 and Tuesday 09:00; back at Tuesday 10:00.
    platform.clock.set(utc(2026, 11, 24, 9))
    await platform.start_scheduler()
    await platform.settle()
    switches = await platform.scheduler_switches("1001")
    # Away at 17:00 is never replayed: the state of now (Available) is applied once.
    assert await platform.active_profile("1001") == "available"
    applied = await platform.scheduler.pool.fetch(  # type: ignore[union-attr]
        "SELECT count(*) AS n FROM scheduler.timers WHERE last_boundary = $1", NINE_AM_TUESDAY
    )
    assert applied[0]["n"] == 1
    assert switches == []  # Available was already active: presence recorded no change
    await platform.stop_scheduler()
    await platform.start_scheduler()
    await platform.settle()
    assert await platform.scheduler_switches("1001") == []
    await platform.advance_to(FIVE_PM + timedelta(days=1))
    assert [s[2] for s in await platform.scheduler_switches("1001")] == [
        FIVE_PM + timedelta(days=1)
    ]


async def test_restart_while_away_due_catches_up_to_away_once(platform: Platform) -> None:
    await office_user(platform)
    await platform.stop_scheduler()
    platform.clock.set(utc(2026, 11, 23, 20))  # missed 17:00 only
    await platform.start_scheduler()
    await platform.settle()
    assert [s[2] for s in await platform.scheduler_switches("1001")] == [FIVE_PM]
    await platform.stop_scheduler()
    await platform.start_scheduler()
    await platform.settle()
    assert len(await platform.scheduler_switches("1001")) == 1


async def test_wall_clock_jumping_back_does_not_fire_twice(platform: Platform) -> None:
    await office_user(platform)
    await platform.advance_to(FIVE_PM)
    await platform.advance_to(FIVE_PM - timedelta(minutes=10))  # the clock is set back
    await platform.send(
        "presence",
        ActivateProfile(
            extension="1001", profile_id="available", channel=Channel.CLIENT, actor="1001"
        ),
    )
    await platform.advance_to(FIVE_PM + timedelta(minutes=5))
    assert await platform.active_profile("1001") == "available"
    assert len(await platform.scheduler_switches("1001")) == 1


@pytest.mark.parametrize(
    ("zone", "night_start", "first_fire", "day"),
    [
        ("Europe/Berlin", "02:30", utc(2026, 3, 29, 1), utc(2026, 3, 28, 12)),  # skipped hour
        ("Europe/Berlin", "02:30", utc(2026, 10, 25, 0, 30), utc(2026, 10, 24, 12)),  # repeated
        ("America/New_York", "02:30", utc(2026, 3, 8, 7), utc(2026, 3, 7, 12)),  # skipped
        ("America/New_York", "01:30", utc(2026, 11, 1, 5, 30), utc(2026, 10, 31, 12)),  # repeated
    ],
)
async def test_daylight_saving_boundary_fires_once(
    connections: Connections,
    connections_for: ConnectionsFor,
    zone: str,
    night_start: str,
    first_fire,
    day,  # type: ignore[no-untyped-def]
) -> None:
    platform = await Platform.start(connections, connections_for, day)
    try:
        await platform.provision("1001")
        spec = ScheduleSpec(
            time_zone=zone,
            rules=[
                WeeklyRule(days=list(Weekday), start=night_start, end="05:00", profile_id="dnd")
            ],
            default_profile="available",
        )
        await platform.send("scheduler", SaveSchedule(extension="1001", schedule=spec, **ADMIN))
        await platform.settle()
        moment = day + timedelta(hours=8)
        while moment < day + timedelta(hours=22):  # step through the night in 20 minutes
            moment += timedelta(minutes=20)
            await platform.advance_to(moment)
        fired = [s[2] for s in await platform.scheduler_switches("1001")]
        assert fired[0] == first_fire
        assert fired.count(first_fire) == 1
        assert len(fired) == 2  # night starts once, ends once (05:00)
    finally:
        await platform.stop()


async def test_bad_input_is_explained_and_nothing_is_stored(platform: Platform) -> None:
    await platform.provision("1001")
    bad = [
        (office_hours("Europe/Berln"), "not an IANA time zone"),
        (office_hours(start="17:00", end="09:00"), "not after its start"),
        (office_hours(default_profile="beach"), "'beach' is not a profile of 1001"),
    ]
    for spec, message in bad:
        with pytest.raises(CommandError, match=message):
            await platform.send("scheduler", SaveSchedule(extension="1001", schedule=spec, **ADMIN))
    pool = platform.scheduler.pool  # type: ignore[union-attr]
    assert await pool.fetchval("SELECT count(*) FROM scheduler.events") == 0
    assert await pool.fetchval("SELECT count(*) FROM scheduler.timers") == 0


async def test_override_applies_at_once_and_ends_at_its_time(platform: Platform) -> None:
    await office_user(platform)  # Monday 16:00 Berlin: Available by the weekly rule
    busy = Override(
        override_id="review",
        starts_at=MONDAY_4PM_BERLIN,
        ends_at=MONDAY_4PM_BERLIN + timedelta(minutes=30),
        profile_id="meeting",
    )
    await platform.send("scheduler", AddOverride(extension="1001", override=busy, **ADMIN))
    await platform.settle()
    assert await platform.active_profile("1001") == "meeting"
    await platform.advance_to(MONDAY_4PM_BERLIN + timedelta(minutes=30))
    assert await platform.active_profile("1001") == "available"
    assert [s[2] for s in await platform.scheduler_switches("1001")] == [
        MONDAY_4PM_BERLIN,
        MONDAY_4PM_BERLIN + timedelta(minutes=30),
    ]


async def test_timed_status_shows_then_reverts(platform: Platform) -> None:
    await office_user(platform)
    # Signed in, so presence's idle automation does not set Away in the meantime.
    await platform.send("presence", SignIn(extension="1001", session_id="desk", **ADMIN))
    lunch = TimedStatus(
        timed_id="call",
        starts_at=MONDAY_4PM_BERLIN,
        ends_at=MONDAY_4PM_BERLIN + timedelta(minutes=20),
        status=Status.BUSY,
        note="customer call",
    )
    await platform.send("scheduler", SetTimedStatus(extension="1001", timed_status=lunch, **ADMIN))
    await platform.settle()
    view = await platform.send("presence", GetPresence(extension="1001", **ADMIN))
    assert (view["status"], view["note"]) == ("busy", "customer call")
    await platform.advance_to(MONDAY_4PM_BERLIN + timedelta(minutes=20))
    view = await platform.send("presence", GetPresence(extension="1001", **ADMIN))
    assert view["status"] == "available"


async def test_reapplying_schedule_takes_back_a_manual_switch(platform: Platform) -> None:
    await platform.provision("1001")
    spec = office_hours().model_copy(
        update={"manual_switch": ManualSwitch.REAPPLY, "reapply_after_minutes": 15}
    )
    await platform.send("scheduler", SaveSchedule(extension="1001", schedule=spec, **ADMIN))
    await platform.advance_to(FIVE_PM)
    await platform.advance_to(FIVE_PM + timedelta(minutes=30))
    await platform.send(
        "presence",
        ActivateProfile(
            extension="1001", profile_id="available", channel=Channel.CLIENT, actor="1001"
        ),
    )
    await platform.settle()
    await platform.advance_to(FIVE_PM + timedelta(minutes=44))
    assert await platform.active_profile("1001") == "available"
    await platform.advance_to(FIVE_PM + timedelta(minutes=45))
    assert await platform.active_profile("1001") == "away"


async def test_inheriting_user_follows_the_company_default(platform: Platform) -> None:
    await platform.provision("1001")
    await platform.send("scheduler", SaveCompanySchedule(schedule=office_hours(), **ADMIN))
    user = ScheduleSpec(time_zone="Europe/Berlin", inherit_company=True)
    await platform.send("scheduler", SaveSchedule(extension="1001", schedule=user, **ADMIN))
    await platform.advance_to(FIVE_PM)
    assert await platform.active_profile("1001") == "away"
    history = await platform.send("presence", GetHistory(extension="1001", **ADMIN))
    assert history["entries"][0]["actor"] == "schedule:company"


async def test_the_company_schedule_reads_back_as_saved(platform: Platform) -> None:
    before = await platform.send("scheduler", GetCompanySchedule(**ADMIN))
    await platform.send("scheduler", SaveCompanySchedule(schedule=office_hours(), **ADMIN))
    after = await platform.send("scheduler", GetCompanySchedule(**ADMIN))
    assert before == {"schedule": None}
    assert ScheduleSpec.model_validate(after["schedule"]) == office_hours()


async def test_a_bad_presence_message_is_dead_lettered_and_the_feed_goes_on(
    platform: Platform,
) -> None:
    js = platform.nc.jetstream()
    await js.publish("voco.evt.presence.1001.ProfileSaved", b"{not json")
    await platform.provision("1002")  # waits until the feed has 1002's profiles
    pool = platform.scheduler.pool  # type: ignore[union-attr]
    reasons = await pool.fetch("SELECT reason FROM scheduler.dead_letters")
    assert len(reasons) == 1
    assert "not a presence event envelope" in reasons[0]["reason"]
