"""User rules about presence profiles: activate, save (validated), delete, status map."""

from __future__ import annotations

from contracts.base import Event
from contracts.errors import CommandError, ErrorCode
from contracts.presence import (
    ActivateProfile,
    ByActor,
    ChangeReason,
    ConfigurePresenceRouting,
    DeleteProfile,
    PresenceChanged,
    PresenceRoutingConfigured,
    Profile,
    ProfileActivated,
    ProfileDeleted,
    ProfileSaved,
    SaveProfile,
)
from runtime.access import actor_of
from services.presence.domain.breakthrough_rules import (
    breakthrough_problems,
    breakthrough_users_of,
)
from services.presence.domain.profiles import Directory, problems_with
from services.presence.domain.state import User


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
                actor=actor_of(command),
            )
        )
    if user.status != profile.shows:
        events.append(shows_status_of(profile, user, command))
    return events


def shows_status_of(profile: Profile, user: User, command: ByActor) -> PresenceChanged:
    """The user's shown status becomes the one the active profile shows."""
    return PresenceChanged(
        extension=user.extension,
        status=profile.shows,
        note=user.note,
        note_expires_at=user.note_expires_at,
        previous_status=user.status,
        channel=command.channel,
        actor=actor_of(command),
        reason=ChangeReason.PROFILE,
    )


def save_profile(command: SaveProfile, user: User, directory: Directory) -> list[Event]:
    profile = command.profile
    problems = problems_with(
        profile, extension=user.extension, devices=set(user.devices), directory=directory
    ) + breakthrough_problems(
        profile, extension=user.extension, profiles=user.profiles, directory=directory
    )
    if problems:
        raise CommandError("; ".join(p.message for p in problems), field=problems[0].field)
    if user.profiles.get(profile.id) == profile:
        return []
    events: list[Event] = [ProfileSaved(extension=user.extension, profile=profile)]
    if user.active_profile == profile.id and user.status != profile.shows:
        events.append(shows_status_of(profile, user, command))
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
    named_by = breakthrough_users_of(profile_id, user.profiles)
    if named_by:
        raise CommandError(
            f"profile {profile_id!r} is the breakthrough profile of {', '.join(named_by)}; "
            "change their breakthrough.profile before deleting it",
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
