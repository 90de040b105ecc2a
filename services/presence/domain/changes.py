"""What every user rule shares: the stream name, NotFound, time, and a status change."""

from __future__ import annotations

from datetime import datetime

from contracts.base import Event
from contracts.errors import CommandError, NotFound
from contracts.presence import (
    ByActor,
    ChangeReason,
    Channel,
    PresenceChanged,
    ProfileActivated,
    Status,
)
from services.presence.domain.state import User

AUTOMATION_ACTOR = "automation"


def user_stream(extension: str) -> str:
    return f"user:{extension}"


def not_provisioned(extension: str) -> NotFound:
    return NotFound(
        f"extension {extension} is not provisioned; add it with "
        f'./voco user add {extension} "Full Name" (command ProvisionUser)',
        field="extension",
    )


def issued_at(command: ByActor) -> datetime:
    if command.at is None:
        raise CommandError("the command has no time (at); the service stamps it on arrival")
    return command.at


def status_change(
    user: User,
    status: Status,
    *,
    note: str | None,
    note_expires_at: datetime | None,
    channel: Channel,
    actor: str,
    reason: ChangeReason | None,
) -> list[Event]:
    """A new status, plus the mapped profile when the user lets presence decide routing."""
    events: list[Event] = []
    if (status, note, note_expires_at) != (user.status, user.note, user.note_expires_at):
        events.append(
            PresenceChanged(
                extension=user.extension,
                status=status,
                note=note,
                note_expires_at=note_expires_at,
                previous_status=user.status,
                channel=channel,
                actor=actor,
                reason=reason,
            )
        )
    mapped = user.routing.profiles_by_status.get(status) if user.routing.enabled else None
    if mapped is not None and mapped != user.active_profile and mapped in user.profiles:
        events.append(
            ProfileActivated(
                extension=user.extension,
                profile_id=mapped,
                previous_profile_id=user.active_profile,
                channel=channel,
                actor=actor,
            )
        )
    return events
