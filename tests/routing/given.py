"""Given/when/then for the call decider: pure, no I/O, time passed in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.base import Event
from contracts.pbx import LegFailure
from contracts.presence import DeviceState, Profile
from contracts.routing import GroupView
from services.routing.domain.call import (
    CallCommand,
    EndCall,
    FireTimer,
    HangUp,
    LegReport,
    OfferCall,
    ReportLeg,
    call_decider,
)
from services.routing.domain.directory import Directory, ExtensionView
from services.routing.domain.state import CallState

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
IDLE = DeviceState.IDLE
BUSY = DeviceState.BUSY


def ext(number: str, profile: Profile | None = None, **devices: DeviceState) -> ExtensionView:
    names = {f"{number}-{name}": state for name, state in devices.items()}
    return ExtensionView(number, profile or Profile(id="default", name="Default"), names)


def directory(
    *views: ExtensionView, groups: Sequence[GroupView] = (), ivrs: Sequence[str] = ()
) -> Directory:
    return Directory(
        {v.extension: v for v in views}, {g.group_id: g for g in groups}, {i: i for i in ivrs}
    )


class Call:
    """A call under test: commands go in, the events of each step are kept."""

    def __init__(
        self,
        dir_: Directory,
        callee: str = "1001",
        caller: str = "2000",
        seed: int = 7,
        *,
        at: datetime = T0,
        last_held_back: datetime | None = None,
    ):
        self.dir = dir_
        self.state: CallState = call_decider.initial_state
        self.at = at
        self.last: list[Event] = []
        self.all: list[Event] = []
        self.run(
            OfferCall(
                at=at,
                directory=dir_,
                call_id="c1",
                node="n1",
                caller=caller,
                callee=callee,
                seed=seed,
                last_held_back=last_held_back,
            )
        )

    def run(self, command: CallCommand) -> list[Event]:
        self.last = list(call_decider.decide(command, self.state))
        self.state = call_decider.fold(self.last, self.state)
        self.all += self.last
        return self.last

    def later(self, seconds: float) -> datetime:
        self.at = self.at + timedelta(seconds=seconds)
        return self.at

    def timeout(self, timer_id: str, seconds: float) -> list[Event]:
        return self.run(FireTimer(at=self.later(seconds), directory=self.dir, timer_id=timer_id))

    def answer(self, leg: str) -> list[Event]:
        return self.run(
            ReportLeg(at=self.at, directory=self.dir, leg_id=leg, report=LegReport.ANSWERED)
        )

    def fail(self, leg: str, reason: LegFailure) -> list[Event]:
        return self.run(
            ReportLeg(
                at=self.at, directory=self.dir, leg_id=leg, report=LegReport.FAILED, reason=reason
            )
        )

    def hang_up(self) -> list[Event]:
        return self.run(HangUp(at=self.at, directory=self.dir))

    def end(self) -> list[Event]:
        return self.run(EndCall(at=self.at, directory=self.dir))


def types(events: Sequence[Event]) -> list[str]:
    return [e.type_name.removeprefix("routing.") for e in events]


def of(events: Sequence[Event], kind: type[Any]) -> Any:
    found = [e for e in events if isinstance(e, kind)]
    assert found, f"no {kind.__name__} in {types(events)}"
    return found[-1]
