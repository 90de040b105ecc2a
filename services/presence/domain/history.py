"""One line per event for a user's history: what changed, in words."""

from __future__ import annotations

from contracts.base import Message
from contracts.presence import (
    AnnouncementEnded,
    AutomationConfigured,
    ClientSignedIn,
    ClientSignedOut,
    DeviceStateChanged,
    PresenceChanged,
    PresenceRoutingConfigured,
    ProfileActivated,
    ProfileDeleted,
    ProfileSaved,
    SwitchAnnounced,
    UserProvisioned,
)


def summary(event: Message) -> str:
    match event:
        case UserProvisioned():
            return f"provisioned as {event.display_name!r}"
        case PresenceChanged():
            text = f"status {event.previous_status or '-'} -> {event.status}"
            if event.note:
                text += f", note {event.note!r}"
                if event.note_expires_at:
                    text += f" until {event.note_expires_at.isoformat()}"
            elif event.previous_status == event.status:
                text = f"note cleared (status {event.status})"
            return f"{text} ({event.reason})" if event.reason else text
        case ProfileSaved():
            return f"profile {event.profile.id!r} saved (shows {event.profile.shows})"
        case ProfileDeleted():
            return f"profile {event.profile_id!r} deleted"
        case ProfileActivated():
            return f"profile {event.previous_profile_id or '-'} -> {event.profile_id}"
        case DeviceStateChanged():
            return f"device {event.device_id} {event.state}"
        case ClientSignedIn():
            return f"client signed in ({event.session_id})"
        case ClientSignedOut():
            return f"client signed out ({event.session_id})"
        case AutomationConfigured():
            if not event.enabled:
                return "automation off"
            return f"automation: {event.idle_status} after {event.idle_after_seconds} s idle"
        case PresenceRoutingConfigured():
            mapping = ", ".join(f"{s}->{p}" for s, p in event.profiles_by_status.items())
            return f"presence decides routing: {'on' if event.enabled else 'off'} ({mapping})"
        case SwitchAnnounced():
            what = [f"profile {event.profile_id}"] if event.profile_id else []
            what += [f"status {event.status}"] if event.status else []
            return f"{' and '.join(what)} from {event.takes_effect_at.isoformat()} (announced)"
        case AnnouncementEnded():
            return f"switch announced for {event.takes_effect_at.isoformat()}: {event.reason}"
    return event.type_name
