"""What to send to presence when a user's timer is due: a pure decision.

A manual switch holds: when the user switched by hand after the last boundary, the
boundary's state is not forced on them (unless the schedule re-applies itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contracts.base import Command, Role
from contracts.presence import ActivateProfile, Channel, SetStatus, Status
from services.scheduler.domain.timeline import Effective, Target, last_boundary, target_at


@dataclass(frozen=True)
class TimerRow:
    due_at: datetime | None
    reapply_after: int | None
    reapply_due: bool
    last_applied_at: datetime | None
    last_profile: str | None
    last_status: str | None
    manual_at: datetime | None


@dataclass(frozen=True)
class Switch:
    target: Target
    commands: list[Command]
    outcome: str
    at: datetime


def decide_switch(
    extension: str,
    eff: Effective,
    row: TimerRow,
    now: datetime,
    shows: dict[str, str],
    *,
    catch_up: bool,
    manual_wins_within: timedelta = timedelta(0),
) -> Switch:
    """The presence commands that make `now`'s target hold, or why none are sent.

    A manual switch made after the last boundary holds; so does one made within
    `manual_wins_within` before it (the announcement lead: a switch by hand between the
    announcement and the moment wins over the announced one).
    """
    target = target_at(eff, now)
    boundary = (last_boundary(eff, now) or now) if catch_up else (row.due_at or now)
    manual = row.manual_at is not None and (
        row.last_applied_at is None or row.manual_at > row.last_applied_at
    )
    if manual and not row.reapply_due and row.reapply_after is None:
        assert row.manual_at is not None
        last = last_boundary(eff, now) if not catch_up else boundary
        if last is None or row.manual_at >= last:
            why = f"held: manual switch at {row.manual_at.isoformat()} after the boundary"
            return Switch(target, [], why, boundary)
        if manual_wins_within and row.manual_at >= last - manual_wins_within:
            why = (
                f"held: manual switch at {row.manual_at.isoformat()}, after the switch for "
                f"{last.isoformat()} was announced"
            )
            return Switch(target, [], why, boundary)
    actor = f"schedule:{target.owner or extension}"
    common: dict[str, Any] = {
        "extension": extension,
        "channel": Channel.SCHEDULER,
        "actor": actor,
        "role": Role.SERVICE,  # presence trusts the scheduler to switch anyone
        "at": boundary,
    }
    commands: list[Command] = []
    if target.profile_id and (
        target.profile_id != row.last_profile or manual or row.reapply_due or catch_up
    ):
        commands.append(ActivateProfile(profile_id=target.profile_id, **common))
    if target.status is not None:
        commands.append(
            SetStatus(
                status=target.status,
                note=target.note,
                # presence expires only notes; the scheduler reverts the status itself
                note_expires_at=target.status_until if target.note else None,
                **common,
            )
        )
    elif row.last_status is not None:
        shown = shows.get(target.profile_id or "")
        revert = Status(shown) if shown else (target.reverts_to or Status.AVAILABLE)
        commands.append(SetStatus(status=revert, **common))
    return Switch(target, commands, "applied" if commands else "unchanged", boundary)
