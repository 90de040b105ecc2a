"""User rules about devices, client sessions and idle automation."""

from __future__ import annotations

from datetime import timedelta

from contracts.base import Event
from contracts.presence import (
    AutomationConfigured,
    ChangeReason,
    Channel,
    ClientSignedIn,
    ClientSignedOut,
    ConfigureAutomation,
    DetectIdle,
    DeviceStateChanged,
    ReportDevice,
    SignIn,
    SignOut,
    Status,
)
from runtime.access import actor_of
from services.presence.domain.changes import AUTOMATION_ACTOR, issued_at, status_change
from services.presence.domain.state import User


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
            actor=actor_of(command),
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
