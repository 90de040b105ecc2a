"""What the scheduler learns from presence events (stream VOCO_PRESENCE).

- ProfileSaved / ProfileDeleted keep the read model of each user's profiles, against
  which schedules are validated.
- ProfileActivated / PresenceChanged made by anyone but the scheduler (and automation)
  is a manual switch: it is recorded so the next catch-up does not undo it, and, for a
  schedule that re-applies itself, it sets a timer to put the schedule's state back.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError

from contracts.base import UnknownMessageType
from contracts.envelope import Envelope
from contracts.presence import (
    Channel,
    PresenceChanged,
    ProfileActivated,
    ProfileDeleted,
    ProfileSaved,
)
from runtime.consumer import Apply, Delivery, Rejected
from runtime.eventstore import Conn, EventStore

WANTED = {"ProfileSaved", "ProfileDeleted", "ProfileActivated", "PresenceChanged"}
NOT_MANUAL = {Channel.SCHEDULER, Channel.AUTOMATION}


def presence_feed(store: EventStore) -> Apply:
    s = store.s

    async def apply(conn: Conn, delivery: Delivery) -> None:
        try:
            envelope = Envelope.from_bytes(delivery.data)
            if envelope.type not in WANTED:
                return
            event = envelope.payload()
        except (ValidationError, ValueError, UnknownMessageType) as error:
            raise Rejected(f"not a presence event envelope: {error}") from error
        match event:
            case ProfileSaved(extension=ext, profile=profile):
                await conn.execute(
                    f"INSERT INTO {s}.profiles (extension, profile_id, shows) VALUES ($1, $2, $3) "
                    "ON CONFLICT (extension, profile_id) DO UPDATE SET shows = EXCLUDED.shows",
                    ext,
                    profile.id,
                    profile.shows.value,
                )
            case ProfileDeleted(extension=ext, profile_id=pid):
                await conn.execute(
                    f"DELETE FROM {s}.profiles WHERE extension = $1 AND profile_id = $2", ext, pid
                )
            case (
                ProfileActivated(extension=ext, channel=channel)
                | PresenceChanged(extension=ext, channel=channel)
            ) if channel not in NOT_MANUAL:
                await _manual_switch(conn, s, ext, envelope)

    return apply


async def _manual_switch(conn: Conn, s: str, extension: str, envelope: Envelope) -> None:
    row = await conn.fetchrow(
        f"UPDATE {s}.timers SET manual_at = GREATEST(manual_at, $2), dirty = true "
        "WHERE extension = $1 "
        "RETURNING reapply_after, due_at",
        extension,
        envelope.at,
    )
    if row is None or row["reapply_after"] is None:
        return
    reapply_at = envelope.at + timedelta(minutes=row["reapply_after"])
    if row["due_at"] is None or reapply_at < row["due_at"]:
        await conn.execute(
            f"UPDATE {s}.timers SET due_at = $2, reapply_due = true, dirty = true "
            "WHERE extension = $1",
            extension,
            reapply_at,
        )
