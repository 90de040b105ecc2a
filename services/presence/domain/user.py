"""The user decider: every rule about one extension's status, profiles, devices and clients."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from contracts.base import Command, Event
from contracts.errors import CommandError, ErrorCode, NotFound
from contracts.presence import (
    ActivateProfile,
    AutomationConfigured,
    ByActor,
    ChangeReason,
    Channel,
    ClientSignedIn,
    ClientSignedOut,
    ConfigureAutomation,
    ConfigurePresenceRouting,
    DeleteProfile,
    DetectIdle,
    DeviceStateChanged,
    ExpireNote,
    PresenceChanged,
    PresenceRoutingConfigured,
    ProfileActivated,
    ProfileDeleted,
    ProfileSaved,
    ProvisionUser,
    ReportDevice,
    SaveProfile,
    SetStatus,
    SignIn,
    SignOut,
    Status,
    UserProvisioned,
)
from runtime.decider import Decider
from services.presence.domain.profiles import (
    NO_DIRECTORY,
    Directory,
    default_profiles,
    problems_with,
)
from services.presence.domain.state import NoUser, User, UserState, evolve

AUTOMATION_ACTOR = "automation"
FIRST_PROFILE = "available"


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
            extension=ext, profile_id=first.id, channel=command.channel, actor=command.actor
        ),
        PresenceChanged(
            extension=ext,
            status=first.shows,
            channel=command.channel,
            actor=command.actor,
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
        actor=command.actor,
        reason=None,
    )


def unknown_profile(user: User, profile_id: str) -> CommandError:
    existing = ", ".join(user.profiles) or "none"
    return CommandError(
        f"profile {profile_id!r} does not exist for {user.extension}; its profiles: {existing}",
        field="profile_id",
        code=ErrorCode.NOT_FOUND,
    )


def activate(command: ActivateProfile, user: User) -> list[Event]:
    profile = user.profiles.get(command.profile_id)
    if profile is None:
        raise unknown_profile(user, command.profile_id)
    events: list[Event] = []
    if user.active_profile != profile.id:
        events.append(
            ProfileActivated(
                extension=user.extension,
                profile_id=profile.id,
                previous_profile_id=user.active_profile,
                channel=command.channel,
                actor=command.actor,
            )
        )
    if user.status != profile.shows:
        events.append(
            PresenceChanged(
                extension=user.extension,
                status=profile.shows,
                note=user.note,
                note_expires_at=user.note_expires_at,
                previous_status=user.status,
                channel=command.channel,
                actor=command.actor,
                reason=ChangeReason.PROFILE,
            )
        )
    return events


def save_profile(command: SaveProfile, user: User, directory: Directory) -> list[Event]:
    profile = command.profile
    problems = problems_with(
        profile, extension=user.extension, devices=set(user.devices), directory=directory
    )
    if problems:
        raise CommandError("; ".join(p.message for p in problems), field=problems[0].field)
    if user.profiles.get(profile.id) == profile:
        return []
    events: list[Event] = [ProfileSaved(extension=user.extension, profile=profile)]
    if user.active_profile == profile.id and user.status != profile.shows:
        events.append(
            PresenceChanged(
                extension=user.extension,
                status=profile.shows,
                note=user.note,
                note_expires_at=user.note_expires_at,
                previous_status=user.status,
                channel=command.channel,
                actor=command.actor,
                reason=ChangeReason.PROFILE,
            )
        )
    return events


def delete_profile(command: DeleteProfile, user: User) -> list[Event]:
    profile_id = command.profile_id
    if profile_id not in user.profiles:
        raise unknown_profile(user, profile_id)
    if user.active_profile == profile_id:
        raise CommandError(
            f"profile {profile_id!r} is active; activate another profile before deleting it",
            field="profile_id",
        )
    mapped_from = [s.value for s, p in user.routing.profiles_by_status.items() if p == profile_id]
    if mapped_from:
        raise CommandError(
            f"profile {profile_id!r} is mapped from status {', '.join(mapped_from)} in "
            "presence routing; change that mapping before deleting it",
            field="profile_id",
        )
    return [ProfileDeleted(extension=user.extension, profile_id=profile_id)]


def report_device(command: ReportDevice, user: User) -> list[Event]:
    if user.devices.get(command.device_id) == command.state:
        return []
    return [
        DeviceStateChanged(
            extension=user.extension, device_id=command.device_id, state=command.state
        )
    ]


def sign_in(command: SignIn, user: User) -> list[Event]:
    if command.session_id in user.sessions:
        return []
    events: list[Event] = [ClientSignedIn(extension=user.extension, session_id=command.session_id)]
    if user.status_before_idle is not None:
        events += status_change(
            user,
            user.status_before_idle,
            note=user.note,
            note_expires_at=user.note_expires_at,
            channel=command.channel,
            actor=command.actor,
            reason=ChangeReason.IDLE_ENDED,
        )
    return events


def sign_out(command: SignOut, user: User) -> list[Event]:
    if command.session_id not in user.sessions:
        return []
    last = user.sessions == {command.session_id}
    return [
        ClientSignedOut(
            extension=user.extension,
            session_id=command.session_id,
            at=issued_at(command) if last else None,
        )
    ]


def configure_automation(command: ConfigureAutomation, user: User) -> list[Event]:
    current = user.automation
    wanted = (command.enabled, command.idle_after_seconds, command.idle_status)
    if wanted == (current.enabled, current.idle_after_seconds, current.idle_status):
        return []
    return [
        AutomationConfigured(
            extension=user.extension,
            enabled=command.enabled,
            idle_after_seconds=command.idle_after_seconds,
            idle_status=command.idle_status,
            at=None if user.sessions else issued_at(command),
        )
    ]


def configure_routing(command: ConfigurePresenceRouting, user: User) -> list[Event]:
    for status, profile_id in command.profiles_by_status.items():
        if profile_id not in user.profiles:
            existing = ", ".join(user.profiles)
            raise CommandError(
                f"status {status.value} maps to profile {profile_id!r}, which does not exist "
                f"for {user.extension}; its profiles: {existing}",
                field=f"profiles_by_status.{status.value}",
            )
    current = user.routing
    if (command.enabled, dict(command.profiles_by_status)) == (
        current.enabled,
        dict(current.profiles_by_status),
    ):
        return []
    return [
        PresenceRoutingConfigured(
            extension=user.extension,
            enabled=command.enabled,
            profiles_by_status=command.profiles_by_status,
        )
    ]


def detect_idle(command: DetectIdle, user: User) -> list[Event]:
    automation = user.automation
    idle_status = Status(automation.idle_status.value)
    if (
        not automation.enabled
        or user.sessions
        or user.alone_since is None
        or user.status_before_idle is not None
        or user.status in (idle_status, Status.OFFLINE)
        or command.at < user.alone_since + timedelta(seconds=automation.idle_after_seconds)
    ):
        return []
    return status_change(
        user,
        idle_status,
        note=user.note,
        note_expires_at=user.note_expires_at,
        channel=Channel.AUTOMATION,
        actor=AUTOMATION_ACTOR,
        reason=ChangeReason.IDLE,
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


_RULES: dict[type[Command], Callable[[Any, User], list[Event]]] = {
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
    rule = _RULES.get(type(command))
    if rule is None:
        raise CommandError(f"{command.type_name} is not a command about a user")
    return rule(command, state)


def user_decider(directory: Directory = NO_DIRECTORY) -> Decider[Command, UserState]:
    def decide_with_directory(command: Command, state: UserState) -> Sequence[Event]:
        return decide(command, state, directory)

    return Decider(initial_state=NoUser(), decide=decide_with_directory, evolve=evolve)


USER_COMMANDS: tuple[type[Command], ...] = (ProvisionUser, SaveProfile, *_RULES)
