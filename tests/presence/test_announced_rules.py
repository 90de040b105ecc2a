"""Switches announced ahead of their moment: pending, retracted, superseded, taking effect."""

from __future__ import annotations

import pytest

from contracts.base import Role
from contracts.errors import CommandError
from contracts.presence import (
    ActivateProfile,
    AnnouncementEnd,
    AnnouncementEnded,
    AnnounceSwitch,
    ApplyAnnouncedSwitch,
    ChangeReason,
    Channel,
    DeleteProfile,
    PresenceChanged,
    ProfileActivated,
    RetractSwitch,
    SetStatus,
    Status,
    SwitchAnnounced,
)
from services.presence.domain.state import User
from tests.presence.given import EXT, NOW, given, later, provisioned

MOMENT = later(60)
SCHEDULE = {"actor": f"schedule:{EXT}", "role": Role.SERVICE, "channel": Channel.SCHEDULER}


def announce(profile: str | None = "dnd", status: Status | None = None) -> AnnounceSwitch:
    return AnnounceSwitch(
        extension=EXT, takes_effect_at=MOMENT, profile_id=profile, status=status, at=NOW, **SCHEDULE
    )


def announced(profile: str | None = "dnd", status: Status | None = None) -> SwitchAnnounced:
    return SwitchAnnounced(
        extension=EXT,
        takes_effect_at=MOMENT,
        profile_id=profile,
        status=status,
        channel=Channel.SCHEDULER,
        actor=f"schedule:{EXT}",
    )


def apply_at(seconds: float) -> ApplyAnnouncedSwitch:
    return ApplyAnnouncedSwitch(
        extension=EXT, at=later(seconds), actor="presence", role=Role.SERVICE
    )


def test_an_announcement_is_stored_as_pending() -> None:
    state = given(provisioned()).then(announce())
    assert given(provisioned()).when(announce()) == [announced()]
    assert isinstance(state, User)
    assert state.pending == announced()
    assert state.active_profile == "available"  # nothing changes before the moment


def test_announcing_the_same_switch_again_changes_nothing() -> None:
    assert given(provisioned(), announced()).when(announce()) == []


def test_a_later_announcement_replaces_the_pending_one() -> None:
    state = given(provisioned(), announced("dnd")).then(announce("away"))
    assert isinstance(state, User)
    assert state.pending == announced("away")


def test_an_announcement_for_a_moment_already_passed_is_refused() -> None:
    late = announce().model_copy(update={"at": MOMENT})
    with pytest.raises(CommandError, match="must be after") as refused:
        given(provisioned()).when(late)
    assert refused.value.field == "takes_effect_at"


def test_an_announcement_of_an_unknown_profile_is_refused() -> None:
    with pytest.raises(CommandError, match="'nope' does not exist"):
        given(provisioned()).when(announce("nope"))


def test_an_announcement_of_nothing_is_refused() -> None:
    with pytest.raises(CommandError, match="profile_id, a status or both"):
        given(provisioned()).when(announce(None))


def test_the_switch_takes_effect_at_its_moment() -> None:
    events = given(provisioned(), announced()).when(apply_at(60))
    assert events == [
        ProfileActivated(
            extension=EXT,
            profile_id="dnd",
            previous_profile_id="available",
            channel=Channel.SCHEDULER,
            actor=f"schedule:{EXT}",
        ),
        PresenceChanged(
            extension=EXT,
            status=Status.DO_NOT_DISTURB,
            previous_status=Status.AVAILABLE,
            channel=Channel.SCHEDULER,
            actor=f"schedule:{EXT}",
            reason=ChangeReason.PROFILE,
        ),
    ]
    state = given(provisioned(), announced(), *events).state
    assert isinstance(state, User)
    assert state.pending is None
    assert state.active_profile == "dnd"


def test_nothing_happens_before_the_moment() -> None:
    assert given(provisioned(), announced()).when(apply_at(59.999)) == []


def test_a_switch_to_the_profile_already_active_ends_its_announcement() -> None:
    events = given(provisioned(), announced("available")).when(apply_at(60))
    assert events == [
        AnnouncementEnded(
            extension=EXT,
            takes_effect_at=MOMENT,
            reason=AnnouncementEnd.TOOK_EFFECT,
            channel=Channel.SCHEDULER,
            actor=f"schedule:{EXT}",
        )
    ]


def test_an_announced_status_is_set_after_the_profile() -> None:
    events = given(provisioned(), announced("away", Status.IN_MEETING)).when(apply_at(60))
    assert [type(e) for e in events] == [ProfileActivated, PresenceChanged, PresenceChanged]
    state = given(provisioned(), announced("away", Status.IN_MEETING), *events).state
    assert isinstance(state, User)
    assert state.status is Status.IN_MEETING
    assert state.pending is None


def test_a_status_only_announcement_ends_once_it_took_effect() -> None:
    events = given(provisioned(), announced(None, Status.BUSY)).when(apply_at(61))
    assert [type(e) for e in events] == [PresenceChanged, AnnouncementEnded]
    state = given(provisioned(), announced(None, Status.BUSY), *events).state
    assert isinstance(state, User)
    assert state.pending is None


def test_a_retraction_withdraws_the_pending_switch() -> None:
    retraction = RetractSwitch(extension=EXT, takes_effect_at=MOMENT, at=later(30), **SCHEDULE)
    events = given(provisioned(), announced()).when(retraction)
    assert [e.reason for e in events] == [AnnouncementEnd.RETRACTED]  # type: ignore[attr-defined]
    assert given(provisioned(), announced(), *events).when(apply_at(60)) == []


def test_a_retraction_for_another_moment_changes_nothing() -> None:
    other = RetractSwitch(extension=EXT, takes_effect_at=later(120), at=later(30), **SCHEDULE)
    assert given(provisioned(), announced()).when(other) == []


def test_a_retraction_without_a_moment_withdraws_whatever_is_pending() -> None:
    any_pending = RetractSwitch(extension=EXT, at=later(30), **SCHEDULE)
    assert len(given(provisioned(), announced()).when(any_pending)) == 1
    assert given(provisioned()).when(any_pending) == []


def test_a_manual_switch_between_announcement_and_moment_wins() -> None:
    by_hand = ActivateProfile(extension=EXT, profile_id="away", actor=EXT, at=later(30))
    events = given(provisioned(), announced()).when(by_hand)
    assert events[0] == ProfileActivated(
        extension=EXT,
        profile_id="away",
        previous_profile_id="available",
        channel=Channel.CLIENT,
        actor=EXT,
    )
    assert events[-1] == AnnouncementEnded(
        extension=EXT,
        takes_effect_at=MOMENT,
        reason=AnnouncementEnd.SUPERSEDED,
        channel=Channel.CLIENT,
        actor=EXT,
    )
    after = given(provisioned(), announced(), *events)
    assert after.when(apply_at(60)) == []
    state = after.state
    assert isinstance(state, User)
    assert state.active_profile == "away"


def test_a_status_set_by_hand_also_wins() -> None:
    by_hand = SetStatus(extension=EXT, status=Status.BUSY, actor=EXT, at=later(30))
    events = given(provisioned(), announced()).when(by_hand)
    assert isinstance(events[-1], AnnouncementEnded)
    assert events[-1].reason is AnnouncementEnd.SUPERSEDED


def test_the_schedulers_own_status_does_not_supersede_the_announcement() -> None:
    scheduled = SetStatus(extension=EXT, status=Status.BUSY, at=later(30), **SCHEDULE)
    events = given(provisioned(), announced()).when(scheduled)
    assert not any(isinstance(e, AnnouncementEnded) for e in events)


def test_an_announced_profile_deleted_before_the_moment_ends_the_announcement() -> None:
    delete = DeleteProfile(extension=EXT, profile_id="dnd", actor=EXT, at=later(10))
    removed = given(provisioned(), announced()).when(delete)
    events = given(provisioned(), announced(), *removed).when(apply_at(60))
    assert [(type(e), getattr(e, "reason", None)) for e in events] == [
        (AnnouncementEnded, AnnouncementEnd.PROFILE_DELETED)
    ]
