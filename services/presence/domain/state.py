"""What the service knows about one user, folded from the `user:<extension>` stream."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from contracts.base import Event
from contracts.presence import (
    AnnouncementEnded,
    AutomationConfigured,
    ChangeReason,
    Channel,
    ClientSignedIn,
    ClientSignedOut,
    DeviceState,
    DeviceStateChanged,
    IdleStatus,
    PresenceChanged,
    PresenceRoutingConfigured,
    Profile,
    ProfileActivated,
    ProfileDeleted,
    ProfileSaved,
    Status,
    SwitchAnnounced,
    UserProvisioned,
)


@dataclass(frozen=True)
class NoUser:
    """An extension nobody has provisioned: every command but ProvisionUser is NotFound."""


@dataclass(frozen=True)
class Automation:
    enabled: bool = False
    idle_after_seconds: int = 300
    idle_status: IdleStatus = IdleStatus.AWAY


@dataclass(frozen=True)
class PresenceRouting:
    """The opt-in 'my presence decides how I receive calls'."""

    enabled: bool = False
    profiles_by_status: Mapping[Status, str] = field(default_factory=dict)


@dataclass(frozen=True)
class User:
    extension: str
    display_name: str
    status: Status = Status.AVAILABLE
    note: str | None = None
    note_expires_at: datetime | None = None
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    active_profile: str | None = None
    devices: Mapping[str, DeviceState] = field(default_factory=dict)
    sessions: frozenset[str] = frozenset()
    alone_since: datetime | None = None
    """Since when no client has been signed in (None: a client is in, or none ever was)."""
    automation: Automation = Automation()
    routing: PresenceRouting = PresenceRouting()
    status_before_idle: Status | None = None
    """Set while automation shows the idle status; signing in restores it."""
    pending: SwitchAnnounced | None = None
    """A switch announced for a moment still to come (domain/announced.py)."""


UserState = NoUser | User


def evolve(state: UserState, event: Event) -> UserState:
    if isinstance(event, UserProvisioned):
        return User(extension=event.extension, display_name=event.display_name)
    assert isinstance(state, User), f"{event.type_name} before UserProvisioned"
    match event:
        case PresenceChanged():
            if event.reason is ChangeReason.IDLE:
                before_idle = event.previous_status
            elif event.reason is ChangeReason.NOTE_EXPIRED:
                before_idle = state.status_before_idle
            else:
                before_idle = None
            return replace(
                state,
                status=event.status,
                note=event.note,
                note_expires_at=event.note_expires_at,
                status_before_idle=before_idle,
            )
        case ProfileSaved():
            return replace(state, profiles={**state.profiles, event.profile.id: event.profile})
        case ProfileDeleted():
            profiles = {k: v for k, v in state.profiles.items() if k != event.profile_id}
            return replace(state, profiles=profiles)
        case ProfileActivated():
            # The scheduler's activation is the announced switch happening (or sent
            # without one): either way nothing stays pending.
            scheduled = event.channel is Channel.SCHEDULER
            pending = None if scheduled else state.pending
            return replace(state, active_profile=event.profile_id, pending=pending)
        case SwitchAnnounced():
            return replace(state, pending=event)
        case AnnouncementEnded():
            return replace(state, pending=None)
        case DeviceStateChanged():
            return replace(state, devices={**state.devices, event.device_id: event.state})
        case ClientSignedIn():
            return replace(state, sessions=state.sessions | {event.session_id}, alone_since=None)
        case ClientSignedOut():
            return replace(
                state,
                sessions=state.sessions - {event.session_id},
                alone_since=event.at or state.alone_since,
            )
        case AutomationConfigured():
            automation = Automation(event.enabled, event.idle_after_seconds, event.idle_status)
            return replace(state, automation=automation, alone_since=state.alone_since or event.at)
        case PresenceRoutingConfigured():
            routing = PresenceRouting(event.enabled, dict(event.profiles_by_status))
            return replace(state, routing=routing)
    return state
