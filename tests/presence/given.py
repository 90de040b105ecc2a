"""given(events).when(command) -> events, for the presence deciders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.base import Command, Event
from contracts.presence import (
    Channel,
    DeviceState,
    DeviceStateChanged,
    ProvisionUser,
)
from services.presence.domain.profiles import NO_DIRECTORY, Directory
from services.presence.domain.state import UserState
from services.presence.domain.user import user_decider

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EXT = "1001"


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def provisioned(mobile: str | None = None) -> list[Event]:
    decider = user_decider()
    command = ProvisionUser(
        extension=EXT,
        display_name="Ann",
        mobile_number=mobile,
        actor="admin",
        channel=Channel.ADMIN,
        at=NOW,
    )
    return list(decider.decide(command, decider.initial_state))


def with_desk() -> list[Event]:
    return [
        *provisioned(),
        DeviceStateChanged(extension=EXT, device_id="1001-desk", state=DeviceState.REGISTERED),
    ]


class Given:
    def __init__(self, events: list[Event], directory: Directory = NO_DIRECTORY) -> None:
        self.events = events
        self.directory = directory

    @property
    def state(self) -> UserState:
        return user_decider(self.directory).fold(self.events)

    def when(self, command: Command) -> list[Event]:
        return list(user_decider(self.directory).decide(command, self.state))

    def then(self, command: Command) -> UserState:
        """The state after the command's events."""
        decider = user_decider(self.directory)
        return decider.fold(self.when(command), self.state)


def given(*events: Event | list[Event], directory: Directory = NO_DIRECTORY) -> Given:
    flat: list[Event] = []
    for item in events:
        flat.extend(item if isinstance(item, list) else [item])
    return Given(flat, directory)
