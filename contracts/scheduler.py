"""Scheduler: weekly rules, holidays, overrides and timed statuses that switch presence.

Streams: `schedule:<extension>` for one user's schedule, `schedule:company` for the
company default a user can inherit. Events are published on
`voco.evt.scheduler.<extension or company>.<EventType>`; commands arrive on
`voco.cmd.scheduler.<CommandType>`.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.base import Acting, Event, Issued, event
from contracts.presence import Extension, Identifier, Status

SCHEDULER_STREAM = "VOCO_SCHEDULER"
SCHEDULER_SUBJECTS = ["voco.evt.scheduler.>"]
COMPANY = "company"

WallTime = Annotated[
    str,
    Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$",
        description="local wall time HH:MM; 24:00 ends a range at midnight",
    ),
]


def event_subject(key: str, type_name: str) -> str:
    return f"voco.evt.scheduler.{key}.{type_name}"


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday is 0, as `datetime.weekday()`."""
        return _WEEKDAY_NUMBERS[self]


_WEEKDAY_NUMBERS = {day: n for n, day in enumerate(Weekday)}


class ManualSwitch(StrEnum):
    """What a manual switch does to the schedule."""

    HOLD_UNTIL_NEXT_BOUNDARY = "hold_until_next_boundary"
    REAPPLY = "reapply"  # the schedule puts its own state back after reapply_after_minutes


class Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WeeklyRule(Part):
    """On these days, from start to end (local wall time), this profile holds."""

    days: list[Weekday] = Field(min_length=1)
    start: WallTime
    end: WallTime
    profile_id: Identifier


class HolidayDate(Part):
    date: date
    name: str = Field(default="holiday", max_length=100)
    profile_id: Identifier | None = Field(
        default=None, description="the schedule's holiday_profile when omitted"
    )


class HolidayCalendar(Part):
    """Public holidays of a country (ISO 3166-1 alpha-2) and optional region, via `holidays`."""

    country: str = Field(min_length=2, max_length=3)
    subdivision: str | None = Field(default=None, max_length=10)


class ScheduleSpec(Part):
    time_zone: str = Field(description="IANA time zone, e.g. Europe/Berlin")
    rules: list[WeeklyRule] = Field(default_factory=list)
    holidays: list[HolidayDate] = Field(default_factory=list)
    calendar: HolidayCalendar | None = None
    holiday_profile: Identifier | None = None
    default_profile: Identifier | None = Field(
        default=None, description="holds when no holiday, override or rule does"
    )
    inherit_company: bool = Field(
        default=False,
        description="use the company's rules (when this has none), holidays and profiles",
    )
    manual_switch: ManualSwitch = ManualSwitch.HOLD_UNTIL_NEXT_BOUNDARY
    reapply_after_minutes: int = Field(default=0, ge=0, le=1440)


class Override(Part):
    """A one-off: this profile from starts_at until ends_at ("Business trip Mon-Fri")."""

    override_id: Identifier
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    profile_id: Identifier
    reason: str | None = Field(default=None, max_length=200)


class TimedStatus(Part):
    """A status and note shown from starts_at until ends_at, then reverted."""

    timed_id: Identifier
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    status: Status
    note: str | None = Field(default=None, max_length=200)
    reverts_to: Status | None = Field(
        default=None,
        description="status after expiry when no scheduled profile holds (default: available)",
    )


# ---- events -------------------------------------------------------------------------


@event
class ScheduleSaved(Event):
    type_name = "ScheduleSaved"
    extension: str
    schedule: ScheduleSpec


@event
class ScheduleRemoved(Event):
    type_name = "ScheduleRemoved"
    extension: str


@event
class OverrideAdded(Event):
    type_name = "OverrideAdded"
    extension: str
    override: Override


@event
class OverrideCancelled(Event):
    type_name = "OverrideCancelled"
    extension: str
    override_id: str


@event
class TimedStatusSet(Event):
    type_name = "TimedStatusSet"
    extension: str
    timed_status: TimedStatus


@event
class TimedStatusCancelled(Event):
    type_name = "TimedStatusCancelled"
    extension: str
    timed_id: str


@event
class BoundaryApplied(Event):
    """A boundary (or a catch-up after downtime) was applied to a user's presence."""

    type_name = "BoundaryApplied"
    extension: str
    boundary_at: datetime
    applied_at: datetime
    profile_id: str | None
    status: Status | None
    source: str
    catch_up: bool
    outcome: str = Field(description="applied, held (manual switch), unchanged or rejected: why")


# ---- commands (subject voco.cmd.scheduler.<type_name>) --------------------------------


@event
class SaveSchedule(Issued):
    type_name = "SaveSchedule"
    extension: Extension
    schedule: ScheduleSpec


@event
class SaveCompanySchedule(Issued):
    type_name = "SaveCompanySchedule"
    schedule: ScheduleSpec


@event
class RemoveSchedule(Issued):
    type_name = "RemoveSchedule"
    extension: Extension


@event
class AddOverride(Issued):
    type_name = "AddOverride"
    extension: Extension
    override: Override


@event
class CancelOverride(Issued):
    type_name = "CancelOverride"
    extension: Extension
    override_id: Identifier


@event
class SetTimedStatus(Issued):
    type_name = "SetTimedStatus"
    extension: Extension
    timed_status: TimedStatus


@event
class CancelTimedStatus(Issued):
    type_name = "CancelTimedStatus"
    extension: Extension
    timed_id: Identifier


@event
class GetSchedule(Acting):
    """What holds for a user at `at` (default now), since when, and the next boundary."""

    type_name = "GetSchedule"
    extension: Extension
    at: AwareDatetime | None = None


@event
class GetCompanySchedule(Acting):
    """The company's hours and holidays as saved (none until an administrator saves them)."""

    type_name = "GetCompanySchedule"


class CompanyScheduleView(BaseModel):
    schedule: ScheduleSpec | None


class PlanView(BaseModel):
    extension: str
    at: datetime
    profile_id: str | None
    status: Status | None
    note: str | None
    source: str
    next_boundary: datetime | None
    schedule: ScheduleSpec | None
    overrides: list[Override]
    timed_statuses: list[TimedStatus]
