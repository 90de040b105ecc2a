"""Switches announced ahead of their moment: stored, retracted, superseded, applied.

The scheduler announces a boundary's switch (`AnnounceSwitch`) about a minute before it;
the user's stream holds it as pending (`SwitchAnnounced`) so that routing can decide a
call at 17:00:00.1 by the 17:00 profile without waiting for anything. At the moment the
service's own timer issues `ApplyAnnouncedSwitch`, which makes the switch happen
(`ProfileActivated` / `PresenceChanged`, what watchers see). Before the moment a
retraction (the schedule changed) or a switch the user makes by hand ends it.
"""

from __future__ import annotations

from contracts.base import Event, Role
from contracts.errors import CommandError
from contracts.presence import (
    ActivateProfile,
    AnnouncementEnd,
    AnnouncementEnded,
    AnnounceSwitch,
    ApplyAnnouncedSwitch,
    ByActor,
    Channel,
    ProfileActivated,
    RetractSwitch,
    SetStatus,
    SwitchAnnounced,
)
from runtime.access import actor_of
from services.presence.domain.changes import issued_at, status_change
from services.presence.domain.profile_rules import activate, unknown_profile
from services.presence.domain.state import User, UserState, evolve

NOT_MANUAL = frozenset({Channel.SCHEDULER, Channel.AUTOMATION})


def announce(command: AnnounceSwitch, user: User) -> list[Event]:
    at = issued_at(command)
    if command.takes_effect_at <= at:
        raise CommandError(
            f"takes_effect_at ({command.takes_effect_at.isoformat()}) must be after the "
            f"command's time ({at.isoformat()}); send the switch itself instead",
            field="takes_effect_at",
        )
    if command.profile_id is None and command.status is None:
        raise CommandError(
            "an announced switch needs a profile_id, a status or both", field="profile_id"
        )
    if command.profile_id is not None and command.profile_id not in user.profiles:
        raise unknown_profile(user, command.profile_id)
    announced = SwitchAnnounced(
        extension=user.extension,
        takes_effect_at=command.takes_effect_at,
        profile_id=command.profile_id,
        status=command.status,
        note=command.note or None,
        note_expires_at=command.note_expires_at,
        channel=command.channel,
        actor=actor_of(command),
    )
    if user.pending == announced:
        return []  # announced again (a restarted scheduler): nothing new
    return [announced]


def retract(command: RetractSwitch, user: User) -> list[Event]:
    pending = user.pending
    if pending is None or command.takes_effect_at not in (None, pending.takes_effect_at):
        return []
    return [ended(user, AnnouncementEnd.RETRACTED, command)]


def apply_announced(command: ApplyAnnouncedSwitch, user: User) -> list[Event]:
    """At (or after) the moment: the announced switch, as if sent then by its announcer."""
    pending = user.pending
    if pending is None or command.at < pending.takes_effect_at:
        return []
    as_announced = {
        "extension": user.extension,
        "channel": pending.channel,
        "actor": pending.actor,
        "role": Role.SERVICE,
        "at": command.at,
    }
    if pending.profile_id is not None and pending.profile_id not in user.profiles:
        return [ended(user, AnnouncementEnd.PROFILE_DELETED, pending)]
    events: list[Event] = []
    state: User = user
    if pending.profile_id is not None:
        events += activate(ActivateProfile(profile_id=pending.profile_id, **as_announced), state)
        state = _folded(state, events)
    if pending.status is not None:
        events += status_change(
            state,
            pending.status,
            note=pending.note,
            note_expires_at=pending.note_expires_at,
            channel=pending.channel,
            actor=pending.actor,
            reason=None,
        )
    if not any(ends_announcement(e) for e in events):
        events.append(ended(user, AnnouncementEnd.TOOK_EFFECT, pending))
    return events


def ends_announcement(event: Event) -> bool:
    """A scheduler's activation is the announced switch happening (or the scheduler sending
    it itself): it ends the pending one, so the usual switch costs no extra event."""
    return isinstance(event, AnnouncementEnded) or (
        isinstance(event, ProfileActivated) and event.channel is Channel.SCHEDULER
    )


def superseded_by_hand(command: ActivateProfile | SetStatus, user: User) -> list[Event]:
    """A switch the user makes by hand while one is announced wins over the announced one."""
    if user.pending is None or command.channel in NOT_MANUAL:
        return []
    return [ended(user, AnnouncementEnd.SUPERSEDED, command)]


def ended(user: User, reason: AnnouncementEnd, by: ByActor | SwitchAnnounced) -> AnnouncementEnded:
    assert user.pending is not None
    actor = by.actor if isinstance(by, SwitchAnnounced) else actor_of(by)
    return AnnouncementEnded(
        extension=user.extension,
        takes_effect_at=user.pending.takes_effect_at,
        reason=reason,
        channel=by.channel,
        actor=actor,
    )


def _folded(user: User, events: list[Event]) -> User:
    state: UserState = user
    for event in events:
        state = evolve(state, event)
    assert isinstance(state, User)
    return state
