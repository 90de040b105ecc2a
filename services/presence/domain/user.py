"""The user decider: provisioning, status and note, and which rule handles each command.

The rules about profiles are in profile_rules.py, about devices and clients in clients.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from contracts.base import Acting, Command, Event
from contracts.errors import CommandError, ErrorCode
from contracts.presence import (
    ActivateProfile,
    AnnounceSwitch,
    ApplyAnnouncedSwitch,
    ChangeReason,
    Channel,
    ConfigureAutomation,
    ConfigurePresenceRouting,
    DeleteProfile,
    DetectIdle,
    ExpireNote,
    PresenceChanged,
    ProfileActivated,
    ProfileSaved,
    ProvisionUser,
    ReportDevice,
    RetractSwitch,
    SaveProfile,
    SetStatus,
    SignIn,
    SignOut,
    UserProvisioned,
)
from runtime.access import actor_of
from runtime.decider import Decider
from services.presence.domain.announced import (
    announce,
    apply_announced,
    retract,
    superseded_by_hand,
)
from services.presence.domain.changes import (
    AUTOMATION_ACTOR,
    issued_at,
    not_provisioned,
    status_change,
    user_stream,
)
from services.presence.domain.clients import (
    configure_automation,
    detect_idle,
    report_device,
    sign_in,
    sign_out,
)
from services.presence.domain.profile_rules import (
    activate,
    configure_routing,
    delete_profile,
    save_profile,
)
from services.presence.domain.profiles import (
    NO_DIRECTORY,
    Directory,
    default_profiles,
)
from services.presence.domain.state import NoUser, User, UserState, evolve

FIRST_PROFILE = "available"


def provision(command: ProvisionUser, state: UserState) -> list[Event]:
    if isinstance(state, User):
        if state.display_name == command.display_name:
            return []  # provisioning again is a no-op, so demo data can be loaded twice
        raise CommandError(
            f"extension {command.extension} is already provisioned as "
            f"{state.display_name!r}; pick another extension",
            field="extension",
            code=ErrorCode.CONFLICT,
        )
    ext = command.extension
    profiles = default_profiles(command.mobile_number)
    first = next(p for p in profiles if p.id == FIRST_PROFILE)
    return [
        UserProvisioned(extension=ext, display_name=command.display_name),
        *(ProfileSaved(extension=ext, profile=p) for p in profiles),
        ProfileActivated(
            extension=ext, profile_id=first.id, channel=command.channel, actor=actor_of(command)
        ),
        PresenceChanged(
            extension=ext,
            status=first.shows,
            channel=command.channel,
            actor=actor_of(command),
            reason=ChangeReason.PROFILE,
        ),
    ]


def set_status(command: SetStatus, user: User) -> list[Event]:
    at = issued_at(command)
    note = command.note or None
    if command.note_expires_at is not None:
        if note is None:
            raise CommandError("note_expires_at needs a note to expire", field="note_expires_at")
        if command.note_expires_at <= at:
            raise CommandError(
                f"note_expires_at ({command.note_expires_at.isoformat()}) must be in the "
                f"future (now: {at.isoformat()})",
                field="note_expires_at",
            )
    return status_change(
        user,
        command.status,
        note=note,
        note_expires_at=command.note_expires_at,
        channel=command.channel,
        actor=actor_of(command),
        reason=None,
    )


def expire_note(command: ExpireNote, user: User) -> list[Event]:
    if user.note_expires_at is None or command.at < user.note_expires_at:
        return []
    return [
        PresenceChanged(
            extension=user.extension,
            status=user.status,
            note=None,
            previous_status=user.status,
            channel=Channel.AUTOMATION,
            actor=AUTOMATION_ACTOR,
            reason=ChangeReason.NOTE_EXPIRED,
        )
    ]


_RULES: dict[type[Acting], Callable[[Any, User], list[Event]]] = {
    SetStatus: set_status,
    ActivateProfile: activate,
    DeleteProfile: delete_profile,
    ReportDevice: report_device,
    SignIn: sign_in,
    SignOut: sign_out,
    ConfigureAutomation: configure_automation,
    ConfigurePresenceRouting: configure_routing,
    DetectIdle: detect_idle,
    ExpireNote: expire_note,
    AnnounceSwitch: announce,
    RetractSwitch: retract,
    ApplyAnnouncedSwitch: apply_announced,
}


def decide(command: Command, state: UserState, directory: Directory = NO_DIRECTORY) -> list[Event]:
    """`directory` holds the extensions, ring groups and IVRs a SaveProfile refers to."""
    if isinstance(command, ProvisionUser):
        return provision(command, state)
    extension: str = getattr(command, "extension")  # noqa: B009 - every user command has one
    if isinstance(state, NoUser):
        raise not_provisioned(extension)
    if isinstance(command, SaveProfile):
        return save_profile(command, state, directory)
    rule = _RULES.get(type(command)) if isinstance(command, Acting) else None
    if rule is None:
        raise CommandError(f"{command.type_name} is not a command about a user")
    events = rule(command, state)
    if isinstance(command, ActivateProfile | SetStatus):
        events += superseded_by_hand(command, state)
    return events


def user_decider(directory: Directory = NO_DIRECTORY) -> Decider[Command, UserState]:
    def decide_with_directory(command: Command, state: UserState) -> Sequence[Event]:
        return decide(command, state, directory)

    return Decider(initial_state=NoUser(), decide=decide_with_directory, evolve=evolve)


USER_COMMANDS: tuple[type[Acting], ...] = (ProvisionUser, SaveProfile, *_RULES)

__all__ = ["USER_COMMANDS", "decide", "not_provisioned", "user_decider", "user_stream"]
