"""Queries: presence, profiles and history, read from the read model and the user's stream."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.base import registry
from contracts.presence import (
    DeviceState,
    GetHistory,
    GetPresence,
    HistoryEntry,
    ListProfiles,
    PresenceView,
    Status,
)
from runtime.eventstore import EventStore
from services.presence.domain.history import summary
from services.presence.domain.user import not_provisioned, user_stream


class Queries:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.s = store.s

    async def presence(self, query: GetPresence) -> PresenceView:
        row = await self.store.pool.fetchrow(
            f"SELECT * FROM {self.s}.users WHERE extension = $1", query.extension
        )
        if row is None:
            raise not_provisioned(query.extension)
        return PresenceView(
            extension=row["extension"],
            display_name=row["display_name"],
            status=Status(row["status"]),
            note=row["note"],
            note_expires_at=row["note_expires_at"],
            active_profile=row["active_profile"],
            devices={k: DeviceState(v) for k, v in row["devices"].items()},
            signed_in_sessions=row["sessions"],
        )

    async def profiles(self, query: ListProfiles) -> dict[str, Any]:
        async with self.store.pool.acquire() as conn:
            active = await conn.fetchrow(
                f"SELECT active_profile FROM {self.s}.users WHERE extension = $1",
                query.extension,
            )
            if active is None:
                raise not_provisioned(query.extension)
            rows = await conn.fetch(
                f"SELECT body FROM {self.s}.profiles WHERE extension = $1 ORDER BY position",
                query.extension,
            )
        return {"active": active["active_profile"], "profiles": [r["body"] for r in rows]}

    async def history(self, query: GetHistory) -> dict[str, Any]:
        """Newest first, from the stream itself: who, what, when, through which channel."""
        rows = await self.store.pool.fetch(
            f"SELECT type, schema_version, at, data, meta FROM {self.s}.events "
            "WHERE stream = $1 ORDER BY version DESC LIMIT $2",
            user_stream(query.extension),
            query.limit,
        )
        if not rows:
            raise not_provisioned(query.extension)
        entries = [
            HistoryEntry(
                at=row["at"],
                type=row["type"],
                actor=row["meta"].get("actor"),
                role=row["meta"].get("role"),
                channel=row["meta"].get("channel"),
                summary=summary(registry.load(row["type"], row["schema_version"], row["data"])),
            ).model_dump(mode="json")
            for row in rows
        ]
        return {"extension": query.extension, "entries": entries}

    async def due_note_expiries(self, now: datetime, limit: int = 500) -> list[str]:
        rows = await self.store.pool.fetch(
            f"SELECT extension FROM {self.s}.users WHERE note_expires_at <= $1 "
            "ORDER BY note_expires_at LIMIT $2",
            now,
            limit,
        )
        return [r["extension"] for r in rows]

    async def due_idle(self, now: datetime, limit: int = 500) -> list[str]:
        """Users the idle rule may apply to; the decider has the final word."""
        rows = await self.store.pool.fetch(
            f"SELECT extension FROM {self.s}.users WHERE automation_enabled AND sessions = 0 "
            "AND NOT idle AND alone_since IS NOT NULL "
            "AND status <> idle_status AND status <> 'offline' "
            "AND alone_since + make_interval(secs => idle_after_seconds) <= $1 "
            "ORDER BY alone_since LIMIT $2",
            now,
            limit,
        )
        return [r["extension"] for r in rows]
