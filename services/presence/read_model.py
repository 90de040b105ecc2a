"""Read-model tables kept by an inline projection (same transaction as the events).

`directory` answers "does this extension / ring group / IVR exist" for validation;
`users` and `profiles` answer the queries and the automation timer without
folding a stream.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.envelope import Envelope
from contracts.presence import (
    AnnouncementEnded,
    AutomationConfigured,
    ChangeReason,
    Channel,
    ClientSignedIn,
    ClientSignedOut,
    DeviceStateChanged,
    IvrSaved,
    PresenceChanged,
    ProfileActivated,
    ProfileDeleted,
    ProfileSaved,
    RingGroupSaved,
    SwitchAnnounced,
    UserProvisioned,
)
from runtime.eventstore import Conn
from services.presence.domain.profiles import Directory

# Formatted with the schema as {s}, so literal braces are doubled.
TABLES_SQL = """
CREATE TABLE IF NOT EXISTS {s}.directory (
    kind text NOT NULL,
    id text NOT NULL,
    name text NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS {s}.users (
    extension text PRIMARY KEY,
    display_name text NOT NULL,
    status text NOT NULL DEFAULT 'available',
    note text,
    note_expires_at timestamptz,
    active_profile text,
    devices jsonb NOT NULL DEFAULT '{{}}',
    sessions integer NOT NULL DEFAULT 0,
    alone_since timestamptz,
    automation_enabled boolean NOT NULL DEFAULT false,
    idle_after_seconds integer NOT NULL DEFAULT 300,
    idle_status text NOT NULL DEFAULT 'away',
    idle boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS users_note_expiry ON {s}.users (note_expires_at)
    WHERE note_expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS users_idle_candidates ON {s}.users (alone_since)
    WHERE automation_enabled AND sessions = 0 AND NOT idle;
CREATE TABLE IF NOT EXISTS {s}.profiles (
    extension text NOT NULL,
    profile_id text NOT NULL,
    position bigserial,
    body jsonb NOT NULL,
    PRIMARY KEY (extension, profile_id)
);
CREATE TABLE IF NOT EXISTS {s}.announced_switches (
    extension text PRIMARY KEY,
    takes_effect_at timestamptz NOT NULL,
    actor text NOT NULL
);
CREATE INDEX IF NOT EXISTS announced_switches_moment
    ON {s}.announced_switches (takes_effect_at);
"""

EXTENSION = "extension"
RING_GROUP = "ring_group"
IVR = "ivr"


class ReadModel:
    def __init__(self, schema_sql: str) -> None:
        self.s = schema_sql
        self.announced = False
        """A switch was announced since the announcement timer last looked (a hint: the
        timer also polls)."""

    async def project(self, conn: Conn, envelopes: Sequence[Envelope]) -> None:
        """Status and profile switches in one statement each, whatever their number (a
        bulk switch is thousands); the rest event by event, in order.

        The switches' columns are written by nothing else, so taking them out of order
        is safe; rows are created by the first event of a stream, which is applied
        before them.
        """
        statuses: dict[str, PresenceChanged] = {}
        keep_idle: dict[str, bool | None] = {}
        profiles: dict[str, str] = {}
        announced: dict[str, SwitchAnnounced | None] = {}  # None: no longer pending
        for envelope in envelopes:
            event = envelope.payload()
            if isinstance(event, SwitchAnnounced):
                announced[event.extension] = event
            elif isinstance(event, AnnouncementEnded):
                announced[event.extension] = None
            if isinstance(event, SwitchAnnounced | AnnouncementEnded):
                continue
            if isinstance(event, PresenceChanged):
                ext = event.extension
                statuses[ext] = event
                idle = _idle_after(event)
                keep_idle[ext] = keep_idle.get(ext) if idle is None else idle
            elif isinstance(event, ProfileActivated):
                profiles[event.extension] = event.profile_id
                if event.channel is Channel.SCHEDULER:  # the announced switch happened
                    announced[event.extension] = None
            else:
                await self._apply(conn, event)
        if statuses:
            await conn.execute(
                f"UPDATE {self.s}.users u SET status = c.status, note = c.note, "
                "note_expires_at = c.note_expires_at, idle = COALESCE(c.idle, u.idle) "
                "FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], "
                "$5::boolean[]) AS c(extension, status, note, note_expires_at, idle) "
                "WHERE u.extension = c.extension",
                list(statuses),
                [e.status.value for e in statuses.values()],
                [e.note for e in statuses.values()],
                [e.note_expires_at for e in statuses.values()],
                [keep_idle[ext] for ext in statuses],
            )
        if profiles:
            await conn.execute(
                f"UPDATE {self.s}.users u SET active_profile = c.profile_id "
                "FROM unnest($1::text[], $2::text[]) AS c(extension, profile_id) "
                "WHERE u.extension = c.extension",
                list(profiles),
                list(profiles.values()),
            )
        if announced:
            await self._announced(conn, announced)

    async def _announced(self, conn: Conn, announced: dict[str, SwitchAnnounced | None]) -> None:
        """The pending switches' moments, for the timer that applies them (one row a user)."""
        pending = {ext: a for ext, a in announced.items() if a is not None}
        ended = [ext for ext, a in announced.items() if a is None]
        if ended:
            await conn.execute(
                f"DELETE FROM {self.s}.announced_switches WHERE extension = ANY($1::text[])",
                ended,
            )
        if pending:
            await conn.execute(
                f"INSERT INTO {self.s}.announced_switches (extension, takes_effect_at, actor) "
                "SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[]) "
                "ON CONFLICT (extension) DO UPDATE SET takes_effect_at = EXCLUDED.takes_effect_at, "
                "actor = EXCLUDED.actor",
                list(pending),
                [a.takes_effect_at for a in pending.values()],
                [a.actor for a in pending.values()],
            )
            self.announced = True

    async def _apply(self, conn: Conn, event: object) -> None:
        s = self.s
        match event:
            case UserProvisioned():
                await conn.execute(
                    f"INSERT INTO {s}.users (extension, display_name) VALUES ($1, $2)",
                    event.extension,
                    event.display_name,
                )
                await self._directory(conn, EXTENSION, event.extension, event.display_name)
            case RingGroupSaved():
                await self._directory(conn, RING_GROUP, event.group_id, event.name)
            case IvrSaved():
                await self._directory(conn, IVR, event.ivr_id, event.name)
            case ProfileSaved():
                await conn.execute(
                    f"INSERT INTO {s}.profiles (extension, profile_id, body) VALUES ($1, $2, $3) "
                    "ON CONFLICT (extension, profile_id) DO UPDATE SET body = EXCLUDED.body",
                    event.extension,
                    event.profile.id,
                    event.profile.model_dump(mode="json"),
                )
            case ProfileDeleted():
                await conn.execute(
                    f"DELETE FROM {s}.profiles WHERE extension = $1 AND profile_id = $2",
                    event.extension,
                    event.profile_id,
                )
            case DeviceStateChanged():
                await conn.execute(
                    f"UPDATE {s}.users SET devices = devices || $2::jsonb WHERE extension = $1",
                    event.extension,
                    {event.device_id: event.state.value},
                )
            case ClientSignedIn():
                await conn.execute(
                    f"UPDATE {s}.users SET sessions = sessions + 1, alone_since = NULL "
                    "WHERE extension = $1",
                    event.extension,
                )
            case ClientSignedOut():
                await conn.execute(
                    f"UPDATE {s}.users SET sessions = sessions - 1, "
                    "alone_since = COALESCE($2, alone_since) WHERE extension = $1",
                    event.extension,
                    event.at,
                )
            case AutomationConfigured():
                await conn.execute(
                    f"UPDATE {s}.users SET automation_enabled = $2, idle_after_seconds = $3, "
                    "idle_status = $4, alone_since = COALESCE(alone_since, $5) "
                    "WHERE extension = $1",
                    event.extension,
                    event.enabled,
                    event.idle_after_seconds,
                    event.idle_status.value,
                    event.at,
                )

    async def _directory(self, conn: Conn, kind: str, id_: str, name: str) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.directory (kind, id, name) VALUES ($1, $2, $3) "
            "ON CONFLICT (kind, id) DO UPDATE SET name = EXCLUDED.name",
            kind,
            id_,
            name,
        )

    async def directory(self, conn: Conn, names: set[str]) -> Directory:
        """Which of `names` exist, per kind: all a validation needs, in one indexed query."""
        if not names:
            return Directory()
        rows = await conn.fetch(
            f"SELECT kind, id FROM {self.s}.directory WHERE id = ANY($1::text[])", list(names)
        )
        found: dict[str, set[str]] = {EXTENSION: set(), RING_GROUP: set(), IVR: set()}
        for row in rows:
            found[row["kind"]].add(row["id"])
        return Directory(
            extensions=frozenset(found[EXTENSION]),
            ring_groups=frozenset(found[RING_GROUP]),
            ivrs=frozenset(found[IVR]),
        )


def _idle_after(event: PresenceChanged) -> bool | None:
    """Whether the user is idle after this change; None: as before (a note expired)."""
    if event.reason == ChangeReason.NOTE_EXPIRED:
        return None
    return event.reason == ChangeReason.IDLE
