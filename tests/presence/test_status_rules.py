"""Rules of statuses, notes, provisioning and unknown extensions (pure, no I/O)."""

from __future__ import annotations

import pytest

from contracts.errors import CommandError, ErrorCode
from contracts.presence import (
    ChangeReason,
    Channel,
    ExpireNote,
    PresenceChanged,
    ProfileActivated,
    ProfileSaved,
    ProvisionUser,
    SetStatus,
    Status,
    UserProvisioned,
)
from services.presence.domain.state import User
from tests.presence.given import EXT, NOW, given, later, provisioned


def test_provisioning_creates_the_default_profiles_and_shows_available() -> None:
    events = provisioned()
    assert isinstance(events[0], UserProvisioned)
    saved = [e.profile.id for e in events if isinstance(e, ProfileSaved)]
    assert saved == ["available", "away", "dnd", "meeting", "business-trip"]
    activated = [e for e in events if isinstance(e, ProfileActivated)]
    assert [(e.profile_id, e.actor, e.channel) for e in activated] == [
        ("available", "admin", Channel.ADMIN)
    ]
    state = given(events).state
    assert isinstance(state, User)
    assert (state.status, state.active_profile) == (Status.AVAILABLE, "available")


def test_provisioning_again_with_the_same_name_changes_nothing() -> None:
    again = ProvisionUser(actor=EXT, extension=EXT, display_name="Ann", at=NOW)
    assert given(provisioned()).when(again) == []


def test_provisioning_a_taken_extension_under_another_name_is_refused() -> None:
    with pytest.raises(CommandError, match="already provisioned as 'Ann'"):
        given(provisioned()).when(
            ProvisionUser(actor=EXT, extension=EXT, display_name="Bob", at=NOW)
        )


def test_a_command_for_an_unknown_extension_is_not_found_with_a_hint() -> None:
    with pytest.raises(CommandError) as raised:
        given().when(SetStatus(actor=EXT, extension="1099", status=Status.AWAY, at=NOW))
    assert raised.value.code is ErrorCode.NOT_FOUND
    assert "./voco user add 1099" in raised.value.message


def test_setting_a_status_records_who_and_through_which_channel() -> None:
    command = SetStatus(
        extension=EXT, status=Status.BUSY, actor="ann", channel=Channel.IP_PHONE, at=NOW
    )
    assert given(provisioned()).when(command) == [
        PresenceChanged(
            extension=EXT,
            status=Status.BUSY,
            previous_status=Status.AVAILABLE,
            channel=Channel.IP_PHONE,
            actor="ann",
        )
    ]


@pytest.mark.parametrize("status", list(Status))
def test_every_status_can_be_set_including_offline(status: Status) -> None:
    state = given(provisioned()).then(SetStatus(actor=EXT, extension=EXT, status=status, at=NOW))
    assert isinstance(state, User)
    assert state.status is status


def test_setting_the_same_status_and_note_again_changes_nothing() -> None:
    command = SetStatus(actor=EXT, extension=EXT, status=Status.AWAY, note="lunch", at=NOW)
    first = given(provisioned()).when(command)
    assert given(provisioned(), first).when(command) == []


def test_a_note_can_carry_an_expiry_in_the_future() -> None:
    command = SetStatus(
        actor=EXT,
        extension=EXT,
        status=Status.AWAY,
        note="lunch",
        note_expires_at=later(3600),
        at=NOW,
    )
    (changed,) = given(provisioned()).when(command)
    assert isinstance(changed, PresenceChanged)
    assert (changed.note, changed.note_expires_at) == ("lunch", later(3600))


def test_a_note_expiry_in_the_past_is_refused() -> None:
    command = SetStatus(
        actor=EXT,
        extension=EXT,
        status=Status.AWAY,
        note="lunch",
        note_expires_at=later(-1),
        at=NOW,
    )
    with pytest.raises(CommandError, match="must be in the future") as raised:
        given(provisioned()).when(command)
    assert raised.value.field == "note_expires_at"


def test_an_expiry_without_a_note_is_refused() -> None:
    command = SetStatus(
        actor=EXT, extension=EXT, status=Status.AWAY, note_expires_at=later(60), at=NOW
    )
    with pytest.raises(CommandError, match="needs a note"):
        given(provisioned()).when(command)


def test_a_due_note_expires_and_the_status_stays() -> None:
    noted = given(provisioned()).when(
        SetStatus(
            actor=EXT,
            extension=EXT,
            status=Status.AWAY,
            note="lunch",
            note_expires_at=later(60),
            at=NOW,
        )
    )
    (expired,) = given(provisioned(), noted).when(
        ExpireNote(actor=EXT, extension=EXT, at=later(60))
    )
    assert isinstance(expired, PresenceChanged)
    assert (expired.status, expired.note, expired.reason) == (
        Status.AWAY,
        None,
        ChangeReason.NOTE_EXPIRED,
    )
    assert (expired.channel, expired.actor) == (Channel.AUTOMATION, "automation")


def test_a_note_that_is_not_due_yet_does_not_expire() -> None:
    noted = given(provisioned()).when(
        SetStatus(
            actor=EXT,
            extension=EXT,
            status=Status.AWAY,
            note="lunch",
            note_expires_at=later(60),
            at=NOW,
        )
    )
    assert (
        given(provisioned(), noted).when(ExpireNote(actor=EXT, extension=EXT, at=later(59))) == []
    )


def test_a_replaced_note_does_not_expire_at_the_old_time() -> None:
    events = given(provisioned()).when(
        SetStatus(
            actor=EXT,
            extension=EXT,
            status=Status.AWAY,
            note="lunch",
            note_expires_at=later(60),
            at=NOW,
        )
    )
    events += given(provisioned(), events).when(
        SetStatus(actor=EXT, extension=EXT, status=Status.AWAY, note="meeting", at=later(10))
    )
    assert (
        given(provisioned(), events).when(ExpireNote(actor=EXT, extension=EXT, at=later(61))) == []
    )
