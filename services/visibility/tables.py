"""The service's compact tables, beside the event store's own.

- users:    the directory, from the presence service's UserProvisioned events.
- presence: each user's latest presence as PresenceChanged reported it, with its
            envelope version (the user's stream version: a replay never moves it back).
- edges:    one row per (owner, watcher) pair that is a contact or on a list (and
            whether the watcher marked the owner as a favourite): the
            fan-out index is rebuilt from it at start, and contact queries read it.
            Kept by an inline projection, so it commits with the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from asyncpg import Record

from contracts.envelope import Envelope
from contracts.presence import Status
from contracts.visibility import (
    ContactAdded,
    ContactFavourited,
    ContactRemoved,
    ContactUnfavourited,
    RequestPending,
    Standing,
    WatchedPresence,
    WatcherAllowed,
    WatcherBlocked,
    WatcherForgotten,
)
from runtime.eventstore import Conn

SCHEMA = "visibility"

TABLES_SQL = """
CREATE TABLE IF NOT EXISTS {s}.users (
    extension text PRIMARY KEY,
    display_name text NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.presence (
    extension text PRIMARY KEY,
    status text NOT NULL,
    note text,
    note_expires_at timestamptz,
    version bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.edges (
    owner text NOT NULL,
    watcher text NOT NULL,
    contact boolean NOT NULL DEFAULT false,
    standing text,
    explicit boolean NOT NULL DEFAULT false,
    PRIMARY KEY (owner, watcher)
);
ALTER TABLE {s}.edges ADD COLUMN IF NOT EXISTS favourite boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS edges_by_watcher ON {s}.edges (watcher) WHERE contact;
"""


class Tables:
    def __init__(self, schema_sql_name: str) -> None:
        self.s = schema_sql_name

    async def project(self, conn: Conn, envelopes: Sequence[Envelope]) -> None:
        """Inline projection: edges change in the same transaction as the events."""
        for envelope in envelopes:
            event = envelope.payload()
            match event:
                case ContactAdded(owner=owner, watcher=watcher):
                    await self._upsert(conn, owner, watcher, "contact = true", contact=True)
                case ContactRemoved(owner=owner, watcher=watcher):
                    await self._upsert(conn, owner, watcher, "contact = false, favourite = false")
                case ContactFavourited(owner=owner, watcher=watcher):
                    await self._upsert(conn, owner, watcher, "favourite = true")
                case ContactUnfavourited(owner=owner, watcher=watcher):
                    await self._upsert(conn, owner, watcher, "favourite = false")
                case RequestPending(owner=owner, watcher=watcher):
                    await self._place(conn, owner, watcher, Standing.PENDING, explicit=False)
                case WatcherAllowed(owner=owner, watcher=watcher, explicit=explicit):
                    await self._place(conn, owner, watcher, Standing.ALLOWED, explicit=explicit)
                case WatcherBlocked(owner=owner, watcher=watcher, explicit=explicit):
                    await self._place(conn, owner, watcher, Standing.BLOCKED, explicit=explicit)
                case WatcherForgotten(owner=owner, watcher=watcher):
                    await self._upsert(conn, owner, watcher, "standing = NULL, explicit = false")
                case _:
                    continue
            await conn.execute(
                f"DELETE FROM {self.s}.edges WHERE owner = $1 AND watcher = $2 "
                "AND NOT contact AND standing IS NULL",
                event.owner,
                event.watcher,
            )

    async def _upsert(
        self, conn: Conn, owner: str, watcher: str, assignments: str, *, contact: bool = False
    ) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.edges (owner, watcher, contact) VALUES ($1, $2, $3) "
            f"ON CONFLICT (owner, watcher) DO UPDATE SET {assignments}",
            owner,
            watcher,
            contact,
        )

    async def _place(
        self, conn: Conn, owner: str, watcher: str, standing: Standing, *, explicit: bool
    ) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.edges (owner, watcher, standing, explicit) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (owner, watcher) "
            "DO UPDATE SET standing = EXCLUDED.standing, explicit = EXCLUDED.explicit",
            owner,
            watcher,
            standing.value,
            explicit,
        )

    async def known(self, conn: Conn, extensions: Sequence[str]) -> frozenset[str]:
        rows = await conn.fetch(
            f"SELECT extension FROM {self.s}.users WHERE extension = ANY($1::text[])",
            list(extensions),
        )
        return frozenset(r["extension"] for r in rows)

    async def add_user(self, conn: Conn, extension: str, display_name: str) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.users (extension, display_name) VALUES ($1, $2) "
            "ON CONFLICT (extension) DO UPDATE SET display_name = EXCLUDED.display_name",
            extension,
            display_name,
        )

    async def save_presence(
        self,
        conn: Conn,
        extension: str,
        status: str,
        note: str | None,
        note_expires_at: datetime | None,
        version: int,
    ) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.presence AS p "
            "(extension, status, note, note_expires_at, version) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (extension) DO UPDATE SET status = EXCLUDED.status, "
            "note = EXCLUDED.note, note_expires_at = EXCLUDED.note_expires_at, "
            "version = EXCLUDED.version WHERE p.version < EXCLUDED.version",
            extension,
            status,
            note,
            note_expires_at,
            version,
        )

    async def edge(self, conn: Conn, owner: str, watcher: str) -> tuple[bool, str | None]:
        """(is a contact, standing) as committed now; (False, None) when there is no row."""
        row = await conn.fetchrow(
            f"SELECT contact, standing FROM {self.s}.edges WHERE owner = $1 AND watcher = $2",
            owner,
            watcher,
        )
        return (bool(row["contact"]), row["standing"]) if row else (False, None)

    async def visible_presence(self, conn: Conn, watcher: str, watched: str) -> WatchedPresence:
        """One query, whatever the answer: Offline for blocked, pending, offline, unknown."""
        row = await conn.fetchrow(
            f"SELECT p.status, p.note, p.note_expires_at FROM {self.s}.edges e "
            f"JOIN {self.s}.presence p ON p.extension = e.owner "
            "WHERE e.owner = $1 AND e.watcher = $2 AND e.contact AND e.standing = 'allowed'",
            watched,
            watcher,
        )
        return _presence(watched, row)

    async def contacts_with_presence(self, conn: Conn, watcher: str) -> list[WatchedPresence]:
        rows = await conn.fetch(
            f"SELECT e.owner, p.status, p.note, p.note_expires_at FROM {self.s}.edges e "
            f"LEFT JOIN {self.s}.presence p "
            "ON p.extension = e.owner AND e.standing = 'allowed' "
            "WHERE e.watcher = $1 AND e.contact ORDER BY e.owner",
            watcher,
        )
        return [_presence(r["owner"], r if r["status"] is not None else None) for r in rows]

    async def favourites(self, conn: Conn, watcher: str) -> list[str]:
        rows = await conn.fetch(
            f"SELECT owner FROM {self.s}.edges WHERE watcher = $1 AND contact AND favourite "
            "ORDER BY owner",
            watcher,
        )
        return [r["owner"] for r in rows]


def _presence(extension: str, row: Record | None) -> WatchedPresence:
    if row is None:
        return WatchedPresence.offline(extension)
    return WatchedPresence(
        extension=extension,
        status=Status(row["status"]),
        note=row["note"],
        note_expires_at=row["note_expires_at"],
    )
