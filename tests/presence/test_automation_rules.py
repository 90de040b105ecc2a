"""Rules of devices, client sessions, idle automation and presence-decides-routing."""

from __future__ import annotations

import pytest

from contracts.base import Event
from contracts.errors import CommandError
from contracts.presence import (
    AutomationConfigured,
    ChangeReason,
    Channel,
    ClientSignedIn,
    ClientSignedOut,
    ConfigureAutomation,
    ConfigurePresenceRouting,
    DetectIdle,
    DeviceState,
    DeviceStateChanged,
    IdleStatus,
    PresenceChanged,
    ProfileActivated,
    ReportDevice,
    SetStatus,
    SignIn,
    SignOut,
    Status,
)
from services.presence.domain.state import User
from tests.presence.given import EXT, NOW, given, later, provisioned


def test_a_device_report_records_the_state() -> None:
    command = ReportDevice(
        actor=EXT,
        extension=EXT,
        device_id="1001-desk",
        state=DeviceState.BUSY,
        channel=Channel.PBX,
        at=NOW,
    )
    assert given(provisioned()).when(command) == [
        DeviceStateChanged(extension=EXT, device_id="1001-desk", state=DeviceState.BUSY)
    ]


def test_a_device_report_of_an_unchanged_state_changes_nothing() -> None:
    command = ReportDevice(actor=EXT, extension=EXT, device_id="d", state=DeviceState.IDLE, at=NOW)
    events = provisioned() + given(provisioned()).when(command)
    assert given(events).when(command) == []


def test_signing_in_twice_with_one_session_counts_once() -> None:
    events = provisioned() + given(provisioned()).when(
        SignIn(actor=EXT, extension=EXT, session_id="s1", at=NOW)
    )
    assert given(events).when(SignIn(actor=EXT, extension=EXT, session_id="s1", at=NOW)) == []


def test_the_last_client_signing_out_starts_the_idle_clock() -> None:
    events = provisioned()
    for session in ("s1", "s2"):
        events += given(events).when(SignIn(actor=EXT, extension=EXT, session_id=session, at=NOW))
    first_out = given(events).when(SignOut(actor=EXT, extension=EXT, session_id="s1", at=later(1)))
    assert first_out == [ClientSignedOut(extension=EXT, session_id="s1", at=None)]
    events += first_out
    assert given(events).when(SignOut(actor=EXT, extension=EXT, session_id="s2", at=later(2))) == [
        ClientSignedOut(extension=EXT, session_id="s2", at=later(2))
    ]


def test_signing_out_an_unknown_session_changes_nothing() -> None:
    assert (
        given(provisioned()).when(SignOut(actor=EXT, extension=EXT, session_id="zz", at=NOW)) == []
    )


def automated(idle_status: IdleStatus = IdleStatus.AWAY, after: int = 300) -> list[Event]:
    """Ann signed in, enabled automation, and signed out at NOW."""
    events = provisioned()
    for command in (
        SignIn(actor=EXT, extension=EXT, session_id="s1", at=NOW),
        ConfigureAutomation(
            actor=EXT, extension=EXT, idle_after_seconds=after, idle_status=idle_status, at=NOW
        ),
        SignOut(actor=EXT, extension=EXT, session_id="s1", at=NOW),
    ):
        events += given(events).when(command)
    return events


def test_with_no_client_for_the_configured_time_the_user_shows_away() -> None:
    (changed,) = given(automated()).when(DetectIdle(actor=EXT, extension=EXT, at=later(300)))
    assert isinstance(changed, PresenceChanged)
    assert (changed.status, changed.previous_status, changed.reason) == (
        Status.AWAY,
        Status.AVAILABLE,
        ChangeReason.IDLE,
    )
    assert (changed.channel, changed.actor) == (Channel.AUTOMATION, "automation")


def test_the_idle_status_can_be_offline_instead() -> None:
    (changed,) = given(automated(IdleStatus.OFFLINE)).when(
        DetectIdle(actor=EXT, extension=EXT, at=later(300))
    )
    assert isinstance(changed, PresenceChanged)
    assert changed.status is Status.OFFLINE


def test_before_the_configured_time_nothing_happens() -> None:
    assert given(automated()).when(DetectIdle(actor=EXT, extension=EXT, at=later(299))) == []


def test_a_signed_in_client_keeps_the_status() -> None:
    events = automated()
    events += given(events).when(SignIn(actor=EXT, extension=EXT, session_id="s2", at=later(100)))
    assert given(events).when(DetectIdle(actor=EXT, extension=EXT, at=later(1000))) == []


def test_a_sign_in_and_out_restarts_the_idle_clock() -> None:
    events = automated()
    events += given(events).when(SignIn(actor=EXT, extension=EXT, session_id="s2", at=later(100)))
    events += given(events).when(SignOut(actor=EXT, extension=EXT, session_id="s2", at=later(200)))
    assert given(events).when(DetectIdle(actor=EXT, extension=EXT, at=later(300))) == []
    assert given(events).when(DetectIdle(actor=EXT, extension=EXT, at=later(500))) != []


def test_automation_switched_off_does_nothing() -> None:
    events = automated()
    events += given(events).when(
        ConfigureAutomation(actor=EXT, extension=EXT, enabled=False, at=NOW)
    )
    assert given(events).when(DetectIdle(actor=EXT, extension=EXT, at=later(1000))) == []


def test_enabling_automation_with_no_client_starts_the_idle_clock() -> None:
    events = given(provisioned()).when(
        ConfigureAutomation(actor=EXT, extension=EXT, idle_after_seconds=60, at=NOW)
    )
    assert events == [
        AutomationConfigured(
            extension=EXT,
            enabled=True,
            idle_after_seconds=60,
            idle_status=IdleStatus.AWAY,
            at=NOW,
        )
    ]
    assert (
        given(provisioned(), events).when(DetectIdle(actor=EXT, extension=EXT, at=later(60))) != []
    )


def test_a_user_already_away_or_offline_is_left_alone() -> None:
    for status in (Status.AWAY, Status.OFFLINE):
        events = automated()
        events += given(events).when(
            SetStatus(actor=EXT, extension=EXT, status=status, at=later(1))
        )
        assert given(events).when(DetectIdle(actor=EXT, extension=EXT, at=later(1000))) == []


def test_idle_is_applied_once() -> None:
    events = automated()
    events += given(events).when(DetectIdle(actor=EXT, extension=EXT, at=later(300)))
    assert given(events).when(DetectIdle(actor=EXT, extension=EXT, at=later(900))) == []


def test_signing_in_restores_the_status_before_idle() -> None:
    events = automated()
    events += given(events).when(SetStatus(actor=EXT, extension=EXT, status=Status.BUSY, at=NOW))
    events += given(events).when(DetectIdle(actor=EXT, extension=EXT, at=later(300)))
    back = given(events).when(SignIn(extension=EXT, session_id="s9", actor="ann", at=later(400)))
    assert back[0] == ClientSignedIn(extension=EXT, session_id="s9")
    restored = back[1]
    assert isinstance(restored, PresenceChanged)
    assert (restored.status, restored.reason, restored.actor) == (
        Status.BUSY,
        ChangeReason.IDLE_ENDED,
        "ann",
    )
    state = given(events, back).state
    assert isinstance(state, User)
    assert state.status_before_idle is None


def test_a_manual_status_while_idle_is_kept_at_sign_in() -> None:
    events = automated()
    events += given(events).when(DetectIdle(actor=EXT, extension=EXT, at=later(300)))
    events += given(events).when(
        SetStatus(actor=EXT, extension=EXT, status=Status.IN_MEETING, at=later(310))
    )
    back = given(events).when(SignIn(actor=EXT, extension=EXT, session_id="s9", at=later(400)))
    assert back == [ClientSignedIn(extension=EXT, session_id="s9")]


def routed() -> list[Event]:
    command = ConfigurePresenceRouting(
        actor=EXT,
        extension=EXT,
        enabled=True,
        profiles_by_status={Status.DO_NOT_DISTURB: "dnd", Status.AWAY: "business-trip"},
        at=NOW,
    )
    return provisioned() + given(provisioned()).when(command)


def test_with_presence_routing_setting_a_status_activates_its_profile() -> None:
    events = given(routed()).when(
        SetStatus(extension=EXT, status=Status.DO_NOT_DISTURB, actor="ann", at=NOW)
    )
    assert isinstance(events[0], PresenceChanged)
    assert events[1] == ProfileActivated(
        extension=EXT,
        profile_id="dnd",
        previous_profile_id="available",
        channel=Channel.CLIENT,
        actor="ann",
    )


def test_without_presence_routing_a_status_leaves_the_profile_alone() -> None:
    events = given(provisioned()).when(
        SetStatus(actor=EXT, extension=EXT, status=Status.DO_NOT_DISTURB, at=NOW)
    )
    assert [type(e) for e in events] == [PresenceChanged]


def test_with_presence_routing_the_idle_status_activates_its_profile_too() -> None:
    events = routed()
    for command in (
        ConfigureAutomation(actor=EXT, extension=EXT, idle_after_seconds=60, at=NOW),
        DetectIdle(actor=EXT, extension=EXT, at=later(60)),
    ):
        events += given(events).when(command)
    state = given(events).state
    assert isinstance(state, User)
    assert state.active_profile == "business-trip"


def test_presence_routing_to_an_unknown_profile_is_refused() -> None:
    command = ConfigurePresenceRouting(
        actor=EXT, extension=EXT, enabled=True, profiles_by_status={Status.BUSY: "nope"}, at=NOW
    )
    with pytest.raises(CommandError, match="status busy maps to profile 'nope'") as raised:
        given(provisioned()).when(command)
    assert raised.value.field == "profiles_by_status.busy"
